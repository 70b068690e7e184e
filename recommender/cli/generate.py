"""`recommend generate`: least-privilege policies from observed flows, verified before written.

Thin shell over ``recommender.generate``: parse options, call it once, and only
when verification passed write the YAML (stdout, one file, or one file per
namespace) and the optional provenance report. The summary goes to stderr;
a failed verification prints the connections that would break and exits 1
without writing any policy.
"""

from __future__ import annotations

import sys
from enum import StrEnum
from pathlib import Path
from typing import Annotated

import typer

from recommender.cli import app
from recommender.errors import UsageError, VerificationError


class Kind(StrEnum):
    k8s = "k8s"
    calico_staged = "calico-staged"
    calico_staged_native = "calico-staged-native"


SHOWN_FAILURES = 20

EPILOG = """Examples:

  recommend generate data/demo/calico/flows.log --inventory data/demo/inventory.yaml -o policies/

  recommend generate vpc/*.log --inventory pods.yaml -n shop -o shop.yaml --report shop-provenance.md

  recommend generate --db recommender.duckdb --kind calico-staged -o staged/   # flows ingested earlier

  recommend generate flows.log --existing cluster-policies/ -o missing.yaml    # only what is not yet allowed
"""


@app.command(epilog=EPILOG)
def generate(
    flows: Annotated[list[Path], typer.Argument(help="Flow files (Calico flows.log, VPC, Hubble JSON, normalized CSV/Parquet).")] = None,  # type: ignore[assignment]
    output: Annotated[str, typer.Option("-o", "--output", help="DIR (one file per namespace), FILE.yaml, or - for stdout.")] = "-",
    inventory: Annotated[list[Path], typer.Option(help="Pod/namespace inventory (kubectl get -o yaml/json); repeatable.")] = [],  # noqa: B006
    db: Annotated[str, typer.Option(help="DuckDB file for the flow store (default: in memory).")] = ":memory:",
    kind: Annotated[Kind, typer.Option(help="Output kind.")] = Kind.k8s,
    namespace: Annotated[list[str], typer.Option("--namespace", "-n", help="Only these namespaces; repeatable.")] = [],  # noqa: B006
    exclude_namespace: Annotated[list[str], typer.Option("--exclude-namespace", help="Skip these namespaces; repeatable.")] = [],  # noqa: B006
    include_system: Annotated[bool, typer.Option(help="Also write policies for kube-system, kube-public, kube-node-lease, calico-*, tigera-*, cilium*.")] = False,
    default_deny: Annotated[bool, typer.Option("--default-deny/--no-default-deny", help="One default-deny per covered namespace.")] = True,
    include_denied: Annotated[bool, typer.Option(help="Also allow flows the exporter reported as denied.")] = False,
    port_range_slack: Annotated[int, typer.Option(help="Bridge gaps of at most N unobserved ports in a port range.")] = 0,
    cidr_max_prefix: Annotated[int | None, typer.Option(help="Aggregate public external IPv4 addresses into CIDRs no wider than /N.")] = None,
    cidr6_max_prefix: Annotated[int | None, typer.Option(help="Aggregate public external IPv6 addresses into CIDRs no wider than /N (64-128).")] = None,
    cidr_min_addresses: Annotated[int | None, typer.Option(help="…only when at least K distinct observed addresses fall inside (default 2).")] = None,
    allow_any_external: Annotated[bool, typer.Option(help="Permit 0.0.0.0/0 and ::/0 (except private ranges and the cluster's own addresses) for external peers.")] = False,
    existing: Annotated[list[Path], typer.Option(help="Current cluster policies: recommend only what they would deny.")] = [],  # noqa: B006
    report: Annotated[Path | None, typer.Option(help="Write per-rule provenance to FILE.json or FILE.md.")] = None,
    tier: Annotated[str, typer.Option(help="Calico tier for --kind calico-staged-native.")] = "default",
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="No summary on stderr.")] = False,
) -> None:
    """Recommend least-privilege NetworkPolicies for the observed flows, and prove them."""
    from recommender.recommend import generate as run_generate

    if not flows and db == ":memory:":
        raise UsageError("no flow files given", hint="recommend generate FLOWS… -o DIR (or --db PATH of an ingested store)")
    report_fmt = None
    if report is not None:
        report_fmt = {".json": "json", ".md": "md"}.get(report.suffix.lower())
        if report_fmt is None:
            raise UsageError(f"--report {report}: unknown report format", hint="use a .json or .md file name")
    rec = run_generate(
        [str(f) for f in flows or []], inventory=[str(i) for i in inventory], db=db, kind=kind.value,
        namespaces=namespace, exclude_namespaces=exclude_namespace, include_system=include_system,
        default_deny=default_deny, include_denied=include_denied, port_range_slack=port_range_slack,
        cidr_max_prefix=cidr_max_prefix, cidr_min_addresses=cidr_min_addresses,
        cidr6_max_prefix=cidr6_max_prefix, allow_any_external=allow_any_external,
        existing=[str(e) for e in existing] or None, tier=tier,
    )
    from recommender.recommend.report import summary_text

    if not quiet:
        sys.stderr.write(summary_text(rec.summary))
    if report is not None:
        report.write_text(rec.report(report_fmt), encoding="utf-8")
    if not rec.ok:
        failed = rec.failures()
        for line in failed[:SHOWN_FAILURES]:
            sys.stderr.write(f"not admitted: {line}\n")
        if len(failed) > SHOWN_FAILURES:
            sys.stderr.write(f"… and {len(failed) - SHOWN_FAILURES} more\n")
        raise VerificationError(
            f"verification failed: {len(failed)} observed connection(s) would be denied by the recommended policies; nothing written",
            hint=("see the warnings above (an endpoint no rule can name, pods their workload's selector cannot "
                  "select): each says what it needs" if rec.warnings else
                  "no warning explains it, so this is a bug in recommender: please report it with the lines above"),
        )
    if output == "-":
        sys.stdout.write(rec.yaml())
        return
    written = rec.write(output)
    if not quiet:
        sys.stderr.write(f"wrote {len(written)} file(s) to {output}\n")
