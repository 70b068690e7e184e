"""`recommend verify` / `recommend explain`: what they did not evaluate is said, and bad explain inputs are usage errors."""

from __future__ import annotations

from pathlib import Path

POLICIES = """\
apiVersion: v1
kind: Pod
metadata: {name: web-0, namespace: shop, labels: {app: web}}
status: {podIP: 10.0.0.1}
---
apiVersion: v1
kind: Pod
metadata: {name: db-0, namespace: shop, labels: {app: db}}
status: {podIP: 10.0.0.2}
---
apiVersion: projectcalico.org/v3
kind: NetworkPolicy
metadata: {name: deny-db, namespace: shop}
spec: {selector: app == 'db', types: [Ingress]}
---
{apiVersion: networking.k8s.io/v1, kind: NetworkPolicy, metadata: {name: web, namespace: shop},
 spec: {podSelector: {matchLabels: {app: web}},
        egress: [{to: [{ipBlock: {cidr: 10.0.0.9/8}}]}]}}
"""
FLOWS = ("src_kind,src_namespace,src_pod,src_ip,dst_kind,dst_namespace,dst_pod,dst_ip,protocol,dst_port,action\n"
         "pod,shop,web-0,10.0.0.1,pod,shop,db-0,10.0.0.2,TCP,5432,allow\n")


def _files(tmp_path: Path) -> tuple[Path, Path]:
    (tmp_path / "cluster.yaml").write_text(POLICIES)
    (tmp_path / "flows.csv").write_text(FLOWS)
    return tmp_path / "cluster.yaml", tmp_path / "flows.csv"


def test_verify_says_which_documents_it_did_not_evaluate(cli, tmp_path: Path) -> None:
    """A Calico NetworkPolicy isolates db-0 in the cluster, but it is not evaluated: the verdict
    "allowed" holds only without it. The README promises nothing is dropped silently; the CLI printed
    neither the skipped document nor the loader's warnings."""
    policies, flows = _files(tmp_path)
    r = cli("verify", "--policies", policies, flows)
    assert r.exit_code == 0
    assert "cluster.yaml:11: skipped NetworkPolicy shop/deny-db: projectcalico.org/v3 NetworkPolicy" in r.stderr
    assert "cluster.yaml:18 spec.egress[0].to[0].ipBlock.cidr: has bits set beyond the prefix length" in r.stderr
    assert "deny-db" not in r.stdout


def test_explain_says_which_documents_it_did_not_evaluate(cli, tmp_path: Path) -> None:
    policies, _ = _files(tmp_path)
    r = cli("explain", "--policies", policies, "--from", "shop/web-0", "--to", "shop/db-0", "--port", "5432")
    assert r.exit_code == 0 and r.stdout.startswith("allowed\n")
    assert "cluster.yaml:11: skipped NetworkPolicy shop/deny-db" in r.stderr


def test_verify_json_carries_the_notes(cli, tmp_path: Path) -> None:
    import json

    policies, flows = _files(tmp_path)
    r = cli("verify", "--policies", policies, flows, "-o", "json")
    notes = json.loads(r.stdout)["notes"]
    assert len(notes) == 2 and "skipped NetworkPolicy shop/deny-db" in notes[0]


def test_explain_refuses_a_protocol_it_does_not_know(cli, tmp_path: Path) -> None:
    """`--port 5432/TPC` (a typo) answered "denied" with exit 0: no rule names protocol TPC. A protocol
    is one the flow schema knows (TCP, UDP, SCTP, ICMP, ICMPv6, or an IANA number); a port needs TCP,
    UDP or SCTP; `/TCP` has no port."""
    policies, _ = _files(tmp_path)
    base = ("explain", "--policies", policies, "--from", "shop/web-0", "--to", "shop/db-0", "--port")
    for bad in ("5432/TPC", "/TCP", "80/ICMP", "70000", "ICMP/"):
        r = cli(*base, bad)
        assert r.exit_code == 2 and "--port" in r.stderr, bad
    for good, first in (("5432/tcp", "allowed"), ("53/17", "allowed"), ("ICMPv6", "allowed"), ("47", "allowed")):
        r = cli(*base, good)
        assert r.exit_code == 0 and r.stdout.startswith(first), good


def test_explain_refuses_an_address_several_inventory_pods_claim(cli, tmp_path: Path) -> None:
    """`kubectl get pods -A` keeps completed pods, whose status still holds an address a running pod
    now has. Picking the first pod by name gave the verdict of the wrong pod (other labels)."""
    policies, _ = _files(tmp_path)
    (tmp_path / "more.yaml").write_text(
        "apiVersion: v1\nkind: Pod\nmetadata: {name: a-job-1, namespace: shop, labels: {app: job}}\n"
        "status: {podIP: 10.0.0.2, phase: Succeeded}\n")
    base = ("explain", "--policies", policies, "--inventory", tmp_path / "more.yaml", "--to", "shop/db-0", "--port", "5432")
    r = cli(*base[:-4], "--from", "10.0.0.2", *base[-4:])
    assert r.exit_code == 2 and "shop/a-job-1, shop/db-0" in r.stderr and "NAMESPACE/POD" in r.stderr
    assert cli(*base[:-4], "--from", "10.0.0.1", *base[-4:]).exit_code == 0
