"""Who talks to whom: the traffic views a notebook starts with.

Each function is one DuckDB query over ``connections`` returning a pandas
DataFrame, so it stays fast on millions of rows and gives the same answer in
a notebook, in the HTML report and in tests. Endpoints are named as in
``recommender.views.source``: pods by ``namespace/workload``, everything
outside the cluster as an external peer.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable, Sequence
from typing import Any

import duckdb
import pandas as pd

from recommender.errors import UsageError
from recommender.views.source import FlowSource, PathLike, connection_of, is_dns, port_label
from recommender.views.workloads import named

TALKER_ORDER = {"connections": "connections", "bytes": "bytes"}


def _sides(named_table: str) -> str:
    """Both ends of every connection as rows ``(self…, peer…, direction)``: the
    UNION that lets per-endpoint views count inbound and outbound at once."""
    out = (
        "SELECT src_grp AS grp, src_name AS name, src_node AS kind, dst_grp AS peer_grp, dst_name AS peer_name, "
        f"dst_node AS peer_kind, dst_ip AS peer_ip, 'out' AS direction, {port_label()} AS port, flows, bytes "
        f"FROM {named_table}"
    )
    inn = (
        "SELECT dst_grp, dst_name, dst_node, src_grp, src_name, src_node, src_ip, 'in', "
        f"{port_label()}, flows, bytes FROM {named_table}"
    )
    return f"({out} UNION ALL {inn})"


def namespace_matrix(
    flows: FlowSource, *, value: str = "connections", inventory: Sequence[PathLike] = ()
) -> pd.DataFrame:
    """Connections (or ``value="bytes"``) from each source namespace (rows) to
    each destination namespace (columns), square over every namespace seen.

    External peers appear as ``(external)``, nodes and the API server as ``(cluster)``.
    """
    con = connection_of(flows, inventory)
    measure = {"connections": "flows", "bytes": "bytes", "distinct": "1"}.get(value)
    if measure is None:
        raise UsageError(f"unknown matrix value {value!r}", hint="use connections, bytes or distinct")
    with named(con) as table:
        pairs = con.sql(
            f"SELECT src_grp AS source, dst_grp AS destination, "
            f"CAST(sum(coalesce({measure}, 0)) AS BIGINT) AS v FROM {table} GROUP BY ALL"
        ).df()
    groups = sorted({*pairs["source"], *pairs["destination"]})
    if not groups:
        return pd.DataFrame(dtype="int64")
    wide = con.from_df(pairs).query("pairs", "PIVOT pairs ON destination USING sum(v) GROUP BY source").df()
    wide = wide.set_index("source")
    wide = wide.reindex(index=groups, columns=groups).fillna(0).astype("int64")
    wide.index.name = "source"
    wide.columns.name = "destination"
    return wide


def top_talkers(
    flows: FlowSource, *, by: str = "connections", n: int = 20, inventory: Sequence[PathLike] = ()
) -> pd.DataFrame:
    """The ``n`` endpoints with most connections (flow starts) or most bytes,
    counting both directions, with their distinct peers and ports."""
    if by not in TALKER_ORDER:
        raise UsageError(f"unknown ordering {by!r}", hint="use by='connections' or by='bytes'")
    con = connection_of(flows, inventory)
    with named(con) as table:
        return _talkers(con, table, TALKER_ORDER[by], int(n))


def _talkers(con: duckdb.DuckDBPyConnection, table: str, order: str, n: int) -> pd.DataFrame:
    return con.sql(
        f"""
        SELECT grp AS namespace, name AS workload, kind,
          CAST(coalesce(sum(flows) FILTER (WHERE direction = 'out'), 0) AS BIGINT) AS connections_out,
          CAST(coalesce(sum(flows) FILTER (WHERE direction = 'in'), 0) AS BIGINT) AS connections_in,
          CAST(coalesce(sum(flows), 0) AS BIGINT) AS connections,
          CAST(coalesce(sum(bytes), 0) AS BIGINT) AS bytes,
          count(DISTINCT peer_grp || '/' || peer_name) AS peers,
          coalesce(list(DISTINCT port ORDER BY port) FILTER (WHERE direction = 'in'), []) AS listening
        FROM {_sides(table)}
        GROUP BY ALL
        ORDER BY {order} DESC, namespace, workload
        LIMIT {n}
        """
    ).df()


def external_peers(
    flows: FlowSource, *, policies: Any = None, inventory: Sequence[PathLike] = ()
) -> pd.DataFrame:
    """Every peer outside the cluster, with the workloads and ports it talks
    to and the CIDR it is aggregated into.

    ``cidr`` is the narrowest ``ipBlock`` of ``policies`` (a list of
    NetworkPolicy or a Recommendation) containing the address, or the host
    prefix (``/32``, ``/128``) when no policy covers it.
    """
    con = connection_of(flows, inventory)
    with named(con) as table:
        peers = _externals(con, table)
    cidrs = _cidr_map(peers["ip"].dropna().unique(), _ip_blocks(policies))
    peers.insert(3, "cidr", peers["ip"].map(cidrs))
    return peers


def _externals(con: duckdb.DuckDBPyConnection, table: str) -> pd.DataFrame:
    return con.sql(
        f"""
        SELECT CASE direction WHEN 'out' THEN 'egress' ELSE 'ingress' END AS direction,
          peer_ip AS ip, peer_name AS peer, peer_kind AS kind,
          list(DISTINCT grp || '/' || name ORDER BY grp || '/' || name) AS workloads,
          list(DISTINCT port ORDER BY port) AS ports,
          CAST(coalesce(sum(flows), 0) AS BIGINT) AS connections,
          CAST(coalesce(sum(bytes), 0) AS BIGINT) AS bytes
        FROM {_sides(table)}
        WHERE peer_kind = 'external'
        GROUP BY ALL
        ORDER BY direction, connections DESC, peer, ip
        """
    ).df()


def _ip_blocks(policies: Any) -> list[str]:
    """The ``ipBlock`` CIDRs of every rule peer of ``policies``."""
    if policies is None:
        return []
    items = getattr(policies, "policies", policies)
    found = {
        peer.ip_block.cidr
        for p in items
        for rule in (*(p.ingress or ()), *(p.egress or ()))
        for peer in (rule.peers or ())
        if peer.ip_block is not None
    }
    return sorted(found)


def _cidr_map(ips: Iterable[str], cidrs: Sequence[str]) -> dict[str, str]:
    """Narrowest containing CIDR per distinct address (the distinct external
    addresses are few; this never walks the connection rows)."""
    nets = sorted((ipaddress.ip_network(c, strict=False) for c in cidrs), key=lambda n: -n.prefixlen)
    result: dict[str, str] = {}
    for ip in ips:
        try:
            addr = ipaddress.ip_address(ip)
        except ValueError:
            continue
        hit = next((n for n in nets if n.version == addr.version and addr in n), None)
        result[ip] = str(hit) if hit else f"{addr}/{addr.max_prefixlen}"
    return result


def service_edges(
    flows: FlowSource, *, verdicts: pd.DataFrame | None = None, inventory: Sequence[PathLike] = ()
) -> pd.DataFrame:
    """Workload-to-workload edges per protocol/port: the service graph as a table.

    With ``verdicts`` (``views.connection_verdicts(policies, flows)``: a
    ``row_id`` per connection plus ``allowed`` and ``reason``), each edge also
    counts the connections the policies admit and deny, with the deny reasons.
    """
    con = connection_of(flows, inventory)
    table = "connections"
    verdict_cols = ""
    if verdicts is not None:
        con.register("__report_verdicts", verdicts[["row_id", "allowed", "reason"]])
        table = "(SELECT c.*, v.allowed, v.reason FROM connections c JOIN __report_verdicts v ON c.rowid = v.row_id)"
        verdict_cols = (
            ", count(*) FILTER (WHERE allowed) AS admitted, count(*) FILTER (WHERE NOT allowed) AS denied, "
            "list(DISTINCT reason ORDER BY reason) FILTER (WHERE NOT allowed AND reason IS NOT NULL) AS reasons"
        )
    try:
        with named(con, table) as named_table:
            return con.sql(
                f"""
                SELECT src_grp AS src_group, src_name, src_node AS src_kind,
                  dst_grp AS dst_group, dst_name, dst_node AS dst_kind,
                  {port_label()} AS port, bool_or({is_dns()}) AS dns,
                  CAST(coalesce(sum(flows), 0) AS BIGINT) AS connections,
                  CAST(coalesce(sum(bytes), 0) AS BIGINT) AS bytes,
                  count(*) FILTER (WHERE action = 'deny') AS observed_denied{verdict_cols}
                FROM {named_table}
                GROUP BY ALL
                ORDER BY src_group, src_name, dst_group, dst_name, port
                """
            ).df()
    except duckdb.Error as e:
        raise UsageError(f"cannot build the service graph: {e}", hint="verdicts must keep the connection columns") from e
    finally:
        if verdicts is not None:
            con.unregister("__report_verdicts")
