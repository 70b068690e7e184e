"""Set-based evaluation of many connections at once, in DuckDB.

Why set-based: a cluster has few distinct pod label sets and few selectors but
up to millions of connections. So selectors are matched in Python once per
*distinct* label set (``LabelIndex``), the compiled matchers become small
relational tables (``recommender.engine.bulk_tables``), and DuckDB joins
connections against them on integers (label set, rule id), deciding address
ranges and ports in each candidate row. No Python code runs per connection. The semantics are those of
``recommender.engine.explain`` (the rule-by-rule reference walk); every
decision below names the rule it mirrors, and a property test checks that
both agree on every column, reason text included.
"""

from __future__ import annotations

import itertools
import json
from collections.abc import Iterable, Mapping
from concurrent.futures import Future, ThreadPoolExecutor, wait

import duckdb
import numpy as np
import pyarrow as pa

from recommender.engine.bulk_tables import arrow_table, inventory_tables, policy_tables, static_tables
from recommender.engine.compile import (
    DIRECTIONS, CompiledPolicies, LabelIndex, PeerMatcher, compile_policies, gc_paused, node_addresses, own_node_sql,
    parse_ip,
)
from recommender.model import Labels, NetworkPolicy, Pod
from recommender.model.policy import EGRESS

_COUNTER = itertools.count()

# IPv4 octet without leading zeros, as Python's ipaddress accepts them.
_OCTET = "(25[0-5]|2[0-4][0-9]|1[0-9][0-9]|[1-9][0-9]|[0-9])"
_V4 = rf"^{_OCTET}\.{_OCTET}\.{_OCTET}\.{_OCTET}$"


def labels_key(labels: Mapping[str, str]) -> str:
    """Canonical text of a label set (sorted keys), for label sets that do not come from a DuckDB MAP."""
    return json.dumps([{"key": k, "value": v} for k, v in sorted(labels.items())], separators=(",", ":"), ensure_ascii=False)


def _labels_of(value: object) -> Labels:
    """Labels from a DuckDB MAP (a dict or (key, value) pairs), canonical text (``labels_key``) or nothing."""
    if value is None:
        return Labels()
    if isinstance(value, str):
        return Labels.of({e["key"]: e["value"] for e in json.loads(value)})
    return Labels.of(dict(value))  # type: ignore[call-overload]


def _side_sql(c: str, side: str, inv: str) -> str:
    # hostNetwork pods are not selectable: they become `host` address endpoints (choice (b)).
    # A pod without a namespace cannot be selected either.
    return f"""
      CASE WHEN {c}.{side}_kind = 'pod' AND coalesce({inv}.host_network, false) THEN 'host'
           WHEN {c}.{side}_kind = 'pod' AND {c}.{side}_namespace IS NULL THEN 'unknown'
           ELSE coalesce({c}.{side}_kind, 'unknown') END AS {side[0]}_kind,
      {c}.{side}_namespace AS {side[0]}_ns, {c}.{side}_pod AS {side[0]}_name, {c}.{side}_workload AS {side[0]}_work,
      {c}.{side}_ip AS {side[0]}_ip, CASE WHEN {c}.{side}_kind = 'pod' THEN {inv}.node END AS {side[0]}_inode,
      CASE WHEN {c}.{side}_lkey IS NOT NULL THEN hash({c}.{side}_lkey) ELSE coalesce({inv}.lh, 0) END AS {side[0]}_lh"""


def _own_node_sql(t: str, o: str, known: bool) -> str:
    """Side ``t`` is a pod and side ``o`` the node it runs on (mirrors explain.resolve): a hostNetwork
    pod on that node, or a host endpoint whose address a node's hostNetwork pods hold (``{o}n``, the
    address row, carries that node), else the node the exporter named it by. ``known``: the inventory
    names any node at all (else no pod has a known node: constant false)."""
    if not known:
        return "false"
    return own_node_sql(f"e.{t}_kind", f"e.{t}_inode", f"e.{o}_kind", [f"e.{o}_inode", f"{o}n.node", f"e.{o}_work"])


