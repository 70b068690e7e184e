"""Calico Enterprise / Calico Cloud ``flows.log`` (JSON lines, optionally gzip).

Why this exists: Calico flow logs are the richest input we get (namespaces,
aggregated workload names, pod labels, the policies that decided) but they
come pre-aggregated at several levels and are reported by both ends of a
connection. This reader maps every aggregation level onto the normalized
``connections`` schema:

* ``source_ip``/``dest_ip`` null (aggregated away) → NULL IP;
* ``*_name`` ``-`` → NULL pod; ``*_name_aggr`` (``coredns-576cbf47c7-*``,
  ``pub``/``pvt``, a host or network-set name) → workload;
* ``*_type``: ``wep`` → pod, ``hep`` → host, ``net`` and ``ns`` (network set)
  → network, anything else → unknown; ``*_namespace`` ``-`` → NULL;
* ``*_labels`` ``{"labels": ["k=v", …]}`` → canonical MAP;
* ``policies``: names (the third ``|`` field, which is the name in the old
  4-field ``idx|tier|name|action`` form and in the newer 5-field forms with a
  rule index) of ``enforced_policies`` when present, else ``all_policies``;
  ``pending_policies`` (staged, not enforced) are ignored; names from both
  reporters of a connection are merged, sorted and deduplicated;
* ``proto`` name or number → TCP/UDP/SCTP/ICMP/ICMPv6; ``action`` allow/deny;
* bytes = ``bytes_in + bytes_out``; packets likewise; flows =
  ``num_flows_started`` when present (a long connection spans several export
  windows and ``num_flows`` would count it once per window), else ``num_flows``;
* when a connection was reported by both ``reporter`` ``src`` and ``dst`` in the
  same window, the source's records are kept and the destination's are counted
  as skipped "duplicate reporter" (their policy names are still merged).

Performance: the file is scanned once by DuckDB's JSON reader and grouped on
the *raw* values (cheap); label maps, policy names and validation run on the
grouped rows. Python only reads lines after DuckDB refused the file.
The legacy space-delimited Calico OSS format is not supported.
"""

from __future__ import annotations

import json
from pathlib import Path

import duckdb

from recommender.io import lines as L
from recommender.io.pipeline import LineFormat, read_line_file
from recommender.io.readers import Progress, ReadStats
from recommender.io.schema import COLUMN_NAMES
from recommender.io.sqlexpr import sql_str

FORMAT = "calico"
DUPLICATE_REPORTER = "duplicate reporter"
_MARK = "__rejected__"
_INT_FIELDS = ("start_time", "end_time", "dest_port", "source_port", "bytes_in", "bytes_out", "num_flows",
               "num_flows_started", "packets_in", "packets_out")
_COLUMNS = {
    "start_time": "BIGINT", "end_time": "BIGINT",
    "source_ip": "VARCHAR", "source_name": "VARCHAR", "source_name_aggr": "VARCHAR",
    "source_namespace": "VARCHAR", "source_type": "VARCHAR", "source_labels": "STRUCT(labels VARCHAR[])",
    "dest_ip": "VARCHAR", "dest_name": "VARCHAR", "dest_name_aggr": "VARCHAR",
    "dest_namespace": "VARCHAR", "dest_type": "VARCHAR", "dest_labels": "STRUCT(labels VARCHAR[])",
    "dest_port": "BIGINT", "proto": "VARCHAR", "action": "VARCHAR", "reporter": "VARCHAR",
    "policies": "STRUCT(all_policies VARCHAR[], enforced_policies VARCHAR[])",
    "bytes_in": "BIGINT", "bytes_out": "BIGINT", "packets_in": "BIGINT", "packets_out": "BIGINT",
    "num_flows": "BIGINT", "num_flows_started": "BIGINT", _MARK: "BOOLEAN",
}
_RAW = [c for c in _COLUMNS if c not in (_MARK, "bytes_in", "bytes_out", "packets_in", "packets_out",
                                         "num_flows", "num_flows_started")]


def sniff(head: bytes) -> bool:
    first = head.lstrip()[:1]
    return first == b"{" and b'"reporter"' in head and (b'"source_name_aggr"' in head or b'"dest_name_aggr"' in head)


def _source(path: str, *, ignore_errors: bool = False) -> str:
    cols = "{" + ", ".join(f"{sql_str(k)}: {sql_str(v)}" for k, v in _COLUMNS.items()) + "}"
    comp = "gzip" if L.is_gzip(path) else "none"
    return (f"read_json({sql_str(path)}, format='newline_delimited', records=true, columns={cols}, "
            f"compression='{comp}', ignore_errors={str(ignore_errors).lower()}) WITH ORDINALITY")


