"""Proof before writing: evaluate the recommendation against what was observed.

The recommender never trusts its own synthesis. Every observed allowed
connection (minus reply traffic, which stateful policy admits anyway) is
evaluated with the engine's exact NetworkPolicy evaluator against the new
policies (plus ``--existing`` ones); anything not admitted fails the run.
Over-permission (``overperm``) is measured with the same evaluator. It also tells
which existing policies already cover which flows, so ``--existing`` only adds
what is missing.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import duckdb
import pandas as pd
import pyarrow as pa

from recommender.io.schema import table_exists
from recommender.model import Labels, Namespace, NetworkPolicy, Pod
from recommender.recommend.identity import IdentityMap, is_unknown_public
from recommender.recommend.synthesis import EGRESS, INGRESS, Edge

CHECK_TABLE = "_rec_check"
EVAL_VIEW = "_rec_eval"


def load_existing(existing: Any) -> tuple[tuple[NetworkPolicy, ...], list[str]]:
    """``existing`` as policies (None, a PolicySet, policies, or paths to policy files), and the notes
    on what of it is not evaluated (``engine.verify.policy_notes``: skipped documents, loader warnings)."""
    from recommender.engine.verify import policy_notes

    if existing is None:
        return (), []
    if isinstance(existing, (str, Path)):
        existing = [existing]
    if not hasattr(existing, "policies"):
        items = list(existing)
        if all(isinstance(p, NetworkPolicy) for p in items):
            return tuple(items), []
        from recommender.io.policies import load_policies

        existing = load_policies([str(p) for p in items])
    loaded, notes = policy_notes(existing)
    return tuple(loaded.policies), notes


def check_table(
    con: duckdb.DuckDBPyConnection, source: str, ep_map: dict[str, str], ids: IdentityMap,
    replies: set[Edge] = frozenset(),
) -> str:
    """A temp view of the connections to verify, each tagged with its source and destination
    identities and whether it is reply traffic, numbered ``rid`` in a deterministic order. An
    endpoint whose address identity resolution inferred (a host known by node name) gets that address.

    Only the narrow part (row number, identities, inferred addresses, reply flag) is materialized
    and ordered; the view joins it to the ``source`` rows by ``_row``. Copying and sorting the wide rows
    (label MAPs) cost ~0.7 s at 66k connections. Endpoint keys are ordered by their rank (in key
    order) instead of the long key text: the same order. The source's keys are the text keys, or the
    hashes ``ids.cache["endpoint_keys"]`` maps to them (``source.endpoints``)."""
    order = {k: i for i, k in enumerate(sorted(ep_map))}
    hashed = ids.cache.get("endpoint_keys")   # the source's keys are hashes of these text keys
    pairs = [(k, k) for k in order] if hashed is None else hashed
    texts = [k for _, k in pairs]
    frame = pa.table({
        "ekey": pa.array([j for j, _ in pairs], pa.string() if hashed is None else pa.uint64()),
        "ident": pa.array([ep_map[k] for k in texts], pa.string()),
        "ip": pa.array([ids.identities[ep_map[k]].ip for k in texts], pa.string()),
        "ord": pa.array([order[k] for k in texts], pa.int64()),
        # a hostNetwork pod (by the inventory) is its node to policies: never isolated, only ipBlocks match it
        "host": pa.array([ids.identities[ep_map[k]].endpoint_kind == "host" for k in texts], pa.bool_()),
    })
    rep = pa.table({
        "s": pa.array([e.src for e in replies], pa.string()), "d": pa.array([e.dst for e in replies], pa.string()),
        "p": pa.array([e.protocol for e in replies], pa.string()), "port": pa.array([e.port for e in replies], pa.int32()),
    })
    con.register("_rec_ep2", frame)
    con.register("_rec_rep", rep)
    try:
        con.execute(
            f"""
            CREATE OR REPLACE TEMP TABLE {CHECK_TABLE}_k AS
            SELECT row_number() OVER (ORDER BY s.ord, d.ord, c.protocol, c.dst_port, c.action, c.file, c.line) AS rid,
                   c._row, s.ip AS _sip, d.ip AS _dip, s.host AS _shost, d.host AS _dhost,
                   s.ident AS src_identity, d.ident AS dst_identity,
                   r.s IS NOT NULL AS is_reply
            FROM {source} c
            JOIN _rec_ep2 s ON c._sk = s.ekey JOIN _rec_ep2 d ON c._dk = d.ekey
            LEFT JOIN _rec_rep r ON r.s = s.ident AND r.d = d.ident AND r.p = upper(c.protocol) AND r.port = c.dst_port
            """
        )
    finally:
        con.unregister("_rec_ep2")
        con.unregister("_rec_rep")
    con.execute(
        f"""
        CREATE OR REPLACE TEMP VIEW {CHECK_TABLE} AS
        SELECT k.rid, c.* EXCLUDE (_sk, _dk, _row) REPLACE (
                   coalesce(c.src_ip, k._sip) AS src_ip, coalesce(c.dst_ip, k._dip) AS dst_ip,
                   CASE WHEN k._shost THEN 'host' ELSE c.src_kind END AS src_kind,
                   CASE WHEN k._dhost THEN 'host' ELSE c.dst_kind END AS dst_kind),
               k.src_identity, k.dst_identity, k.is_reply
        FROM {CHECK_TABLE}_k k JOIN {source} c ON c._row = k._row
        """
    )
    return CHECK_TABLE


def model_pods(ids: IdentityMap) -> tuple[list[Pod], list[Namespace]]:
    """Known pods (inventory + flows) and namespaces, as the evaluator's model objects (built once)."""
    if "model_pods" not in ids.cache:
        ids.cache["model_pods"] = _build_model_pods(ids)
    return ids.cache["model_pods"]