_PROTO_SQL = """CASE upper(trim(coalesce(c.protocol, ''))) WHEN '6' THEN 'TCP' WHEN '17' THEN 'UDP' WHEN '132' THEN 'SCTP'
      WHEN '1' THEN 'ICMP' WHEN '58' THEN 'ICMPV6' ELSE upper(trim(coalesce(c.protocol, ''))) END"""


def _ipnum_sql(col: str) -> str:
    parts = " + ".join(f"CAST(split_part(trim({col}), '.', {k + 1}) AS UHUGEINT) * {256 ** (3 - k)}" for k in range(4))
    return f"CASE WHEN regexp_matches(trim({col}), '{_V4}') THEN {parts} END"


def _desc_sql(x: str) -> str:
    # concat() writes each sentence once; a chain of || allocates every intermediate string. Every
    # argument is non-NULL where it is used (concat would read NULL as '').
    return (f"CASE WHEN {x}_kind = 'pod' THEN concat({x}_ns, '/', coalesce({x}_name, {x}_work, '*')) "
            f"ELSE coalesce({x}_ip, concat({x}_kind, ' endpoint with unknown address (matches no ipBlock)')) END")


def _rules_sql(p: str) -> list[str]:
    """Each rule's ports and ipBlocks as small lists on the rule's row, so that a candidate (connection,
    rule) is decided in the row itself: no candidate table, no set of matches to join back."""
    return [
        f"""CREATE TEMP TABLE {p}rulex AS SELECT r.rid, r.pid, r.dir, r.all_peers, r.all_ports, r.pods_any,
              q.ports, n.named, i.ipbs
            FROM {p}rules r
            LEFT JOIN (SELECT rid, list({{'proto': proto, 'lo': lo, 'hi': hi}}) AS ports FROM {p}portnum GROUP BY rid) q USING (rid)
            LEFT JOIN (SELECT rid, list({{'proto': proto, 'name': name}}) AS named FROM {p}portname GROUP BY rid) n USING (rid)
            LEFT JOIN (SELECT b.rid, list({{'fam': b.fam, 'lo': b.lo, 'hi': b.hi, 'x': x.xs}}) AS ipbs FROM {p}ipb b
              LEFT JOIN (SELECT rid, peer, list({{'fam': fam, 'lo': lo, 'hi': hi}}) AS xs FROM {p}ipx GROUP BY rid, peer) x
              USING (rid, peer) GROUP BY b.rid) i USING (rid)""",
        # Named ports each destination pod declares, per (protocol, number): one row per pod and port.
        f"""CREATE TEMP TABLE {p}podnames AS SELECT pk, proto, port, list(pname) AS names FROM {p}podports
            GROUP BY pk, proto, port""",
    ]


