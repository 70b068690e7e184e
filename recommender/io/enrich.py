"""Give bare IP endpoints a pod identity from the inventory.

Why this exists: VPC flow logs, and the peers Calico or Hubble could not
resolve, only say ``10.1.2.3``. With the ``pods`` table loaded (see
``recommender.io.inventory``) an endpoint whose IP belongs to exactly one pod
becomes that pod — namespace, name, workload, labels, kind ``pod`` — so it can
be selected by a NetworkPolicy. Rules, all set-based SQL:

* only endpoints with an IP and no pod identity (``*_pod`` null, kind
  ``network``, ``unknown`` or ``host``) are touched; what the exporter said
  about a pod is never overwritten;
* the IP of a ``hostNetwork`` pod is its node's IP: such endpoints become kind
  ``host`` (a node, which only an ``ipBlock`` can match), never a pod;
* an IP held by more than one pod in the inventory (pod churn, IP reuse after
  a restart, a pod IP equal to a node IP) is ambiguous: the endpoint is left
  as it was and the IP is listed in the ``ip_conflicts`` table (ip, pods)
  and counted in ``EnrichStats.conflicts``;
* a ``host`` endpoint that the exporter named by its node but without an
  address (Calico ``hep`` rows aggregated to ``ip-10-0-1-10.ec2.internal``)
  gets the node's IP when the inventory knows it from that node's
  ``hostNetwork`` pods, or other records of the same table name that node with
  an address (IPv4 preferred; a node with several candidate addresses of that
  family is left alone). Without this, such a peer could only
  be matched by no ipBlock at all, and ``generate`` and ``verify`` would see
  different flows.
"""

from __future__ import annotations

from dataclasses import dataclass

import duckdb

from recommender.io.schema import table_exists

ENRICHABLE_KINDS = ("network", "unknown", "host")

IP_CONFLICTS_DDL = "CREATE TABLE IF NOT EXISTS ip_conflicts (ip VARCHAR, pods VARCHAR[])"

# One row per inventory IP: the pod that owns it, or kind 'host' for node IPs,
# or `conflict` when several pods (or a pod and a node) claim it.
_IP_OWNERS = """
CREATE OR REPLACE TEMP TABLE _enrich_ip_owners AS
WITH claims AS (
  SELECT DISTINCT unnest(ips) AS ip, namespace, name, workload, labels, host_network FROM pods
), per_ip AS (
  SELECT ip,
         count(DISTINCT (namespace, name)) FILTER (WHERE NOT coalesce(host_network, FALSE)) AS n_pods,
         bool_or(coalesce(host_network, FALSE)) AS any_host,
         list(DISTINCT namespace || '/' || name ORDER BY namespace || '/' || name) AS pods,
         arg_min({'namespace': namespace, 'name': name, 'workload': workload, 'labels': labels},
                 namespace || '/' || name) FILTER (WHERE NOT coalesce(host_network, FALSE)) AS pod
  FROM claims GROUP BY ip
)
SELECT ip, pods,
       CASE WHEN n_pods = 1 AND NOT any_host THEN 'pod' WHEN n_pods = 0 AND any_host THEN 'host'
            ELSE 'conflict' END AS resolved,
       pod.namespace AS namespace, pod.name AS name, pod.workload AS workload,
       map_from_entries(list_sort(map_entries(pod.labels))) AS labels
FROM per_ip
"""


@dataclass
class EnrichStats:
    """What enrichment did to one staging table (counts are endpoint sides of rows)."""

    pods: int = 0              # endpoints that became kind=pod
    hosts: int = 0             # endpoints that became kind=host (hostNetwork pod / node IP)
    node_ips: int = 0          # host endpoints named by node that got the node's IP
    conflicted: int = 0        # endpoints left unresolved because their IP is ambiguous
    conflicts: int = 0         # distinct ambiguous IPs in the inventory (rows of ip_conflicts)
    inventory_ips: int = 0     # distinct IPs known from the inventory


def _has_pods(con: duckdb.DuckDBPyConnection) -> bool:
    return table_exists(con, "pods") and con.execute("SELECT count(*) FROM pods").fetchone()[0] > 0


