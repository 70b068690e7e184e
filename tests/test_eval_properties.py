"""Hypothesis properties of the evaluator.

* The set-based bulk evaluator and the rule-by-rule single-flow explainer agree
  on every verdict column, reason text included, for random policies and flows.
* Policies only ever add permissions: appending a rule to a direction a policy
  already isolates never denies a flow that was allowed.
* A policy whose podSelector selects no pod changes no verdict.
"""

from __future__ import annotations

import dataclasses

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from recommender.engine.evaluate import evaluate
from recommender.engine.explain import explain_flow
from recommender.model import (
    ContainerPort, Endpoint, EndpointKind, Flow, IPBlock, LabelSelector, Labels, Namespace, NetworkPolicy, Peer, Pod,
    PortSpec, Requirement, Rule,
)

NAMESPACES = [Namespace("x", Labels.of(team="red")), Namespace("y", Labels.of(team="blue"))]  # z: not in the inventory
PODS = [
    Pod("x", "a", Labels.of(app="a", tier="web"), ("10.0.0.1",), (ContainerPort(80, "TCP", "http"), ContainerPort(53, "UDP", "dns")),
        node="n1"),
    Pod("x", "b", Labels.of(app="b"), ("10.0.0.2",), (ContainerPort(8080, "TCP", "http"),), node="n2"),
    Pod("y", "a", Labels.of(app="a", tier="db"), ("10.0.1.1",), (ContainerPort(53, "TCP", "dns"),)),
    Pod("y", "h", Labels.of(app="h"), ("192.168.0.5",), (ContainerPort(80, "TCP", "http"),), host_network=True, node="n1"),
    Pod("z", "c", Labels.of(app="c"), ("fd00::3",), (ContainerPort(81, "TCP", "http"),)),
]
ENDPOINTS = [
    *[Endpoint(EndpointKind.POD, p.ips[0], p.namespace, p.name) for p in PODS],
    Endpoint(EndpointKind.POD, "10.0.0.9", "x", "gone", labels=Labels.of(app="b", tier="web")),  # only in flows
    Endpoint(EndpointKind.POD, "10.0.1.7", "y", None, "agg", Labels.of(app="a")),               # aggregated pod
    Endpoint(EndpointKind.NETWORK, "8.8.8.8"), Endpoint(EndpointKind.NETWORK, "10.0.0.77"),
    Endpoint(EndpointKind.NETWORK, "2001:db8::1"), Endpoint(EndpointKind.WORLD, None),
    Endpoint(EndpointKind.HOST, "192.168.0.5"), Endpoint(EndpointKind.HOST, None, workload="n2"),   # x/a's, x/b's node
]
CIDRS = ["10.0.0.0/8", "10.0.0.0/24", "10.0.0.2/32", "0.0.0.0/0", "::/0", "2001:db8::/32", "fd00::/8", "192.168.0.0/16"]
EXCEPTS = ["10.0.0.0/30", "10.0.1.0/24", "2001:db8::/64", "192.168.0.0/24"]

label_maps = st.dictionaries(st.sampled_from(["app", "tier"]), st.sampled_from(["a", "b", "c", "web", "db"]), max_size=2)
requirements = st.builds(
    Requirement, st.sampled_from(["app", "tier", "team"]), st.sampled_from(["In", "NotIn", "Exists", "DoesNotExist"]),
    st.lists(st.sampled_from(["a", "b", "web", "red", "blue"]), min_size=1, max_size=2, unique=True).map(tuple),
).map(lambda r: r if r.operator in ("In", "NotIn") else dataclasses.replace(r, values=()))
selectors = st.builds(lambda m, e: LabelSelector.of(m, e), label_maps, st.lists(requirements, max_size=2))
ns_selectors = st.builds(
    lambda m, e: LabelSelector.of(m, e),
    st.dictionaries(st.sampled_from(["team", "kubernetes.io/metadata.name"]), st.sampled_from(["red", "blue", "x", "z"]), max_size=1),
    st.lists(requirements, max_size=1))
pod_peers = st.builds(Peer, st.none() | selectors, st.none() | ns_selectors).filter(
    lambda p: p.pod_selector is not None or p.namespace_selector is not None)
ip_peers = st.builds(lambda c, x: Peer(ip_block=IPBlock(c, tuple(x))), st.sampled_from(CIDRS),
                     st.lists(st.sampled_from(EXCEPTS), max_size=2, unique=True))
ports = st.one_of(
    st.builds(PortSpec, st.sampled_from([None, "TCP", "UDP", "SCTP"]), st.sampled_from([None, 53, 80, 81, "http", "dns"])),
    st.builds(lambda proto, lo, span: PortSpec(proto, lo, lo + span), st.sampled_from([None, "UDP"]),
              st.sampled_from([53, 80]), st.sampled_from([0, 1, 12])),
)
rules = st.builds(Rule, st.none() | st.lists(pod_peers | ip_peers, max_size=3).map(tuple),
                  st.none() | st.lists(ports, max_size=3).map(tuple))
rule_lists = st.none() | st.lists(rules, max_size=3).map(tuple)
policy_types = st.sampled_from([None, ("Ingress",), ("Egress",), ("Ingress", "Egress")])


