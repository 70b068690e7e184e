"""The SQL that turns Hubble flow events into distinct connections.

Why this exists: Hubble reports *events* (one per packet and observation
point, plus L7 records), not connections. Deciding which side initiated a
connection needs the whole file at once (a reply may be marked only on the
other packet of the pair), so the reader works in set-based steps, all in
DuckDB:

1. ``classify_sql`` — one parallel scan of the file (no record numbers: they
   would serialize it), grouped on the raw per-event values (5-tuple, direction
   signal, verdict, policies, a hash of each endpoint's JSON text); every group
   gets a status: usable (NULL), ``skip:<reason>`` or ``bad:<reason>``;
   addresses and ports are validated on the grouped rows. The endpoint texts
   are collected once per distinct endpoint in the same scan.
2. ``hubble_endpoints.endpoints_sql`` — parse and normalize each distinct endpoint once
   (reserved identities → kinds, workloads, Kubernetes labels).
3. ``oriented_sql`` — orient every usable event: its own signal first
   (``is_reply``, TCP SYN/SYN+ACK, deprecated ``reply``, ICMP type, L7
   REQUEST/RESPONSE), else the majority signal of its conversation (both
   directions of the 5-tuple), else ports; then group by the oriented 5-tuple
   and action: replies fold into their request or are skipped, L7 records fold
   into their L3/L4 flow or make it when none was captured.
4. ``insert_sql`` — GROUP BY the normalized connection key into the staging table.

``COLUMNS`` is also the schema the Python slow path checks bad lines against.
"""

from __future__ import annotations

import json
from typing import Any

from recommender.io.pipeline import union_scan
from recommender.io.sqlexpr import sql_str

MARK = "__rejected__"
MAX_LINE = 16 * 1024 * 1024   # DuckDB's default; its read buffers are twice this, per thread
AUDIT_MARK = "(audit)"

# Events are grouped on this key of each endpoint's JSON text (64 bits, checked for collisions).
ENDPOINT_KEY = "hash({})"
_PORTS: dict[str, Any] = {"source_port": "BIGINT", "destination_port": "BIGINT"}
_POLICY: list[Any] = [{"name": "VARCHAR", "namespace": "VARCHAR", "kind": "VARCHAR"}]
_ICMP: dict[str, Any] = {"type": "BIGINT", "code": "BIGINT"}
FLOW: dict[str, Any] = {
    "time": "VARCHAR", "verdict": "VARCHAR", "drop_reason": "BIGINT", "drop_reason_desc": "VARCHAR",
    "ethernet": {"source": "VARCHAR"}, "IP": {"source": "VARCHAR", "destination": "VARCHAR"},
    "l4": {"TCP": {**_PORTS, "flags": {"SYN": "BOOLEAN", "ACK": "BOOLEAN"}}, "UDP": _PORTS, "SCTP": _PORTS,
           "ICMPv4": _ICMP, "ICMPv6": _ICMP},
    "source": "JSON", "destination": "JSON", "Type": "VARCHAR", "reply": "BOOLEAN", "is_reply": "VARCHAR",
    "traffic_direction": "VARCHAR",
    "l7": {"type": "VARCHAR"},
    "egress_allowed_by": _POLICY, "ingress_allowed_by": _POLICY,
    "egress_denied_by": _POLICY, "ingress_denied_by": _POLICY,
}
# A line is a GetFlowsResponse wrapper {"flow": …, "node_name", "time"} or a bare Flow.
_OTHER = {"node_status": "JSON", "lost_events": "JSON", MARK: "BOOLEAN"}
COLUMNS: dict[str, Any] = {"flow": FLOW, **FLOW, **_OTHER}
# Reading only the shape a file uses is much cheaper (DuckDB skips absent columns); a line of the
# other shape is classified "mixed" and the file is read again with COLUMNS.
_SHAPES: dict[str, dict[str, Any]] = {
    "wrapped": {"flow": FLOW, "verdict": "VARCHAR", "Type": "VARCHAR", "IP": FLOW["IP"], **_OTHER},
    "bare": {**FLOW, "flow": "JSON", **_OTHER},
    "mixed": COLUMNS,
}
_BARE_KEYS = ("verdict", "IP", "l4", "source", "destination", "Type", "l7")


