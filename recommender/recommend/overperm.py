"""Over-permission: what the recommended policies admit among the known workloads that was never observed.

Verification proves the policies admit every observed connection; this measures
the other side, how much more they admit, so the summary can say it instead of
claiming least privilege. Candidates are (source workload, destination workload,
protocol, port) combinations, pruned in Python with label and port indexes
(thousands of workloads, never millions of rows), then judged by the same
evaluator as the verification, inside the flow store's database.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import duckdb
import numpy as np
import pyarrow as pa

from recommender.engine.evaluate import evaluate_in
from recommender.model import Labels, NetworkPolicy
from recommender.recommend.identity import IdentityMap
from recommender.recommend.synthesis import EGRESS, INGRESS, Edge
from recommender.recommend.verify import compiled, model_pods

CANDIDATES = "_rec_op"


MAX_PAIRS = 1_000_000
PortKey = tuple[str, int]


def _port_matches(spec: Any, key: PortKey) -> bool:
    proto, port = key
    if spec.effective_protocol != proto:
        return False
    if spec.port is None:
        return True
    if isinstance(spec.port, str):
        return True          # a named port may resolve to anything: keep the candidate
    return spec.port <= port <= (spec.end_port or spec.port)


def _rule_ports(ports: Any, universe: frozenset[PortKey], cache: dict[Any, frozenset[PortKey]]) -> frozenset[PortKey]:
    """The observed ports a rule's ``ports`` list names (all of them when it has none); cached per list."""
    if not ports:
        return universe
    if ports not in cache:
        cache[ports] = frozenset(k for k in universe if any(_port_matches(spec, k) for spec in ports))
    return cache[ports]


def admitted_ports(selecting: Sequence[NetworkPolicy], direction: str, universe: frozenset[PortKey],
                   cache: dict[Any, frozenset[PortKey]]) -> frozenset[PortKey]:
    """The ports of ``universe`` some rule of the policies selecting a pod (``selecting``, those with
    ``direction`` among their types) could admit in ``direction``; all of them when none isolates it.
    Peers are not looked at, so this only prunes: a combination outside it can never be admitted."""
    if not selecting:
        return universe
    ports: set[PortKey] = set()
    for p in selecting:
        for rule in (p.ingress if direction == INGRESS else p.egress) or ():
            ports |= _rule_ports(rule.ports, universe, cache)
    return frozenset(ports)


class _PeerIndex:
    """Which known workloads a rule's peers can select: label-indexed, cached per peer.

    Used only to prune over-permission candidates (ipBlock peers select no workload
    here because the representative endpoints carry no address)."""

    def __init__(self, workloads: list[Any], rep: dict[str, Labels], ns_labels: dict[str, Labels]) -> None:
        self.by_ns: dict[str, list[Any]] = {}
        self.by_label: dict[tuple[str, str, str], set[str]] = {}
        for w in workloads:
            self.by_ns.setdefault(w.namespace, []).append(w)
            for k, v in rep[w.key].pairs:
                self.by_label.setdefault((w.namespace, k, v), set()).add(w.key)
        self.rep = rep
        self.ns_labels = {ns: ns_labels.get(ns, Labels()).with_label("kubernetes.io/metadata.name", ns)
                          for ns in self.by_ns}
        self.cache: dict[tuple[Any, str], list[Any]] = {}
        self.ns_cache: dict[Any, list[str]] = {}
        self.ns_sel_cache: dict[tuple[str, Any], list[Any]] = {}

    def select(self, peer: Any, policy_ns: str) -> list[Any]:
        key = (peer, policy_ns)
        if key not in self.cache:
            if peer.ip_block is not None:
                found: list[Any] = []
            else:
                if peer.namespace_selector is None:
                    spaces = [policy_ns]
                else:
                    spaces = self.spaces(peer.namespace_selector)
                found = [w for ns in spaces for w in self.in_namespace(ns, peer.pod_selector)]
            self.cache[key] = found
        return self.cache[key]

    def spaces(self, sel: Any) -> list[str]:
        """The namespaces a namespace selector selects (cached: peers in every namespace repeat it)."""
        if sel not in self.ns_cache:
            self.ns_cache[sel] = [ns for ns, labels in self.ns_labels.items() if sel.matches(labels)]
        return self.ns_cache[sel]

    def in_namespace(self, ns: str, sel: Any) -> list[Any]:
        """The workloads of ``ns`` a pod selector (None: all) selects (cached: a workload's selector is
        asked for by its policy in both directions and by every rule that names it as a peer)."""
        key = (ns, sel)
        hit = self.ns_sel_cache.get(key)
        if hit is None:
            hit = self.ns_sel_cache[key] = self._in_namespace(ns, sel)
        return hit

    def _in_namespace(self, ns: str, sel: Any) -> list[Any]:
        members = self.by_ns.get(ns, [])
        if sel is not None and sel.match_labels:
            keys = set.intersection(*(self.by_label.get((ns, k, v), set()) for k, v in sel.match_labels))
            members = [w for w in members if w.key in keys]
        return [w for w in members if sel is None or sel.matches(self.rep[w.key])]

    def selecting(self, policies: Sequence[NetworkPolicy], direction: str) -> dict[str, list[NetworkPolicy]]:
        """workload key → the policies (in order) that select it and isolate it for ``direction``."""
        out: dict[str, list[NetworkPolicy]] = {}
        for p in policies:
            if direction in p.effective_policy_types():
                for w in self.in_namespace(p.namespace, p.pod_selector):
                    out.setdefault(w.key, []).append(p)
        return out


