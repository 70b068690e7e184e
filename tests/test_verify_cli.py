"""`recommend verify` exit codes and listings, `recommend explain` output."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

CLUSTER = """\
apiVersion: v1
kind: Namespace
metadata: {name: shop, labels: {team: shop}}
---
apiVersion: v1
kind: Pod
metadata: {name: web-0, namespace: shop, labels: {app: web}}
spec: {containers: [{name: c, image: x}]}
status: {podIP: 10.0.0.1}
---
apiVersion: v1
kind: Pod
metadata: {name: db-0, namespace: shop, labels: {app: db}}
spec: {containers: [{name: c, image: x, ports: [{name: pg, containerPort: 5432}]}]}
status: {podIP: 10.0.0.2}
---
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {name: default-deny, namespace: shop}
spec: {podSelector: {}}
---
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {name: db, namespace: shop}
spec:
  podSelector: {matchLabels: {app: db}}
  ingress: [{from: [{podSelector: {matchLabels: {app: web}}}], ports: [{port: pg}]}]
"""

HEADER = "src_kind,src_namespace,src_pod,src_ip,src_labels,dst_kind,dst_namespace,dst_pod,dst_ip,dst_labels,protocol,dst_port,action\n"
WEB_TO_DB = "pod,shop,web-0,10.0.0.1,app=web,pod,shop,db-0,10.0.0.2,app=db,TCP,5432,allow\n"
WEB_TO_DB_SSH_DENIED = "pod,shop,web-0,10.0.0.1,app=web,pod,shop,db-0,10.0.0.2,app=db,TCP,22,deny\n"
EXTERNAL_TO_WEB = "network,,,8.8.8.8,,pod,shop,web-0,10.0.0.1,app=web,TCP,80,allow\n"


@pytest.fixture
def cluster(tmp_path: Path) -> Path:
    path = tmp_path / "cluster.yaml"
    path.write_text(CLUSTER)
    return path


def flows(tmp_path: Path, *rows: str) -> Path:
    path = tmp_path / "flows.csv"
    path.write_text(HEADER + "".join(rows))
    return path


def test_exit_0_when_every_allowed_connection_is_admitted(cli, tmp_path: Path, cluster: Path) -> None:
    # The named port `pg` resolves through the Pod in the same multi-document file.
    r = cli("verify", "--policies", cluster, flows(tmp_path, WEB_TO_DB, WEB_TO_DB_SSH_DENIED), "-o", "json")
    assert r.exit_code == 0, r.stderr
    out = json.loads(r.stdout)
    assert out["ok"] and out["failures"] == 0
    assert [d["dst_port"] for d in out["denied"]] == [22]     # denied, but the exporter saw it denied too
    ingress = next(s for s in out["summary"] if s["direction"] == "ingress")
    assert ingress == {"namespace": "shop", "direction": "ingress", "connections": 2, "isolated": 2, "admitted": 1, "denied": 1}


def test_exit_1_lists_the_denied_allowed_connection_with_its_reason(cli, tmp_path: Path, cluster: Path) -> None:
    r = cli("verify", "--policies", cluster, "--inventory", cluster, flows(tmp_path, WEB_TO_DB, EXTERNAL_TO_WEB), "-o", "csv")
    assert r.exit_code == 1
    assert r.stdout.splitlines() == [
        "source,destination,protocol,dst_port,action,reason",
        "8.8.8.8,shop/web-0,TCP,80,allow,isolated for ingress by default-deny; they have no ingress rules",
    ]
    assert "1 observed allowed connection(s) would be denied" in r.stderr


def test_table_output_and_a_previously_ingested_database(cli, tmp_path: Path, cluster: Path) -> None:
    db = tmp_path / "flows.duckdb"
    assert cli("ingest", flows(tmp_path, WEB_TO_DB, EXTERNAL_TO_WEB), "--db", db).exit_code == 0
    r = cli("verify", "--policies", cluster, "--db", db)
    assert r.exit_code == 1
    assert "denied connections" in r.stdout and "8.8.8.8" in r.stdout


@pytest.mark.parametrize("problem", ["missing policies", "invalid policy", "no flows", "bad flows"])
def test_exit_2_for_bad_input(cli, tmp_path: Path, cluster: Path, problem: str) -> None:
    good = flows(tmp_path, WEB_TO_DB)
    if problem == "missing policies":
        args = ["--policies", tmp_path / "nope.yaml", good]
    elif problem == "invalid policy":
        bad = tmp_path / "bad.yaml"
        bad.write_text("apiVersion: networking.k8s.io/v1\nkind: NetworkPolicy\nmetadata: {name: p}\nspec: {podSelector: {}, ingress: [{ports: [{port: 0}]}]}\n")
        args = ["--policies", bad, good]
    elif problem == "no flows":
        args = ["--policies", cluster]
    else:
        broken = tmp_path / "broken.csv"
        broken.write_text(HEADER + "pod,shop,web-0,10.0.0.1,,pod,shop,db-0,10.0.0.2,,TCP,notaport,allow\n")
        args = ["--policies", cluster, broken]
    r = cli("verify", *args)
    assert r.exit_code == 2, r.stderr
    assert r.stderr.strip() and "Traceback" not in r.stderr


def test_explain_first_line_is_the_verdict(cli, cluster: Path) -> None:
    r = cli("explain", "--policies", cluster, "--from", "shop/web-0", "--to", "shop/db-0", "--port", "5432/TCP")
    assert r.exit_code == 0, r.stderr
    lines = r.stdout.splitlines()
    assert lines[0] == "allowed"
    assert "ingress: allowed - ingress allowed by shop/db ingress[0]" in lines
    assert "  shop/db ingress[0]: admits: peer matches (podSelector {app=web} in namespace shop); port matches (pg/TCP)" in lines


def test_explain_denied_names_the_rules_behind_it(cli, cluster: Path) -> None:
    r = cli("explain", "--policies", cluster, "--from", "8.8.8.8", "--to", "10.0.0.2", "--port", "5432")
    assert r.exit_code == 0
    lines = r.stdout.splitlines()
    assert lines[0] == "denied"
    assert lines[1] == "egress: allowed - egress not enforced: source is a network endpoint, not a pod"
    assert lines[2] == "ingress: DENIED - isolated for ingress by db, default-deny; no rule matches source 8.8.8.8"
    assert "  shop/default-deny: selects the pod, has no ingress rules" in lines


@pytest.mark.parametrize("args", [
    ("--from", "shop/nope", "--to", "shop/db-0", "--port", "80"),
    ("--from", "shop/web-0", "--to", "not an endpoint", "--port", "80"),
    ("--from", "shop/web-0", "--to", "shop/db-0", "--port", "80/TCP/x"),
    ("--from", "shop/web-0", "--to", "shop/db-0", "--port", "70000"),
])
def test_explain_bad_endpoints_and_ports_exit_2_with_a_hint(cli, cluster: Path, args: tuple[str, ...]) -> None:
    r = cli("explain", "--policies", cluster, *args)
    assert r.exit_code == 2
    assert "hint:" in r.stderr