def sql_type(spec: Any) -> str:
    """DuckDB type of a column spec: a type name, ``[elem]`` for lists, a dict for structs."""
    if isinstance(spec, str):
        return spec
    if isinstance(spec, list):
        return sql_type(spec[0]) + "[]"
    return "STRUCT(" + ", ".join(f'"{k}" {sql_type(v)}' for k, v in spec.items()) + ")"


def shape_of(head: bytes) -> str:
    """``wrapped`` (GetFlowsResponse lines) or ``bare`` (Flow lines), judged by the first flow in ``head``."""
    for line in head.splitlines():
        try:
            rec = json.loads(line)
        except ValueError:
            continue
        if isinstance(rec, dict) and "flow" in rec:
            return "wrapped"
        if isinstance(rec, dict) and any(k in rec for k in _BARE_KEYS):
            return "bare"
    return "wrapped"


def source_sql(paths: list[str], shape: str = "mixed", *, ordinal: bool = False) -> str:
    """The ``read_json`` scan of ``paths`` with ``fi``, the index of each record's file, and
    ``ordinality``; ``ordinal`` numbers the records, which makes DuckDB read each file on one
    thread, so only the error paths ask for it."""
    cols = "{" + ", ".join(f"{sql_str(k)}: {sql_str(sql_type(v))}" for k, v in _SHAPES[shape].items()) + "}"

    def scan(files: list[str], compression: str) -> str:
        return (f"read_json([{', '.join(map(sql_str, files))}], format='newline_delimited', records=true, "
                f"columns={cols}, compression='{compression}', maximum_object_size={MAX_LINE})")

    return union_scan(paths, scan, ordinal)


_VERDICTS = {"1": "FORWARDED", "2": "DROPPED", "3": "ERROR", "4": "AUDIT", "5": "REDIRECTED", "6": "TRACED",
             "7": "TRANSLATED", "0": "VERDICT_UNKNOWN"}
# Drop reasons that are policy decisions (flow.proto DropReason names and numbers).
_POLICY_DROPS = ("POLICY_DENIED", "POLICY_DENY", "AUTH_REQUIRED", "133", "181", "189")
_ICMP4_REPLIES = (0, 3, 4, 5, 11, 12, 14, 16, 18)   # echo reply and error/reply messages
_ICMP6_REPLIES = (1, 2, 3, 4, 129)


def _field(shape: str) -> Any:
    """``f(name)``: the SQL for a flow field in a file of ``shape``."""
    return {"wrapped": lambda n: f'flow."{n}"', "bare": lambda n: f'"{n}"',
            "mixed": lambda n: f'coalesce(flow."{n}", "{n}")'}[shape]


def _names(col: str) -> str:
    return (f"coalesce(list_transform({col}, lambda p: CASE WHEN coalesce(p.namespace, '') = '' THEN p.name "
            f"ELSE p.namespace || '/' || p.name END), [])")


# Policy names per event, computed after the first GROUP BY (most events carry none).
POLICIES = f"""CASE verdict WHEN 'FORWARDED' THEN list_concat({_names('eab')}, {_names('iab')})
    WHEN 'DROPPED' THEN list_concat({_names('edb')}, {_names('idb')})
    ELSE list_concat(['{AUDIT_MARK}'], {_names('eab')}, {_names('iab')}, {_names('edb')}, {_names('idb')}) END"""


_PORT_ERR = ("CASE WHEN {c} < 0 OR {c} > 65535 THEN 'bad:l4.' || proto || '.{f}: invalid port ' || {c} "
             "|| ' (expected 0-65535)' END")
# Address and port checks run on the grouped rows: once per distinct value set, not per event.
_VALIDATE = f"""coalesce(status,
    CASE WHEN NOT rec_ip_ok(sip) THEN 'bad:IP.source: invalid IP address ' || to_json(sip) END,
    CASE WHEN NOT rec_ip_ok(dip) THEN 'bad:IP.destination: invalid IP address ' || to_json(dip) END,
    {_PORT_ERR.format(c='sport', f='source_port')}, {_PORT_ERR.format(c='dport', f='destination_port')})"""


