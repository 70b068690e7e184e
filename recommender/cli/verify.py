"""`recommend verify` and `recommend explain`: the evaluator on the command line.

``verify`` checks observed traffic against policies (exit 1 when an observed
allowed connection would be denied) and doubles as the impact preview of a
cluster's current policies; ``explain`` answers "would this connection be
allowed, and because of which rules?" for one connection. Both are thin:
parse options, call one function of ``recommender.engine.verify``, render.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from recommender.cli import app
from recommender.cli.common import OutputFormat, integers_as_integers, render_frame, stderr_console, to_json
from recommender.errors import VerificationError

if TYPE_CHECKING:   # pandas is imported when a frame is rendered, not at start-up
    import pandas as pd

    from recommender.io.policies import PolicySet

VERIFY_EPILOG = """Examples:

  recommend verify --policies policies/ flows.log --inventory cluster.yaml

  recommend verify --policies cluster.yaml --db recommender.duckdb -o json   # flows ingested earlier
"""

EXPLAIN_EPILOG = """Examples:

  recommend explain --policies cluster.yaml --from shop/web-0 --to shop/db-0 --port 5432/TCP

  recommend explain --policies policies/ --inventory pods.yaml --from 10.0.0.7 --to shop/db-0 --port 53/UDP
"""


@app.command(epilog=VERIFY_EPILOG)
def verify(
    flows: Annotated[list[Path], typer.Argument(metavar="FLOWS...", help="Flow files (any supported format); none: use --db.")] = None,  # type: ignore[assignment]
    policies: Annotated[list[Path], typer.Option("--policies", "-p", metavar="PATH", help="Policy YAML/JSON file or directory (may also hold Pods and Namespaces); repeatable.")] = ...,  # type: ignore[assignment]
    inventory: Annotated[list[Path], typer.Option("--inventory", "-i", metavar="FILE", help="Pod/namespace inventory; repeatable.")] = [],  # noqa: B006
    db: Annotated[str, typer.Option("--db", help="DuckDB database of the flow store (default: in memory).")] = ":memory:",
    output: Annotated[OutputFormat, typer.Option("--output", "-o", help="table, json (summary + denied), or csv (denied connections).")] = OutputFormat.table,
) -> None:
    """Check observed connections against policies: counts per namespace and direction, and every denied
    connection with its reason. Exit 1 when a connection the exporter saw allowed would be denied."""
    from recommender.engine.verify import verify as run_verify

    report = run_verify(_load(policies), flows or [], inventory=inventory, db=db)
    _print_notes(report.notes)
    if output is OutputFormat.json:
        sys.stdout.write(to_json({"ok": report.ok, "failures": report.failures, "summary": _records(report.summary),
                                  "denied": _records(integers_as_integers(report.denied)), "notes": report.notes}))
    elif output is OutputFormat.csv:
        render_frame(report.denied, output)
    else:
        render_frame(report.summary, output, title="connections per namespace and direction")
        if len(report.denied):
            render_frame(report.denied, output, title="denied connections")
    total = len(report.results)
    stderr_console().print(f"{total} connections, {len(report.denied)} denied by the policies, "
                           f"{report.failures} of them observed as allowed", markup=False)
    if not report.ok:
        raise VerificationError(f"{report.failures} observed allowed connection(s) would be denied by the policies",
                                hint="see the denied connections and their reasons above")


def _load(paths: list[Path]) -> PolicySet:
    """Every --policies path as one PolicySet: a single-valued option would keep only the last path given."""
    from recommender.io.policies import load_policies

    return load_policies(paths)


def _print_notes(notes: list[str] | tuple[str, ...]) -> None:
    """What the verdicts leave out (documents not evaluated, loader warnings), on stderr."""
    console = stderr_console()
    for note in notes:
        console.print(f"note: {note}", markup=False)


def _records(df: pd.DataFrame) -> list[dict[str, object]]:
    import pandas as pd
    return [{k: (None if v is None or (isinstance(v, float) and pd.isna(v)) or v is pd.NA else v)
             for k, v in row.items()} for row in df.astype(object).to_dict(orient="records")]


@app.command(epilog=EXPLAIN_EPILOG)
def explain(
    policies: Annotated[list[Path], typer.Option("--policies", "-p", metavar="PATH", help="Policy YAML/JSON file or directory; repeatable.")] = ...,  # type: ignore[assignment]
    source: Annotated[str, typer.Option("--from", metavar="NS/POD|IP", help="Source pod (must be in the inventory) or address.")] = ...,  # type: ignore[assignment]
    destination: Annotated[str, typer.Option("--to", metavar="NS/POD|IP", help="Destination pod or address.")] = ...,  # type: ignore[assignment]
    port: Annotated[str, typer.Option("--port", metavar="PORT/PROTO", help="Destination port and protocol, e.g. 5432/TCP, 53/UDP, ICMP.")] = ...,  # type: ignore[assignment]
    inventory: Annotated[list[Path], typer.Option("--inventory", "-i", metavar="FILE", help="Pod/namespace inventory; repeatable.")] = [],  # noqa: B006
) -> None:
    """Would this connection be allowed? First line `allowed` or `denied`, then per direction the
    isolating policies and each rule's verdict on the peer and the port."""
    from recommender.engine.verify import explain_connection, explanation_lines

    expl = explain_connection(_load(policies), source, destination, port, inventory=inventory)
    _print_notes(expl.notes)
    sys.stdout.write("\n".join(explanation_lines(expl)) + "\n")
