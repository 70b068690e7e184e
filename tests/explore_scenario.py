"""A small, hand-written cluster for the exploration tests (views, report, CLI).

team-a/web (2 replicas) calls team-a/api on TCP/8080 and kube-dns on UDP/53;
api calls team-b/db on TCP/5432 and the internet on TCP/443; the internet
calls web on TCP/80; team-b/batch was denied on api TCP/9090 by the exporter.
Rows are written straight into a ``connections`` table of the normalized
schema, so these tests do not depend on any reader.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import duckdb

from recommender.io.schema import COLUMN_NAMES, connections_ddl

WEB = {"app": "web", "pod-template-hash": "5d8f9"}


def pod(ns: str, name: str, workload: str, labels: dict[str, str]) -> dict[str, Any]:
    return dict(namespace=ns, pod=name, workload=workload, kind="pod", labels=labels, ip=None)


def ext(ip: str, kind: str = "network") -> dict[str, Any]:
    return dict(namespace=None, pod=None, workload=None, kind=kind, labels={}, ip=ip)


# (source, destination, protocol, port, action, flows, bytes)
CONNECTIONS: list[tuple[dict[str, Any], dict[str, Any], str, int | None, str, int, int]] = [
    (pod("team-a", "web-1", "web", WEB), pod("team-a", "api-1", "api", {"app": "api"}), "TCP", 8080, "allow", 40, 4000),
    (pod("team-a", "web-2", "web", WEB), pod("team-a", "api-1", "api", {"app": "api"}), "TCP", 8080, "allow", 35, 3500),
    (pod("team-a", "web-1", "web", WEB), pod("kube-system", "coredns-1", "coredns", {"k8s-app": "kube-dns"}),
     "UDP", 53, "allow", 90, 900),
    (pod("team-a", "api-1", "api", {"app": "api"}), pod("team-b", "db-0", "db", {"app": "db"}), "TCP", 5432, "allow",
     20, 200000),
    (pod("team-a", "api-1", "api", {"app": "api"}), ext("93.184.216.34"), "TCP", 443, "allow", 5, 50000),
    (ext("203.0.113.7", "world"), pod("team-a", "web-1", "web", WEB), "TCP", 80, "allow", 12, 1200),
    (pod("team-b", "batch-x1", "batch", {"app": "batch"}), pod("team-a", "api-1", "api", {"app": "api"}),
     "TCP", 9090, "deny", 3, 0),
]

WORKLOADS = {"team-a/web", "team-a/api", "team-b/db", "team-b/batch", "kube-system/coredns"}
EXTERNALS = {"93.184.216.34", "203.0.113.7"}


def insert(con: duckdb.DuckDBPyConnection, rows: Iterable[tuple]) -> None:
    """Insert (src, dst, protocol, port, action, flows, bytes) tuples as connection rows."""
    con.execute(connections_ddl())
    placeholders = ", ".join("?" for _ in COLUMN_NAMES)
    for line, (src, dst, proto, port, action, flows, nbytes) in enumerate(rows, start=1):
        values: dict[str, Any] = {f"src_{k}": v for k, v in src.items()} | {f"dst_{k}": v for k, v in dst.items()}
        values |= dict(protocol=proto, dst_port=port, action=action, flows=flows, packets=flows * 2, bytes=nbytes,
                       records=1, format="normalized", file="scenario.csv", line=line, policies=[])
        con.execute(f"INSERT INTO connections VALUES ({placeholders})", [values.get(c) for c in COLUMN_NAMES])


def scenario(rows: Iterable[tuple] = CONNECTIONS) -> duckdb.DuckDBPyConnection:
    con = duckdb.connect(":memory:")
    insert(con, rows)
    return con


def many_workloads(n: int, per_namespace: int = 10) -> duckdb.DuckDBPyConnection:
    """``n`` workloads in namespaces of ``per_namespace``; each calls the next one
    (crossing namespaces every ``per_namespace``) and the internet: built in SQL."""
    con = duckdb.connect(":memory:")
    con.execute(connections_ddl())
    con.execute(
        f"""
        INSERT INTO connections (src_namespace, src_pod, src_workload, src_kind, src_labels,
                                 dst_namespace, dst_pod, dst_workload, dst_kind, dst_labels, dst_ip,
                                 protocol, dst_port, action, flows, bytes)
        SELECT 'ns-' || (i // {per_namespace}), 'wl-' || i || '-0', 'wl-' || i, 'pod', MAP {{'app': 'wl-' || i}},
               CASE WHEN j < {n} THEN 'ns-' || (j // {per_namespace}) END,
               CASE WHEN j < {n} THEN 'wl-' || j || '-0' END,
               CASE WHEN j < {n} THEN 'wl-' || j END,
               CASE WHEN j < {n} THEN 'pod' ELSE 'network' END,
               CASE WHEN j < {n} THEN MAP {{'app': 'wl-' || j}} ELSE MAP {{}} END,
               CASE WHEN j >= {n} THEN '198.51.100.' || (i % 200) END,
               'TCP', 8000 + (i % 7), 'allow', 1 + i % 5, 100 * i
        FROM (SELECT i, CASE WHEN i % 3 = 0 THEN {n} ELSE i + 1 END AS j FROM range({n}) t(i))
        """
    )
    return con
