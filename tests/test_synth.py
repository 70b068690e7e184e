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

from recommender.io.schema import COLUMN_NAMES, NORMALIZED_COLUMNS
from recommender.synth import build_cluster, write_calico, write_demo, write_inventory
from recommender.synth.traffic import Traffic
from recommender.synth.writers import FORMATS, write_format

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
    assert {n for n, _ in small.namespaces} == {"kube-system", "monitoring", "shop-frontend", "shop-backend",
                                                "payments"}
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


def test_plain_label_style_keeps_app_tier_and_the_noisy_labels_only():
    from recommender.synth import ClusterSize
    helm = build_cluster(3, ClusterSize(tenants=2, workloads_per_tenant=6, nodes=3))
    plain = build_cluster(3, ClusterSize(tenants=2, workloads_per_tenant=6, nodes=3, labels="plain"))
    stable = {"app", "tier"}
    noisy = {"pod-template-hash", "controller-revision-hash", "pod-template-generation", "statefulset.kubernetes.io/pod-name",
             "apps.kubernetes.io/pod-index", "job-name", "batch.kubernetes.io/job-name", "controller-uid",
             "batch.kubernetes.io/controller-uid"}
    tenant_pods = [p for p in plain.pods if p.namespace.split("-")[-1].isdigit()]
    assert tenant_pods and all(set(dict(p.labels)) <= stable | noisy and "app" in dict(p.labels) for p in tenant_pods)
    assert any("app.kubernetes.io/name" in dict(p.labels) for p in helm.pods)
    assert [p.name for p in plain.pods] == [p.name for p in helm.pods]   # same cluster, other labels
    with pytest.raises(ValueError, match="label style"):
        build_cluster(3, ClusterSize(tenants=1, workloads_per_tenant=2, nodes=1, labels="kustomize"))


# -- Calico ------------------------------------------------------------------
def test_skewed_node_clocks_shift_each_nodes_windows_by_its_own_phase(small, tmp_path):
    traffic = Traffic(small)
    aligned, skewed = tmp_path / "a.log", tmp_path / "s.log"
    write_calico(small, aligned, windows=3, traffic=traffic)
    write_calico(small, skewed, windows=3, traffic=traffic, node_clocks="skewed")
    a = [json.loads(x) for x in aligned.read_text().splitlines()]
    s = [json.loads(x) for x in skewed.read_text().splitlines()]
    times = ("start_time", "end_time")
    assert [{k: v for k, v in r.items() if k not in times} for r in a] == \
        [{k: v for k, v in r.items() if k not in times} for r in s]
    shifts = {(r["start_time"] - x["start_time"], r["end_time"] - x["end_time"]) for r, x in zip(s, a)}
    assert all(d0 == d1 and 0 <= d0 < 300 for d0, d1 in shifts) and len(shifts) > 1
    with pytest.raises(ValueError, match="node_clocks"):
        write_calico(small, tmp_path / "x.log", windows=1, node_clocks="ntp")

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


def assert_shows_expected(cluster, seen: dict[tuple, set[str]], fmt: str) -> None:
    """Every expected connection is among ``seen`` (identity, identity, PROTO, port) → actions,
    with the right final action (deny when any record of it was denied)."""
    exp = cluster.expected_connections().astype(object).where(lambda d: d.notna(), None)
    assert len(exp) > 50
    for e in exp.itertuples():
        key = (_expected_identity(e.src_kind, e.src_namespace, e.src_workload, e.src_ip),
               _expected_identity(e.dst_kind, e.dst_namespace, e.dst_workload, e.dst_ip), e.protocol, e.port)
        assert key in seen, f"expected connection missing from {fmt} output: {key}"
        final = "deny" if "deny" in seen[key] else "allow"
        assert final == e.action, key


def calico_seen(cluster, rows: list[dict]) -> dict[tuple, set[str]]:
    by_aggr = {w.aggregated_name: (w.namespace, w.name) for w in cluster.workloads}
    seen: dict[tuple, set[str]] = {}
    for r in rows:
        key = (_calico_identity(r, "source", by_aggr), _calico_identity(r, "dest", by_aggr), r["proto"].upper(),
               r["dest_port"])
        seen.setdefault(key, set()).add(r["action"])
    return seen