def _direction_sql(p: str, direction: str) -> list[str]:
    """Statements deciding one direction; mirrors explain.explain_compiled / direction_reason."""
    d = direction.lower()
    t, o = ("s", "d") if direction == EGRESS else ("d", "s")  # target side, other (peer) side
    # A port entry: same protocol and (no number, or the number in [port, endPort]); a connection
    # without a port matches only protocol-wide entries. A named entry: the destination pod declares
    # that name for the connection's protocol and number.
    port_ok = (f"r.all_ports OR coalesce(len(list_filter(r.ports, lambda q: q.proto = e.proto AND (q.lo IS NULL OR "
               f"e.port BETWEEN q.lo AND q.hi))) > 0, false) OR coalesce(len(list_filter(r.named, lambda q: "
               f"q.proto = e.proto AND list_contains(pn.names, q.name))) > 0, false)")
    # A peer: every peer; any pod; a pod whose label set a pod peer of the rule matches; an address
    # in an ipBlock's range and in none of its excepts (of the same family).
    peer_ok = (f"r.all_peers OR (e.{o}_kind = 'pod' AND (r.pods_any OR l.rid IS NOT NULL)) OR "
               f"coalesce(len(list_filter(r.ipbs, lambda b: b.fam = e.{o}_fam AND e.{o}_num BETWEEN b.lo AND b.hi AND "
               f"coalesce(len(list_filter(b.x, lambda z: z.fam = e.{o}_fam AND e.{o}_num BETWEEN z.lo AND z.hi)), 0) = 0)) > 0, false)")
    return [
        # Isolation depends on the pod's label set only: policies of its namespace selecting it for this
        # direction. The start of the denial sentence ("isolated for ... by a, b; ") is written here, once
        # per label set, instead of once per connection.
        f"""CREATE TEMP TABLE {p}iso_{d} AS SELECT s.lsid, list(DISTINCT k.key ORDER BY k.key) AS keys,
              'isolated for {d} by ' || array_to_string(list(DISTINCT k.name ORDER BY k.name), ', ') || '; ' AS head
            FROM {p}sel s JOIN {p}keys k ON k.pid = s.pid WHERE s.dir = '{direction}' GROUP BY s.lsid""",
        # The rules that apply to a label set, with their matchers: one integer join per connection below.
        f"""CREATE TEMP TABLE {p}selr_{d} AS SELECT s.lsid, r.* EXCLUDE (pid, dir)
            FROM {p}sel s JOIN {p}rulex r ON r.pid = s.pid AND r.dir = '{direction}' WHERE s.dir = '{direction}'""",
        # One pass over the candidates (connection x rule of an isolating policy): whether the rule's
        # peers and ports match, counted per connection (for the reason text), and the ids of the
        # admitting rules, sorted. peer_ls holds one row per (rule, label set): no duplicates.
        f"""CREATE TEMP TABLE {p}agg_{d} AS SELECT cid, count(*) AS n_rules, count_if(pk) AS n_peer,
              count_if(qk) AS n_port, list_sort(list(rid) FILTER (WHERE pk AND qk)) AS adm FROM (
              SELECT e.cid, r.rid, {peer_ok} AS pk, {port_ok} AS qk
              FROM {p}ep e JOIN {p}selr_{d} r ON r.lsid = e.{t}_lsid
              LEFT JOIN {p}peer_ls l ON l.rid = r.rid AND l.lsid = e.{o}_lsid
              LEFT JOIN {p}podnames pn ON pn.pk = e.d_pk AND pn.proto = e.proto AND pn.port = e.port
              WHERE e.{t}_kind = 'pod') GROUP BY cid""",
        # Admitting rules' labels and sentence, once per distinct set of admitting rules.
        f"""CREATE TEMP TABLE {p}adm_{d} AS SELECT a.adm, list(r.label ORDER BY r.rid) AS labels,
              '{d} allowed by ' || string_agg(r.label, ', ' ORDER BY r.rid) AS text
            FROM (SELECT adm, unnest(adm) AS rid FROM (SELECT DISTINCT adm FROM {p}agg_{d} WHERE len(adm) > 0)) a
            JOIN {p}rules r ON r.rid = a.rid GROUP BY a.adm""",
    ]


def _narrow_sql(p: str, direction: str) -> tuple[str, str]:
    """Columns and joins of one direction's per-connection facts, gathered before the rows are put in
    cid order (the sentences are written after the sort, so the sort moves no reason text)."""
    d = direction.lower()
    t = "s" if direction == EGRESS else "d"
    cols = (f"i_{d}.lsid IS NOT NULL AS {d}_iso, i_{d}.keys AS {d}_keys, i_{d}.head AS {d}_head, "
            f"a_{d}.n_rules AS {d}_n_rules, a_{d}.n_peer AS {d}_n_peer, a_{d}.n_port AS {d}_n_port, "
            f"m_{d}.labels AS {d}_labels, m_{d}.text AS {d}_text")
    joins = (f"LEFT JOIN {p}iso_{d} i_{d} ON i_{d}.lsid = e.{t}_lsid LEFT JOIN {p}agg_{d} a_{d} ON a_{d}.cid = e.cid "
             f"LEFT JOIN {p}adm_{d} m_{d} ON m_{d}.adm = a_{d}.adm")
    return cols, joins


