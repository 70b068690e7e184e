"""The synthetic cluster generator: determinism, format fidelity, ground truth, demo data.

Other helpers' tests and every benchmark trust ``recommender.synth``; these
tests pin what that trust rests on: same seed → same bytes, each writer's
output parses as its real format (field for field against the real samples),
and every connection of ``Cluster.expected_connections()`` is visible in
what was written.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml

from recommender.synth import build_cluster, write_calico, write_demo, write_inventory
from recommender.synth.traffic import Traffic

ROOT = Path(__file__).resolve().parent.parent
DEMO = ROOT / "data" / "demo"


@pytest.fixture(scope="module")
def small():
    return build_cluster(3, "small")


@pytest.fixture(scope="module")
def calico_rows(small, tmp_path_factory) -> list[dict]:
    path = tmp_path_factory.mktemp("calico") / "flows.log"
    write_calico(small, path, windows=2)
    return [json.loads(line) for line in path.read_text().splitlines()]


# -- the cluster -------------------------------------------------------------

def test_small_cluster_is_the_documented_shop(small):
    s = small.summary()
    assert {n for n, _ in small.namespaces} == {"kube-system", "monitoring", "shop-frontend", "shop-backend", "payments"}
    assert 15 <= s["workloads"] <= 30 and 45 <= s["pods"] <= 75
    kinds = {w.kind for w in small.workloads}
    assert kinds == {"Deployment", "StatefulSet", "DaemonSet", "CronJob"}
    coredns = small.workload("kube-system/coredns")
    assert dict(coredns.labels)["k8s-app"] == "kube-dns"
    assert any(w.host_network for w in small.workloads)


def test_pod_ips_are_unique_except_host_network(small):
    ips = [p.ip for p in small.pods if not p.host_network]
    assert len(ips) == len(set(ips))
    assert all(ip.startswith("10.244.") for ip in ips)
    node_ips = {n.ip for n in small.nodes}
    assert all(p.ip in node_ips for p in small.pods if p.host_network)


def test_noisy_labels_present_and_stable_labels_shared(small):
    web = [p for p in small.pods if p.workload == "web"]
    assert all("pod-template-hash" in dict(p.labels) and "helm.sh/chart" in dict(p.labels) for p in web)
    db = [p for p in small.pods if p.workload == "orders-db"]
    assert len({dict(p.labels)["statefulset.kubernetes.io/pod-name"] for p in db}) == len(db)
    assert len({dict(p.labels)["app.kubernetes.io/name"] for p in db}) == 1


def test_expected_connections_cover_required_shapes(small):
    exp = small.expected_connections()
    assert set(exp.columns) >= {"src_namespace", "src_workload", "dst_namespace", "dst_workload", "protocol", "port",
                                "action", "src_ip", "dst_ip", "src_kind", "dst_kind"}
    dns = exp[(exp.dst_workload == "coredns") & (exp.port == 53)]
    assert set(dns.protocol) == {"UDP", "TCP"}
    assert {"UDP", "TCP", "SCTP"} <= set(exp.protocol)
    assert set(range(10000, 10004)) <= set(exp[exp.protocol == "UDP"].port)
    assert (exp.action == "deny").sum() >= 3
    assert "kube-apiserver" in set(exp.dst_kind) and "host" in set(exp.dst_kind)
    psp = exp[exp.dst_ip.fillna("").str.startswith("203.0.113.")]
    assert psp.dst_ip.nunique() >= 3
    scraped = exp[(exp.src_workload == "prometheus") & (exp.dst_namespace.notna())]
    assert {"kube-system", "shop-frontend", "shop-backend", "payments", "monitoring"} <= set(scraped.dst_namespace)


def test_same_seed_same_cluster_other_seed_other_names():
    a, b, c = build_cluster(11, "small"), build_cluster(11, "small"), build_cluster(12, "small")
    assert a.pods == b.pods and a.conns == b.conns
    assert [p.name for p in a.pods] != [p.name for p in c.pods]


def test_benchmark_scale_is_parameterised():
    from recommender.synth import ClusterSize
    c = build_cluster(1, ClusterSize(tenants=6, workloads_per_tenant=10, nodes=5))
    s = c.summary()
    assert s["workloads"] == 7 + 6 * 10
    assert s["namespaces"] == 2 + 6
    with pytest.raises(ValueError, match="unknown cluster size"):
        build_cluster(1, "huge")


# -- Calico ------------------------------------------------------------------

def test_calico_fields_match_the_real_felix_sample(calico_rows, samples):
    real = json.loads((samples / "calico" / "flows.log").read_text().splitlines()[0])
    for row in calico_rows:
        assert list(row) == list(real)


def test_calico_rows_are_well_formed(calico_rows):
    assert {r["source_type"] for r in calico_rows} >= {"wep", "hep", "net", "ns"}
    assert {r["dest_type"] for r in calico_rows} >= {"wep", "hep", "net"}
    assert {r["reporter"] for r in calico_rows} == {"src", "dst"}
    aggregated = [r for r in calico_rows if r["source_name"] == "-" and r["source_type"] == "wep"]
    assert aggregated and all(r["source_ip"] is None and r["source_name_aggr"].endswith("-*") for r in aggregated)
    full = [r for r in calico_rows if r["source_type"] == "wep" and r["source_ip"]]
    assert full and all(r["source_name"].startswith(r["source_name_aggr"][:-1]) for r in full)
    for r in calico_rows:
        assert r["end_time"] - r["start_time"] == 300
        assert r["num_flows"] >= 1 and r["bytes_out"] >= 0
        assert r["action"] in ("allow", "deny")
        assert r["policies"]["all_policies"]


def _calico_identity(row: dict, side: str, by_aggr: dict[str, tuple[str, str]]):
    typ = row[f"{side}_type"]
    if typ == "wep":
        return by_aggr[row[f"{side}_name_aggr"]]
    if typ == "hep":
        return ("host",)
    return row[f"{side}_ip"]


def _expected_identity(kind, ns, workload, ip):
    if kind == "pod":
        return (ns, workload)
    if kind == "host":
        return ("host",)
    return ip


def test_every_expected_connection_appears_in_calico(small, calico_rows):
    by_aggr = {w.aggregated_name: (w.namespace, w.name) for w in small.workloads}
    seen: dict[tuple, set[str]] = {}
    for r in calico_rows:
        key = (_calico_identity(r, "source", by_aggr), _calico_identity(r, "dest", by_aggr), r["proto"].upper(),
               r["dest_port"])
        seen.setdefault(key, set()).add(r["action"])
    exp = small.expected_connections().astype(object).where(lambda d: d.notna(), None)
    for e in exp.itertuples():
        key = (_expected_identity(e.src_kind, e.src_namespace, e.src_workload, e.src_ip),
               _expected_identity(e.dst_kind, e.dst_namespace, e.dst_workload, e.dst_ip), e.protocol, e.port)
        assert key in seen, f"expected connection missing from Calico output: {key}"
        final = "deny" if "deny" in seen[key] else "allow"
        assert final == e.action, key


def test_calico_record_budget_is_exact(small, tmp_path):
    assert write_calico(small, tmp_path / "f.log", records=123) == 123
    assert len((tmp_path / "f.log").read_text().splitlines()) == 123


def test_calico_same_seed_same_bytes(tmp_path):
    for name in ("a", "b"):
        write_calico(build_cluster(5, "small"), tmp_path / name, windows=3)
    assert (tmp_path / "a").read_bytes() == (tmp_path / "b").read_bytes()


# -- inventory ---------------------------------------------------------------

def test_inventory_json_and_yaml_describe_the_same_pods(small, tmp_path):
    j = json.loads(write_inventory(small, tmp_path / "inv.json").read_text())
    y = yaml.safe_load(write_inventory(small, tmp_path / "inv.yaml").read_text())
    assert j == y and j["kind"] == "List"
    pods = [i for i in j["items"] if i["kind"] == "Pod"]
    assert len(pods) == len(small.pods)
    owners = {p["metadata"]["ownerReferences"][0]["kind"] for p in pods}
    assert owners == {"ReplicaSet", "StatefulSet", "DaemonSet", "Job"}
    host = [p for p in pods if p["spec"].get("hostNetwork")]
    assert host and all(p["status"]["podIP"] == p["status"]["hostIP"] for p in host)
    named = [port for p in pods for c in p["spec"]["containers"] for port in c.get("ports", [])]
    assert all(port["name"] for port in named)
    assert {port["protocol"] for port in named} == {"TCP", "UDP", "SCTP"}


def test_calico_full_rows_match_inventory_pods(small, calico_rows):
    pods = {p.name: p for p in small.pods}
    full = [r for r in calico_rows if r["source_type"] == "wep" and r["source_name"] != "-"]
    for r in full:
        p = pods[r["source_name"]]
        assert r["source_ip"] == p.ip and r["source_namespace"] == p.namespace
        assert r["source_labels"]["labels"] == [f"{k}={v}" for k, v in p.labels]


# -- the committed demo -------------------------------------------------------

def test_demo_regenerates_byte_for_byte(tmp_path):
    if not DEMO.is_dir():
        pytest.fail("data/demo is missing: run `python -m recommender.synth demo data/demo`")
    written = write_demo(tmp_path)
    committed = sorted(p.relative_to(DEMO) for p in DEMO.rglob("*") if p.is_file())
    assert [p.relative_to(tmp_path) for p in written] == committed
    for p in written:
        assert p.read_bytes() == (DEMO / p.relative_to(tmp_path)).read_bytes(), f"{p.name} drifted; regenerate data/demo"


def test_demo_is_small_enough_to_commit():
    total = sum(p.stat().st_size for p in DEMO.rglob("*") if p.is_file())
    assert 0 < total < 2_000_000


def test_traffic_instances_reference_real_endpoints(small):
    t = Traffic(small)
    assert len(t) > len(small.conns)
    assert int(t.src.max()) < len(t.endpoints) and int(t.dst.max()) < len(t.endpoints)
    assert set(t.conn.tolist()) == set(range(len(small.conns)))
