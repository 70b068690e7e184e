"""The normalized connection schema, shared by every reader and consumer.

Every reader turns its format into rows of ``connections``: one row per
distinct observed connection (source endpoint, destination endpoint,
protocol, destination port, action, policies), with counters and provenance
aggregated over the records that showed it. The README documents this table;
``NORMALIZED_COLUMNS`` is the single source of that documentation, of the
DDL, and of the normalized CSV/Parquet input format.
"""

from __future__ import annotations

from dataclasses import dataclass

import duckdb

LABELS = "MAP(VARCHAR, VARCHAR)"


@dataclass(frozen=True)
class Column:
    name: str
    type: str
    doc: str
    key: bool = True          # part of the distinct-connection key
    required: bool = False    # must be present in a normalized CSV/Parquet file


def _endpoint(side: str, who: str) -> list[Column]:
    return [
        Column(f"{side}_ip", "VARCHAR", f"{who} IP address (IPv4 or IPv6), null when the exporter aggregated it away"),
        Column(f"{side}_namespace", "VARCHAR", f"{who} namespace, null outside the cluster"),
        Column(f"{side}_pod", "VARCHAR", f"{who} pod name, null when unknown or aggregated"),
        Column(f"{side}_workload", "VARCHAR", f"{who} workload or aggregated name (Calico `*_name_aggr`, Hubble workload, `reserved:world`, `pub`/`pvt`)"),
        Column(f"{side}_kind", "VARCHAR", f"{who} endpoint kind: pod, host, network, world, service, kube-apiserver, health, unknown", required=True),
        Column(f"{side}_labels", LABELS, f"{who} pod labels, keys sorted"),
    ]


NORMALIZED_COLUMNS: tuple[Column, ...] = (
    Column("window_start", "TIMESTAMP", "start of the earliest export window the connection was seen in (UTC)", key=False),
    Column("window_end", "TIMESTAMP", "end of the latest export window the connection was seen in (UTC)", key=False),
    *_endpoint("src", "initiator's"),
    *_endpoint("dst", "responder's"),
    Column("protocol", "VARCHAR", "TCP, UDP, SCTP, ICMP, ICMPv6, or the IANA number as text", required=True),
    Column("dst_port", "INTEGER", "destination (listening) port; null for ICMP and port-less protocols"),
    Column("action", "VARCHAR", "allow or deny, as the exporter reported it", required=True),
    Column("policies", "VARCHAR[]", "policies the exporter says decided the connection, when present"),
    Column("flows", "BIGINT", "number of connections (flow starts) aggregated into the row", key=False),
    Column("packets", "BIGINT", "packets in both directions, when known", key=False),
    Column("bytes", "BIGINT", "bytes in both directions, when known", key=False),
    Column("first_seen", "TIMESTAMP", "earliest observation (UTC)", key=False),
    Column("last_seen", "TIMESTAMP", "latest observation (UTC)", key=False),
    Column("format", "VARCHAR", "input format of the first record: calico, vpc, hubble, normalized", key=False),
    Column("file", "VARCHAR", "input file of the first record", key=False),
    Column("line", "BIGINT", "line (or record) number of the first record in that file; NULL for Hubble (see its section) and for Calico inputs over 256 MB", key=False),
    Column("records", "BIGINT", "input records aggregated into the row", key=False),
)

KEY_COLUMNS: tuple[str, ...] = tuple(c.name for c in NORMALIZED_COLUMNS if c.key)
COLUMN_NAMES: tuple[str, ...] = tuple(c.name for c in NORMALIZED_COLUMNS)

ENDPOINT_KINDS = ("pod", "host", "network", "world", "service", "kube-apiserver", "health", "unknown")
ACTIONS = ("allow", "deny")


def table_exists(con: duckdb.DuckDBPyConnection, name: str) -> bool:
    """Whether ``con`` has a table ``name`` (persistent or temporary): stores opened on older files,
    or connections built by hand, may lack the inventory tables."""
    q = "SELECT count(*) FROM information_schema.tables WHERE table_name = ?"
    return bool(con.execute(q, [name]).fetchone()[0])


def connections_ddl(table: str = "connections") -> str:
    cols = ",\n  ".join(f"{c.name} {c.type}" for c in NORMALIZED_COLUMNS)
    return f"CREATE TABLE IF NOT EXISTS {table} (\n  {cols}\n)"


def schema_markdown() -> str:
    """The schema as a Markdown table, for the README."""
    lines = ["| column | type | meaning |", "|---|---|---|"]
    for c in NORMALIZED_COLUMNS:
        lines.append(f"| `{c.name}` | `{c.type}` | {c.doc} |")
    return "\n".join(lines)


# Inventory tables (filled from --inventory files; see recommender.io.inventory).
PODS_DDL = """CREATE TABLE IF NOT EXISTS pods (
  namespace VARCHAR, name VARCHAR, labels MAP(VARCHAR, VARCHAR), ips VARCHAR[],
  ports STRUCT(name VARCHAR, port INTEGER, protocol VARCHAR)[],
  host_network BOOLEAN, node VARCHAR, owner_kind VARCHAR, owner_name VARCHAR,
  workload_kind VARCHAR, workload VARCHAR, file VARCHAR, line BIGINT
)"""

NAMESPACES_DDL = """CREATE TABLE IF NOT EXISTS namespaces (
  name VARCHAR, labels MAP(VARCHAR, VARCHAR), file VARCHAR, line BIGINT
)"""

REJECTED_DDL = """CREATE TABLE IF NOT EXISTS rejected (
  file VARCHAR, line BIGINT, format VARCHAR, reason VARCHAR, text VARCHAR
)"""
