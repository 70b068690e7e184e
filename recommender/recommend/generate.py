"""``generate(...)``: observed flows in, verified least-privilege policies out.

The one public entry point of the recommender. It wires the stages together —
identities (``identity``), edges and rules (``synthesis``), bounded widening
(``widen``), profile merging (``merge``), naming and rendering (``output``) —
and then *verifies* the result with the evaluator before anyone writes it:
every observed allowed connection must be admitted, and what the policies
admit beyond the observations is measured, not guessed.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import nullcontext
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import duckdb
import pandas as pd

from recommender.engine.compile import gc_paused, node_addresses
from recommender.errors import UsageError
from recommender.model import NetworkPolicy, Peer, Rule
from recommender.recommend import identity, output, overperm, report, synthesis, verify
from recommender.recommend import rules as rule_builder
from recommender.recommend.identity import IdentityMap
from recommender.recommend.merge import Group, group_targets
from recommender.recommend.source import SOURCE_VIEW, resolve_source
from recommender.recommend.synthesis import EGRESS, INGRESS, Edge, Options, Stats

KINDS = ("k8s", "calico-staged", "calico-staged-native")


@dataclass
class RuleProvenance:
    namespace: str
    policy: str
    direction: str
    index: int
    peers: tuple[str, ...]
    ports: str
    stats: Stats


@dataclass
class Recommendation:
    """Recommended policies with their verification, summary and provenance."""

    policies: tuple[NetworkPolicy, ...]
    kind: str
    summary: dict[str, Any]
    verification: pd.DataFrame
    provenance: list[RuleProvenance] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    tier: str = "default"
    # Rendering 2,000 policies costs about half a second; generate needs the YAML (line counts) and so
    # does writing, so both share one rendering. ``policies``, ``kind`` and ``tier`` are not reassigned.
    _rendered: dict[str, Any] = field(default_factory=dict, init=False, repr=False, compare=False)

    @property
    def ok(self) -> bool:
        return self.summary.get("verification", {}).get("not_admitted", 0) == 0

    def documents(self) -> list[dict[str, Any]]:
        if "docs" not in self._rendered:
            self._rendered["docs"] = [output.render(p, self.kind, self.tier) for p in self.policies]
        return self._rendered["docs"]

    def yaml(self) -> str:
        if "yaml" not in self._rendered:
            spaces = [p.namespace for p in self.policies]
            if spaces == sorted(spaces):
                # documents are grouped by namespace in namespace order (as generate sorts them), so the
                # stream is the per-namespace streams (rendered by generate for the line counts) joined
                self._rendered["yaml"] = "---\n".join(self.by_namespace().values())
            else:
                self._rendered["yaml"] = output.dump(self.documents())
        return self._rendered["yaml"]

    def by_namespace(self) -> dict[str, str]:
        """YAML per namespace, for ``-o DIR``."""
        if "by_namespace" not in self._rendered:
            groups: dict[str, list[str]] = {}
            for p, text in zip(self.policies, output.texts(self.policies, self.kind, self.tier, self.documents)):
                groups.setdefault(p.namespace, []).append(text)
            self._rendered["by_namespace"] = {ns: "---\n".join(texts) for ns, texts in sorted(groups.items())}
        return dict(self._rendered["by_namespace"])

    def failures(self) -> list[str]:
        """The observed connections the policies do not admit, one line each."""
        v = self.verification
        if not len(v) or "allowed" not in v.columns:
            return []
        bad = v[~v["allowed"].astype(bool)]
        return [verify.describe(row) for row in bad.to_dict("records")]

    def write(self, target: str | Path) -> list[Path]:
        """Write to a directory (one file per namespace) or one multi-document file."""
        return output.write(self, target)

    def report(self, fmt: str = "json") -> str:
        from recommender.recommend.report import render_report

        return render_report(self, fmt)


def _open_store(flows: Any, inventory: Sequence[str | Path], db: str) -> duckdb.DuckDBPyConnection:
    if isinstance(flows, duckdb.DuckDBPyConnection):
        return flows
    if hasattr(flows, "con"):
        if inventory:
            raise UsageError("inventory= is only accepted with flow paths",
                             hint="load the inventory with load_flows(paths, inventory=...) instead")
        return flows.con
    if isinstance(flows, (str, Path)):
        flows = [flows]
    # H1's store; imported late so the recommender has no import cycle
    from recommender.io.store import load_flows, open_store

    paths = [str(p) for p in flows]
    if not paths and not inventory and str(db) != ":memory:" and Path(db).exists():
        # Nothing to ingest: reopen the store. An empty ingest would re-aggregate (and rewrite) the
        # whole connections table, which ingest already left distinct: ~0.6 s on 66k connections.
        return open_store(db).con
    return load_flows(paths, inventory=[str(i) for i in inventory], db=db).con


def generate(
    flows: Any,
    *,
    inventory: Sequence[str | Path] = (),
    kind: str = "k8s",
    namespaces: Iterable[str] = (),
    exclude_namespaces: Iterable[str] = (),
    include_system: bool = False,
    default_deny: bool = True,
    include_denied: bool = False,
    port_range_slack: int = 0,
    cidr_max_prefix: int | None = None,
    cidr_min_addresses: int | None = None,
    allow_any_external: bool = False,
    cidr6_max_prefix: int | None = None,
    existing: Any = None,
    tier: str = "default",
    db: str = ":memory:",
) -> Recommendation:
    """Recommend least-privilege policies for the observed ``flows`` and verify them.

    ``flows`` is a ``FlowStore``, a DuckDB connection holding a ``connections``
    table (and optionally ``pods``/``namespaces``), or flow file paths.
    ``existing`` is a ``PolicySet``, policies, or policy file paths.
    """
    if kind not in KINDS:
        raise UsageError(f"unknown kind {kind!r}", hint=f"use one of {', '.join(KINDS)}")
    if port_range_slack < 0:
        raise UsageError("--port-range-slack must be ≥ 0")
    if cidr_max_prefix is not None and not 0 <= cidr_max_prefix <= 32:
        raise UsageError("--cidr-max-prefix must be between 0 and 32")
    if cidr6_max_prefix is not None and not 64 <= cidr6_max_prefix <= 128:
        raise UsageError(f"--cidr6-max-prefix must be between 64 and 128, not {cidr6_max_prefix}",
                         hint="it is an IPv6 prefix length; /64 (one subnet) is the widest aggregate allowed")
    if cidr_min_addresses is not None and cidr_max_prefix is None and cidr6_max_prefix is None:
        raise UsageError("--cidr-min-addresses needs --cidr-max-prefix or --cidr6-max-prefix")
    opts = Options(tuple(namespaces), tuple(exclude_namespaces), include_system, default_deny, include_denied,
                   port_range_slack, cidr_max_prefix, cidr_min_addresses, allow_any_external, cidr6_max_prefix)
    con = _open_store(flows, inventory, db)
    existing_policies, existing_notes = verify.load_existing(existing)
    # Synthesis and verification allocate a few million small acyclic objects (labels, edges, stats,
    # peers, rendered documents); with the cyclic collector running, its repeated passes over every
    # live object cost ~1 CPU-s of the ~5 on 66k connections and 3,500 workloads. It runs again after.
    with gc_paused():
        return _generate(con, opts, existing_policies, kind, tier, [f"--existing: {n}" for n in existing_notes])


def _generate(con: duckdb.DuckDBPyConnection, opts: Options, existing_policies: tuple[NetworkPolicy, ...], kind: str,
              tier: str, notes: list[str] = []) -> Recommendation:   # noqa: B006 (read only)
    """Synthesis, verification, over-permission, validation and the YAML line counts."""
    syn = synthesize(con, opts, existing_policies, prepare_verification=True)
    ids, policies = syn.ids, syn.policies
    judged = (*existing_policies, *policies)
    # over-permission candidates are judged in the verification's evaluator run (one set-up, not two)
    cands = overperm.candidates(judged, ids, list(syn.edges), {p.namespace for p in policies})
    with ThreadPoolExecutor(max_workers=1) as pool:
        # validation and YAML are pure Python and need only the policies: they run while the evaluator
        # waits for DuckDB (which releases the GIL), on the other core
        rendered = pool.submit(_render_checked, policies, kind, tier)
        with overperm.candidate_view(con, cands) if cands.rows else nullcontext() as extra:
            verification, ver_summary, judged_cands = verify.verify(
                con, SOURCE_VIEW, syn.ep_map, syn.replies | set(syn.unnamed), judged, ids,
                assume_public=opts.allow_any_external, extra=extra, prepared=syn.prepared,
            )
        drafts = rendered.result()
    # verification skipped both kinds alike; only the replies are admitted anyway (by connection tracking)
    unnamed_connections = sum(st.connections for st in syn.unnamed.values())
    ver_summary["replies_skipped"] -= unnamed_connections
    ver_summary["unnamed_port_not_admitted"] = unnamed_connections
    summary = report.summarize(
        ids, opts, syn.counts, policies, ver_summary, syn.widening, syn.replies, syn.edges, syn.groups, kind, tier,
        syn.existing_cover,
    )
    summary["over_permission"] = overperm.summarize(cands, judged_cands, list(syn.edges))
    summary["input"]["always_allowed"] = syn.always_allowed
    denied = verify.denied_verdicts(con, judged, ids) if syn.counts["denied"] else None
    try:
        summary["denied"] = report.denied_connections(con, denied)
        summary["input"]["denied_admitted"] = report.denied_admitted_count(con, denied)
    finally:
        if denied is not None:
            con.execute(f"DROP TABLE IF EXISTS {denied}")
    opened = 0 if opts.include_denied else summary["input"]["denied_admitted"]   # asked for: no warning
    summary["warnings"] = sorted(syn.warnings + report.denied_admitted_warning(opened) + notes)
    rec = Recommendation(tuple(policies), kind, summary, verification, syn.provenance, summary["warnings"], tier)
    rec._rendered.update(drafts)
    for ns, text in rec.by_namespace().items():
        summary["namespaces"][ns]["yaml_lines"] = text.count("\n")
    return rec


def _render_checked(policies: list[NetworkPolicy], kind: str, tier: str) -> dict[str, Any]:
    """The validated policies' rendering (``Recommendation._rendered``: the YAML per namespace)."""
    draft = Recommendation(tuple(policies), kind, {}, pd.DataFrame(), tier=tier)
    _validate(draft)
    draft.by_namespace()
    return draft._rendered