def test_every_expected_connection_appears_in_calico(small, calico_rows):
    assert_shows_expected(small, calico_seen(small, calico_rows), "Calico")


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
        committed_file = DEMO / p.relative_to(tmp_path)
        if p.suffix == ".parquet":      # bytes embed the writer's pyarrow version; the content must not drift
            import pyarrow.parquet as pq
            assert pq.read_table(p).equals(pq.read_table(committed_file)), f"{p.name} drifted; regenerate data/demo"
        else:
            assert p.read_bytes() == committed_file.read_bytes(), f"{p.name} drifted; regenerate data/demo"


def test_demo_calico_pods_are_the_demo_inventory_pods():
    """The README's first command joins these two files: names, IPs and labels must agree."""
    inventory = yaml.safe_load((DEMO / "inventory.yaml").read_text())
    pods = {(i["metadata"]["namespace"], i["metadata"]["name"]): i for i in inventory["items"] if i["kind"] == "Pod"}
    checked = 0
    for line in (DEMO / "calico" / "flows.log").read_text().splitlines():
        row = json.loads(line)
        for side in ("source", "dest"):
            if row[f"{side}_type"] != "wep":
                continue
            if row[f"{side}_name"] == "-":
                prefix = row[f"{side}_name_aggr"][:-1]
                assert any(ns == row[f"{side}_namespace"] and name.startswith(prefix) for ns, name in pods)
                continue
            pod = pods[(row[f"{side}_namespace"], row[f"{side}_name"])]
            assert row[f"{side}_ip"] == pod["status"]["podIP"]
            labels = dict(label.split("=", 1) for label in row[f"{side}_labels"]["labels"])
            assert labels == pod["metadata"]["labels"]
            checked += 1
    assert checked > 100


def test_demo_is_small_enough_to_commit():
    total = sum(p.stat().st_size for p in DEMO.rglob("*") if p.is_file())
    assert 0 < total < 2_000_000


def test_traffic_instances_reference_real_endpoints(small):
    t = Traffic(small)
    assert len(t) > len(small.conns)
    assert int(t.src.max()) < len(t.endpoints) and int(t.dst.max()) < len(t.endpoints)
    assert set(t.conn.tolist()) == set(range(len(small.conns)))


# -- VPC, Hubble, normalized --------------------------------------------------

def _ip_identity(cluster):
    pods = {p.ip: (p.namespace, p.workload) for p in cluster.pods if not p.host_network}
    nodes = {n.ip for n in cluster.nodes}
    return lambda ip: pods.get(ip) or (("host",) if ip in nodes else ip)


def test_vpc_records_follow_the_s3_layout(small, tmp_path, samples):
    from recommender.synth.vpc import write_vpc
    path = tmp_path / "vpc.log"
    n = write_vpc(small, path, windows=2)
    header, *lines = path.read_text().splitlines()
    real = (samples / "aws-vpc" / "valid_vpc_flow_log_multi.log").read_text().splitlines()[0].split()
    fields = header.split()
    assert fields[: len(real)] == real
    assert fields[len(real):] == ["tcp-flags", "pkt-srcaddr", "pkt-dstaddr", "flow-direction"]
    assert len(lines) == n
    ident = _ip_identity(small)
    names = {6: "TCP", 17: "UDP", 132: "SCTP"}
    seen: dict[tuple, set[str]] = {}
    for line in lines:
        rec = dict(zip(fields, line.split(" ")))
        assert len(line.split(" ")) == len(fields) and rec["version"] == "5" and rec["log-status"] == "OK"
        assert rec["interface-id"].startswith("eni-0") and rec["flow-direction"] in ("ingress", "egress")
        assert int(rec["start"]) <= int(rec["end"])
        proto = int(rec["protocol"])
        flags = int(rec["tcp-flags"])
        assert flags in ((2, 3, 18, 19) if proto == 6 else (0,))
        if flags in (18, 19):
            continue                                    # replies come from the server port
        key = (ident(rec["srcaddr"]), ident(rec["dstaddr"]), names[proto], int(rec["dstport"]))
        seen.setdefault(key, set()).add("deny" if rec["action"] == "REJECT" else "allow")
    assert_shows_expected(small, seen, "VPC")


def test_vpc_tcp_replies_answer_their_requests(small, tmp_path):
    from recommender.synth.vpc import write_vpc
    path = tmp_path / "vpc.log"
    write_vpc(small, path)
    recs = [line.split(" ") for line in path.read_text().splitlines()[1:]]
    requests = {(r[3], r[4], r[5], r[6]) for r in recs if r[14] in ("2", "3")}
    replies = [(r[4], r[3], r[6], r[5]) for r in recs if r[14] in ("18", "19")]
    assert replies and all(rep in requests for rep in replies)