def node_facts(con: duckdb.DuckDBPyConnection, ids: IdentityMap) -> None:
    """Keep in ``ids.cache`` which node each inventory pod runs on, and the hostNetwork pods (their
    addresses are their node's): the evaluator allows a pod's traffic with its own node, and so must
    verification, as synthesis gives that traffic no rule (``synthesis.OWN_NODE_SQL``, from these same facts)."""
    if not table_exists(con, "pods"):
        return
    ids.cache["pod_nodes"] = {(ns, n): node for ns, n, node in con.execute(
        "SELECT namespace, name, min(node) FROM pods WHERE node IS NOT NULL GROUP BY ALL").fetchall()}
    ids.cache["host_pods"] = [Pod(ns, n, ips=tuple(ips or ()), host_network=True, node=node) for ns, n, ips, node in
                              con.execute("SELECT namespace, name, ips, node FROM pods WHERE host_network "
                                          "ORDER BY namespace, name").fetchall()]


def _build_model_pods(ids: IdentityMap) -> tuple[list[Pod], list[Namespace]]:
    pods: list[Pod] = []
    nodes = ids.cache.get("pod_nodes", {})
    for wl in sorted(ids.workloads.values(), key=lambda w: w.key):
        for ls, names in sorted(wl.pods_by_labels.items(), key=lambda kv: kv[0].pairs):
            pods.extend(Pod(wl.namespace, n, ls, node=nodes.get((wl.namespace, n))) for n in sorted(names))
    names = {wl.namespace for wl in ids.workloads.values()} | set(ids.namespace_labels)
    namespaces = [Namespace(n, ids.namespace_labels.get(n, Labels())) for n in sorted(names)]
    return pods, namespaces


def _admitters(value: Any) -> tuple[str, ...]:
    if value is None or (isinstance(value, float) and pd.isna(value)):
        return ()
    if isinstance(value, str):
        return tuple(v for v in value.split(",") if v)
    return tuple(str(v) for v in value)


def compiled(policies: Sequence[NetworkPolicy], ids: IdentityMap) -> Any:
    """The evaluator's compiled form of ``policies``, compiled once per policy set."""
    from recommender.engine.compile import compile_policies

    key = tuple(policies)
    hit = ids.cache.get("compiled")
    if hit is None or hit[0] != key:
        hit = ids.cache["compiled"] = (key, compile_policies(list(policies)))
    return hit[1]


def _policy_input(policies: Sequence[NetworkPolicy], ids: IdentityMap) -> Any:
    """``compiled(policies, ids)`` when already compiled, else the policies: the evaluator compiles them
    in a worker thread while DuckDB builds its endpoint table, instead of before it starts."""
    hit = ids.cache.get("compiled")
    return hit[1] if hit is not None and hit[0] == tuple(policies) else tuple(policies)


def _tags(con: duckdb.DuckDBPyConnection, table: str, where: str) -> pd.DataFrame:
    return con.execute(f"SELECT rid, src_identity, dst_identity, file, line FROM {table} WHERE {where} ORDER BY rid").df()


