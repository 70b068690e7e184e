"""`--policies` of `verify` and `explain` is repeatable, and every file given is read.

Typer keeps only the last value of a single-valued option, so `--policies a.yaml --policies b.yaml`
used to drop a.yaml without a word: a verification against half of the policies that could pass.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from test_verify_cli import CLUSTER, WEB_TO_DB, WEB_TO_DB_SSH_DENIED, flows


@pytest.fixture
def split_cluster(tmp_path: Path) -> tuple[Path, Path]:
    """The cluster of test_verify_cli in two files: Namespace and Pods, then the two policies."""
    docs = CLUSTER.split("---\n")
    objects, policies = tmp_path / "objects.yaml", tmp_path / "policies.yaml"
    objects.write_text("---\n".join(docs[:3]))
    policies.write_text("---\n".join(docs[3:]))
    return objects, policies


@pytest.mark.parametrize("order", [(0, 1), (1, 0)], ids=["objects-first", "policies-first"])
def test_verify_reads_every_policies_file(cli, tmp_path: Path, split_cluster: tuple[Path, Path], order) -> None:
    # web → db on 5432 is admitted only through the named port `pg`, which the Pod in objects.yaml declares;
    # web → db on 22 is denied by the policies in policies.yaml. Either file alone gives another answer.
    first, second = (split_cluster[i] for i in order)
    r = cli("verify", "--policies", first, "--policies", second, flows(tmp_path, WEB_TO_DB, WEB_TO_DB_SSH_DENIED), "-o", "csv")
    assert r.exit_code == 0, r.stderr
    rows = r.stdout.splitlines()
    assert rows[0] == "source,destination,protocol,dst_port,action,reason"
    assert [row.split(",")[:5] for row in rows[1:]] == [["shop/web-0", "shop/db-0", "TCP", "22", "deny"]]


def test_explain_reads_every_policies_file(cli, split_cluster: tuple[Path, Path]) -> None:
    objects, policies = split_cluster
    r = cli("explain", "--policies", policies, "--policies", objects,
            "--from", "shop/web-0", "--to", "shop/db-0", "--port", "5432/TCP")
    assert r.exit_code == 0, r.stderr
    assert r.stdout.splitlines()[:3] == [
        "allowed",
        "egress: allowed - egress allowed: shop/web-0 is not isolated for egress",
        "ingress: allowed - ingress allowed by shop/db ingress[0]",
    ]