_ERROR = """CASE
  WHEN start_time IS NULL THEN 'missing required field start_time'
  WHEN end_time IS NULL THEN 'missing required field end_time'
  WHEN source_type IS NULL THEN 'missing required field source_type'
  WHEN dest_type IS NULL THEN 'missing required field dest_type'
  WHEN proto IS NULL THEN 'missing required field proto'
  WHEN rec_protocol(proto) IS NULL THEN 'unknown protocol ' || to_json(proto)
  WHEN action IS NULL THEN 'missing required field action'
  WHEN lower(action) NOT IN ('allow', 'deny') THEN 'invalid action ' || to_json(action) || ' (expected allow or deny)'
  WHEN NOT rec_ip_ok(source_ip) AND source_ip <> '' THEN 'invalid IP address in source_ip: ' || to_json(source_ip)
  WHEN NOT rec_ip_ok(dest_ip) AND dest_ip <> '' THEN 'invalid IP address in dest_ip: ' || to_json(dest_ip)
  ELSE rec_port_error(rec_protocol(proto), dest_port)
END"""


def _side(raw: str, out: str) -> str:
    return f"""NULLIF({raw}_ip, '') AS {out}_ip,
  CASE WHEN {raw}_namespace IN ('-', '') THEN NULL ELSE {raw}_namespace END AS {out}_namespace,
  CASE WHEN {raw}_type = 'wep' AND {raw}_name NOT IN ('-', '') THEN {raw}_name END AS {out}_pod,
  CASE WHEN {raw}_name_aggr IN ('-', '') THEN NULL ELSE {raw}_name_aggr END AS {out}_workload,
  CASE {raw}_type WHEN 'wep' THEN 'pod' WHEN 'hep' THEN 'host' WHEN 'net' THEN 'network'
       WHEN 'ns' THEN 'network' ELSE 'unknown' END AS {out}_kind,
  rec_kv_labels({raw}_labels.labels) AS {out}_labels"""


_ENDPOINT = [f"{s}_{f}" for s in ("src", "dst") for f in ("ip", "namespace", "pod", "workload", "kind", "labels")]
_CONN = ", ".join(_ENDPOINT + ["protocol", "dst_port", "action"])


def _aggregate(con: duckdb.DuckDBPyConnection, source: str, t: str) -> None:
    """One pass over the file: group on raw values into ``{t}_l1`` with the validation error per group."""
    raw = ", ".join(_RAW)
    con.execute(f"""CREATE OR REPLACE TEMP TABLE {t}_l1 AS
SELECT *, {_ERROR} AS err FROM (
  SELECT {raw}, count(*) AS n, min(ordinality) AS first,
    sum(CASE WHEN bytes_in IS NULL AND bytes_out IS NULL THEN NULL ELSE coalesce(bytes_in, 0) + coalesce(bytes_out, 0) END) AS bytes,
    sum(CASE WHEN packets_in IS NULL AND packets_out IS NULL THEN NULL ELSE coalesce(packets_in, 0) + coalesce(packets_out, 0) END) AS packets,
    sum(coalesce(num_flows_started, num_flows)) AS flows
  FROM {source} WHERE {_MARK} IS NULL GROUP BY ALL)""")