# An event's 4 policy lists are grouped on as one JSON text (NULL if all absent, cheaper than 4 nested lists).
_POLICY_FIELDS = tuple((f"{d}_{v}_by", f"{d[0]}{v[0]}b") for v in ("allowed", "denied") for d in ("egress", "ingress"))
_POLICY_KEY = (f"CASE WHEN {' AND '.join(f'{f} IS NULL' for f, _ in _POLICY_FIELDS)} THEN NULL ELSE "
               f"to_json(struct_pack({', '.join(f'{n} := {f}' for f, n in _POLICY_FIELDS)})) END")
_POLICY_SHAPE = sql_str(json.dumps({n: _POLICY for _, n in _POLICY_FIELDS}))
_POLICY_LISTS = ", ".join(f"from_json(pol, {_POLICY_SHAPE}).{n} AS {n}" for _, n in _POLICY_FIELDS)


def _ok(expr: str, name: str) -> str:
    return f"CASE WHEN status IS NULL THEN {expr} END AS {name}"


def _unless_reply(expr: str, name: str) -> str:
    """An endpoint column, NULL for unusable events and for events marked as replies (``dir`` -1).

    A marked reply is a reply whatever the votes say, and a connection is inserted only when it has
    a request, whose endpoints always win over replies' (``_PICK``); so the endpoints of marked
    replies (about half of all events) are never needed, neither hashed nor collected."""
    return f"CASE WHEN dir >= 0 THEN {expr} END AS {name}"


def _leaves(f: Any) -> str:
    """The flow fields classification reads, extracted unconditionally in one projection: CASE and
    coalesce evaluate later branches on a selection of rows, and a struct field read there makes
    DuckDB slice the whole struct (all its children) per chunk."""
    l4, p4 = f("l4"), (("tcp", "TCP"), ("udp", "UDP"), ("sctp", "SCTP"), ("icmp4", "ICMPv4"), ("icmp6", "ICMPv6"))
    ports = ", ".join(f'{l4}."{p}".{c}_port AS {k}_{c[0]}p' for k, p in p4[:3] for c in ("source", "destination"))
    return f"""{f('time')} AS time_text, {f('verdict')} AS verdict_raw, {f('Type')} AS type_raw,
    CAST({f('drop_reason_desc')} AS VARCHAR) AS drop_desc, CAST({f('drop_reason')} AS VARCHAR) AS drop_num,
    {f('traffic_direction')} AS tdir_raw, {f('l7')}.type AS l7_type, {f('l7')} IS NOT NULL AS has_l7, {f('IP')} IS NOT NULL AS has_ip,
    {f('IP')}.source AS ip_s, {f('IP')}.destination AS ip_d, {f('ethernet')} IS NOT NULL AS has_eth,
    {l4} IS NOT NULL AS has_l4, {", ".join(f'{l4}."{p}" IS NOT NULL AS {k}' for k, p in p4)}, {ports},
    {l4}."TCP".flags."SYN" AS syn_raw, {l4}."TCP".flags."ACK" AS ack_raw, {l4}."ICMPv4".type AS icmp4_type,
    {l4}."ICMPv6".type AS icmp6_type, {f('is_reply')} AS is_reply_raw, {f('reply')} AS reply_raw,
    CAST({f('source')} AS VARCHAR) AS s_raw, CAST({f('destination')} AS VARCHAR) AS d_raw,
    {", ".join(f"{f(k)} AS {k}" for k, _ in _POLICY_FIELDS)}"""


