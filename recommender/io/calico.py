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
* reporter rule: a connection (endpoints, protocol, port; action aside) that both
  ``reporter`` ``src`` and ``dst`` reported in overlapping export windows (in any
  of the files read together, see ``calico_files``) was
  denied if either end denied it (Kubernetes needs egress *and* ingress). Then
  the source's allow records are skipped as "allowed at source, denied at
  destination" and the destination's deny records count; otherwise the
  source's records count and the destination's are skipped as "duplicate
  reporter" (so are allow records of a window the source denied). Each record
  is judged against the records whose windows overlap its own: every Felix
  starts its windows when it starts, so the two nodes of a connection never cut
  the same windows. Windows that do not overlap are independent observations (a
  policy may change between them): an allow in one and a deny in another stay
  two connections. Skipped records contribute neither counters nor policy names.

Performance: the files are scanned once by DuckDB's JSON reader and grouped on
the *raw* values, labels and policies kept as JSON text (parsing them per
record cost more than the scan); label maps, policy names, validation and the
connection hash run once per distinct group, and the reporter rule looks at
export windows only for connections both ends reported in different windows
(fingerprints of each group's windows find the others), with integer codes
(``calico_reporter``).
Python only reads lines after DuckDB refused the file.
The legacy space-delimited Calico OSS format is not supported.
"""

from __future__ import annotations

import json
from pathlib import Path

import duckdb

from recommender.io.calico_reporter import reporter_rule
from recommender.io.pipeline import union_scan
from recommender.io.readers import Progress, ReadStats
from recommender.io.schema import COLUMN_NAMES
from recommender.io.sqlexpr import sql_str

FORMAT = "calico"
DUPLICATE_REPORTER = "duplicate reporter"
DENIED_AT_DESTINATION = "allowed at source, denied at destination"
_MARK = "__rejected__"
_INT_FIELDS = ("start_time", "end_time", "dest_port", "source_port", "bytes_in", "bytes_out", "num_flows",
               "num_flows_started", "packets_in", "packets_out")
_COLUMNS = {
    "start_time": "BIGINT", "end_time": "BIGINT",
    "source_ip": "VARCHAR", "source_name": "VARCHAR", "source_name_aggr": "VARCHAR",
    "source_namespace": "VARCHAR", "source_type": "VARCHAR", "source_labels": "JSON",
    "dest_ip": "VARCHAR", "dest_name": "VARCHAR", "dest_name_aggr": "VARCHAR",
    "dest_namespace": "VARCHAR", "dest_type": "VARCHAR", "dest_labels": "JSON",
    "dest_port": "BIGINT", "proto": "VARCHAR", "action": "VARCHAR", "reporter": "VARCHAR",
    "policies": "JSON",
    "bytes_in": "BIGINT", "bytes_out": "BIGINT", "packets_in": "BIGINT", "packets_out": "BIGINT",
    "num_flows": "BIGINT", "num_flows_started": "BIGINT", _MARK: "BOOLEAN",
}
_RAW = [c for c in _COLUMNS if c not in (_MARK, "bytes_in", "bytes_out", "packets_in", "packets_out",
                                         "num_flows", "num_flows_started")]


def sniff(head: bytes) -> bool:
    first = head.lstrip()[:1]
    return first == b"{" and b'"reporter"' in head and (b'"source_name_aggr"' in head or b'"dest_name_aggr"' in head)


POS = 1 << 40   # a record's position: file index * POS + its record number in the file


def _source(files: list[str], numbered: bool = True) -> str:
    """The ``read_json`` scan of ``files`` (``pipeline.union_scan``: with ``fi`` and ``ordinality``)."""
    cols = "{" + ", ".join(f"{sql_str(k)}: {sql_str(v)}" for k, v in _COLUMNS.items()) + "}"

    def scan(paths: list[str], comp: str) -> str:
        return (f"read_json([{', '.join(map(sql_str, paths))}], format='newline_delimited', records=true, "
                f"columns={cols}, compression='{comp}')")

    return union_scan(files, scan, numbered)


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
       WHEN 'ns' THEN 'network' ELSE 'unknown' END AS {out}_kind"""


_SCALAR = [f"{s}_{f}" for s in ("src", "dst") for f in ("ip", "namespace", "pod", "workload", "kind")]
_SEP = "chr(31)"   # joins canonical label/policy lists into one cheap VARCHAR group key
_KEY = [c for c in _RAW if c not in ("start_time", "end_time", "reporter", "policies")]   # connection, raw
_SUMS = f"""count(*) AS n, min(fi * {POS} + coalesce(ordinality, 0)) AS first,
    sum(CASE WHEN bytes_in IS NULL AND bytes_out IS NULL THEN NULL ELSE coalesce(bytes_in, 0) + coalesce(bytes_out, 0) END)::BIGINT AS bytes,
    sum(CASE WHEN packets_in IS NULL AND packets_out IS NULL THEN NULL ELSE coalesce(packets_in, 0) + coalesce(packets_out, 0) END)::BIGINT AS packets,
    sum(coalesce(num_flows_started, num_flows))::BIGINT AS flows"""
_PACKED = [*_KEY, "reporter", "policies"]   # a coarse group's raw values, packed in one list column


def _aggregate(con: duckdb.DuckDBPyConnection, source: str, t: str) -> None:
    """One pass over the file, grouped on raw values keyed by ``hr`` (a plain hash of the raw
    connection, reporter, action, policies text and which times are missing), with two grouping sets:

    * coarse (``{t}_l1``): one row per ``hr`` with the raw values — few rows, where validation
      (``err``), the label/policy parsing (once per distinct JSON text) and the connection hash
      ``h`` (action aside, label order ignored) are computed;
    * fine (``{t}_win``): ``hr`` per file and export window — narrow rows that serve the reporter
      rule and the per-file counts.

    Labels and policies stay raw JSON text while scanning: parsing them per record cost more than
    the whole scan, and there are few distinct texts. The fine rows are about one per record, so
    the table is kept narrow: a coarse group's raw values are one list (a NULL list costs a fine
    row little, where 17 NULL text columns cost it 270 bytes and made 10M records spill), and the
    times are ``min``/``max`` (the window itself in a fine row, the time span in a coarse one).
    """
    key = ", ".join(_KEY)
    packed = ", ".join(f"{c}::VARCHAR" if c == "dest_port" else c for c in _PACKED)
    con.execute(f"""CREATE OR REPLACE TEMP TABLE {t}_gs AS
  SELECT hr, fi, min(start_time) AS start_time, max(end_time) AS end_time, notime,
    grouping(start_time)::UTINYINT AS coarse, CASE WHEN grouping(start_time) = 1 THEN [{packed}] END AS raw, {_SUMS}
  FROM (SELECT *, hash({key}, reporter, policies, notime) AS hr
        FROM (SELECT * REPLACE (source_labels::VARCHAR AS source_labels, dest_labels::VARCHAR AS dest_labels,
                                policies::VARCHAR AS policies),
                     (start_time IS NULL)::INTEGER + 2 * (end_time IS NULL)::INTEGER AS notime
              FROM {source} WHERE {_MARK} IS NULL))
  GROUP BY GROUPING SETS ((hr, fi, start_time, end_time), ({key}, reporter, policies, notime, hr))""")
    unpacked = ", ".join(f"raw[{i + 1}]{'::BIGINT' if c == 'dest_port' else ''} AS {c}" for i, c in enumerate(_PACKED))
    con.execute(f"""CREATE OR REPLACE TEMP VIEW {t}_coarse AS
  SELECT hr, notime, n, first, bytes, packets, flows, start_time, end_time, {unpacked} FROM {t}_gs WHERE coarse = 1""")
    con.execute(f"""CREATE OR REPLACE TEMP TABLE {t}_lab AS
  SELECT *, CASE WHEN k IS NOT NULL THEN dense_rank() OVER (ORDER BY k) END AS kid FROM (
  SELECT raw, CASE WHEN len(l) > 0 THEN array_to_string(list_sort(l), {_SEP}) END AS k, rec_kv_labels(l) AS m,
    list_aggregate(list_transform(l, lambda x: hash(x)), 'sum') AS hl, bad FROM (
    SELECT raw, TRY_CAST(json_extract(raw::JSON, '$.labels') AS VARCHAR[]) AS l,
      raw <> 'null' AND (json_type(raw::JSON) <> 'OBJECT'
        OR coalesce(json_type(raw::JSON, '$.labels'), 'NULL') NOT IN ('ARRAY', 'NULL')
        OR len(list_filter(json_type(raw::JSON, '$.labels[*]'), lambda x: x <> 'VARCHAR')) > 0) AS bad
    FROM (SELECT coalesce(source_labels, 'null') AS raw FROM {t}_coarse
          UNION SELECT coalesce(dest_labels, 'null') FROM {t}_coarse)))""")
    con.execute(f"""CREATE OR REPLACE TEMP TABLE {t}_pol AS
  SELECT *, CASE WHEN k IS NOT NULL THEN dense_rank() OVER (ORDER BY k) END AS kid FROM (
  SELECT raw, CASE WHEN len(names) > 0 THEN array_to_string(list_sort(list_distinct(names)), {_SEP}) END AS k, e FROM (
    SELECT raw, list_transform(coalesce(TRY_CAST(json_extract(raw::JSON, '$.enforced_policies') AS VARCHAR[]),
                                        TRY_CAST(json_extract(raw::JSON, '$.all_policies') AS VARCHAR[])),
                               lambda p: split_part(p, '|', 3)) AS names,
      CASE WHEN raw <> 'null' AND (json_type(raw::JSON) <> 'OBJECT'
                OR coalesce(json_type(raw::JSON, '$.all_policies'), 'NULL') NOT IN ('ARRAY', 'NULL')
                OR coalesce(json_type(raw::JSON, '$.enforced_policies'), 'NULL') NOT IN ('ARRAY', 'NULL'))
           THEN 'policies: expected {{"all_policies": ["idx|tier|name|action", ...]}}, got ' || raw END AS e
    FROM (SELECT DISTINCT coalesce(policies, 'null') AS raw FROM {t}_coarse)))""")
    scalars = ", ".join(f"g.{c}" for c in _KEY if not c.endswith("_labels") and c != "action")
    con.execute(f"""CREATE OR REPLACE TEMP TABLE {t}_l1 AS
  SELECT g.* EXCLUDE (notime, source_labels, dest_labels, policies), g.start_time AS ws, g.end_time AS we,
    hash({scalars}, a.hl, b.hl) AS h, lower(g.action) AS act, a.kid AS slk, b.kid AS dlk, p.kid AS pk,
    {_errors('g')} AS err
  FROM {t}_coarse g {_joins(t)}""")
    con.execute(f"""CREATE OR REPLACE TEMP VIEW {t}_win AS
  SELECT hr, fi, start_time, end_time, n, first, bytes, packets, flows FROM {t}_gs WHERE coarse = 0""")


def _errors(g: str) -> str:
    """The validation error of a record or group (NULL: valid); needs the joins of ``_joins``."""
    bad = ': expected {"labels": ["key=value", ...]}'
    return (f"coalesce({_ERROR}, CASE WHEN a.bad THEN {sql_str('source_labels' + bad)} "
            f"WHEN b.bad THEN {sql_str('dest_labels' + bad)} END, p.e)")


def _joins(t: str, g: str = "g") -> str:
    return (f"LEFT JOIN {t}_lab a ON a.raw = coalesce({g}.source_labels, 'null') "
            f"LEFT JOIN {t}_lab b ON b.raw = coalesce({g}.dest_labels, 'null') "
            f"LEFT JOIN {t}_pol p ON p.raw = coalesce({g}.policies, 'null')")


FileResult = tuple[int, int, dict[str, int], int]
"""Per file: (valid records, accepted records, {skip reason: records}, distinct connections its records count in)."""


def finish(con: duckdb.DuckDBPyConnection, t: str, target: str, files: list[str], numbered: bool) -> list[FileResult]:
    """Apply the reporter rule of the module docstring, normalize, insert; one result per file."""
    reporter_rule(con, t)
    line = f"(line % {POS})::BIGINT" if numbered else "NULL::BIGINT"
    con.execute(f"""CREATE OR REPLACE TEMP TABLE {t}_c AS
WITH d AS (SELECT hr, sum(dup) AS dup, sum(conflict) AS conflict, sum(n) AS n, sum(bytes) AS bytes,
             sum(packets) AS packets, sum(flows) AS flows, min(first) AS first, min(ws) AS ws, max(we) AS we
           FROM {t}_dropped GROUP BY hr),
kept AS (SELECT v.* REPLACE (v.n - coalesce(d.n, 0) AS n, v.bytes - coalesce(d.bytes, 0) AS bytes,
                             v.packets - coalesce(d.packets, 0) AS packets, v.flows - coalesce(d.flows, 0) AS flows,
                             CASE WHEN d.hr IS NULL THEN v.first ELSE d.first END AS first,
                             CASE WHEN d.hr IS NULL THEN v.ws ELSE d.ws END AS ws,
                             CASE WHEN d.hr IS NULL THEN v.we ELSE d.we END AS we),
                coalesce(d.dup, 0) AS dup, coalesce(d.conflict, 0) AS conflict
         FROM {t}_l1 v LEFT JOIN d ON d.hr = v.hr WHERE v.err IS NULL),
c AS (
  SELECT {_side('source', 'src')}, {_side('dest', 'dst')},
    rec_protocol(proto) AS protocol, rec_port(rec_protocol(proto), dest_port) AS dst_port, lower(action) AS action,
    slk, dlk, CASE WHEN n > 0 THEN pk END AS pk, ws, we, n, dup, conflict, first, bytes, packets, flows, hr
  FROM kept)
SELECT *, hash({', '.join(_SCALAR)}, protocol, dst_port, action, slk, dlk, pk) AS ck FROM c""")
    con.execute(f"""CREATE OR REPLACE TEMP TABLE {t}_out AS
WITH c AS (SELECT * EXCLUDE (hr, ck) FROM {t}_c),
f AS (
  SELECT {', '.join(_SCALAR)}, protocol, dst_port, action, slk, dlk, pk,
    min(ws) FILTER (WHERE n > 0) AS ws, max(we) FILTER (WHERE n > 0) AS we,
    sum(flows) FILTER (WHERE n > 0) AS flows, sum(packets) FILTER (WHERE n > 0) AS packets,
    sum(bytes) FILTER (WHERE n > 0) AS bytes, min(first) FILTER (WHERE n > 0) AS line, sum(n) AS records, sum(dup) AS dup,
    sum(conflict) AS conflict
  FROM c GROUP BY ALL)
SELECT make_timestamp(ws * 1000000) AS window_start, make_timestamp(we * 1000000) AS window_end,
  {', '.join(c if c != 'src_kind' else 'src_kind, sl.m AS src_labels' for c in _SCALAR[:5])},
  {', '.join(c if c != 'dst_kind' else 'dst_kind, dl.m AS dst_labels' for c in _SCALAR[5:])},
  protocol, dst_port, action, CASE WHEN pk IS NOT NULL THEN string_split(pl.k, {_SEP}) END AS policies,
  flows::BIGINT AS flows, packets::BIGINT AS packets, bytes::BIGINT AS bytes,
  make_timestamp(ws * 1000000) AS first_seen, make_timestamp(we * 1000000) AS last_seen,
  '{FORMAT}' AS format, [{', '.join(map(sql_str, files))}][line // {POS} + 1] AS file, {line} AS line,
  records::BIGINT AS records, line // {POS} AS fi
FROM f LEFT JOIN (SELECT kid, any_value(m) AS m FROM {t}_lab GROUP BY kid) sl ON sl.kid = f.slk
       LEFT JOIN (SELECT kid, any_value(m) AS m FROM {t}_lab GROUP BY kid) dl ON dl.kid = f.dlk
       LEFT JOIN (SELECT kid, any_value(k) AS k FROM {t}_pol GROUP BY kid) pl ON pl.kid = f.pk""")
    con.execute(f"""INSERT INTO {target} ({', '.join(COLUMN_NAMES)})
        SELECT {', '.join(COLUMN_NAMES)} FROM {t}_out WHERE records > 0""")
    valid = dict(con.execute(f"SELECT w.fi, sum(w.n) FROM {t}_win w JOIN {t}_l1 l ON l.hr = w.hr "
                             "WHERE l.err IS NULL GROUP BY w.fi").fetchall())
    dropped = {fi: (dup, conflict) for fi, dup, conflict in con.execute(
        f"SELECT fi, sum(dup), sum(conflict) FROM {t}_dropped GROUP BY fi").fetchall()}
    conns = dict(con.execute(f"""SELECT k.fi, count(DISTINCT c.ck) FROM (
          SELECT hr, fi, sum(n) AS n FROM {t}_win GROUP BY hr, fi) k
        JOIN {t}_c c ON c.hr = k.hr LEFT JOIN {t}_dropped d ON d.hr = k.hr AND d.fi = k.fi
        WHERE k.n > coalesce(d.n, 0) GROUP BY k.fi""").fetchall())
    out: list[FileResult] = []
    for i in range(len(files)):
        dup, conflict = (int(x) for x in dropped.get(i, (0, 0)))
        skipped = {DUPLICATE_REPORTER: dup, DENIED_AT_DESTINATION: conflict}
        out.append((int(valid.get(i, 0)), int(valid.get(i, 0)) - dup - conflict,
                    {k: v for k, v in skipped.items() if v}, int(conns.get(i, 0))))
    counted = int(con.execute(f"SELECT coalesce(sum(records), 0) FROM {t}_out").fetchone()[0])
    if counted != sum(r[1] for r in out):   # the connections hold every record the files' counts accept
        raise RuntimeError(f"calico: connections hold {counted} records, the files accepted {sum(r[1] for r in out)}")
    return out


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


def value_errors(con: duckdb.DuckDBPyConnection, source: str, t: str) -> list[tuple[int, int, str]]:
    """Every (file index, record number, reason) that fails validation, in order; only called when
    some group did (``source`` numbered)."""
    raw = ("SELECT * REPLACE (source_labels::VARCHAR AS source_labels, dest_labels::VARCHAR AS dest_labels, "
           f"policies::VARCHAR AS policies) FROM {source} WHERE {_MARK} IS NULL")
    return con.execute(f"SELECT fi, ordinality, e FROM (SELECT fi, ordinality, {_errors('g')} AS e "
                       f"FROM ({raw}) AS g {_joins(t)}) WHERE e IS NOT NULL ORDER BY 1, 2").fetchall()


def read(con: duckdb.DuckDBPyConnection, path: str | Path, *, target: str, skip_bad: bool,
         progress: Progress | None = None) -> ReadStats:
    """One file; the store reads all Calico files of an ingest together (``calico_files``)."""
    from recommender.io.calico_files import read_files
    [stats] = read_files(con, [path], target=target, skip_bad=skip_bad, progress=progress)
    return stats