def _finish(con: duckdb.DuckDBPyConnection, t: str, target: str, file: str) -> tuple[int, dict[str, int], int]:
    """Normalize the valid groups, drop duplicate-reporter records, insert into ``target``.

    Returns (accepted records, {"duplicate reporter": records}, connections)."""
    con.execute(f"""CREATE OR REPLACE TEMP TABLE {t}_out AS
WITH v AS (
  SELECT make_timestamp(start_time * 1000000) AS ws, make_timestamp(end_time * 1000000) AS we,
    {_side('source', 'src')}, {_side('dest', 'dst')},
    rec_protocol(proto) AS protocol, rec_port(rec_protocol(proto), dest_port) AS dst_port, lower(action) AS action,
    list_transform(coalesce(policies.enforced_policies, policies.all_policies), lambda p: split_part(p, '|', 3)) AS pols,
    coalesce(reporter, '') AS reporter, n, first, bytes, packets, flows
  FROM {t}_l1 WHERE err IS NULL),
r AS (
  SELECT {_CONN}, ws, we, reporter, sum(n) AS n, min(first) AS first, sum(bytes) AS bytes,
    sum(packets) AS packets, sum(flows) AS flows, flatten(list(pols)) AS pols
  FROM v GROUP BY ALL),
w AS (
  SELECT {_CONN}, ws, we,
    sum(n) AS n_all,
    CASE WHEN bool_or(reporter = 'src') AND bool_or(reporter = 'dst') THEN sum(n) FILTER (WHERE reporter <> 'dst') ELSE sum(n) END AS n,
    CASE WHEN bool_or(reporter = 'src') AND bool_or(reporter = 'dst') THEN sum(bytes) FILTER (WHERE reporter <> 'dst') ELSE sum(bytes) END AS bytes,
    CASE WHEN bool_or(reporter = 'src') AND bool_or(reporter = 'dst') THEN sum(packets) FILTER (WHERE reporter <> 'dst') ELSE sum(packets) END AS packets,
    CASE WHEN bool_or(reporter = 'src') AND bool_or(reporter = 'dst') THEN sum(flows) FILTER (WHERE reporter <> 'dst') ELSE sum(flows) END AS flows,
    min(first) AS first,
    CASE WHEN len(flatten(list(pols))) = 0 THEN NULL
         ELSE list_sort(list_distinct(flatten(list(pols)))) END AS policies
  FROM r GROUP BY ALL)
SELECT min(ws) AS window_start, max(we) AS window_end, {_CONN.replace('action', 'action, policies')},
  sum(flows)::BIGINT AS flows, sum(packets)::BIGINT AS packets, sum(bytes)::BIGINT AS bytes,
  min(ws) AS first_seen, max(we) AS last_seen, '{FORMAT}' AS format, {sql_str(file)} AS file,
  min(first)::BIGINT AS line, sum(n)::BIGINT AS records, sum(n_all - n)::BIGINT AS dup
FROM w GROUP BY ALL""")
    con.execute(f"INSERT INTO {target} ({', '.join(COLUMN_NAMES)}) SELECT {', '.join(COLUMN_NAMES)} FROM {t}_out")
    acc, dup, conns = con.execute(f"SELECT coalesce(sum(records), 0), coalesce(sum(dup), 0), count(*) FROM {t}_out").fetchone()
    return int(acc), {DUPLICATE_REPORTER: int(dup)}, int(conns)


def _check_line(line: bytes) -> str | None:
    """Why DuckDB's JSON reader would refuse this line (structure and types only)."""
    try:
        rec = json.loads(line)
    except (json.JSONDecodeError, UnicodeDecodeError) as e:
        return f"invalid JSON ({e.msg if isinstance(e, json.JSONDecodeError) else e.reason} at column {getattr(e, 'colno', getattr(e, 'start', 0))})"
    if not isinstance(rec, dict):
        return f"expected a JSON object, got {type(rec).__name__}"
    for k in _INT_FIELDS:
        v = rec.get(k)
        if v is not None and (isinstance(v, bool) or not isinstance(v, int)) and not (isinstance(v, str) and v.strip().lstrip("-").isdigit()):
            return f"{k}: expected an integer, got {json.dumps(v)[:60]}"
    for k in ("source_labels", "dest_labels"):
        v = rec.get(k)
        if v is not None and not (isinstance(v, dict) and isinstance(v.get("labels", []), list | None)
                                  and all(isinstance(x, str) for x in v.get("labels") or [])):
            return f"{k}: expected {{\"labels\": [\"key=value\", ...]}}"
    pol = rec.get("policies")
    if pol is not None and not (isinstance(pol, dict) and all(
            isinstance(pol.get(k), list | None) and all(isinstance(x, str) for x in pol.get(k) or [])
            for k in ("all_policies", "enforced_policies"))):
        return "policies: expected {\"all_policies\": [\"idx|tier|name|action\", ...]}"
    return None


def _value_errors(con: duckdb.DuckDBPyConnection, source: str) -> list[tuple[int, str]]:
    """Every (record ordinal, reason) that fails validation; only called when some group did."""
    return con.execute(f"SELECT ordinality, e FROM (SELECT ordinality, {_ERROR} AS e FROM {source} "
                       f"WHERE {_MARK} IS NULL) WHERE e IS NOT NULL ORDER BY 1").fetchall()


def read(con: duckdb.DuckDBPyConnection, path: str | Path, *, target: str, skip_bad: bool,
         progress: Progress | None = None) -> ReadStats:
    t = "_calico"
    fmt = LineFormat(
        name=FORMAT, table=t, check_line=_check_line, marker=json.dumps({_MARK: True}).encode(),
        aggregate=lambda c, data: _aggregate(c, _source(data), t),
        value_errors=lambda c, data: _value_errors(c, _source(data)),
        finish=lambda c, target_, file: _finish(c, t, target_, file), suffix=".jsonl")
    return read_line_file(con, path, fmt, target=target, skip_bad=skip_bad, progress=progress)