def classify_sql(source: str, table: str, shape: str = "mixed", *, per_record: bool = False,
                 exact_endpoints: bool = False) -> str:
    """CREATE ``table``: events grouped on raw values, with ``status`` NULL (usable) or a reason,
    and ``err`` (the reason of a malformed record, else NULL); and ``{table}_ept``: the distinct
    endpoint JSON texts of the usable events (``text``) with their key ``h``.

    Events are grouped on a 64-bit hash of each endpoint's JSON text (a GROUPING SET collects each
    distinct text once); ``endpoint_collision_sql`` finds two texts with one hash, and
    ``exact_endpoints`` then keys on the texts. ``first`` (the smallest record ordinal) is set when
    ``source`` numbers its records; ``per_record`` keeps one row per record (``ord``) to list every
    malformed one, and collects no endpoints. Only cheap per-event work precedes the GROUP BY;
    addresses, ports, policy names and endpoints are handled per group."""
    _f = _field(shape)
    verdict = "upper(coalesce(verdict_raw, ''))"
    bare = " OR ".join(f'"{k}" IS NOT NULL' for k in (_BARE_KEYS if shape != "wrapped" else ("verdict", "Type", "IP")))
    is_flow, other = {"wrapped": ("flow IS NOT NULL", bare), "bare": (bare, "flow IS NOT NULL"),
                      "mixed": (f"flow IS NOT NULL OR {bare}", "false")}[shape]
    leaves = _leaves(_f)
    key = "{}" if exact_endpoints else ENDPOINT_KEY
    group = "fi, status, is_l7, proto, sip, dip, sport, dport, dir, verdict, pol, s_ep, d_ep"
    group += ", ord" if per_record else ""
    sets = f"({group})" if per_record else f"({group}), (s_text), (d_text)"
    return f"""CREATE OR REPLACE TEMP TABLE {table}_all AS
WITH f AS (
  SELECT ordinality AS ord, fi, {is_flow} AS is_flow, {other} AS other_shape,
    node_status IS NOT NULL AS ns, lost_events IS NOT NULL AS le, {leaves}
  FROM {source} WHERE {MARK} IS NULL),
r AS (
  SELECT ord, fi, is_flow, other_shape, ns, le, time_text, TRY_CAST(time_text AS TIMESTAMPTZ) AS ts,
    CASE {verdict} {' '.join(f"WHEN '{k}' THEN '{v}'" for k, v in _VERDICTS.items())} ELSE {verdict} END AS verdict,
    coalesce(drop_desc, drop_num) AS drop_reason, upper(coalesce(tdir_raw, '')) IN ('INGRESS', '1') AS at_in, upper(coalesce(type_raw, '')) AS type, l7_type, has_l7,
    ip_s, ip_d, has_ip, has_eth, has_l4,
    CASE WHEN tcp THEN 'TCP' WHEN udp THEN 'UDP' WHEN sctp THEN 'SCTP' WHEN icmp4 THEN 'ICMP'
         WHEN icmp6 THEN 'ICMPv6' END AS proto,
    coalesce(tcp_sp, udp_sp, sctp_sp, 0) AS sp, coalesce(tcp_dp, udp_dp, sctp_dp, 0) AS dp,
    coalesce(syn_raw, false) AS syn, coalesce(ack_raw, false) AS ack, coalesce(icmp4_type, icmp6_type, 0) AS icmp_type,
    CASE is_reply_raw WHEN 'true' THEN true WHEN 'false' THEN false WHEN '{{}}' THEN false
         ELSE TRY_CAST(json_extract_string(TRY_CAST(is_reply_raw AS JSON), '$.value') AS BOOLEAN) END AS is_reply,
    coalesce(reply_raw, false) AS reply, coalesce(s_raw, 'null') AS s_e, coalesce(d_raw, 'null') AS d_e,
    egress_allowed_by, ingress_allowed_by, egress_denied_by, ingress_denied_by
  FROM f),
x AS (
  SELECT *, type = 'L7' OR (type = '' AND has_l7) AS is_l7 FROM r),
y AS (
  SELECT *, CASE
    WHEN other_shape THEN 'mixed'
    WHEN NOT is_flow THEN CASE WHEN ns THEN 'skip:node status event' WHEN le THEN 'skip:lost events notice'
                               ELSE 'skip:not a flow record' END
    WHEN time_text IS NOT NULL AND ts IS NULL THEN 'bad:time: invalid timestamp ' || to_json(time_text)
    WHEN type = 'SOCK' THEN 'skip:socket-level (SOCK) event'
    WHEN verdict NOT IN ('FORWARDED', 'DROPPED', 'AUDIT')
      THEN 'skip:verdict ' || CASE WHEN verdict = '' THEN 'missing' ELSE verdict END
    WHEN verdict = 'DROPPED' AND drop_reason IS NOT NULL AND upper(drop_reason) NOT IN {_POLICY_DROPS}
      THEN 'skip:dropped for a non-policy reason'
    WHEN is_l7 AND (NOT has_ip OR proto IS NULL) THEN 'skip:L7 record without IP or l4'
    WHEN NOT has_ip AND NOT has_l4 AND has_eth THEN 'skip:L2 event without IP'
    WHEN NOT has_ip THEN 'bad:IP: missing in an L3/L4 flow'
    WHEN coalesce(ip_s, '') = '' THEN 'bad:IP.source: missing'
    WHEN coalesce(ip_d, '') = '' THEN 'bad:IP.destination: missing'
    WHEN NOT has_l4 THEN 'bad:l4: missing in an L3/L4 flow'
    WHEN proto IS NULL THEN 'skip:unsupported l4 protocol'
  END AS status FROM x),
d AS (
  SELECT *, CASE WHEN status IS NOT NULL THEN NULL
    WHEN is_reply IS NOT NULL THEN CASE WHEN is_reply THEN -1 ELSE 1 END
    WHEN proto = 'TCP' AND syn THEN CASE WHEN ack THEN -1 ELSE 1 END
    WHEN reply THEN -1
    WHEN proto = 'ICMP' THEN CASE WHEN icmp_type IN {_ICMP4_REPLIES} THEN -1 ELSE 1 END
    WHEN proto = 'ICMPv6' THEN CASE WHEN icmp_type IN {_ICMP6_REPLIES} THEN -1 ELSE 1 END
    WHEN is_l7 AND upper(l7_type) = 'RESPONSE' THEN -1
    WHEN is_l7 AND upper(l7_type) = 'REQUEST' THEN 1
    ELSE 0 END AS dir FROM y),
e AS (
SELECT status, {_ok('is_l7', 'is_l7')}, {_ok('proto', 'proto')}, {_ok('ip_s', 'sip')}, {_ok('ip_d', 'dip')},
  {_ok('sp', 'sport')}, {_ok('dp', 'dport')}, dir,
  {_ok('verdict', 'verdict')}, {_ok(_POLICY_KEY, 'pol')}, {_unless_reply(key.format('s_e'), 's_ep')},
  {_unless_reply(key.format('d_e'), 'd_ep')}, {_unless_reply('s_e', 's_text')}, {_unless_reply('d_e', 'd_text')},
  ord, fi, ts, at_in
FROM d)
SELECT {group}, {'NULL AS s_text, NULL AS d_text, 3' if per_record else 's_text, d_text, grouping(s_text, d_text)'} AS part,
  count(*) AS n, count(*) FILTER (WHERE at_in) AS n_in, min(ord) AS first, min(ts) AT TIME ZONE 'UTC' AS t0, max(ts) AT TIME ZONE 'UTC' AS t1
FROM e GROUP BY GROUPING SETS ({sets});
CREATE OR REPLACE TEMP TABLE {table} AS
SELECT *, CASE WHEN starts_with(status, 'bad:') THEN substr(status, 5) END AS err
FROM (SELECT * EXCLUDE (s_text, d_text, part, pol) REPLACE ({_VALIDATE} AS status), {_POLICY_LISTS}
      FROM {table}_all WHERE part = 3);
CREATE OR REPLACE TEMP TABLE {table}_ept AS
SELECT {key.format('text')} AS h, text FROM (
  SELECT s_text AS text FROM {table}_all WHERE part = 1 AND s_text IS NOT NULL
  UNION SELECT d_text FROM {table}_all WHERE part = 2 AND d_text IS NOT NULL);
DROP TABLE {table}_all"""


