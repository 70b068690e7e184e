"""The service graph as plain data: nodes, edges and their verdicts.

``recommender.views.service_edges`` gives one row per (source, destination,
protocol/port). The SVG wants one line per node pair, coloured by what the
policies do to it, and a graph that stays readable: a namespace-level
overview, and per-namespace views with their peers. This module does those
aggregations on the (already small) edge table, so layout and rendering only
ever see a few hundred elements.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property

import pandas as pd

from recommender.views.source import CLUSTER_GROUP, EXTERNAL_GROUP

MAX_EXTERNAL_NODES = 12
"""External addresses beyond this many (by connections) merge into one node."""

ADMITTED, DENIED, PARTIAL, OBSERVED, OBSERVED_DENIED = "admitted", "denied", "partial", "observed", "observed-denied"


@dataclass(frozen=True)
class Node:
    id: str
    group: str
    name: str
    kind: str          # pod, external, host, service, kube-apiserver, … or "namespace" in the overview
    dns: bool = False  # answers DNS (port 53)

    @property
    def label(self) -> str:
        return self.name if self.kind != "pod" else f"{self.group}/{self.name}"


@dataclass(frozen=True)
class Edge:
    src: str
    dst: str
    ports: tuple[str, ...]
    connections: int
    bytes: int
    verdict: str
    reasons: tuple[str, ...] = ()
    dns: bool = False


@dataclass(frozen=True)
class Graph:
    nodes: tuple[Node, ...]
    edges: tuple[Edge, ...]

    @cached_property
    def _by_id(self) -> dict[str, Node]:
        return {n.id: n for n in self.nodes}

    def node(self, node_id: str) -> Node:
        return self._by_id[node_id]

    @property
    def groups(self) -> tuple[str, ...]:
        return tuple(sorted({n.group for n in self.nodes}, key=group_order))


def group_node(group: str) -> Node:
    """A whole namespace as one node; the outside world and the cluster's own endpoints keep their look."""
    kind = {EXTERNAL_GROUP: "external", CLUSTER_GROUP: "cluster"}.get(group, "namespace")
    return Node(group, group, group, kind)


def group_order(group: str) -> tuple[int, str]:
    """Namespaces alphabetically, then cluster peers, then the outside world."""
    return ({CLUSTER_GROUP: 1, EXTERNAL_GROUP: 2}.get(group, 0), group)


def cap_external(edges: pd.DataFrame, keep: int = MAX_EXTERNAL_NODES) -> pd.DataFrame:
    """Merge external peers beyond the ``keep`` busiest into one ``other addresses`` node."""
    ext = pd.concat([
        edges.loc[edges.src_kind == "external", ["src_name", "connections"]].set_axis(["name", "c"], axis=1),
        edges.loc[edges.dst_kind == "external", ["dst_name", "connections"]].set_axis(["name", "c"], axis=1),
    ])
    totals = ext.groupby("name")["c"].sum().reset_index().sort_values(["c", "name"], ascending=[False, True])
    if len(totals) <= keep:
        return edges
    other = f"other addresses ({len(totals) - keep})"
    dropped = set(totals["name"].iloc[keep:])
    edges = edges.copy()
    for side in ("src", "dst"):
        hit = (edges[f"{side}_kind"] == "external") & edges[f"{side}_name"].isin(dropped)
        edges.loc[hit, f"{side}_name"] = other
    return edges


def _verdict(admitted: int | None, denied: int | None, observed_denied: int) -> str:
    if admitted is None or pd.isna(admitted):
        return OBSERVED_DENIED if observed_denied else OBSERVED
    if not denied:
        return ADMITTED
    return DENIED if not admitted else PARTIAL


def _reasons(values: pd.Series) -> tuple[str, ...]:
    found: set[str] = set()
    for v in values:
        if isinstance(v, (list, tuple)) or hasattr(v, "tolist"):
            found.update(str(r) for r in v)
    return tuple(sorted(found))


def _aggregate(edges: pd.DataFrame, src_key: str, dst_key: str) -> list[Edge]:
    """One Edge per (src, dst) pair: ports united, counters summed, verdicts combined."""
    if edges.empty:
        return []
    has_verdicts = "admitted" in edges.columns
    spec: dict[str, tuple[str, object]] = dict(
        ports=("port", lambda x: tuple(sorted(set(x)))), connections=("connections", "sum"),
        bytes=("bytes", "sum"), observed_denied=("observed_denied", "sum"), dns=("dns", "all"))
    if has_verdicts:
        spec |= dict(admitted=("admitted", "sum"), denied=("denied", "sum"), reasons=("reasons", _reasons))
    agg = edges.groupby([src_key, dst_key], sort=True).agg(**spec).reset_index()
    return [
        Edge(src=str(r[src_key]), dst=str(r[dst_key]), ports=r["ports"], connections=int(r["connections"]),
             bytes=int(r["bytes"]),
             verdict=_verdict(r["admitted"] if has_verdicts else None, r["denied"] if has_verdicts else None,
                              int(r["observed_denied"])),
             reasons=r["reasons"] if has_verdicts else (), dns=bool(r["dns"]))
        for r in agg.to_dict("records")
    ]


def with_ids(edges: pd.DataFrame) -> pd.DataFrame:
    """Add ``src_id``/``dst_id`` (``group/name``) columns to a service-edge frame."""
    edges = edges.copy()
    edges["src_id"] = edges["src_group"] + "/" + edges["src_name"]
    edges["dst_id"] = edges["dst_group"] + "/" + edges["dst_name"]
    return edges