@pytest.fixture(scope="module")
def hubble_flows(small, tmp_path_factory) -> list[dict]:
    from recommender.synth.hubble import write_hubble
    path = tmp_path_factory.mktemp("hubble") / "flows.json"
    write_hubble(small, path, windows=2)
    return [json.loads(line) for line in path.read_text().splitlines()]


def test_hubble_lines_use_the_real_jsonpb_shape(hubble_flows, samples):
    real_keys: set[str] = set()
    for f in sorted((samples / "hubble").glob("*.json")):
        for line in f.read_text().splitlines():
            real_keys |= set(json.loads(line)["flow"])
    newer = {"drop_reason", "drop_reason_desc"}
    times = []
    for obj in hubble_flows:
        assert set(obj) == {"flow", "node_name", "time"}
        flow = obj["flow"]
        assert set(flow) <= real_keys | newer, set(flow) - real_keys
        assert flow["time"] == obj["time"] and flow["Type"] in ("L3_L4", "L7")
        times.append(flow["time"])
        for side in ("source", "destination"):
            ep = flow[side]
            if "pod_name" in ep:
                assert f"k8s:io.kubernetes.pod.namespace={ep['namespace']}" in ep["labels"]
                assert not any("pod-template-hash" in lab for lab in ep["labels"])
                assert ep["workloads"][0]["kind"] in ("Deployment", "StatefulSet", "DaemonSet", "CronJob")
            else:
                assert ep["labels"][0].startswith("reserved:")
    assert times == sorted(times)
    assert any(f["flow"].get("l7", {}).get("dns") for f in hubble_flows)
    assert any(f["flow"]["verdict"] == "DROPPED" for f in hubble_flows)
    syn_ack = [f["flow"] for f in hubble_flows
               if f["flow"]["l4"].get("TCP", {}).get("flags") == {"SYN": True, "ACK": True}]
    assert syn_ack and all(f["is_reply"] for f in syn_ack)


def test_every_expected_connection_appears_in_hubble(small, hubble_flows):
    def identity(ep: dict, ip: str):
        if "pod_name" in ep:
            return (ep["namespace"], ep["workloads"][0]["name"])
        if ep["labels"][0] in ("reserved:host", "reserved:remote-node"):
            return ("host",)
        return ip
    names = {"TCP": "TCP", "UDP": "UDP", "SCTP": "SCTP"}
    seen: dict[tuple, set[str]] = {}
    for obj in hubble_flows:
        f = obj["flow"]
        if f["is_reply"]:
            continue
        (proto, l4), = f["l4"].items()
        key = (identity(f["source"], f["IP"]["source"]), identity(f["destination"], f["IP"]["destination"]),
               names[proto], l4["destination_port"])
        seen.setdefault(key, set()).add("deny" if f["verdict"] == "DROPPED" else "allow")
    assert_shows_expected(small, seen, "Hubble")


def test_parquet_has_the_normalized_schema(small, tmp_path):
    import duckdb
    from recommender.synth.normalized import write_parquet
    path = tmp_path / "flows.parquet"
    n = write_parquet(small, path, windows=2)
    con = duckdb.connect()
    described = con.execute(f"DESCRIBE SELECT * FROM read_parquet('{path}')").fetchall()
    assert [(r[0], r[1]) for r in described] == [(c.name, c.type) for c in NORMALIZED_COLUMNS]
    assert con.execute(f"SELECT count(*) FROM read_parquet('{path}')").fetchone()[0] == n
    rows = con.execute(f"SELECT src_kind, src_namespace, src_workload, src_ip, dst_kind, dst_namespace, dst_workload,"
                       f" dst_ip, protocol, dst_port, action FROM read_parquet('{path}')").fetchall()
    ident = {"pod": lambda ns, w, ip: (ns, w), "host": lambda ns, w, ip: ("host",)}
    seen: dict[tuple, set[str]] = {}
    for sk, sns, sw, sip, dk, dns, dw, dip, proto, port, action in rows:
        key = (ident.get(sk, lambda *a: sip)(sns, sw, sip), ident.get(dk, lambda *a: dip)(dns, dw, dip), proto, port)
        seen.setdefault(key, set()).add(action)
    assert_shows_expected(small, seen, "Parquet")
    web = con.execute(f"SELECT src_labels['app'] FROM read_parquet('{path}') WHERE src_workload = 'web' LIMIT 1")
    assert web.fetchone()[0] == "web"