def _validate(rec: Recommendation) -> None:
    """Every document must pass the API-server validator; a failure here is our bug, not the user's.

    A peer's validity depends on the peer alone, and a popular workload is a peer in thousands of
    rules: each policy is validated with its peer lists emptied, and each distinct peer once, in a
    probe policy (a third of the validation's time, not two thirds)."""
    from recommender.engine.validate import validate_policy

    kind = "k8s" if rec.kind == "calico-staged-native" else rec.kind
    peers: dict[Peer, NetworkPolicy] = {}
    for policy in rec.policies:
        for rule in (*(policy.ingress or ()), *(policy.egress or ())):
            for peer in rule.peers or ():
                peers.setdefault(peer, policy)
        _raise_invalid(validate_policy(output.render(_without_peers(policy), kind, rec.tier)), policy)
    for peer, policy in peers.items():
        probe = NetworkPolicy("peer", policy.namespace, ingress=(Rule(peers=(peer,)),))
        _raise_invalid(validate_policy(output.render(probe, "k8s")), policy, "a peer of ")


def _without_peers(policy: NetworkPolicy) -> NetworkPolicy:
    def strip(rules: tuple[Rule, ...] | None) -> tuple[Rule, ...] | None:
        return None if rules is None else tuple(Rule((), r.ports) if r.peers else r for r in rules)

    return replace(policy, ingress=strip(policy.ingress), egress=strip(policy.egress))