def endpoint_collision_sql(table: str) -> str:
    """A row when two distinct endpoint texts of ``classify_sql``'s ``table`` share one hash."""
    return f"SELECT h FROM {table}_ept GROUP BY h HAVING count(*) > 1 LIMIT 1"


def _rank(port: str) -> str:
    """0 for well-known ports, 1 for registered ones, 2 for the Linux ephemeral range (32768+)."""
    return f"CASE WHEN {port} < 1024 THEN 0 WHEN {port} < 32768 THEN 1 ELSE 2 END"


_ORIENT = f"""CASE WHEN dir <> 0 THEN dir
      WHEN vote > 0 THEN CASE WHEN fwd THEN 1 ELSE -1 END
      WHEN vote < 0 THEN CASE WHEN fwd THEN -1 ELSE 1 END
      WHEN {_rank('dport')} < {_rank('sport')} THEN 1 WHEN {_rank('dport')} > {_rank('sport')} THEN -1
      WHEN dport <= sport THEN 1 ELSE -1 END"""


_CANON = ("CASE WHEN fwd THEN sip ELSE dip END AS a_ip, CASE WHEN fwd THEN sport ELSE dport END AS a_port, "
          "CASE WHEN fwd THEN dip ELSE sip END AS b_ip, CASE WHEN fwd THEN dport ELSE sport END AS b_port")