def _evaluate(policies: Sequence[NetworkPolicy], con: duckdb.DuckDBPyConnection, where: str,
              ids: IdentityMap, table: str = CHECK_TABLE, extra: str | None = None, tags: pd.DataFrame | None = None,
              rows: pa.Table | None = None) -> tuple[pd.DataFrame, pd.DataFrame | None]:
    """Verdicts for the rows of the check table matching ``where``, joined to their identities
    (``tags``: ``_tags(con, table, where)``, read here unless given); and the verdicts of the rows of
    ``extra`` (a view with ``cid``, same evaluator input columns), judged in the same evaluator run:
    its set-up (inventory, policy and selection tables) is paid once. ``rows``: the key columns of the
    checked rows (``_key_rows``), when already read; then only the ``extra`` rows' are read here."""
    from recommender.engine.evaluate import evaluate_in

    pods, namespaces = model_pods(ids)
    pods = [*pods, *ids.cache.get("host_pods", ())]
    if tags is None:
        tags = _tags(con, table, where)
    policy_input = _policy_input(policies, ids)
    if not len(tags):
        empty = tags.assign(allowed=pd.Series([], dtype=bool), reason=pd.Series([], dtype=str))
        return empty, (evaluate_in(con, extra, policy_input, pods=pods, namespaces=namespaces, cid="cid")
                       if extra else None)
    # evaluated where the rows are (a view, rows in rid order): no copy of the wide rows through Arrow;
    # extra rows follow the checked ones (numbered after the last rid), with NULL for columns they lack
    offset = int(tags["rid"].max()) + 1
    union = f" UNION ALL BY NAME SELECT * EXCLUDE (cid), cid + {offset} AS rid FROM {extra}" if extra else ""
    if rows is not None and extra:
        rows = _with_rows(rows, con, extra, offset)
    con.execute(f"CREATE OR REPLACE TEMP VIEW {EVAL_VIEW} AS SELECT * FROM {table} WHERE {where}{union}")
    try:
        result = evaluate_in(con, EVAL_VIEW, policy_input, pods=pods, namespaces=namespaces, cid="rid", rows=rows)
    finally:
        con.execute(f"DROP VIEW IF EXISTS {EVAL_VIEW}")
    n = len(tags)
    extra_result = result.iloc[n:].reset_index(drop=True) if extra else None
    checked = result.iloc[:n] if extra else result
    return pd.concat([checked.reset_index(drop=True), tags.reset_index(drop=True)], axis=1), extra_result


def _key_rows(con: duckdb.DuckDBPyConnection, where: str) -> pa.Table:
    """The key columns of the check table's rows matching ``where``, numbered by ``rid``, as ``evaluate_in``
    reads them: ``prepare`` reads them ahead, in DuckDB while Python assembles the rules (~0.2 s at 66k
    connections that the evaluator no longer waits for)."""
    from recommender.engine.evaluate import key_rows

    con.execute(f"CREATE OR REPLACE TEMP VIEW {CHECK_TABLE}_v AS SELECT * FROM {CHECK_TABLE} WHERE {where}")
    try:
        return key_rows(con, f"{CHECK_TABLE}_v", cid="rid")
    finally:
        con.execute(f"DROP VIEW IF EXISTS {CHECK_TABLE}_v")


def _with_rows(rows: pa.Table, con: duckdb.DuckDBPyConnection, extra: str, offset: int) -> pa.Table:
    """``rows`` followed by the key columns of the ``extra`` rows (numbered from ``offset``), typed as in
    ``rows``: columns the extra view lacks are NULL, as in the evaluator's ``UNION ALL BY NAME``."""
    from recommender.engine.evaluate import key_rows

    more = key_rows(con, extra, cid=f"cid + {offset}")
    columns = [more.column(f.name).cast(f.type) if f.name in more.column_names else pa.nulls(len(more), f.type)
               for f in rows.schema]
    return pa.concat_tables([rows, pa.Table.from_arrays(columns, schema=rows.schema)])


