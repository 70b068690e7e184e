"""Workload identity: names from every kind of evidence, and the smallest stable selector."""

from __future__ import annotations

import pytest

from recommender.model import Labels, LabelSelector
from recommender.recommend.identity import (
    NOISY_LABELS,
    choose_selector,
    strip_pod_suffix,
    workload_from_aggr,
    workload_from_owner,
)


@pytest.mark.parametrize(
    ("pod", "workload"),
    [
        ("web-7d4b9c6f5-abcde", "web"),          # Deployment → ReplicaSet hash → pod suffix
        ("api-server-5c689d88bb-q7zvf", "api-server"),
        ("db-0", "db"),                          # StatefulSet ordinal
        ("redis-master-12", "redis-master"),
        ("node-agent-x7k2p", "node-agent"),      # DaemonSet / Job suffix (safe alphabet)
        ("plain", "plain"),                      # a bare pod keeps its name
        ("web-proxy", "web-proxy"),              # an English word is not a generated suffix
    ],
)
def test_pod_name_without_generated_suffix(pod: str, workload: str) -> None:
    assert strip_pod_suffix(pod) == workload


@pytest.mark.parametrize(
    ("aggr", "workload"),
    [("web-7d4b9c6f5-*", "web"), ("db-*", "db"), ("cart-cleanup-29151375-*", "cart-cleanup"), ("my-backend-*", "my-backend")],
)
def test_calico_name_aggr_prefix(aggr: str, workload: str) -> None:
    assert workload_from_aggr(aggr) == workload


@pytest.mark.parametrize(
    ("kind", "owner", "pod", "workload"),
    [
        ("ReplicaSet", "web-7d4b9c6f5", "web-7d4b9c6f5-abcde", "web"),
        ("StatefulSet", "db", "db-0", "db"),
        ("DaemonSet", "agent", "agent-x7k2p", "agent"),
        ("Job", "backup-28934560", "backup-28934560-zx9kq", "backup"),   # CronJob via Job
        ("Job", "migrate", "migrate-zx9kq", "migrate"),                  # a plain Job
        (None, None, "static-7d4b9c6f5-abcde", "static"),
    ],
)
def test_inventory_owner_chain(kind: str | None, owner: str | None, pod: str, workload: str) -> None:
    assert workload_from_owner(kind, owner, pod) == workload



def test_single_well_known_label_preferred() -> None:
    mine = {Labels.of({"app": "web", "tier": "fe", "team": "shop", "pod-template-hash": "abc"})}
    others = [Labels.of({"app": "db", "tier": "be", "team": "shop"})]
    sel, exact, hit = choose_selector(mine, others)
    assert sel == LabelSelector.of({"app": "web"}) and exact and hit == []


def test_app_kubernetes_io_name_beats_app() -> None:
    mine = {Labels.of({"app": "web", "app.kubernetes.io/name": "web"})}
    sel, exact, _ = choose_selector(mine, [Labels.of({"app": "db", "app.kubernetes.io/name": "db"})])
    assert sel == LabelSelector.of({"app.kubernetes.io/name": "web"}) and exact


def test_two_labels_when_one_is_shared() -> None:
    # app=web is shared with the canary; only app+track separates them
    mine = {Labels.of({"app": "web", "track": "stable"})}
    others = [Labels.of({"app": "web", "track": "canary"}), Labels.of({"app": "db", "track": "stable"})]
    sel, exact, _ = choose_selector(mine, others)
    assert sel == LabelSelector.of({"app": "web", "track": "stable"}) and exact


def test_noisy_labels_never_used_even_when_they_would_separate() -> None:
    mine = {Labels.of({"app": "web", "pod-template-hash": "aaa", "helm.sh/chart": "web-1.0", "version": "v2"})}
    others = [Labels.of({"app": "web", "pod-template-hash": "bbb", "helm.sh/chart": "web-1.1", "version": "v1"})]
    sel, exact, hit = choose_selector(mine, others)
    assert not exact and hit == others
    assert not set(sel.match_labels_dict()) & NOISY_LABELS
    assert sel == LabelSelector.of({"app": "web"})


def test_only_labels_common_to_every_pod_of_the_workload() -> None:
    mine = {Labels.of({"app": "web", "zone": "a"}), Labels.of({"app": "web", "zone": "b"})}
    sel, exact, _ = choose_selector(mine, [Labels.of({"app": "db", "zone": "a"})])
    assert sel == LabelSelector.of({"app": "web"}) and exact
    assert all(sel.matches(ls) for ls in mine)


def test_no_common_labels_gives_the_namespace_wide_selector_reported_inexact() -> None:
    sel, exact, hit = choose_selector({Labels.of({"a": "1"}), Labels.of({"b": "2"})}, [Labels.of({"c": "3"})])
    assert sel.is_empty and not exact and hit == [Labels.of({"c": "3"})]


def test_alone_in_namespace_without_labels_is_exact() -> None:
    sel, exact, hit = choose_selector({Labels()}, [])
    assert sel.is_empty and exact and hit == []


def test_unlabeled_neighbours_are_selected_by_the_empty_selector_only() -> None:
    # {} selects every pod of the namespace, labels or not; a selector with a pair never selects an unlabeled pod
    sel, exact, hit = choose_selector({Labels()}, [Labels(), Labels.of({"app": "x"})])
    assert sel.is_empty and not exact and hit == [Labels(), Labels.of({"app": "x"})]
    sel, exact, hit = choose_selector({Labels.of({"app": "web"})}, [Labels()])
    assert sel == LabelSelector.of({"app": "web"}) and exact and hit == []


@pytest.mark.parametrize("key", ["batch.kubernetes.io/job-completion-index", "rollouts-pod-template-hash",
                                 "service.istio.io/canonical-revision"])
def test_per_pod_and_per_rollout_labels_of_indexed_jobs_and_argo_rollouts_are_noisy(key: str) -> None:
    # An Indexed Job labels each pod with its completion index; Argo Rollouts labels each revision's
    # pods with its own template hash; Istio's injector copies the release (`version`) into
    # canonical-revision. A selector on any of them misses the workload's other pods (another index,
    # the next revision or release) even when it is the only label that tells two workloads apart.
    mine = {Labels.of({"app": "train", key: "0"})}
    others = [Labels.of({"app": "train", key: "1"})]
    sel, exact, hit = choose_selector(mine, others)
    assert key in NOISY_LABELS and key not in sel.match_labels_dict()
    assert sel == LabelSelector.of({"app": "train"}) and not exact and hit == others


def test_an_exact_selector_is_found_beyond_the_first_twelve_common_labels() -> None:
    # Helm charts and platform mutators stamp a dozen labels on every pod; the one that separates
    # two workloads may sort after them. Labels every other pod also carries cannot separate anything,
    # so they must not crowd the separating one out of the search.
    shared = {f"team.example.com/k{i:02d}": "x" for i in range(13)}
    mine = {Labels.of({**shared, "zone": "a"})}
    others = [Labels.of({**shared, "zone": "b"})]
    sel, exact, hit = choose_selector(mine, others)
    assert sel == LabelSelector.of({"zone": "a"}) and exact and hit == []
