"""Workload identity from the inventory owner: one workload per controller, even when two share a name.

Kubernetes names are unique per kind, not per namespace: a Deployment `web` and a StatefulSet
`web` (or a bare pod `web`, or a CronJob `web`) may live side by side. They are different
workloads with their own pods and traffic; one policy for both would give each what only the
other talked to, and a selector common to both.
"""

from __future__ import annotations

from typing import Any

from recommender.recommend.generate import generate
from recommender.model import LabelSelector
from tests.test_synthesis import conn, make_store


def _inv(name: str, labels: dict[str, str], ip: str, owner_kind: str | None, owner_name: str | None,
         kind: str, workload: str) -> dict[str, Any]:
    return {"namespace": "shop", "name": name, "labels": labels, "ips": [ip], "owner_kind": owner_kind,
            "owner_name": owner_name, "workload_kind": kind, "workload": workload}


PODS = [
    _inv("web-7d4b9c6f5-x8kzq", {"app": "web", "pod-template-hash": "7d4b9c6f5"}, "10.1.0.1",
         "ReplicaSet", "web-7d4b9c6f5", "Deployment", "web"),
    _inv("web-0", {"app": "web-cache"}, "10.1.0.2", "StatefulSet", "web", "StatefulSet", "web"),
    _inv("db-0", {"app": "db"}, "10.1.0.3", "StatefulSet", "db", "StatefulSet", "db"),
]
WEB, CACHE, DB = ({"ip": p["ips"][0], "kind": "pod"} for p in PODS)


def test_a_deployment_and_a_statefulset_of_the_same_name_are_two_workloads() -> None:
    rec = generate(make_store([conn(WEB, DB, 5432), conn(CACHE, DB, 6379)], PODS))
    assert rec.ok
    by_selector = {p.pod_selector: p for p in rec.policies if p.name != "default-deny"}
    # each has its own exact selector, and db admits each on its own port only
    web, cache = LabelSelector.of({"app": "web"}), LabelSelector.of({"app": "web-cache"})
    assert {web, cache} <= set(by_selector)
    assert not any("no stable label selector" in w for w in rec.warnings)
    db = by_selector[LabelSelector.of({"app": "db"})]
    got = {(peer.pod_selector, port.port) for r in db.ingress for peer in r.peers for port in r.ports}
    assert got == {(web, 5432), (cache, 6379)}
    # the names say which controller each policy is for, and stay stable
    assert sorted(by_selector[s].name for s in (web, cache)) == ["web-deployment", "web-statefulset"]


def test_a_name_used_by_one_kind_only_keeps_the_plain_name() -> None:
    rec = generate(make_store([conn(WEB, DB, 5432)], PODS[:1] + PODS[2:]))
    assert sorted(p.name for p in rec.policies) == ["db", "default-deny", "web"]


def test_a_kind_suffixed_name_never_joins_a_real_workload_of_that_name() -> None:
    other = _inv("web-deployment-0", {"app": "other"}, "10.1.0.4", "StatefulSet", "web-deployment",
                 "StatefulSet", "web-deployment")
    rec = generate(make_store([conn(WEB, DB, 5432), conn(CACHE, DB, 6379)], PODS + [other]))
    names = {p.pod_selector: p.name for p in rec.policies}
    assert names[LabelSelector.of({"app": "web"})] == "web-deployment-2"
    assert names[LabelSelector.of({"app": "web-cache"})] == "web-statefulset"
    assert not any("no stable label selector" in w for w in rec.warnings)