def existing_coverage(
    con: duckdb.DuckDBPyConnection, source: str, ep_map: dict[str, str], existing: Sequence[NetworkPolicy],
    ids: IdentityMap,
) -> tuple[set[tuple[str, Edge]], dict[str, list[str]]]:
    """(direction, edge) pairs every connection of which an existing policy rule already admits,
    and per existing policy the observed flows (``direction src → dst proto/port``) it admits."""
    if not existing:
        return set(), {}
    check_table(con, source, ep_map, ids)
    result, _ = _evaluate(existing, con, "true", ids)
    covered: dict[tuple[str, Edge], bool] = {}
    per_policy: dict[str, set[str]] = {}
    if not len(result):
        return set(), {}
    # one pass over plain column lists: pandas' per-cell .at cost 40 µs a cell (5 s at 66k connections)
    columns = ("src_identity", "dst_identity", "protocol", "dst_port", "egress_admitted_by", "ingress_admitted_by")
    for src, dst, proto, dst_port, *admitted in zip(*(result[c].tolist() for c in columns)):
        edge = Edge(src, dst, str(proto).upper(), None if pd.isna(dst_port) else int(dst_port))
        for direction, value in zip((EGRESS, INGRESS), admitted):
            refs = _admitters(value)
            covered[(direction, edge)] = covered.get((direction, edge), True) and bool(refs)
            if refs:
                port = "" if edge.port is None else f"/{edge.port}"
                flow = f"{direction.lower()} {edge.src} → {edge.dst} {edge.protocol}{port}"
                for ref in {r.rsplit(" ", 1)[0] for r in refs}:
                    per_policy.setdefault(ref, set()).add(flow)
    return {k for k, v in covered.items() if v}, {k: sorted(v) for k, v in sorted(per_policy.items())}


REPRESENTATIVE_PUBLIC = "192.0.2.1"
VERIFIED = "NOT is_reply"      # the rows of the check table that verification evaluates


def prepare(con: duckdb.DuckDBPyConnection, source: str, ep_map: dict[str, str], ids: IdentityMap,
            replies: set[Edge]) -> pd.DataFrame:
    """Verification's part that needs no policy: the check table and the identities of the rows to verify
    (``verify(prepared=...)``; ``generate`` runs it in DuckDB while Python assembles the rules)."""
    check_table(con, source, ep_map, ids, replies)
    tags = _tags(con, CHECK_TABLE, VERIFIED)
    ids.cache["key_rows"] = (tags, _key_rows(con, VERIFIED))   # for ``verify`` with these tags
    return tags


def verify(
    con: duckdb.DuckDBPyConnection, source: str, ep_map: dict[str, str], replies: set[Edge],
    policies: Sequence[NetworkPolicy], ids: IdentityMap, assume_public: bool = False, extra: str | None = None,
    prepared: pd.DataFrame | None = None,
) -> tuple[pd.DataFrame, dict[str, Any], pd.DataFrame | None]:
    """Evaluate every observed connection (replies excluded) against ``policies``; also returns the
    verdicts of the rows of the view ``extra`` (over-permission candidates), in ``cid`` order.

    With ``assume_public`` (``--allow-any-external``), a connection whose external end
    has no address (Cilium world, Calico ``pub``) is evaluated again with a
    representative public address; if admitted it counts as admitted, and is
    marked ``assumed`` and reported as such: the evaluator cannot prove more.
    """
    if prepared is None:   # else the caller ran ``prepare`` with these arguments already
        prepared = prepare(con, source, ep_map, ids, replies)
    ahead = ids.cache.pop("key_rows", None)
    rows = ahead[1] if ahead is not None and ahead[0] is prepared else None
    verification, extra_result = _evaluate(policies, con, VERIFIED, ids, extra=extra, tags=prepared, rows=rows)
    verification["assumed"] = False
    unknown = sorted(k for k, i in ids.identities.items() if is_unknown_public(i))
    if assume_public and unknown and len(verification):
        keys = ", ".join("'" + k.replace("'", "''") + "'" for k in unknown)
        con.execute(f"""CREATE OR REPLACE TEMP TABLE _rec_assumed AS SELECT * REPLACE (
            CASE WHEN src_identity IN ({keys}) THEN '{REPRESENTATIVE_PUBLIC}' ELSE src_ip END AS src_ip,
            CASE WHEN dst_identity IN ({keys}) THEN '{REPRESENTATIVE_PUBLIC}' ELSE dst_ip END AS dst_ip)
            FROM {CHECK_TABLE} WHERE NOT is_reply AND (src_identity IN ({keys}) OR dst_identity IN ({keys}))""")
        again, _ = _evaluate(policies, con, "true", ids, table="_rec_assumed")
        by_rid = dict(zip(again["rid"], zip(again["allowed"], again["reason"])))
        for i, rid in enumerate(verification["rid"]):
            if rid in by_rid and not verification.at[i, "allowed"] and by_rid[rid][0]:
                verification.at[i, "allowed"] = True
                verification.at[i, "assumed"] = True
                verification.at[i, "reason"] = f"assuming a public address for the unknown external end: {by_rid[rid][1]}"
    # counted in the narrow table: the view would join every row to its connection for nothing
    n_replies = con.execute(f"SELECT count(*) FILTER (WHERE is_reply) FROM {CHECK_TABLE}_k").fetchall()[0][0]
    admitted = int(verification["allowed"].astype(bool).sum())
    total = len(verification)
    summary = {
        "connections": total,
        "admitted": admitted,
        "not_admitted": total - admitted,
        "coverage": 1.0 if not total else admitted / total,
        "replies_skipped": int(n_replies),
        "assumed_public": int(verification["assumed"].sum()),
    }
    return verification, summary, extra_result


