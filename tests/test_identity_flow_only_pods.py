"""Pods the flows name but the inventory does not (replaced during a rollout, or not exported).

A flow-only pod joins the workload its name (or exporter workload) points to. When the flows carry
no labels for it, no ``matchLabels`` built from the workload's labels can select it (only ``{}``
could): the selector still follows the labelled pods, but the gap must be said, naming the pods,
instead of verification failing with nothing to explain it.
"""

from __future__ import annotations

from recommender.model import LabelSelector
from recommender.recommend.generate import generate
from tests.test_synthesis import conn, make_store

PODS = [
    {"namespace": "shop", "name": "web-5c689d88bb-q7zvf", "labels": {"app": "web", "pod-template-hash": "5c689d88bb"},
     "ips": ["10.1.0.2"], "owner_kind": "ReplicaSet", "owner_name": "web-5c689d88bb", "workload_kind": "Deployment",
     "workload": "web"},
    {"namespace": "shop", "name": "db-0", "labels": {"app": "db"}, "ips": ["10.1.0.3"], "owner_kind": "StatefulSet",
     "owner_name": "db", "workload_kind": "StatefulSet", "workload": "db"},
]
OLD = {"namespace": "shop", "pod": "web-7d4b9c6f5-abcde", "ip": "10.1.0.7", "kind": "pod"}   # the previous ReplicaSet
DB = {"namespace": "shop", "pod": "db-0", "ip": "10.1.0.3", "kind": "pod"}


def test_a_flow_only_replica_without_labels_is_named_when_the_selector_cannot_select_it() -> None:
    rec = generate(make_store([conn(OLD, DB, 5432)], PODS))
    web = next(p for p in rec.policies if p.name == "web")
    assert web.pod_selector == LabelSelector.of({"app": "web"})
    gap = [w for w in rec.warnings if "shop/web" in w and "without labels" in w]
    assert len(gap) == 1 and "shop/web-7d4b9c6f5-abcde" in gap[0] and "app=web" in gap[0]


def test_flow_only_replicas_with_the_workloads_labels_need_no_warning() -> None:
    labelled = {**OLD, "labels": {"app": "web", "pod-template-hash": "7d4b9c6f5"}}
    rec = generate(make_store([conn(labelled, DB, 5432)], PODS))
    assert rec.ok and not any("without labels" in w for w in rec.warnings)
