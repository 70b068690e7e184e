"""IP → pod enrichment: which endpoints change, into what, and when it refuses to guess."""

from __future__ import annotations

import json
from pathlib import Path

import duckdb
import pytest

from recommender.io import enrich, inventory, schema


def pod(ns: str, name: str, ips: list[str], *, labels: dict | None = None, host: bool = False,
        owner: tuple[str, str] | None = None, node: str | None = None) -> dict:
    meta: dict = {"name": name, "namespace": ns, "labels": labels or {}}
    if owner:
        meta["ownerReferences"] = [{"kind": owner[0], "name": owner[1], "controller": True}]
    spec: dict = {"hostNetwork": host, "containers": []}
    if node:
        spec["nodeName"] = node
    return {"kind": "Pod", "metadata": meta, "spec": spec,
            "status": {"podIPs": [{"ip": ip} for ip in ips]}}


INVENTORY = [
    pod("shop", "web-5d4f8c9b7-x2x2x", ["10.0.0.1", "fd00::1"], labels={"zone": "a", "app": "web",
        "pod-template-hash": "5d4f8c9b7"}, owner=("ReplicaSet", "web-5d4f8c9b7")),
    pod("shop", "old-db", ["10.0.0.2"]),            # the IP was reused by a newer pod (churn)
    pod("shop", "new-cache", ["10.0.0.2"]),
    pod("kube-system", "kube-proxy-a", ["192.168.0.5"], host=True),
    pod("kube-system", "node-exporter-a", ["192.168.0.5"], host=True),
    pod("shop", "weird", ["192.168.0.6"]),          # a pod IP that is also a node IP
    pod("kube-system", "agent", ["192.168.0.6"], host=True),
]


@pytest.fixture
def con(tmp_path: Path) -> duckdb.DuckDBPyConnection:
    path = tmp_path / "inv.json"
    path.write_text(json.dumps({"kind": "List", "items": INVENTORY}))
    con = duckdb.connect()
    inventory.load_inventory(con, [path])
    con.execute(schema.connections_ddl("stage"))
    return con


def add(con: duckdb.DuckDBPyConnection, src: tuple[str | None, str], dst: tuple[str | None, str],
        dst_pod: str | None = None) -> None:
    con.execute("INSERT INTO stage (src_ip, src_kind, dst_ip, dst_kind, dst_pod, protocol, action)"
                " VALUES (?, ?, ?, ?, ?, 'TCP', 'allow')", [src[0], src[1], dst[0], dst[1], dst_pod])


def sides(con: duckdb.DuckDBPyConnection) -> list[tuple]:
    return con.execute("SELECT src_ip, src_kind, src_namespace, src_pod, src_workload, dst_ip, dst_kind, dst_pod"
                       " FROM stage ORDER BY src_ip, dst_ip").fetchall()


def test_truth_table(con: duckdb.DuckDBPyConnection) -> None:
    add(con, ("10.0.0.1", "network"), ("203.0.113.9", "network"))    # pod → outside world
    add(con, ("fd00::1", "unknown"), ("192.168.0.5", "network"))      # IPv6 pod → node
    add(con, ("10.0.0.2", "network"), ("10.0.0.1", "pod"), "named")   # ambiguous IP; an exporter's pod stays
    add(con, ("192.168.0.6", "network"), ("10.0.0.1", "world"))       # pod IP = node IP; world is untouched
    add(con, (None, "network"), ("10.0.0.1", "host"))                 # no IP; a 'host' that is a known pod
    stats = enrich.enrich(con, "stage")
    assert sides(con) == [
        ("10.0.0.1", "pod", "shop", "web-5d4f8c9b7-x2x2x", "web", "203.0.113.9", "network", None),
        ("10.0.0.2", "network", None, None, None, "10.0.0.1", "pod", "named"),
        ("192.168.0.6", "network", None, None, None, "10.0.0.1", "world", None),
        ("fd00::1", "pod", "shop", "web-5d4f8c9b7-x2x2x", "web", "192.168.0.5", "host", None),
        (None, "network", None, None, None, "10.0.0.1", "pod", "web-5d4f8c9b7-x2x2x"),
    ]
    assert (stats.pods, stats.hosts, stats.conflicted, stats.conflicts) == (3, 1, 2, 2)
    assert con.execute("SELECT * FROM ip_conflicts ORDER BY ip").fetchall() == [
        ("10.0.0.2", ["shop/new-cache", "shop/old-db"]),
        ("192.168.0.6", ["kube-system/agent", "shop/weird"]),
    ]


def test_labels_are_a_sorted_map(con: duckdb.DuckDBPyConnection) -> None:
    add(con, ("10.0.0.1", "network"), ("10.0.0.9", "network"))
    enrich.enrich(con, "stage")
    labels = con.execute("SELECT map_keys(src_labels) FROM stage").fetchone()[0]
    assert labels == ["app", "pod-template-hash", "zone"]


def test_idempotent(con: duckdb.DuckDBPyConnection) -> None:
    add(con, ("10.0.0.1", "network"), ("192.168.0.5", "network"))
    first = enrich.enrich(con, "stage")
    before = sides(con)
    second = enrich.enrich(con, "stage")
    assert sides(con) == before
    assert (first.pods, first.hosts) == (1, 1) and (second.pods, second.hosts) == (0, 0)