def _ingress_candidates(selecting: Sequence[NetworkPolicy], index: _PeerIndex, workloads: list[Any],
                        universe: frozenset[PortKey], cache: dict[Any, frozenset[PortKey]]) -> dict[str, set[PortKey]]:
    """source workload key → ports some ingress rule of the policies selecting a destination
    (``selecting``) could admit; every workload and port when none isolates it."""
    if not selecting:
        return {w.key: set(universe) for w in workloads}
    out: dict[str, set[PortKey]] = {}
    for p in selecting:
        for rule in p.ingress or ():
            ports = _rule_ports(rule.ports, universe, cache)
            sources = workloads if not rule.peers else [w for peer in rule.peers for w in index.select(peer, p.namespace)]
            for w in sources:
                out.setdefault(w.key, set()).update(ports)
    return out


@dataclass
class Candidates:
    """The combinations to judge: ``rows`` (source, destination workload, protocol, port), the workloads
    and their representative label sets; ``sampled`` says when only some destinations were measured."""

    rows: list[tuple[Any, Any, str, int]]
    workloads: list[Any]
    rep: dict[str, Labels]
    sampled: str | None = None


def over_permission(
    con: duckdb.DuckDBPyConnection, policies: Sequence[NetworkPolicy], ids: IdentityMap, edges: Sequence[Edge],
    namespaces: set[str],
) -> dict[str, Any]:
    """Admitted (source workload, destination workload, protocol, port) combinations never observed
    (``candidates`` judged by the evaluator, then ``summarize``d). ``generate`` judges the candidates
    in the verification's evaluator run instead (``verify.verify(extra=...)``)."""
    cands = candidates(policies, ids, edges, namespaces)
    if not cands.rows:
        return summarize(cands, None, edges)
    with candidate_view(con, cands) as view:
        pods, nss = model_pods(ids)
        return summarize(cands, evaluate_in(con, view, compiled(policies, ids), pods=pods, namespaces=nss, cid="cid"),
                         edges)


def candidates(policies: Sequence[NetworkPolicy], ids: IdentityMap, edges: Sequence[Edge],
               namespaces: set[str]) -> Candidates:
    """The combinations some policy could admit.

    Sources and destinations are the known workloads (one representative label set
    each), destinations limited to covered namespaces; ports are every observed
    (protocol, port). Candidates are pruned exactly — only a (source, port) that some
    ingress rule of the destination's policies names, with a port the source's egress
    policies mention, can be admitted — and the candidates are judged by the same
    evaluator as the verification. Above ``MAX_PAIRS`` candidates, a deterministic
    subset of destinations is measured and the summary says so.
    """
    workloads = sorted((wl for wl in ids.workloads.values() if wl.label_sets), key=lambda w: w.key)
    dsts = [wl for wl in workloads if wl.namespace in namespaces]
    universe = frozenset((e.protocol, e.port) for e in edges if e.port is not None)
    if not workloads or not dsts or not universe:
        return Candidates([], workloads, {})
    rep = {wl.key: min(wl.label_sets, key=lambda ls: ls.pairs) for wl in workloads}
    index = _PeerIndex(workloads, rep, ids.namespace_labels)
    cache: dict[Any, frozenset[PortKey]] = {}
    egress_of, ingress_of = index.selecting(policies, EGRESS), index.selecting(policies, INGRESS)
    out_ports = {w.key: admitted_ports(egress_of.get(w.key, ()), EGRESS, universe, cache) for w in workloads}
    by_key = {w.key: w for w in workloads}
    rows: list[tuple[Any, Any, str, int]] = []
    sampled = None
    for i, d in enumerate(dsts):
        cands = _ingress_candidates(ingress_of.get(d.key, ()), index, workloads, universe, cache)
        for skey in sorted(cands):
            rows.extend((by_key[skey], d, proto, port) for proto, port in sorted(cands[skey] & out_ports[skey]))
        if len(rows) > MAX_PAIRS:
            sampled = f"{i + 1} of {len(dsts)}"
            break
    return Candidates(rows, workloads, rep, sampled)