def _raise_invalid(problems: list[Any], policy: NetworkPolicy, what: str = "") -> None:
    errors = [p for p in problems if p.severity == "error"]
    if errors:
        raise RuntimeError(f"{what}generated policy {policy.namespace}/{policy.name} is invalid: {errors[0]}")


@dataclass
class Synthesis:
    """Everything synthesis produced, before verification."""

    ids: IdentityMap
    ep_map: dict[str, str]
    counts: dict[str, int]
    edges: dict[Edge, Stats]
    replies: set[Edge]
    groups: list[Group]
    policies: list[NetworkPolicy]
    provenance: list[RuleProvenance]
    widening: dict[str, int]
    warnings: list[str]
    existing_cover: dict[str, list[str]]
    prepared: pd.DataFrame | None = None      # ``verify.prepare``'s result, when asked for
    unnamed: dict[Edge, synthesis.Stats] = field(default_factory=dict)   # to a port no rule can name (0)
    always_allowed: int = 0     # connections Kubernetes always allows (a pod to itself, or to its own node)


def synthesize(con: duckdb.DuckDBPyConnection, opts: Options, existing: Sequence[NetworkPolicy] = (),
               prepare_verification: bool = False) -> Synthesis:
    """Policies for the ``connections`` table in ``con`` (no verification). With ``prepare_verification``,
    verification's part that needs no policy (``verify.prepare``) is done too, by DuckDB in a worker
    thread while the rules are assembled in Python (the connection is the worker's alone meanwhile)."""
    counts, found, keys = resolve_source(con, opts.include_denied)
    ids, ep_map = identity.resolve(con, found)
    ids.cache["endpoint_keys"] = keys   # which hashes key SOURCE_VIEW's endpoints (verify.check_table)
    verify.node_facts(con, ids)
    edges, always_allowed, quiet = synthesis.collect_edges(con, SOURCE_VIEW, ep_map, keys, ids.cache.get("pod_nodes"),
                                                           node_addresses(ids.cache.get("host_pods", ())))
    replies = synthesis.reply_edges(edges)
    unnamed = {e: edges[e] for e in synthesis.unnamed_port_edges(edges)}
    for e in (*replies, *unnamed):
        del edges[e]
    skip, existing_cover = verify.existing_coverage(con, SOURCE_VIEW, ep_map, existing, ids)
    with ThreadPoolExecutor(max_workers=1) as pool:
        checked = (pool.submit(verify.prepare, con, SOURCE_VIEW, ep_map, ids, replies | set(unnamed))
                   if prepare_verification else None)
        targets, notes = synthesis.gather_items(ids, edges, opts, skip, quiet)
        groups = group_targets(ids, targets)
        existing_names = {(p.namespace, p.name) for p in existing}
        policies, provenance, widening, unexpressed = _assemble(ids, targets, groups, opts, existing_names)
        prepared = checked.result() if checked is not None else None
    warnings = sorted(set(ids.warnings) | set(notes) | {f"not expressible: {u}" for u in unexpressed}
                      | set(synthesis.unnamed_port_warnings(unnamed))
                      | set(synthesis.unknown_namespace_warnings(ids, opts)))
    return Synthesis(ids, ep_map, counts, edges, replies, groups, policies, provenance, widening, warnings,
                     existing_cover, prepared, unnamed, always_allowed)


