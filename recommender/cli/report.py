"""`recommend report`: the self-contained HTML report (service graph, policies, verdicts).

A thin shell over ``recommender.report.render_report``: it parses options,
renders the page and writes one file that opens offline.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated

import typer

from recommender.cli import app
from recommender.cli.common import stderr_console


EPILOG = """Examples:

  recommend report data/demo/calico/flows.log --inventory data/demo/inventory.yaml -o report.html

  recommend report flows.log --policies policies/ -o current.html       # judge the policies you have

  recommend report --db recommender.duckdb --no-generate -o traffic.html   # flows ingested earlier
"""


@app.command(epilog=EPILOG)
def report(
    flows: Annotated[list[Path] | None, typer.Argument(
        help="Flow files (Calico flows.log, VPC flow logs, Hubble JSON, normalized CSV/Parquet). "
             "Omit them with --db to report on a store made by `recommend ingest`.", show_default=False)] = None,
    output: Annotated[Path, typer.Option("--output", "-o", help="Where to write the HTML file ('-' for stdout).")]
    = Path("report.html"),
    inventory: Annotated[list[Path] | None, typer.Option(
        "--inventory", help="Pod/namespace inventory (kubectl get pods,namespaces -A -o yaml); repeatable.")] = None,
    policies: Annotated[list[Path] | None, typer.Option(
        "--policies", help="Policy YAML files or directories: colour edges by what these policies do. "
                           "Without it the recommended policies are generated and shown.")] = None,
    db: Annotated[str | None, typer.Option("--db", help="DuckDB store to read (or to load the flows into).")] = None,
    generate: Annotated[bool, typer.Option(
        "--generate/--no-generate", help="Generate recommended policies when --policies is not given.")] = True,
    title: Annotated[str, typer.Option("--title", help="Page title.")] = "Network policy report",
) -> None:
    """Write ONE self-contained HTML report: service graph, policies, verdicts.

    The page needs no network: inline SVG graphs (namespaces, then each
    namespace's workloads in a collapsible section), the policies with the
    observed connections behind each rule, the pods default-deny would isolate,
    the verification summary and every denied connection with its reason.
    """
    from recommender.report import render_report

    page = render_report(
        list(flows or []), inventory=list(inventory or []), policies=list(policies) if policies else None,
        db=db, generate=generate, title=title,
    )
    if str(output) == "-":
        sys.stdout.write(page)
        return
    output.write_text(page, encoding="utf-8")
    stderr_console().print(f"wrote {output} ({len(page.encode('utf-8')) // 1024} KiB)")