def test_without_inventory_nothing_changes() -> None:
    con = duckdb.connect()
    con.execute(schema.connections_ddl("stage"))
    add(con, ("10.0.0.1", "network"), ("10.0.0.2", "network"))
    stats = enrich.enrich(con, "stage")
    assert stats == enrich.EnrichStats()
    assert sides(con) == [("10.0.0.1", "network", None, None, None, "10.0.0.2", "network", None)]
    assert con.execute("SELECT count(*) FROM ip_conflicts").fetchone()[0] == 0


# --- property: the SQL agrees with a plain-Python statement of the rules ---------------------------

from hypothesis import HealthCheck, given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

POOL = [f"10.9.0.{i}" for i in range(1, 7)]


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(claims=st.lists(st.tuples(st.sampled_from(POOL), st.booleans()), max_size=8),
       endpoints=st.lists(st.tuples(st.sampled_from(POOL + ["192.0.2.1"]),
                                    st.sampled_from(["network", "unknown", "host", "world", "pod"])), min_size=1,
                          max_size=6))
def test_enrichment_follows_the_rules(tmp_path: Path, claims: list[tuple[str, bool]],
                                      endpoints: list[tuple[str, str]]) -> None:
    items = [pod("ns", f"p{i}", [ip], host=host) for i, (ip, host) in enumerate(claims)]
    path = tmp_path / "inv.json"
    path.write_text(json.dumps({"kind": "List", "items": items}))
    con = duckdb.connect()
    inventory.load_inventory(con, [path])
    con.execute(schema.connections_ddl("stage"))
    for ip, kind in endpoints:
        add(con, (ip, kind), ("192.0.2.99", "network"))
    enrich.enrich(con, "stage")

    def expected(ip: str, kind: str) -> tuple[str, str | None]:
        owners = [(f"p{i}", host) for i, (cip, host) in enumerate(claims) if cip == ip]
        if kind not in ("network", "unknown", "host") or not owners:
            return kind, None
        pods = [name for name, host in owners if not host]
        if len(pods) == 1 and len(owners) == 1:
            return "pod", pods[0]
        if not pods:
            return "host", None
        return kind, None                       # ambiguous: left alone

    got = con.execute("SELECT src_ip, src_kind, src_pod FROM stage").fetchall()
    want = [(ip, *expected(ip, kind)) for ip, kind in endpoints]

    def order(row: tuple) -> tuple:          # an untouched 'pod' endpoint has no pod name: sort None first
        return tuple("" if v is None else v for v in row)

    assert sorted(got, key=order) == sorted(want, key=order)


def test_host_named_by_node_gets_the_node_ip(tmp_path: Path) -> None:
    """Calico aggregates host endpoints to the node name with no IP; the inventory knows the node's address."""
    path = tmp_path / "inv.json"
    path.write_text(json.dumps({"kind": "List", "items": [
        pod("kube-system", "kube-proxy-a", ["192.168.0.5", "fd00::5"], host=True, node="node-a"),
        pod("kube-system", "exporter-a", ["192.168.0.5"], host=True, node="node-a"),
        pod("kube-system", "proxy-b", ["192.168.0.7"], host=True, node="node-b"),
        pod("kube-system", "proxy-b2", ["192.168.0.8"], host=True, node="node-b"),   # two addresses: ambiguous
        pod("shop", "web", ["10.0.0.1"], node="node-c"),                               # not hostNetwork: no node IP
    ]}))
    con = duckdb.connect()
    inventory.load_inventory(con, [path])
    con.execute(schema.connections_ddl("stage"))
    for node in ("node-a", "node-b", "node-c"):
        con.execute("INSERT INTO stage (src_kind, src_workload, dst_kind, dst_workload, protocol, action)"
                    " VALUES ('pod', 'prometheus', 'host', ?, 'TCP', 'allow')", [node])
    stats = enrich.enrich(con, "stage")
    rows = con.execute("SELECT dst_workload, dst_ip FROM stage ORDER BY dst_workload").fetchall()
    assert rows == [("node-a", "192.168.0.5"), ("node-b", None), ("node-c", None)]
    assert stats.node_ips == 1


def test_host_named_by_node_gets_the_address_other_records_give_it() -> None:
    """Without an inventory, records naming the node with its address stand in for it (unique per family)."""
    con = duckdb.connect()
    con.execute(schema.connections_ddl("stage"))
    rows = [("node-a", None), ("node-a", "192.168.0.5"), ("node-a", "fd00::5"),     # IPv4 wins over IPv6
            ("node-b", None), ("node-b", "192.168.0.7"), ("node-b", "192.168.0.8"),  # two addresses: ambiguous
            ("node-c", None)]                                                        # never seen with one
    for node, ip in rows:
        con.execute("INSERT INTO stage (src_kind, src_workload, dst_kind, dst_workload, dst_ip, protocol, action)"
                    " VALUES ('pod', 'prometheus', 'host', ?, ?, 'TCP', 'allow')", [node, ip])
    stats = enrich.enrich(con, "stage")
    got = con.execute("SELECT dst_workload, dst_ip FROM stage ORDER BY ALL").fetchall()
    assert got == [("node-a", "192.168.0.5"), ("node-a", "192.168.0.5"), ("node-a", "fd00::5"),
                   ("node-b", "192.168.0.7"), ("node-b", "192.168.0.8"), ("node-b", None), ("node-c", None)]
    assert stats.node_ips == 1