def _verdict_sql(direction: str) -> str:
    d = direction.lower()
    t, o = ("s", "d") if direction == EGRESS else ("d", "s")
    side, role = ("source", "destination") if direction == EGRESS else ("destination", "source")
    port = "CASE WHEN n.port IS NULL THEN n.proto ELSE concat(CAST(n.port AS VARCHAR), '/', n.proto) END"
    peer = _desc_sql(f"n.{o}")
    return f"""
      n.{t}_kind = 'pod' AS {d}_applies,
      n.{d}_iso AS {d}_isolated,
      (n.{t}_kind <> 'pod' OR NOT n.{d}_iso OR n.self_flow OR n.{t}_own_node OR n.{d}_labels IS NOT NULL) AS {d}_allowed,
      coalesce(n.{d}_keys, []) AS {d}_isolated_by,
      coalesce(n.{d}_labels, []) AS {d}_admitted_by,
      CASE WHEN n.{t}_kind <> 'pod' THEN concat('{d} not enforced: {side} is a ', n.{t}_kind, ' endpoint, not a pod')
           WHEN n.self_flow THEN '{d} allowed: traffic of a pod to itself'
           WHEN NOT n.{d}_iso THEN concat('{d} allowed: ', {_desc_sql(f"n.{t}")}, ' is not isolated for {d}')
           WHEN n.{d}_labels IS NOT NULL THEN n.{d}_text
           WHEN n.{t}_own_node THEN '{d} allowed: traffic between a pod and the node it runs on'
           WHEN coalesce(n.{d}_n_rules, 0) = 0 THEN concat(n.{d}_head, 'they have no {d} rules')
           WHEN n.{d}_n_peer = 0 AND n.{d}_n_port = 0 THEN concat(n.{d}_head, 'no rule matches {role} ', {peer}, ' or port ', {port})
           WHEN n.{d}_n_peer = 0 THEN concat(n.{d}_head, 'no rule matches {role} ', {peer})
           ELSE concat(n.{d}_head, 'no rule matches port ', {port}, ' for {role} ', {peer})
      END AS {d}_reason"""


def evaluate_table(con: duckdb.DuckDBPyConnection, source: str, policies: Iterable[NetworkPolicy] | CompiledPolicies,
                   pods: Iterable[Pod], ns_labels: Mapping[str, Labels]) -> str:
    """Evaluate ``source`` (a table/view with ``cid``, the connection endpoint columns, and labels in
    ``src_lkey``/``dst_lkey`` as a MAP or ``labels_key`` text, NULL meaning "ask the inventory") and
    return the name of a temp view of verdicts by ``cid``, in cid order (computed when read, so the
    rows are materialized once, by the caller). Call ``drop_temp(con, name)`` when done."""
    return evaluate_table_with(con, source, policies, pods, ns_labels)[0]


def evaluate_table_with(con: duckdb.DuckDBPyConnection, source: str, policies: Iterable[NetworkPolicy] | CompiledPolicies,
                        pods: Iterable[Pod], ns_labels: Mapping[str, Labels], side_query: str | None = None
                        ) -> tuple[str, pa.Table | None]:
    """``evaluate_table``, plus the Arrow result of ``side_query`` (a query on ``con`` that needs
    nothing of the evaluation, e.g. the columns the caller will put beside the verdicts), run while
    the connection would otherwise wait for Python.

    The policies are compiled and turned into matcher tables (Python) in a worker thread while DuckDB
    builds the endpoint table, which needs no policy: DuckDB releases the GIL, so both cores work."""
    p = f"_ev{next(_COUNTER)}_"
    try:
        # Building the matcher tables allocates ~1M small acyclic objects for 20,000 policies; with
        # the collector running, its repeated full passes cost more than the work itself (3.6 vs 0.9 s).
        with gc_paused(), ThreadPoolExecutor(max_workers=2) as pool:
            return _evaluate(con, p, source, pool, pool.submit(_matchers, policies), pods, ns_labels, side_query)
    except BaseException:
        _cleanup(con, p)
        raise


