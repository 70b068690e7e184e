"""Where a view gets its connection from, and how it names endpoints.

Views are called from notebooks with whatever the user has at hand: a
``FlowStore`` from ``load_flows``/``open_store``, a bare DuckDB connection
whose ``connections`` table follows ``recommender.io.schema``, or simply the
flow files. ``connection_of`` turns each of these into one DuckDB connection so
every view is a query over the same table, whatever the entry point.

The SQL fragments below give every endpoint of the normalized schema one
*node* identity (group, name, kind) used by the views and the service graph:
pods are named ``namespace/workload``, addresses outside the cluster become
external peers, and nodes, API server and Service VIPs are cluster peers.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import duckdb

from recommender.errors import UsageError

PathLike = str | os.PathLike[str]
FlowSource = Any
"""A ``FlowStore`` (anything with a ``.con``), a DuckDB connection, a ``.duckdb``
store file, or flow file path(s)."""

EXTERNAL_GROUP = "(external)"
CLUSTER_GROUP = "(cluster)"
DNS_PORT = 53

_STORE_SUFFIXES = (".duckdb", ".db")


def open_source(source: FlowSource, inventory: Sequence[PathLike] = (), db: PathLike | None = None) -> Any:
    """``source`` itself when it is a store or a connection; otherwise the ``FlowStore`` its paths load into.

    Flow paths are loaded with ``recommender.load_flows`` (into ``db`` when
    given); a single ``.duckdb`` path, or no flows with ``db``, opens that store.
    Keeping the store (not just its connection) keeps its inventory pods and
    namespace labels at hand for the evaluator.
    """
    con = getattr(source, "con", source)
    if isinstance(con, duckdb.DuckDBPyConnection):
        if inventory:
            raise UsageError("inventory= is only accepted with flow paths",
                             hint="load the inventory with load_flows(paths, inventory=...) instead")
        con.complete()  # a caller's unread execute() result would block every query (DuckDB 2)
        return source
    if source is None or (isinstance(source, Sequence) and not isinstance(source, str) and not source):
        if db is None:
            raise UsageError("no flows to read", hint="pass flow files, or --db with a store made by `recommend ingest`")
        source = [db]
    if isinstance(source, (str, os.PathLike)):
        paths: list[PathLike] = [source]
    elif isinstance(source, Sequence) and source and all(isinstance(p, (str, os.PathLike)) for p in source):
        paths = list(source)
    else:
        raise UsageError(
            f"cannot read flows from a {type(source).__name__}",
            hint="pass a FlowStore, a DuckDB connection, a .duckdb store or flow file paths",
        )
    return _open(paths, inventory, db)


def connection_of(
    source: FlowSource, inventory: Sequence[PathLike] = (), db: PathLike | None = None
) -> duckdb.DuckDBPyConnection:
    """The DuckDB connection holding ``connections`` for any supported source (see ``open_source``)."""
    opened = open_source(source, inventory, db)
    return getattr(opened, "con", opened)


def _open(paths: list[PathLike], inventory: Sequence[PathLike], db: PathLike | None) -> Any:
    import recommender

    if len(paths) == 1 and Path(paths[0]).suffix in _STORE_SUFFIXES:
        store = recommender.open_store(str(paths[0]))
        if inventory:
            store.ingest([], [str(i) for i in inventory])
        return store
    return recommender.load_flows(
        [str(p) for p in paths], inventory=[str(i) for i in inventory], db=str(db) if db is not None else ":memory:"
    )


def has_table(con: duckdb.DuckDBPyConnection, name: str) -> bool:
    row = con.execute(
        "SELECT count(*) FROM information_schema.tables WHERE table_name = ? AND table_schema = current_schema()",
        [name],
    ).fetchall()[0]
    return bool(row[0])


def node_group(side: str) -> str:
    """SQL: the group a ``side`` ('src'/'dst') endpoint is drawn in."""
    return (
        f"CASE WHEN {side}_kind = 'pod' THEN coalesce({side}_namespace, '(unknown)') "
        f"WHEN {side}_kind IN ('network', 'world') THEN '{EXTERNAL_GROUP}' "
        f"ELSE '{CLUSTER_GROUP}' END"
    )


def node_name(side: str) -> str:
    """SQL: the node's name inside its group: the workload for pods, the address
    for external peers (the exporter's ``pub``/``pvt`` only when it hid the
    address), the host or aggregated name for other cluster endpoints."""
    return (
        f"CASE WHEN {side}_kind = 'pod' THEN coalesce({side}_workload, {side}_pod, {side}_ip, '(unknown)') "
        f"WHEN {side}_kind IN ('network', 'world') THEN coalesce({side}_ip, {side}_workload, {side}_kind) "
        f"ELSE coalesce({side}_workload, {side}_ip, {side}_kind) END"
    )


def node_kind(side: str) -> str:
    """SQL: 'pod', 'external' or the cluster endpoint kind."""
    return f"CASE WHEN {side}_kind IN ('network', 'world') THEN 'external' ELSE {side}_kind END"


def port_label() -> str:
    """SQL: ``TCP/8080`` (or just the protocol when the connection has no port)."""
    return "protocol || coalesce('/' || CAST(dst_port AS VARCHAR), '')"


def is_dns() -> str:
    """SQL: the connection is a DNS lookup (port 53 over UDP or TCP)."""
    return f"(dst_port = {DNS_PORT} AND protocol IN ('UDP', 'TCP'))"