def workload_graph(edges: pd.DataFrame) -> Graph:
    """One node per workload (or peer), one edge per node pair with all its ports."""
    edges = with_ids(cap_external(edges))
    dns_ids = set(edges.loc[edges["dns"], "dst_id"])
    ends = pd.concat([
        edges[["src_id", "src_group", "src_name", "src_kind"]].set_axis(["id", "group", "name", "kind"], axis=1),
        edges[["dst_id", "dst_group", "dst_name", "dst_kind"]].set_axis(["id", "group", "name", "kind"], axis=1),
    ]).drop_duplicates("id")
    nodes = sorted(
        (Node(r.id, r.group, r.name, r.kind, r.id in dns_ids) for r in ends.itertuples(index=False)),
        key=lambda n: (group_order(n.group), n.name),
    )
    return Graph(tuple(nodes), tuple(_aggregate(edges, "src_id", "dst_id")))


MAX_GROUPS = 30
"""The overview draws at most this many namespaces; the quieter ones fold into one node."""


def namespace_graph(edges: pd.DataFrame, max_groups: int = MAX_GROUPS) -> Graph:
    """The overview: one node per namespace (and cluster/external), edges between them;
    beyond ``max_groups`` the namespaces with least traffic fold into ``(N other namespaces)``."""
    groups = sorted({*edges["src_group"], *edges["dst_group"]}, key=group_order)
    nodes = tuple(group_node(g) for g in groups)
    between = edges[edges["src_group"] != edges["dst_group"]]
    graph = Graph(nodes, tuple(_aggregate(between, "src_group", "dst_group")))
    return fold_quietest(graph, set(), max_groups)


def fold_quietest(graph: Graph, fixed: set[str], limit: int) -> Graph:
    """Keep the ``fixed`` nodes and the busiest others up to ``limit`` nodes in all;
    fold the rest into one ``(N others)`` node (edges between folded nodes vanish)."""
    if len(graph.nodes) <= limit:
        return graph
    traffic: dict[str, int] = {n.id: 0 for n in graph.nodes}
    for e in graph.edges:
        traffic[e.src] += e.connections
        traffic[e.dst] += e.connections
    ranked = sorted((n for n in graph.nodes if n.id not in fixed), key=lambda n: (-traffic[n.id], n.id))
    keep = fixed | {n.id for n in ranked[: max(limit - len(fixed) - 1, 0)]}
    other = f"({len(graph.nodes) - len(keep)} other namespaces)"
    target = {n.id: (n.id if n.id in keep else other) for n in graph.nodes}
    merged: dict[tuple[str, str], list[Edge]] = {}
    for e in graph.edges:
        if target[e.src] != target[e.dst]:
            merged.setdefault((target[e.src], target[e.dst]), []).append(e)
    nodes = [n for n in graph.nodes if n.id in keep] + [Node(other, other, other, "namespace")]
    return Graph(tuple(nodes), tuple(_merge(s, d, part) for (s, d), part in sorted(merged.items())))


def internal_counts(edges: pd.DataFrame) -> dict[str, int]:
    """Connections that stay inside each group (drawn as a count, not a loop)."""
    inside = edges[edges["src_group"] == edges["dst_group"]]
    return {str(k): int(v) for k, v in inside.groupby("src_group")["connections"].sum().items()}


def touching(edges: pd.DataFrame, group: str) -> pd.DataFrame:
    """The edges with at least one end in ``group``."""
    return edges[(edges["src_group"] == group) | (edges["dst_group"] == group)]


MAX_PEERS = 10
"""A namespace's graph draws at most this many outside peers one by one; beyond, peers fold into their namespace."""


def subgraph(graph: Graph, group: str, max_peers: int = MAX_PEERS) -> Graph:
    """``group``'s nodes, the edges touching them, and the peers at their other ends.

    With more than ``max_peers`` outside peers, each folds into one node per
    peer namespace (or ``(external)``/``(cluster)``), so a namespace talking to
    the whole cluster (monitoring, DNS) stays one screen and a few kilobytes.
    """
    inside = {n.id for n in graph.nodes if n.group == group}
    edges = [e for e in graph.edges if e.src in inside or e.dst in inside]
    ends = inside | {e.src for e in edges} | {e.dst for e in edges}
    if len(ends) - len(inside) <= max_peers:
        return Graph(tuple(n for n in graph.nodes if n.id in ends), tuple(edges))
    fold = {n.id: (n.id if n.id in inside else n.group) for n in graph.nodes if n.id in ends}
    peers = {n.group: group_node(n.group) for n in graph.nodes
             if n.id in ends and n.id not in inside}
    merged: dict[tuple[str, str], list[Edge]] = {}
    for e in edges:
        merged.setdefault((fold[e.src], fold[e.dst]), []).append(e)
    nodes = [n for n in graph.nodes if n.id in inside] + sorted(peers.values(), key=lambda n: group_order(n.id))
    folded = Graph(tuple(nodes), tuple(_merge(s, d, part) for (s, d), part in sorted(merged.items())))
    return fold_quietest(folded, inside, len(inside) + max_peers)   # a namespace every namespace calls


def _merge(src: str, dst: str, edges: list[Edge]) -> Edge:
    verdicts = {e.verdict for e in edges}
    if len(verdicts) == 1:
        verdict = verdicts.pop()
    else:
        verdict = PARTIAL if verdicts & {ADMITTED, DENIED, PARTIAL} else OBSERVED_DENIED
    return Edge(src, dst, tuple(sorted({p for e in edges for p in e.ports})), sum(e.connections for e in edges),
                sum(e.bytes for e in edges), verdict, tuple(sorted({r for e in edges for r in e.reasons})),
                all(e.dns for e in edges))
