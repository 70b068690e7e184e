"""Audit findings on `recommend generate`, pinned so they stay fixed.

Each test names the Kubernetes rule it relies on and checks the generated policies with the
evaluator, the same judge the generator's own verification uses.
"""

from __future__ import annotations

from recommender.engine.explain import explain_flow
from recommender.model import Endpoint, EndpointKind, Flow, Labels, Pod, PortSpec
from recommender.recommend.generate import generate
from tests.test_synthesis import conn, make_store, pod

WEB, DB = pod("shop", "web-0", app="web"), pod("shop", "db-0", app="db")
MODEL_PODS = [Pod("shop", "web-0", Labels.of(app="web")), Pod("shop", "db-0", Labels.of(app="db"))]


def _admits(policies, protocol: str, port: int | None) -> bool:
    flow = Flow(Endpoint(EndpointKind.POD, None, "shop", "web-0"), Endpoint(EndpointKind.POD, None, "shop", "db-0"),
                protocol, port)
    return explain_flow(policies, flow, pods=MODEL_PODS).allowed


def test_tcp_without_a_recorded_port_gets_every_tcp_port_not_every_protocol() -> None:
    """NetworkPolicyPort: a `protocol` without `port` matches every port of that protocol. A TCP
    connection whose port the exporter did not record is admitted by `protocol: TCP`; a rule without
    `ports` (every port of every protocol) also opened UDP, SCTP and ICMP between the two workloads."""
    rec = generate(make_store([conn(WEB, DB, 5432), conn(WEB, DB, None)]))
    assert rec.ok
    db = next(p for p in rec.policies if p.name == "db")
    assert [r.ports for r in db.ingress] == [(PortSpec("TCP"),)]
    assert _admits(rec.policies, "TCP", 5432) and _admits(rec.policies, "TCP", None)
    assert not _admits(rec.policies, "UDP", 53)
    assert not _admits(rec.policies, "ICMP", None)
    # the warning says what the rule admits: every TCP port, not every protocol
    text = " ".join(rec.warnings)
    assert "every TCP port" in text and "every port and protocol" not in text


def test_icmp_still_needs_a_rule_without_ports() -> None:
    """ICMP has no NetworkPolicy port: only a rule without `ports` admits it (unchanged)."""
    rec = generate(make_store([conn(WEB, DB, 5432), conn(WEB, DB, None, protocol="ICMP")]))
    db = next(p for p in rec.policies if p.name == "db")
    assert [r.ports for r in db.ingress] == [None]
    assert _admits(rec.policies, "ICMP", None)
