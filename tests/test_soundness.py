"""Soundness: whatever the cluster and the flows, the recommendation admits every observed allowed
connection, judged by the evaluator (the oracle), and admits the workload's unseen replicas."""

from __future__ import annotations

from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from recommender import evaluate, generate
from recommender.engine.validate import validate_policy
from recommender.model import Endpoint, EndpointKind, Flow, Labels
from recommender.recommend.generate import synthesize
from recommender.recommend.output import dump, render
from recommender.recommend.synthesis import Options
from test_synthesis import make_store

NAMESPACES = ("alpha", "beta", "kube-system")
APPS = ("web", "api", "db", "cache", "worker")
PORTS = st.sampled_from([53, 80, 443, 5432, 6379, 8080, 8081, 8082, 9090, 40000, 50000])
EXTERNAL = st.sampled_from(["198.51.100.7", "198.51.100.8", "203.0.113.9", "10.9.0.1",
                            "2001:db8::5", "2001:db8::9", "2001:db8:0:1::5", "fd00::7"])


@st.composite
def clusters(draw: st.DrawFn) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """Workloads (some sharing labels), pods with replicas, and flows between them and outside."""
    pods: list[dict[str, Any]] = []
    n = draw(st.integers(1, 6))
    for i in range(n):
        ns = draw(st.sampled_from(NAMESPACES))
        app = draw(st.sampled_from(APPS))
        labels = {"app": app, "pod-template-hash": f"h{i}"}
        if draw(st.booleans()):
            labels["tier"] = draw(st.sampled_from(["front", "back"]))
        for r in range(draw(st.integers(1, 3))):
            pods.append({"namespace": ns, "pod": f"{app}-w{i}-{r}", "labels": labels, "kind": "pod",
                         "ip": f"10.244.{i}.{r + 2}"})
    flows: list[dict[str, Any]] = []
    for _ in range(draw(st.integers(1, 12))):
        shape = draw(st.sampled_from(["pod-pod", "pod-pod", "pod-ext", "ext-pod"]))
        src = draw(st.sampled_from(pods)) if shape != "ext-pod" else {"ip": draw(EXTERNAL), "kind": "network"}
        dst = draw(st.sampled_from(pods)) if shape != "pod-ext" else {"ip": draw(EXTERNAL), "kind": "network"}
        row: dict[str, Any] = {"protocol": draw(st.sampled_from(["TCP", "TCP", "UDP", "SCTP"])), "dst_port": draw(PORTS),
                               "action": draw(st.sampled_from(["allow", "allow", "allow", "deny"]))}
        for side, ep in (("src", src), ("dst", dst)):
            row.update({f"{side}_{k}": v for k, v in ep.items()})
        flows.append(row)
    return flows, pods


@settings(max_examples=20, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(clusters(), st.booleans(), st.integers(0, 2), st.sampled_from([None, 24]), st.sampled_from([None, 64, 126]))
def test_every_observed_allowed_connection_is_admitted(cluster, include_system: bool, slack: int,
                                                       cidr4: int | None, cidr6: int | None) -> None:
    flows, _ = cluster
    con = make_store(flows)
    rec = generate(con, include_system=include_system, port_range_slack=slack, cidr_max_prefix=cidr4,
                   cidr6_max_prefix=cidr6)
    assert rec.ok, rec.failures()
    assert rec.summary["verification"]["coverage"] == 1.0
    for doc in rec.documents():
        assert not [p for p in validate_policy(doc) if p.severity == "error"]
    # the oracle, independently of generate's own plumbing: every allowed row that is not a reply
    # (only reply traffic to ephemeral ports may be left to the connection tracker)
    verdicts = evaluate(list(rec.policies), con.sql("SELECT * FROM connections WHERE action = 'allow'"))
    denied = verdicts[~verdicts["allowed"].astype(bool)]
    assert (denied["dst_port"] >= 32768).all(), denied[["src_pod", "dst_pod", "dst_port", "reason"]]
    assert len(denied) <= rec.summary["verification"]["replies_skipped"]


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(clusters(), st.randoms(use_true_random=False))
def test_output_is_independent_of_row_order(cluster, rnd) -> None:
    flows, _ = cluster
    shuffled = list(flows)
    rnd.shuffle(shuffled)

    def text(rows: list[dict[str, Any]]) -> str:
        return dump([render(p, "k8s") for p in synthesize(make_store(rows), Options()).policies])

    assert text(flows) == text(shuffled)


def test_held_out_replicas_are_admitted_by_their_workload_policy() -> None:
    """Replicas in the inventory but absent from the flows are selected, and admitted, like the observed one."""
    web = {"app": "web", "pod-template-hash": "7d4b9c6f5"}
    inventory = [
        {"namespace": "shop", "name": f"web-7d4b9c6f5-{s}", "labels": web, "ips": [f"10.244.1.{i}"],
         "owner_kind": "ReplicaSet", "owner_name": "web-7d4b9c6f5"} for i, s in enumerate(("abcde", "fghij", "klmno"), 2)
    ] + [{"namespace": "shop", "name": f"db-{i}", "labels": {"app": "db"}, "ips": [f"10.244.2.{i}"],
          "owner_kind": "StatefulSet", "owner_name": "db"} for i in range(3)]
    flows = [{"src_namespace": "shop", "src_pod": "web-7d4b9c6f5-abcde", "src_labels": web, "src_kind": "pod",
              "dst_namespace": "shop", "dst_pod": "db-0", "dst_labels": {"app": "db"}, "dst_kind": "pod", "dst_port": 5432}]
    con = make_store(flows, inventory)
    rec = generate(con)
    assert rec.ok
    held_out = [Flow(Endpoint(EndpointKind.POD, f"10.244.1.{i}", "shop", f"web-7d4b9c6f5-{s}", labels=Labels.of(web)),
                     Endpoint(EndpointKind.POD, f"10.244.2.{j}", "shop", f"db-{j}", labels=Labels.of({"app": "db"})),
                     "TCP", 5432) for i, s in ((3, "fghij"), (4, "klmno")) for j in (1, 2)]
    verdicts = evaluate(list(rec.policies), held_out)
    assert verdicts["allowed"].all(), verdicts["reason"].tolist()
    # and nothing else: the held-out replicas may not reach db on another port
    other = [Flow(f.src, f.dst, "TCP", 5433) for f in held_out]
    assert not evaluate(list(rec.policies), other)["allowed"].any()