# A connection's endpoints are those of its earliest request events, ties by endpoint text (replies come
# after requests; marked replies carry none, and a connection without a request is not inserted).
_PICK = ("struct_pack(r := NOT req, t := coalesce(t0, 'infinity'::TIMESTAMP), c := c_ep, s := s_ep)")


def oriented_sql(l1: str, eps: str, table: str) -> str:
    """CREATE ``table``: one row per oriented 5-tuple, action and file, with what became of its events.

    The files are judged together: a reply in one file counts for its request in another, an L7 record
    is a duplicate of an L3/L4 flow in any file, and a drop at the destination's ingress (often in
    another node's file) decides for the source's forwarded events (``lost``)."""
    return f"""CREATE OR REPLACE TEMP TABLE {table} AS
WITH ok AS (
  SELECT l.* EXCLUDE (eab, iab, edb, idb, s_ep, d_ep), {_CANON}, {POLICIES} AS pols,
    es.id AS src, ed.id AS dst, CASE verdict WHEN 'DROPPED' THEN 'deny' ELSE 'allow' END AS action
  FROM (SELECT *, sip < dip OR (sip = dip AND sport <= dport) AS fwd FROM {l1} WHERE status IS NULL) l
  LEFT JOIN {eps} es ON es.h = l.s_ep LEFT JOIN {eps} ed ON ed.h = l.d_ep),   -- marked replies have none
conv AS (
  SELECT proto, a_ip, a_port, b_ip, b_port,
    sum(CASE WHEN dir = 0 THEN 0 WHEN (dir = 1) = fwd THEN n ELSE -n END) AS vote
  FROM ok GROUP BY ALL),
d AS (
  SELECT ok.*, {_ORIENT} AS d
  FROM ok JOIN conv USING (proto, a_ip, a_port, b_ip, b_port)),
p AS (
  SELECT fi, proto, action, is_l7, d = 1 AS req,
    CASE WHEN d = 1 THEN sip ELSE dip END AS c_ip, CASE WHEN d = 1 THEN sport ELSE dport END AS c_port,
    CASE WHEN d = 1 THEN dip ELSE sip END AS s_ip, CASE WHEN d = 1 THEN dport ELSE sport END AS s_port,
    CASE WHEN d = 1 THEN src ELSE dst END AS c_ep, CASE WHEN d = 1 THEN dst ELSE src END AS s_ep,
    pols, n, n_in, t0, t1
  FROM d),
c5 AS (
  SELECT fi, proto, c_ip, c_port, s_ip, s_port, action,
    coalesce(sum(n) FILTER (WHERE NOT is_l7), 0) AS n4, coalesce(sum(n) FILTER (WHERE is_l7), 0) AS n7,
    bool_or(req) AS req, coalesce(sum(n_in) FILTER (WHERE req AND NOT is_l7), 0) AS n_in4,
    coalesce(sum(n_in) FILTER (WHERE req), 0) AS n_in, min(t0) AS t0,
    max(t1) AS t1, min({_PICK}) AS pick, list_sort(list_distinct(flatten(list(pols)))) AS pols
  FROM p GROUP BY ALL),
-- per connection (5-tuple and action, all files): has it a request, has it L3/L4 events; and whether the
-- source forwarded what the destination denied: an L3/L4 request dropped at ingress (an L7 drop is an L7
-- policy's, on a connection that was let in), and no request delivered there (L3/L4 or L7)
w AS (
  SELECT *, bool_or(req) OVER ca AS has_req, sum(n4) OVER ca AS n4_all,
    bool_or(action = 'deny' AND n_in4 > 0) OVER conn AS dropped_in, bool_or(action = 'allow' AND n_in > 0) OVER conn AS delivered_in
  FROM c5 WINDOW ca AS (PARTITION BY proto, c_ip, c_port, s_ip, s_port, action),
                 conn AS (PARTITION BY proto, c_ip, c_port, s_ip, s_port)),
c AS (
  SELECT * EXCLUDE (dropped_in, delivered_in), action = 'allow' AND has_req AND dropped_in AND NOT delivered_in AS lost
  FROM w)
SELECT *,
  CASE WHEN NOT has_req OR lost THEN 0 WHEN n4_all > 0 THEN n4 ELSE n7 END AS accepted,
  CASE WHEN NOT has_req THEN n4 + n7 ELSE 0 END AS orphan,
  CASE WHEN has_req AND n4_all > 0 AND NOT lost THEN n7 ELSE 0 END AS l7_dup,
  CASE WHEN lost THEN n4 + n7 ELSE 0 END AS denied_dst
FROM c"""


