"""Workloads as the recommender sees them, and the names the views give endpoints.

A pod seen in flows is ``web-7d4b9c6f5-x2k9p`` (or Calico's ``web-7d4b9c6f5-*``,
or just an IP in a VPC flow log); policies are written per workload. So that
the graph, the tables and the generated policies all say ``team-a/web``,
every view names pods through the recommender's own identity resolution
(``recommender.recommend.identity``) rather than re-deriving workload names.
Resolution runs once per call over the *distinct* endpoints (few), and the
result is joined back to the connections inside DuckDB.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager

import duckdb
import pandas as pd

from recommender.recommend import identity
from recommender.views.source import FlowSource, PathLike, connection_of, node_group, node_kind, node_name

NAMES = "__explore_names"
WORKLOAD_COLUMNS = ["namespace", "workload", "identified_by", "replicas", "replicas_seen", "label_sets", "selector",
                    "quality", "also_selects"]


def _endpoints(con: duckdb.DuckDBPyConnection, table: str) -> list[tuple]:
    sides = [
        f"SELECT {identity.endpoint_key_sql(s)} AS k, {s}_kind AS kind, {s}_ip AS ip, {s}_namespace AS ns, "
        f"{s}_pod AS pod, {s}_workload AS wl, {s}_labels AS labels FROM {table}"
        for s in ("src", "dst")
    ]
    return con.execute(
        "SELECT k, any_value(kind), any_value(ip), any_value(ns), any_value(pod), any_value(wl), any_value(labels) "
        f"FROM ({' UNION ALL '.join(sides)}) GROUP BY k ORDER BY k"
    ).fetchall()


def resolve(con: duckdb.DuckDBPyConnection, table: str = "connections") -> tuple[identity.IdentityMap, pd.DataFrame]:
    """The identity map of ``table``'s endpoints and a frame ``ekey → (grp, name)`` for pods in workloads."""
    ids, ep_map = identity.resolve(con, _endpoints(con, table))
    con.complete()  # resolve may leave a fetchone() result pending, which would block register()
    keys, groups, names = [], [], []
    for ekey, ident_key in ep_map.items():
        ident = ids.identities[ident_key]
        if ident.kind == "workload":
            keys.append(ekey)
            groups.append(ident.namespace)
            names.append(ident.workload)
    return ids, pd.DataFrame({"ekey": keys, "grp": groups, "name": names}, dtype="object")


@contextmanager
def named(con: duckdb.DuckDBPyConnection, table: str = "connections") -> Iterator[str]:
    """A SQL subquery of ``table`` with ``{src,dst}_{grp,name,node}`` node columns added.

    Pods get the workload identity's namespace and name; other endpoints keep
    the names from ``recommender.views.source``.
    """
    _, frame = resolve(con, table)
    con.register(NAMES, frame)
    cols = []
    for side, alias in (("src", "sn"), ("dst", "dn")):
        cols.append(
            f"CASE WHEN {alias}.ekey IS NOT NULL THEN {alias}.grp ELSE {node_group(side)} END AS {side}_grp, "
            f"CASE WHEN {alias}.ekey IS NOT NULL THEN {alias}.name ELSE {node_name(side)} END AS {side}_name, "
            f"CASE WHEN {alias}.ekey IS NOT NULL THEN 'pod' ELSE {node_kind(side)} END AS {side}_node"
        )
    try:
        yield (
            f"(SELECT t.*, {', '.join(cols)} FROM {table} AS t "
            f"LEFT JOIN {NAMES} sn ON {identity.endpoint_key_sql('src')} = sn.ekey "
            f"LEFT JOIN {NAMES} dn ON {identity.endpoint_key_sql('dst')} = dn.ekey)"
        )
    finally:
        con.unregister(NAMES)


def workloads(flows: FlowSource, *, inventory: Sequence[PathLike] = ()) -> pd.DataFrame:
    """Every workload (from flows and inventory) with its selector and how good it is.

    ``quality`` is ``exact`` when the selector picks exactly the workload's
    known pods, ``shared`` when it also selects the pods listed in
    ``also_selects``, and ``all pods`` when no stable label exists.
    ``replicas`` counts the known pods (flows and inventory), ``replicas_seen``
    those that appear by name in the flows (an idle replica is known only from
    the inventory; exporters that aggregate pods, like Calico's ``web-*``, name none).
    """
    con = connection_of(flows, inventory)
    ids, _ = resolve(con)
    seen = set(con.execute(
        "SELECT DISTINCT src_namespace, src_pod FROM connections WHERE src_pod IS NOT NULL "
        "UNION SELECT DISTINCT dst_namespace, dst_pod FROM connections WHERE dst_pod IS NOT NULL").fetchall())
    rows = []
    for wl in sorted(ids.workloads.values(), key=lambda w: (w.namespace, w.name)):
        quality = "all pods" if wl.selector.is_empty else ("exact" if wl.exact else "shared")
        rows.append([wl.namespace, wl.name, wl.source, len(wl.pods), sum((wl.namespace, p) in seen for p in wl.pods),
                     len(wl.label_sets), identity.selector_text(wl.selector), quality, list(wl.also_selects)])
    return pd.DataFrame(rows, columns=WORKLOAD_COLUMNS)