def _present(value: Any) -> Any:
    return None if value is None or value is pd.NA or (isinstance(value, float) and pd.isna(value)) else value


def describe(row: dict[str, Any]) -> str:
    """One verification row as ``src → dst proto/port: reason (FILE:LINE)``."""
    def side(prefix: str) -> str:
        ns, pod, wl, ip, kind = (_present(row.get(f"{prefix}_{c}")) for c in ("namespace", "pod", "workload", "ip", "kind"))
        name = pod or wl
        who = f"{ns}/{name}" if ns and name else (name or kind or "?")
        return f"{who}[{ip}]" if ip else str(who)

    port = _present(row.get("dst_port"))
    port_text = "" if port is None else f"/{int(port)}"
    where = f" ({row['file']}:{row['line']})" if _present(row.get("file")) else ""
    return f"{side('src')} → {side('dst')} {row.get('protocol')}{port_text}: {_present(row.get('reason')) or ''}{where}"


DENIED_TABLE = "_rec_denied"


def denied_verdicts(con: duckdb.DuckDBPyConnection, policies: Sequence[NetworkPolicy], ids: IdentityMap) -> str | None:
    """``DENIED_TABLE``: the connections the exporter marked denied, each with ``_admitted`` (would the
    ``policies`` admit it?) and ``_admitted_by`` (the admitting rules of both directions); None when
    there are none. A recommendation opens such a connection when its peers share a selector or a
    port rule with allowed traffic: the summary must say so instead of listing it as still denied."""
    from recommender.engine.evaluate import evaluate_in

    con.execute(f"""CREATE OR REPLACE TEMP TABLE {DENIED_TABLE} AS SELECT row_number() OVER () AS _cid, *
        FROM connections WHERE lower(action) = 'deny'""")
    if not con.execute(f"SELECT count(*) FROM {DENIED_TABLE}").fetchall()[0][0]:
        con.execute(f"DROP TABLE {DENIED_TABLE}")
        return None
    pods, namespaces = model_pods(ids)
    hosts = ids.cache.get("host_pods") or ([Pod(ns, name, host_network=True) for ns, name in con.execute(
        "SELECT namespace, name FROM pods WHERE host_network").fetchall()] if table_exists(con, "pods") else [])
    result = evaluate_in(con, DENIED_TABLE, _policy_input(policies, ids), pods=[*pods, *hosts],
                         namespaces=namespaces, cid="_cid")
    by = [sorted({*_admitters(e), *_admitters(i)}) for e, i in
          zip(result["egress_admitted_by"].tolist(), result["ingress_admitted_by"].tolist())]
    con.register("_rec_denied_v", pa.table({"_cid": pa.array(range(1, len(result) + 1), pa.int64()),
                                            "_admitted": pa.array(result["allowed"].astype(bool).tolist(), pa.bool_()),
                                            "_admitted_by": pa.array(by, pa.list_(pa.string()))}))
    try:
        con.execute(f"""CREATE OR REPLACE TEMP TABLE {DENIED_TABLE} AS SELECT d.*, v._admitted, v._admitted_by
            FROM {DENIED_TABLE} d JOIN _rec_denied_v v USING (_cid)""")
    finally:
        con.unregister("_rec_denied_v")
    return DENIED_TABLE
