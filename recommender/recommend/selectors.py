"""Selectors: the smallest set of stable labels that selects a workload and nothing else.

Split from ``identity`` (which decides *which* workload an endpoint is) because choosing a
selector is a question about label sets alone: which labels survive a rollout, which keys
people expect to read, and which subset separates one workload's pods from every other known
pod of the namespace. Both ``identity`` and ``merge`` (a shared selector for several
workloads) ask it.
"""

from __future__ import annotations

from functools import lru_cache
from itertools import combinations

from recommender.engine import k8s_names
from recommender.model import LabelSelector, Labels


def selector_text(sel: LabelSelector) -> str:
    if sel.is_empty:
        return "{} (every pod of the namespace)"
    parts = [f"{k}={v}" for k, v in sel.match_labels]
    parts += [f"{r.key} {r.operator} ({','.join(r.values)})" for r in sel.match_expressions]
    return ",".join(parts)


# Labels that change per pod, per rollout or per release: never part of a selector.
NOISY_LABELS = frozenset({
    "pod-template-hash", "controller-revision-hash", "statefulset.kubernetes.io/pod-name",
    "pod-template-generation", "controller-uid", "batch.kubernetes.io/controller-uid", "job-name",
    "batch.kubernetes.io/job-name", "apps.kubernetes.io/pod-index", "helm.sh/chart", "chart",
    "app.kubernetes.io/version", "version",
    "batch.kubernetes.io/job-completion-index",    # Indexed Job: one value per pod
    "rollouts-pod-template-hash",                  # Argo Rollouts: one value per revision
    "service.istio.io/canonical-revision",         # Istio: the release (`version`) of the pod
})
PREFERRED_KEYS = (
    "app.kubernetes.io/name", "app.kubernetes.io/instance", "app.kubernetes.io/component",
    "app", "k8s-app", "component", "tier",
)
MAX_SEARCH_KEYS = 12


@lru_cache(maxsize=65536)
def is_stable(key: str) -> bool:
    """Not a per-pod/per-rollout label, and a key the API server accepts in a selector."""
    return key not in NOISY_LABELS and not k8s_names.qualified_name(key)


@lru_cache(maxsize=65536)
def valid_value(value: str) -> bool:
    return not k8s_names.label_value(value)


def _rank(key: str) -> tuple[int, str]:
    return (PREFERRED_KEYS.index(key), "") if key in PREFERRED_KEYS else (len(PREFERRED_KEYS), key)


def choose_selector(
    mine: set[Labels], others: list[Labels]
) -> tuple[LabelSelector, bool, list[Labels]]:
    """The smallest stable ``matchLabels`` that selects every label set in ``mine`` and none of ``others``
    (an empty label set, a pod without labels, is selected by ``{}`` only).

    Returns ``(selector, exact, others_it_selects)``. Candidate pairs are the stable
    labels every pod of the workload carries (at most ``MAX_SEARCH_KEYS``, those that
    some other pod lacks first); subsets are tried by size, then by
    preference of their keys (well-known keys first). When no subset is exact, the
    tightest selector (all candidates) is reduced to the smallest subset selecting
    the same other pods.
    """
    common: dict[str, str] | None = None
    for ls in sorted(mine, key=lambda l: l.pairs):
        pairs = {k: v for k, v in ls.pairs if is_stable(k) and valid_value(v)}
        common = pairs if common is None else {k: v for k, v in common.items() if pairs.get(k) == v}
    candidates = sorted((common or {}).items(), key=lambda kv: _rank(kv[0]))
    if len(candidates) > MAX_SEARCH_KEYS:
        # Only pairs some other pod lacks can separate anything: they go first, so a dozen labels
        # every pod carries (chart boilerplate, mutating webhooks) cannot push the one that
        # separates out of the bounded search. The search itself keeps preference order.
        useful = [kv for kv in candidates if any(o.get(kv[0]) != kv[1] for o in others)]
        kept = set(useful[:MAX_SEARCH_KEYS])
        kept |= set([kv for kv in candidates if kv not in kept][:MAX_SEARCH_KEYS - len(kept)])
        candidates = [kv for kv in candidates if kv in kept]

    def hits(pairs: tuple[tuple[str, str], ...]) -> list[Labels]:
        found = list(others)
        for k, v in pairs:      # one pass per pair: no generator per label set
            found = [o for o in found if o.get(k) == v]
        return found

    full = tuple(candidates)
    target = hits(full)
    exact = not target
    for size in range(1, len(full) + 1):
        for combo in combinations(full, size):   # combinations keep preference order
            if len(hits(combo)) == len(target):
                return LabelSelector.of(dict(combo)), exact, target
    return LabelSelector.of(dict(full)), exact, target