def _assemble(
    ids: IdentityMap, targets: dict[str, synthesis.TargetItems], groups: list[Group], opts: Options,
    existing_names: set[tuple[str, str]] = frozenset(),
) -> tuple[list[NetworkPolicy], list[RuleProvenance], dict[str, int], list[str]]:
    policies: list[NetworkPolicy] = []
    provenance: list[RuleProvenance] = []
    widening = {"ports": 0, "addresses": 0, "addresses6": 0}
    unexpressed: list[str] = []
    namespaces = sorted({g.namespace for g in groups} | synthesis.requested_namespaces(ids, opts))
    # never reuse the name of an existing policy: applying ours would replace it
    taken: dict[str, set[str]] = {ns: {n for e_ns, n in existing_names if e_ns == ns} for ns in namespaces}
    if opts.default_deny:
        for ns in namespaces:
            policies.append(output.default_deny(ns, output.unique_name(output.DEFAULT_DENY, taken[ns])))
    for g in sorted(groups, key=lambda g: (g.namespace, g.name)):
        items = _combined(targets, g.members)
        name = output.unique_name(g.name, taken[g.namespace])
        rules: dict[str, list[rule_builder.BuiltRule]] = {}
        for direction, bucket in ((INGRESS, items.ingress), (EGRESS, items.egress)):
            rules[direction] = rule_builder.build_rules(ids, g.namespace, bucket, opts, unexpressed)
            for i, br in enumerate(rules[direction]):
                widening["ports"] += br.widened_ports
                widening["addresses"] += br.widened_addresses
                widening["addresses6"] += br.widened_addresses6
                provenance.append(RuleProvenance(g.namespace, name, direction, i, br.peers,
                                                 output.ports_text(br.rule.ports), br.stats))
        policies.append(output.workload_policy(
            name, g, tuple(br.rule for br in rules[INGRESS]), tuple(br.rule for br in rules[EGRESS]),
            synthesis.total(br.stats for br in (*rules[INGRESS], *rules[EGRESS])),
        ))
    policies.sort(key=lambda p: (p.namespace, not output.is_default_deny(p), p.name))
    return policies, provenance, widening, sorted(set(unexpressed))


def _combined(targets: dict[str, synthesis.TargetItems], members: tuple[str, ...]) -> synthesis.TargetItems:
    """One workload's items, or for a merged group (identical profiles) the members' provenance summed."""
    if len(members) == 1:
        return targets[members[0]]
    out = synthesis.TargetItems()
    for key in members:
        for mine, theirs in ((out.ingress, targets[key].ingress), (out.egress, targets[key].egress)):
            for peer, ports in theirs.items():
                for port, stats in ports.items():
                    mine[peer].setdefault(port, Stats()).add(stats)
    return out


__all__ = ["Edge", "KINDS", "Recommendation", "RuleProvenance", "generate"]