def summarize(cands: Candidates, result: Any, edges: Sequence[Edge]) -> dict[str, Any]:
    """The over-permission summary from the verdicts (``allowed``, ``*_admitted_by``) of the candidate rows."""
    rows = cands.rows
    if not rows:
        return {"admitted": 0, "observed": 0, "unobserved": 0, "candidates": 0, "sampled_destinations": cands.sampled}
    observed = {(e.src, e.dst, e.protocol, e.port) for e in edges}
    allowed = result["allowed"].astype(bool).tolist()
    admitted = sum(allowed)
    hits = sum(1 for (s, d, p, n), ok in zip(rows, allowed) if ok and (s.key, d.key, p, n) in observed)
    per_policy: dict[str, int] = {}   # unobserved combinations each policy's rules help admit (report, views)
    for (s, d, p, n), ok, egress, ingress in zip(rows, allowed, result["egress_admitted_by"],
                                                 result["ingress_admitted_by"]):
        if ok and (s.key, d.key, p, n) not in observed:
            for key in {str(ref).rsplit(" ", 1)[0] for ref in (*egress, *ingress)}:
                per_policy[key] = per_policy.get(key, 0) + 1
    return {"admitted": int(admitted), "observed": int(hits), "unobserved": int(admitted - hits),
            "candidates": len(rows), "sampled_destinations": cands.sampled, "per_policy": dict(sorted(per_policy.items()))}


@contextmanager
def candidate_view(con: duckdb.DuckDBPyConnection, cands: Candidates) -> Iterator[str]:
    """A temp view of the candidate rows in the evaluator's input columns, numbered ``cid``. Each
    workload's representative label MAP crosses from Arrow once, not once per row (loading 7,500 rows
    with their MAPs into a second database cost 0.15 s); only the workloads are materialized."""
    rows, workloads = cands.rows, cands.workloads
    index = {w.key: i for i, w in enumerate(workloads)}
    wls = pa.table({
        "i": pa.array(np.arange(len(workloads), dtype=np.int32)), "key": [w.key for w in workloads],
        "ns": [w.namespace for w in workloads], "name": [w.name for w in workloads],
        "labels": pa.array([list(cands.rep[w.key].pairs) for w in workloads], pa.map_(pa.string(), pa.string())),
    })
    pairs = pa.table({
        "cid": pa.array(np.arange(len(rows), dtype=np.int64)),
        "s": pa.array([index[s.key] for s, _, _, _ in rows], pa.int32()),
        "d": pa.array([index[d.key] for _, d, _, _ in rows], pa.int32()),
        "protocol": pa.array([p for _, _, p, _ in rows], pa.string()),
        "dst_port": pa.array([n for _, _, _, n in rows], pa.int32()),
    })
    con.register("_rec_op_wl_raw", wls)
    con.register("_rec_op_pairs", pairs)
    try:
        # the evaluator reads the view's labels three times; DuckDB converts an Arrow MAP at each scan
        con.execute("CREATE OR REPLACE TEMP TABLE _rec_op_wl AS SELECT * FROM _rec_op_wl_raw")
        con.execute(f"""CREATE OR REPLACE TEMP VIEW {CANDIDATES} AS SELECT r.cid,
            s.key AS src_identity, d.key AS dst_identity, s.ns AS src_namespace, s.name AS src_workload,
            'pod' AS src_kind, s.labels AS src_labels, d.ns AS dst_namespace, d.name AS dst_workload,
            'pod' AS dst_kind, d.labels AS dst_labels, r.protocol, r.dst_port
            FROM _rec_op_pairs r JOIN _rec_op_wl s ON s.i = r.s JOIN _rec_op_wl d ON d.i = r.d""")
        yield CANDIDATES
    finally:
        con.execute(f"DROP VIEW IF EXISTS {CANDIDATES}; DROP TABLE IF EXISTS _rec_op_wl")
        con.unregister("_rec_op_wl_raw")
        con.unregister("_rec_op_pairs")
