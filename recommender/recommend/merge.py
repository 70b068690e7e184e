"""One policy for workloads that talk exactly alike — but only when that is provably no wider.

Large clusters have many workloads with identical communication profiles
(replicated tenants, sharded workers). Their policies would be identical up to
the pod selector, so one policy with a shared selector is easier to review.
Profiles (namespace, direction, peer, protocol, port) are grouped by equality,
in one pass over a dictionary. Only *identical* profiles may share a policy:
merging merely similar ones would admit to each member what only the others
talked to, which the rule below forbids. Clustering at distance 0 is equality,
so this does not use scikit-learn (an earlier version ran DBSCAN with ``eps``
below 1 on binary vectors: the same groups, plus a second of import time).

A cluster is merged only when a shared selector exists that selects, among
every known pod of the namespace, exactly the union of the members' pods: then
the merged policy selects the same pods with the same rules, so it admits
nothing the separate policies would not. ``prove_shared`` checks this
explicitly; otherwise the members keep their own policies.
"""

from __future__ import annotations

from dataclasses import dataclass

from recommender.model import LabelSelector, Labels, Requirement
from recommender.recommend.identity import IdentityMap, Workload, choose_selector
from recommender.recommend.synthesis import TargetItems


@dataclass(frozen=True)
class Group:
    """The workloads one policy serves, and the selector that selects exactly them."""

    namespace: str
    name: str
    members: tuple[str, ...]         # workload identity keys, sorted
    selector: LabelSelector
    merged: bool = False


def group_targets(ids: IdentityMap, targets: dict[str, TargetItems]) -> list[Group]:
    """Groups of identical-profile workloads (merged when provable), singletons otherwise."""
    keys = sorted(targets)
    profiles = [targets[k].profile() | {("namespace", ids.workloads[k].namespace, "", None)} for k in keys]
    groups: list[Group] = []
    for cluster in identical_profiles(profiles):
        members = [keys[i] for i in cluster]
        ns = ids.workloads[members[0]].namespace
        shared = prove_shared(ids, ns, members) if len(members) > 1 else None
        if shared is not None:
            names = [ids.workloads[k].name for k in members]
            groups.append(Group(ns, "-".join(names) if len(names) <= 3 else f"{names[0]}-and-{len(names) - 1}-more",
                                tuple(members), shared, True))
        else:
            groups.extend(_single(ids, k) for k in members)
    return groups


def _single(ids: IdentityMap, key: str) -> Group:
    wl = ids.workloads[key]
    return Group(wl.namespace, wl.name, (key,), wl.selector)


def identical_profiles(profiles: list[frozenset]) -> list[list[int]]:
    """Indices of identical profiles (each list sorted; lists in first-index order)."""
    groups: dict[frozenset, list[int]] = {}
    for i, profile in enumerate(profiles):
        groups.setdefault(profile, []).append(i)
    return sorted(groups.values(), key=lambda g: g[0])


def selected(selector: LabelSelector, label_sets: set[Labels]) -> set[Labels]:
    return {ls for ls in label_sets if selector.matches(ls)}


def prove_shared(ids: IdentityMap, ns: str, members: list[str]) -> LabelSelector | None:
    """A selector selecting exactly the members' known pods in ``ns``, or None.

    Tries the smallest common stable ``matchLabels`` first, then ``key In (values…)``
    over a key every member's own selector uses.
    """
    wls: list[Workload] = [ids.workloads[k] for k in members]
    if not all(wl.exact for wl in wls):
        return None
    mine: set[Labels] = set().union(*(wl.label_sets for wl in wls))
    others: set[Labels] = set()
    for wl in ids.workloads.values():
        if wl.namespace == ns and wl.key not in members:
            others |= wl.label_sets
    others -= mine
    candidates: list[LabelSelector] = []
    sel, exact, _ = choose_selector(mine, list(others))
    if exact and not sel.is_empty:
        candidates.append(sel)
    keys = [set(dict(wl.selector.match_labels)) for wl in wls]
    if all(len(k) == 1 for k in keys) and len(set.union(*keys)) == 1 and not any(wl.selector.match_expressions for wl in wls):
        key = next(iter(keys[0]))
        values = tuple(sorted({dict(wl.selector.match_labels)[key] for wl in wls}))
        candidates.append(LabelSelector.of(None, [Requirement(key, "In", values)]))
    for cand in candidates:
        # the proof: over every known pod of the namespace, the shared selector selects
        # exactly what the members' own selectors select together.
        union = set().union(*(selected(wl.selector, mine | others) for wl in wls))
        if selected(cand, mine | others) == union and selected(cand, mine) == mine:
            return cand
    return None