@st.composite
def policy_lists(draw: st.DrawFn) -> list[NetworkPolicy]:
    n = draw(st.integers(0, 4))
    return [NetworkPolicy(f"p{i}", draw(st.sampled_from(["x", "y", "z"])), draw(selectors), draw(rule_lists),
                          draw(rule_lists), draw(policy_types)) for i in range(n)]


flows = st.builds(Flow, st.sampled_from(ENDPOINTS), st.sampled_from(ENDPOINTS),
                  st.sampled_from(["TCP", "TCP", "UDP", "SCTP", "ICMP", "6"]), st.sampled_from([None, 53, 80, 81, 8080, 65]))
COLUMNS = ("allowed", "reason", "egress_applies", "egress_isolated", "egress_allowed", "egress_isolated_by",
           "egress_admitted_by", "ingress_applies", "ingress_isolated", "ingress_allowed", "ingress_isolated_by",
           "ingress_admitted_by")


def _single_row(pols: list[NetworkPolicy], f: Flow) -> dict[str, object]:
    v = explain_flow(pols, f, pods=PODS, namespaces=NAMESPACES)
    reason = " | ".join([d.reason for d in (v.egress, v.ingress) if not d.allowed] or [v.egress.reason, v.ingress.reason])
    row: dict[str, object] = {"allowed": v.allowed, "reason": reason}
    for d in (v.egress, v.ingress):
        p = d.direction.lower()
        row.update({f"{p}_applies": d.applies, f"{p}_isolated": d.isolated, f"{p}_allowed": d.allowed,
                    f"{p}_isolated_by": list(d.isolated_by), f"{p}_admitted_by": [str(r) for r in d.admitted_by]})
    return row


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(policy_lists(), st.lists(flows, min_size=1, max_size=25))
def test_bulk_agrees_with_single_flow_explain(pols: list[NetworkPolicy], fl: list[Flow]) -> None:
    bulk = evaluate(pols, fl, pods=PODS, namespaces=NAMESPACES)
    assert len(bulk) == len(fl)
    for f, (_, row) in zip(fl, bulk.iterrows()):
        got = {c: (list(row[c]) if c.endswith("_by") else row[c]) for c in COLUMNS}
        assert got == _single_row(pols, f), f


@st.composite
def with_added_rule(draw: st.DrawFn) -> tuple[list[NetworkPolicy], list[NetworkPolicy]]:
    pols = draw(policy_lists().filter(bool))
    i = draw(st.integers(0, len(pols) - 1))
    pol = pols[i]
    types = pol.effective_policy_types()
    direction = draw(st.sampled_from(types))
    rule = draw(rules)
    # policyTypes pinned to their effective value, so that only the rule list grows.
    if direction == "Ingress":
        grown = dataclasses.replace(pol, policy_types=types, ingress=(*(pol.ingress or ()), rule))
    else:
        grown = dataclasses.replace(pol, policy_types=types, egress=(*(pol.egress or ()), rule))
    pinned = dataclasses.replace(pol, policy_types=types)
    return [*pols[:i], pinned, *pols[i + 1:]], [*pols[:i], grown, *pols[i + 1:]]


@settings(max_examples=100, deadline=None)
@given(with_added_rule(), st.lists(flows, min_size=1, max_size=10))
def test_adding_a_rule_never_denies_an_allowed_flow(pair: tuple[list[NetworkPolicy], list[NetworkPolicy]], fl: list[Flow]) -> None:
    before, after = pair
    for f in fl:
        if explain_flow(before, f, pods=PODS, namespaces=NAMESPACES).allowed:
            assert explain_flow(after, f, pods=PODS, namespaces=NAMESPACES).allowed


@settings(max_examples=100, deadline=None)
@given(policy_lists(), st.lists(flows, min_size=1, max_size=10), rule_lists, rule_lists, policy_types, st.sampled_from(["x", "y", "z"]))
def test_a_policy_selecting_nothing_changes_no_verdict(pols, fl, ingress, egress, types, ns) -> None:  # type: ignore[no-untyped-def]
    inert = NetworkPolicy("inert", ns, LabelSelector.of({"no-such-label": "here"}), ingress, egress, types)
    for f in fl:
        assert explain_flow(pols, f, pods=PODS, namespaces=NAMESPACES) == explain_flow(
            [*pols, inert], f, pods=PODS, namespaces=NAMESPACES)


def test_a_policy_selecting_nothing_changes_no_bulk_verdict() -> None:
    pols = [NetworkPolicy("deny", "x", LabelSelector(), policy_types=("Ingress", "Egress"))]
    inert = NetworkPolicy("inert", "x", LabelSelector.of({"no-such-label": "here"}), (Rule(),), (Rule(),))
    fl = [Flow(a, b, "TCP", 80) for a in ENDPOINTS for b in ENDPOINTS]
    before = evaluate(pols, fl, pods=PODS, namespaces=NAMESPACES)
    after = evaluate([*pols, inert], fl, pods=PODS, namespaces=NAMESPACES)
    assert before.drop(columns=["src_labels", "dst_labels"]).equals(after.drop(columns=["src_labels", "dst_labels"]))
    assert (~before["allowed"]).sum() > 0