def _matchers(policies: Iterable[NetworkPolicy] | CompiledPolicies
              ) -> tuple[CompiledPolicies, dict[str, pa.Table], list[tuple[int, PeerMatcher]]]:
    compiled = compile_policies(policies)
    return (compiled, *static_tables(compiled))


def _evaluate(con: duckdb.DuckDBPyConnection, p: str, source: str, pool: ThreadPoolExecutor, matchers: Future,
              pods: Iterable[Pod], ns_labels: Mapping[str, Labels], side_query: str | None) -> tuple[str, pa.Table | None]:
    pods = list(pods)
    inv, podports = inventory_tables(pods)
    # Inventory pods are keyed by a 64-bit hash of (namespace, name), like label sets: the joins of
    # a million connections against them are on one integer, and each pod's labels are hashed once.
    con.register(f"{p}inv_raw", inv)
    con.register(f"{p}podports_raw", podports)
    con.execute(f"CREATE TEMP TABLE {p}inv AS SELECT hash(ns, name) AS pk, host_network, lh, node FROM {p}inv_raw")
    # The nodes' addresses (hostNetwork pods'), for "a pod and the node it runs on" (always allowed).
    nodes = node_addresses(pods)
    con.register(f"{p}nodes", arrow_table({"ip": (pa.string(), list(nodes)), "node": (pa.string(), list(nodes.values()))}))
    con.execute(f"CREATE TEMP TABLE {p}podports AS SELECT hash(ns, name) AS pk, pname, proto, port FROM {p}podports_raw")
    con.execute(f"""CREATE TEMP VIEW {p}ep0 AS SELECT c.cid, {_side_sql('c', 'src', 'si')}, {_side_sql('c', 'dst', 'di')},
        {_PROTO_SQL} AS proto, CAST(c.dst_port AS INTEGER) AS port
      FROM {source} c LEFT JOIN {p}inv si ON si.pk = hash(c.src_namespace, c.src_pod)
      LEFT JOIN {p}inv di ON di.pk = hash(c.dst_namespace, c.dst_pod)""")
    # Addresses: each distinct address is parsed once, IPv4 in SQL and IPv6 (rare) in Python. An
    # unparsable or unknown (NULL) address gets no number: it matches no ipBlock. (Done whether or not
    # ipBlocks exist: the policies are still being compiled, and this is cheap beside it.)
    # Each distinct address also gets the node whose hostNetwork pods hold it (NULL: none), once.
    con.execute(f"""CREATE TEMP TABLE {p}ipn AS SELECT ip, CAST(CASE WHEN n IS NOT NULL THEN 4 END AS INTEGER) AS fam,
          CAST(n AS UHUGEINT) AS num, nd.node FROM (
        SELECT ip, {_ipnum_sql('ip')} AS n FROM (SELECT src_ip AS ip FROM {source} UNION SELECT dst_ip FROM {source})
        WHERE ip IS NOT NULL) LEFT JOIN {p}nodes nd USING (ip)""")
    v6 = [r[0] for r in con.execute(f"SELECT ip FROM {p}ipn WHERE fam IS NULL AND ip LIKE '%:%'").fetchall()]
    if v6:
        parsed = [parse_ip(ip) for ip in v6]
        con.register(f"{p}ip6", arrow_table({"ip": (pa.string(), v6), "num": (pa.string(), [str(x[1]) if x and x[0] == 6 else None for x in parsed])}))
        con.execute(f"""UPDATE {p}ipn SET fam = 6, num = CAST(v.num AS UHUGEINT) FROM {p}ip6 v
            WHERE v.ip = {p}ipn.ip AND v.num IS NOT NULL""")
    # The endpoint table, built in ONE pass over the source. A pod's label set is keyed by a 64-bit
    # hash of (namespace, hash of the flow's labels - a MAP or canonical text - else of the inventory
    # pod's); a destination pod by a hash of (namespace, name) for its named ports; every later join
    # is on such integer keys.
    side_cols = ", ".join(f"e.{x}_{c}" for x in "sd" for c in ("kind", "ns", "name", "work", "ip"))
    known_nodes = bool(nodes) or any(pod.node for pod in pods)
    con.execute(f"""CREATE TEMP TABLE {p}ep AS SELECT e.cid, {side_cols}, e.proto, e.port,
        CASE WHEN e.s_kind = 'pod' THEN hash(e.s_ns, e.s_lh) END AS s_lsid,
        CASE WHEN e.d_kind = 'pod' THEN hash(e.d_ns, e.d_lh) END AS d_lsid,
        CASE WHEN e.d_kind = 'pod' THEN hash(e.d_ns, e.d_name) END AS d_pk,
        sn.fam AS s_fam, sn.num AS s_num, dn.fam AS d_fam, dn.num AS d_num,
        (e.s_kind = 'pod' AND e.d_kind = 'pod' AND e.s_name IS NOT NULL AND e.d_name IS NOT NULL AND e.s_ns = e.d_ns AND e.s_name = e.d_name) AS self_flow,
        {_own_node_sql('s', 'd', known_nodes)} AS s_own_node, {_own_node_sql('d', 's', known_nodes)} AS d_own_node
      FROM {p}ep0 e LEFT JOIN {p}ipn sn ON sn.ip = e.s_ip LEFT JOIN {p}ipn dn ON dn.ip = e.d_ip""")
    # Distinct label sets: one representative row (and side) each, whose labels are read back from
    # the source (only those rows; the inventory pod's labels when the row has none); selectors are
    # then matched once per distinct set, in Python.
    distinct = con.sql(f"""WITH reps AS (SELECT lsid, min(k) AS k FROM (
          SELECT s_lsid AS lsid, cid * 2 AS k FROM {p}ep WHERE s_lsid IS NOT NULL
          UNION ALL SELECT d_lsid, cid * 2 + 1 FROM {p}ep WHERE d_lsid IS NOT NULL) GROUP BY lsid)
        SELECT r.lsid, CASE WHEN r.k % 2 = 0 THEN c.src_namespace ELSE c.dst_namespace END,
          CASE WHEN r.k % 2 = 0 THEN c.src_pod ELSE c.dst_pod END, CASE WHEN r.k % 2 = 0 THEN c.src_lkey ELSE c.dst_lkey END
        FROM reps r JOIN (SELECT cid, src_namespace, dst_namespace, src_pod, dst_pod, src_lkey, dst_lkey FROM {source}
          WHERE cid IN (SELECT k // 2 FROM reps)) c ON c.cid = r.k // 2 ORDER BY 2, 1""").to_arrow_table()
    # Read through Arrow: fetchall() turns each MAP into a dict at ~10 µs a row (0.3 s for 39,000
    # label sets); Arrow hands the MAP over as (key, value) pairs in a tenth of that.
    lsids, *cols = (distinct.column(i) for i in range(4))
    # From here on the connection would be idle until the selection tables exist (~0.5 s of Python,
    # one core). Meanwhile a worker, the connection's only user until `wait`, runs the caller's query
    # and loads the policy-only tables (DuckDB releases the GIL, so both cores work).
    def connection_work() -> pa.Table | None:
        _load_static(con, p, matchers.result()[1])
        return con.sql(side_query).to_arrow_table() if side_query else None

    side = pool.submit(connection_work)
    try:
        compiled, _, _ = matchers.result()
        by_pod = {(pod.namespace, pod.name): pod.labels for pod in pods}
        # Namespaces repeat the same few label maps: each distinct map becomes Labels once.
        made: dict[object, Labels] = {}
        sets = []
        for ns, name, raw in zip(*(c.to_pylist() for c in cols)):
            if raw is None:
                sets.append((ns, by_pod.get((ns, name), Labels())))
                continue
            key = raw if isinstance(raw, str) else tuple(raw)  # MAP: (key, value) pairs
            labels = made.get(key)
            if labels is None:
                labels = made[key] = _labels_of(raw)
            sets.append((ns, labels))
        index = LabelIndex(sets, ns_labels)
        tables = policy_tables(compiled, index, lsids.to_numpy().astype(np.uint64))
    finally:
        wait([side])  # the connection is ours again (an error here must not hide the first one)
    side_result = side.result()
    for name in ("sel", "peer_ls"):
        con.register(f"{p}{name}", tables[name])
    for stmt in [q for direction in DIRECTIONS for q in _direction_sql(p, direction)]:
        con.execute(stmt)
    narrow = [_narrow_sql(p, d) for d in DIRECTIONS]
    strings = ", ".join(f"e.{x}_{c}" for x in "sd" for c in ("kind", "ns", "name", "work", "ip"))
    con.execute(f"""CREATE TEMP VIEW {p}verdict AS SELECT cid, egress_applies, egress_isolated, egress_allowed,
        egress_isolated_by, egress_admitted_by, ingress_applies, ingress_isolated, ingress_allowed, ingress_isolated_by,
        ingress_admitted_by, egress_allowed AND ingress_allowed AS allowed,
        CASE WHEN egress_allowed AND ingress_allowed THEN concat(egress_reason, ' | ', ingress_reason)
             ELSE concat_ws(' | ', CASE WHEN NOT egress_allowed THEN egress_reason END,
                            CASE WHEN NOT ingress_allowed THEN ingress_reason END) END AS reason,
        egress_reason, ingress_reason
      FROM (SELECT n.cid, {_verdict_sql(EGRESS)}, {_verdict_sql('Ingress')} FROM (
        SELECT e.cid, {strings}, e.proto, e.port, e.self_flow, e.s_own_node, e.d_own_node, {', '.join(c for c, _ in narrow)}
        FROM {p}ep e {' '.join(j for _, j in narrow)} ORDER BY e.cid) n)""")
    return f"{p}verdict", side_result


