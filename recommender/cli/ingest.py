"""`recommend ingest`: load flow files into the DuckDB store and print what happened.

A thin shell over ``recommender.load_flows``: options map one to one onto its
keyword arguments; the summary goes to stdout (a table, or JSON with
``-o json``), notes and progress to stderr.
"""

from __future__ import annotations

import sys
from pathlib import Path

import typer
from rich.table import Table

from recommender.cli import app
from recommender.cli.common import OutputFormat, progress_bar, stderr_console, stdout_console, to_json
from recommender.io.store import load_flows
from recommender.io.summary import IngestSummary

EPILOG = """Examples:

  recommend ingest flows.log                          # Calico flows.log into ./recommender.duckdb

  recommend ingest flows.log.gz --db :memory: -o json # summary as JSON, nothing kept

  recommend ingest vpc/*.log --inventory pods.yaml    # VPC flow logs + pod inventory

  recommend ingest export.parquet --format normalized # force a format

  recommend ingest live/flows.log --skip-bad          # keep going past malformed records
"""


@app.command(epilog=EPILOG)
def ingest(
    paths: list[Path] = typer.Argument(..., metavar="FLOWS...", help="Flow files (Calico, VPC, Hubble, normalized CSV/Parquet; .gz ok)."),
    inventory: list[Path] = typer.Option([], "--inventory", "-i", metavar="FILE", help="Pod/namespace inventory (kubectl get -o json/yaml); repeatable."),
    db: str = typer.Option("recommender.duckdb", "--db", help="DuckDB database file (':memory:' keeps nothing)."),
    format: str | None = typer.Option(None, "--format", "-f", help="Force the format: calico, vpc, hubble, normalized, or gcp (recognized only: its records are skipped)."),
    skip_bad: bool = typer.Option(False, "--skip-bad", help="Reject malformed records into the `rejected` table and continue."),
    quiet: bool = typer.Option(False, "--quiet", "-q", help="No progress bar, no notes on stderr."),
    output: OutputFormat = typer.Option(OutputFormat.table, "--output", "-o", help="Summary on stdout: table, json (the full summary), or csv (one row per file)."),
) -> None:
    """Ingest flow logs into a DuckDB database of distinct connections.

    The format of each file is detected from its content. Bad records stop the
    ingest with `FILE:LINE: reason` (exit 2) unless --skip-bad is given. Files
    already ingested into the database are skipped, so re-running is safe.
    """
    with progress_bar(quiet, "ingesting") as progress:
        store = load_flows(paths, inventory=inventory, db=db, format=format, skip_bad=skip_bad, progress=progress)
    summary = store.summary
    store.close()
    if not quiet:
        err = stderr_console()
        for note in summary.notes:
            err.print(f"note: {note}", markup=False)
    if output is OutputFormat.json:
        sys.stdout.write(to_json(summary.to_dict()))
    elif output is OutputFormat.csv:
        sys.stdout.write(_files_frame_csv(summary))
    else:
        _print_tables(summary, db)


def _files_frame_csv(summary: IngestSummary) -> str:
    lines = ["file,format,records,accepted,rejected,skipped,connections"]
    for st in summary.files:
        lines.append(f"{st.file},{st.format},{st.records},{st.accepted},{st.rejected},{st.skipped_total},{st.connections}")
    return "\n".join(lines) + "\n"


def _print_tables(summary: IngestSummary, db: str) -> None:
    out = stdout_console()
    t = Table(title=f"ingested into {db}")
    for col in ("format", "files", "records", "accepted", "rejected", "skipped", "connections"):
        t.add_column(col, justify="left" if col == "format" else "right")
    for fmt, tot in summary.formats.items():
        t.add_row(fmt, str(tot.files), str(tot.records), str(tot.accepted), str(tot.rejected), str(tot.skipped),
                  str(tot.connections))
    t.add_row("total", str(len(summary.files)), str(summary.records), str(summary.accepted), str(summary.rejected),
              str(summary.skipped_total), str(summary.connections), style="bold")
    out.print(t)
    kinds = ", ".join(f"{k} {n}" for k, n in summary.endpoint_kinds.items()) or "none"
    out.print(f"namespaces {summary.namespaces}, workloads {summary.workloads}, pods {summary.pods}; "
              f"endpoints by kind: {kinds}", markup=False)
    if summary.inventory:
        inv, enr = summary.inventory, summary.enrichment or {}
        out.print(f"inventory: {inv.get('pods', 0)} pods, {inv.get('namespaces', 0)} namespaces, "
                  f"{inv.get('apiserver_addresses', 0)} API server addresses; enrichment: {enr.get('pods', 0)} "
                  f"endpoints → pods, {enr.get('hosts', 0)} → hosts, {enr.get('conflicted', 0)} left ambiguous",
                  markup=False)
    if summary.skipped:
        out.print("skipped: " + ", ".join(f"{r} {n}" for r, n in summary.skipped.items()), markup=False)
    if summary.rejected:
        out.print(f"rejected: {summary.rejected} (see the `rejected` table)", markup=False)
