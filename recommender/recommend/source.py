"""The source of synthesis: the connections to recommend for, and their distinct endpoints.

Why a module of its own: every stage after it (identities, edges, verification) joins the connections
on their endpoints, so each connection's two endpoint keys are computed once, here. The recommender
names an endpoint by a text key (``identity.endpoint_key_sql``: kind, address, namespace, pod, workload
and labels, ~330 bytes on the `large` cluster); building, storing, grouping and joining that text for
every connection cost ~0.1 CPU-s at 66k connections. So the connections carry a 64-bit hash of the
same columns instead, and the text is built once per distinct endpoint (``endpoints`` returns which
hashes stand for which text). Equal columns give equal hashes; two endpoints sharing a hash would be
merged, so a second, independent hash must agree within every group, and if it ever does not, the
connections are keyed by the text itself (the exact, slower way).
"""

from __future__ import annotations

import json

import duckdb

from recommender.model import Labels
from recommender.recommend.identity import endpoint_key_sql

SOURCE_VIEW = "_rec_conns"
SOURCE_KEYS = "_rec_conn_keys"
_TEXT_COLUMNS = ("kind", "ip", "namespace", "pod", "workload")

EndpointKeys = list[tuple[int, str]] | None   # (hash, text key) per distinct hash; None: keyed by text


def _hash_sql(side: str, salt: str = "") -> str:
    """A 64-bit key of ``side``'s endpoint: equal whenever the text keys are (same coalesced columns)."""
    cols = [f"coalesce({side}_{c}, '')" for c in _TEXT_COLUMNS]
    return f"hash({', '.join(cols)}, {side}_labels)" if not salt else \
        f"hash('{salt}', {side}_labels, {', '.join(reversed(cols))})"


def prepare_source(con: duckdb.DuckDBPyConnection, include_denied: bool, text_keys: bool = False) -> dict[str, int]:
    """``SOURCE_VIEW``: the connections to recommend for, with their endpoint keys ``_sk``/``_dk`` (hashes,
    or with ``text_keys`` the text keys) and a unique row number ``_row``. Only the keys are
    materialized and joined to the table's rows by rowid: copying the rows (two label MAPs each) cost
    0.27 CPU-s at 66k connections. A ``connections`` view (a caller's connection) has no rowid: copied."""
    actions = "('allow', 'deny')" if include_denied else "('allow')"
    key = endpoint_key_sql if text_keys else _hash_sql
    keys = f"{key('src')} AS _sk, {key('dst')} AS _dk"
    where = f"lower(action) IN {actions}"
    for kind in ("VIEW", "TABLE"):    # an earlier run on this connection made one or the other
        try:
            con.execute(f"DROP {kind} IF EXISTS {SOURCE_VIEW}")
        except duckdb.CatalogException:
            pass
    try:
        con.execute(f"CREATE OR REPLACE TEMP TABLE {SOURCE_KEYS} AS SELECT rowid AS _row, {keys} FROM connections WHERE {where}")
    except duckdb.BinderException:
        con.execute(f"CREATE TEMP TABLE {SOURCE_VIEW} AS SELECT *, row_number() OVER () AS _row, {keys} "
                    f"FROM connections WHERE {where}")
    else:
        con.execute(f"CREATE TEMP VIEW {SOURCE_VIEW} AS SELECT c.*, k._row, k._sk, k._dk "
                    f"FROM {SOURCE_KEYS} k JOIN connections c ON c.rowid = k._row")
    total, denied = con.execute(
        "SELECT count(*), count(*) FILTER (WHERE lower(action) = 'deny') FROM connections"
    ).fetchall()[0]
    return {"connections": int(total), "denied": int(denied)}


def endpoints(con: duckdb.DuckDBPyConnection, text_keys: bool = False) -> tuple[list[tuple], EndpointKeys] | None:
    """The distinct endpoints ``(text key, kind, ip, namespace, pod, workload, labels)`` in text key order
    (``identity.resolve``'s input) and which hashes stand for which text key; None when two endpoints
    share a hash (then ``prepare_source(text_keys=True)`` and ``endpoints(text_keys=True)``)."""
    # labels travel as JSON text: converting DuckDB MAPs to Python dicts row by row costs twice as much;
    # pods of a workload share one label set, which is parsed (and made ``Labels``) once per distinct text
    check = "NULL" if text_keys else "{h2}"
    sides = [
        f"SELECT _{s[0]}k AS h, {check.format(h2=_hash_sql(s, 'x'))} AS h2, {s}_kind AS x_kind, {s}_ip AS x_ip, "
        f"{s}_namespace AS x_namespace, {s}_pod AS x_pod, {s}_workload AS x_workload, {s}_labels AS x_labels "
        f"FROM {SOURCE_VIEW}" for s in ("src", "dst")
    ]
    rows = con.execute(
        f"SELECT {endpoint_key_sql('x')} AS k, h, x_kind, x_ip, x_namespace, x_pod, x_workload, "
        f"to_json(x_labels)::VARCHAR, ok FROM ("
        f"SELECT h, {', '.join(f'any_value(x_{c}) AS x_{c}' for c in (*_TEXT_COLUMNS, 'labels'))}, "
        f"min(h2) IS NOT DISTINCT FROM max(h2) AS ok FROM ({' UNION ALL '.join(sides)}) GROUP BY h) ORDER BY k, h"
    ).fetchall()
    if not all(r[8] for r in rows):
        return None
    made: dict[str, Labels] = {}
    out: list[tuple] = []
    keys: list[tuple[int, str]] = []
    for k, h, *values, text, _ in rows:
        keys.append((h, k))
        if out and out[-1][0] == k:   # two hashes, one text (labels whose text coincides): one endpoint
            continue
        labels = None if text is None else made.get(text)
        if labels is None and text is not None:
            labels = made[text] = Labels.of(json.loads(text))
        out.append((k, *values, labels))
    return out, (None if text_keys else keys)


def resolve_source(con: duckdb.DuckDBPyConnection, include_denied: bool) -> tuple[dict[str, int], list[tuple], EndpointKeys]:
    """``prepare_source`` and ``endpoints``, keyed by hash unless two endpoints share one."""
    counts = prepare_source(con, include_denied)
    found = endpoints(con)
    if found is None:
        counts = prepare_source(con, include_denied, text_keys=True)
        found = endpoints(con, text_keys=True)
        if found is None:   # cannot happen: text keys are exact, nothing is checked
            raise RuntimeError("endpoint keys by text did not resolve")
    return (counts, *found)