def _update(con: duckdb.DuckDBPyConnection, table: str, side: str, resolved: str) -> int:
    kinds = ", ".join(f"'{k}'" for k in ENRICHABLE_KINDS)
    eligible = (f"t.{side}_ip = o.ip AND t.{side}_pod IS NULL AND coalesce(t.{side}_kind, 'unknown') IN ({kinds})"
                f" AND o.resolved = '{resolved}'")
    if resolved == "pod":
        assignments = (f"{side}_kind = 'pod', {side}_namespace = o.namespace, {side}_pod = o.name, "
                       f"{side}_workload = o.workload, {side}_labels = o.labels")
    elif resolved == "host":
        assignments = f"{side}_kind = 'host'"
        eligible += f" AND t.{side}_kind IS DISTINCT FROM 'host'"
    else:
        return int(con.execute(f"SELECT count(*) FROM {table} t JOIN _enrich_ip_owners o ON {eligible}").fetchone()[0])
    row = con.execute(f"UPDATE {table} AS t SET {assignments} FROM _enrich_ip_owners o WHERE {eligible}").fetchone()
    return int(row[0]) if row else 0


# A node's address: the IPs of its hostNetwork pods, and the addresses the flows themselves give that node's
# host endpoints; IPv4 first; unique per family or nothing.
_NODE_IPS = """
CREATE OR REPLACE TEMP TABLE _enrich_node_ips AS
WITH claims AS (
  SELECT DISTINCT node, ip FROM ({pods}
    SELECT src_workload AS node, src_ip AS ip FROM {table} WHERE src_kind = 'host' AND src_workload IS NOT NULL
    UNION ALL SELECT dst_workload, dst_ip FROM {table} WHERE dst_kind = 'host' AND dst_workload IS NOT NULL)
  WHERE ip IS NOT NULL AND NOT starts_with(node, 'reserved:')   -- Hubble's reserved:host is every node
), per_family AS (
  SELECT node, contains(ip, ':') AS v6, min(ip) AS ip, count(*) AS n FROM claims GROUP BY node, v6
)
SELECT node, arg_min(ip, v6) AS ip FROM per_family WHERE n = 1 GROUP BY node
"""
_POD_NODE_IPS = ("SELECT node, unnest(ips) AS ip FROM pods WHERE coalesce(host_network, FALSE) "
                 "AND node IS NOT NULL UNION ALL")


def _fill_node_ips(con: duckdb.DuckDBPyConnection, table: str) -> int:
    con.execute(_NODE_IPS.format(table=table, pods=_POD_NODE_IPS if _has_pods(con) else ""))
    try:
        filled = 0
        for side in ("src", "dst"):
            row = con.execute(
                f"UPDATE {table} AS t SET {side}_ip = o.ip FROM _enrich_node_ips o "
                f"WHERE t.{side}_kind = 'host' AND t.{side}_ip IS NULL AND t.{side}_workload = o.node").fetchone()
            filled += int(row[0]) if row else 0
        return filled
    finally:
        con.execute("DROP TABLE IF EXISTS _enrich_node_ips")


def enrich(con: duckdb.DuckDBPyConnection, table: str) -> EnrichStats:
    """Resolve IP-only endpoints of ``table`` (a table with the connections schema) against ``pods``."""
    stats = EnrichStats()
    con.execute(IP_CONFLICTS_DDL)
    con.execute("DELETE FROM ip_conflicts")      # conflicts describe the current inventory only
    if not _has_pods(con):
        stats.node_ips = _fill_node_ips(con, table)
        return stats
    con.execute(_IP_OWNERS)
    try:
        con.execute("INSERT INTO ip_conflicts SELECT ip, pods FROM _enrich_ip_owners WHERE resolved = 'conflict'"
                    " ORDER BY ip")
        stats.conflicts, stats.inventory_ips = con.execute(
            "SELECT count(*) FILTER (WHERE resolved = 'conflict'), count(*) FROM _enrich_ip_owners").fetchone()
        for side in ("src", "dst"):
            stats.conflicted += _update(con, table, side, "conflict")
            stats.pods += _update(con, table, side, "pod")
            stats.hosts += _update(con, table, side, "host")
        stats.node_ips = _fill_node_ips(con, table)
    finally:
        con.execute("DROP TABLE IF EXISTS _enrich_ip_owners")
    return stats