def connections_sql(c5: str, eps: str, files: list[str]) -> str:
    """The connections of ``c5`` (``oriented_sql``), one row per 5-tuple and action over all files, with
    the normalized endpoints' ``cid``; ``file`` is the first file (by name, as ``files`` is sorted) in
    which the connection's events count, and ``fis`` all of them."""
    names = "[" + ", ".join(map(sql_str, files)) + "]"
    return f"""WITH c AS (
  SELECT proto, c_ip, c_port, s_ip, s_port, action, min(pick).c AS c_ep, min(pick).s AS s_ep,
    list_sort(list_distinct(flatten(list(pols)))) AS pols, sum(n4) AS n4, sum(accepted) AS accepted,
    min(t0) AS t0, max(t1) AS t1, list(DISTINCT fi) FILTER (WHERE accepted > 0) AS fis
  FROM {c5} GROUP BY proto, c_ip, c_port, s_ip, s_port, action HAVING sum(accepted) > 0)
SELECT c_ip AS src_ip, s_ip AS dst_ip, es.cid AS src_cid, ed.cid AS dst_cid,
  proto AS protocol, CASE WHEN proto IN ('ICMP', 'ICMPv6') THEN NULL ELSE s_port END AS dst_port, action,
  CASE WHEN len(pols) > 0 THEN pols END AS policies,
  CASE WHEN n4 > 0 THEN n4 END AS packets, accepted, t0, t1, {names}[list_min(fis) + 1] AS file, fis
FROM c JOIN {eps} es ON es.id = c.c_ep JOIN {eps} ed ON ed.id = c.s_ep"""


_KEY = "src_ip, dst_ip, src_cid, dst_cid, protocol, dst_port, action, policies"


def insert_sql(conns: str, eps: str, l1: str, target: str, fmt: str) -> str:
    """INSERT the connections of ``conns`` (``connections_sql``) into ``target``, grouped on the
    normalized connection key (endpoints by ``cid``: no label maps to group on)."""
    side = ", ".join(f"{a}.{c} AS {p}_{c}" for p, a in (("src", "es"), ("dst", "ed"))
                     for c in ("namespace", "pod", "workload", "kind", "labels"))
    return f"""INSERT INTO {target} BY NAME
WITH g AS (
  SELECT {_KEY}, count(*) AS flows, sum(packets)::BIGINT AS packets, min(t0) AS first_seen,
    max(t1) AS last_seen, min(file) AS file, sum(accepted)::BIGINT AS records
  FROM ({conns}) GROUP BY {_KEY})
SELECT (SELECT min(t0) FROM {l1}) AS window_start, (SELECT max(t1) FROM {l1}) AS window_end,
  g.* EXCLUDE (src_cid, dst_cid), {side}, NULL::BIGINT AS bytes, {sql_str(fmt)} AS format, NULL::BIGINT AS line
FROM g JOIN {eps} es ON es.id = g.src_cid JOIN {eps} ed ON ed.id = g.dst_cid"""


def per_file_connections_sql(conns: str) -> str:
    """(file index, distinct connections that file's events count in), for several files."""
    return f"""SELECT fi, count(*) FROM (SELECT DISTINCT unnest(fis) AS fi, {_KEY} FROM ({conns})) GROUP BY fi"""