def _load_static(con: duckdb.DuckDBPyConnection, p: str, static: dict[str, pa.Table]) -> None:
    """The tables that depend on the policies only: rules with their ports and ipBlocks as lists."""
    for name, tbl in static.items():
        con.register(f"{p}{name}" + ("_raw" if name in ("ipb", "ipx") else ""), tbl)
    for name in ("ipb", "ipx"):  # 128-bit ranges travel as text; IPv6 needs UHUGEINT
        con.execute(f"""CREATE TEMP TABLE {p}{name} AS SELECT * REPLACE (CAST(lo AS UHUGEINT) AS lo,
            CAST(hi AS UHUGEINT) AS hi) FROM {p}{name}_raw""")
    for stmt in _rules_sql(p):
        con.execute(stmt)


_REGISTERED = ("inv_raw", "podports_raw", "nodes", "ip6", "sel", "rules", "peer_ls", "ipb_raw", "ipx_raw", "portnum", "portname", "keys")
_CREATED = ("ep", "ipb", "ipx", "ipn", "inv", "podports", "podnames", "rulex") + tuple(
    f"{k}_{d}" for k in ("iso", "selr", "agg", "adm") for d in ("egress", "ingress"))


def _cleanup(con: duckdb.DuckDBPyConnection, prefix: str) -> None:
    con.execute(f"DROP VIEW IF EXISTS {prefix}verdict")
    con.execute(f"DROP VIEW IF EXISTS {prefix}ep0")
    for name in _CREATED:
        con.execute(f"DROP TABLE IF EXISTS {prefix}{name}")
    for name in _REGISTERED:
        try:
            con.unregister(f"{prefix}{name}")
        except duckdb.Error:  # never registered (e.g. no ipBlocks): nothing to do
            pass


def drop_temp(con: duckdb.DuckDBPyConnection, name: str) -> None:
    """Drop the verdict view ``name`` and every intermediate table behind it."""
    _cleanup(con, name.removesuffix("verdict"))