def test_csv_has_the_normalized_columns_and_json_nested_values(small, tmp_path):
    import csv
    from recommender.synth.normalized import write_csv
    path = tmp_path / "flows.csv"
    n = write_csv(small, path, windows=1)
    with open(path, newline="") as fh:
        rows = list(csv.DictReader(fh))
    assert tuple(rows[0]) == COLUMN_NAMES and len(rows) == n
    pods = [r for r in rows if r["src_kind"] == "pod"]
    assert all(isinstance(json.loads(r["src_labels"]), dict) for r in pods)
    denied = [r for r in rows if r["action"] == "deny"]
    assert denied and all(json.loads(r["policies"]) for r in denied)


@pytest.mark.parametrize("fmt", sorted(FORMATS))
def test_write_format_writes_exactly_n_records_reproducibly(fmt, tmp_path):
    from recommender.synth import ClusterSize
    size = ClusterSize(tenants=3, workloads_per_tenant=8, nodes=3)
    a, n = write_format(fmt, tmp_path / "a", records=700, size=size, seed=9)
    b, _ = write_format(fmt, tmp_path / "b", records=700, size=size, seed=9)
    assert n == 700
    assert a.read_bytes() == b.read_bytes()
    if fmt in ("calico", "hubble"):
        assert len(a.read_text().splitlines()) == 700
    if fmt == "vpc":
        assert len(a.read_text().splitlines()) == 701 and (tmp_path / "a" / "inventory.json").is_file()


def test_dual_stack_clusters_use_ipv6_in_every_format(tmp_path):
    from recommender.synth import ClusterSize, inventory_objects
    cluster = build_cluster(4, ClusterSize(tenants=2, workloads_per_tenant=6, nodes=3, ipv6=True))
    v6_pods = {p.ip6: p for p in cluster.pods if p.ip6}
    assert v6_pods and all(":" in ip for ip in v6_pods)
    pods = [i for i in inventory_objects(cluster)["items"] if i["kind"] == "Pod" and not i["spec"].get("hostNetwork")]
    assert all([x["ip"] for x in p["status"]["podIPs"]] == [p["status"]["podIP"], v6_pods_ip(v6_pods, p)]
               for p in pods)
    traffic = Traffic(cluster)
    for fmt in FORMATS:
        path, _ = write_format(fmt, tmp_path, records=5000, cluster=cluster, traffic=traffic)
        if fmt.startswith("parquet"):
            import pyarrow.parquet as pq
            text = " ".join(str(v) for v in pq.read_table(path, columns=["src_ip"]).column(0).to_pylist())
        else:
            text = path.read_text()
        assert any(ip in text for ip in v6_pods), f"{fmt} has no IPv6 pod address"
    hubble = [json.loads(line)["flow"] for line in (tmp_path / FORMATS["hubble"][0]).read_text().splitlines()]
    assert {"IPv4", "IPv6"} <= {f["IP"]["ipVersion"] for f in hubble}


def v6_pods_ip(v6_pods: dict, pod: dict) -> str:
    return next(ip for ip, p in v6_pods.items() if p.name == pod["metadata"]["name"])


def test_procedural_tenants_show_every_expected_connection(tmp_path):
    from recommender.synth import ClusterSize
    cluster = build_cluster(21, ClusterSize(tenants=4, workloads_per_tenant=10, nodes=4))
    path = tmp_path / "flows.log"
    write_calico(cluster, path)
    rows = [json.loads(line) for line in path.read_text().splitlines()]
    assert_shows_expected(cluster, calico_seen(cluster, rows), "Calico")
    kinds = {w.kind for w in cluster.workloads}
    assert {"Deployment", "StatefulSet", "DaemonSet"} <= kinds


def test_model_view_matches_the_inventory(small):
    from recommender.synth import Cluster, inventory_objects
    assert Cluster.build(3, "small").pods == small.pods
    pods = small.model_pods()
    items = [i for i in inventory_objects(small)["items"] if i["kind"] == "Pod"]
    assert [(p.namespace, p.name) for p in pods] == [(i["metadata"]["namespace"], i["metadata"]["name"]) for i in items]
    for p, i in zip(pods, items):
        assert p.labels.as_dict() == i["metadata"]["labels"]
        assert p.ips[0] == i["status"]["podIP"] and p.node == i["spec"]["nodeName"]
        assert p.owner_kind == i["metadata"]["ownerReferences"][0]["kind"]
    assert all(ns.labels["kubernetes.io/metadata.name"] == ns.name for ns in small.model_namespaces())
