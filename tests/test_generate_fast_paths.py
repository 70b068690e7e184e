"""The shortcuts `generate` takes for speed give exactly what the plain paths give.

Generated policies are written from cached YAML fragments (``policy_yaml``) instead of
building a dict per document, and validated with each distinct peer checked once. These
properties pin both to the general code: the same bytes as ``dump_yaml(policy_to_dict(p))``
for any policy, and every invalid field still rejected, wherever it sits.
"""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from recommender.io.yaml_out import dump_yaml, policy_to_dict, policy_yaml, staged_policy_to_dict
from recommender.model import IPBlock, LabelSelector, Labels, NetworkPolicy, Peer, PortSpec, Requirement, Rule
from recommender.recommend import output
from recommender.recommend.generate import Recommendation, _validate

# label-ish text, including words and numbers YAML would not read back as strings unquoted
texts = st.one_of(st.sampled_from(["app", "web", "yes", "1.10", "0x1F", "a b", "it's", "", "x" * 1005]),
                  st.text(max_size=6))
label_maps = st.dictionaries(texts, texts, max_size=3)
selectors = st.builds(LabelSelector.of, label_maps, st.lists(
    st.builds(Requirement, texts, st.sampled_from(["In", "NotIn", "Exists"]), st.lists(texts, max_size=2).map(tuple)),
    max_size=2))
peers = st.one_of(
    st.builds(Peer, ip_block=st.builds(IPBlock, st.sampled_from(["10.0.0.0/8", "203.0.113.7/32", "2001:db8::/64"]),
                                       st.lists(st.sampled_from(["10.1.0.0/16", "10.2.0.0/16"]), max_size=2).map(tuple))),
    st.builds(Peer, pod_selector=selectors),
    st.builds(Peer, pod_selector=selectors, namespace_selector=selectors),
    st.just(Peer()),
)
ports = st.builds(PortSpec, st.sampled_from([None, "TCP", "UDP", "SCTP"]),
                  st.one_of(st.none(), st.integers(1, 65535), st.sampled_from(["http", "dns-tcp"])),
                  st.one_of(st.none(), st.integers(1, 65535)))


def _optional_tuples(elements: st.SearchStrategy) -> st.SearchStrategy:
    return st.one_of(st.none(), st.lists(elements, max_size=3).map(tuple))


rules = st.builds(Rule, _optional_tuples(peers), _optional_tuples(ports))
policies = st.builds(
    NetworkPolicy, texts, texts, selectors, _optional_tuples(rules), _optional_tuples(rules),
    st.sampled_from([None, (), ("Ingress",), ("Ingress", "Egress")]), label_maps.map(Labels.of),
    label_maps.map(Labels.of),
)


@settings(max_examples=300, deadline=None)
@given(policies)
def test_fragment_rendering_is_the_general_rendering_byte_for_byte(policy: NetworkPolicy) -> None:
    assert policy_yaml(policy) == dump_yaml([policy_to_dict(policy)])
    assert policy_yaml(policy, staged=True) == dump_yaml([staged_policy_to_dict(policy)])


@pytest.mark.parametrize("kind", ["k8s", "calico-staged", "calico-staged-native"])
def test_per_namespace_files_are_the_documents_dumped_together(kind: str) -> None:
    web = Peer(pod_selector=LabelSelector.of({"app": "web"}))
    policies = tuple(
        NetworkPolicy(f"p{i}", ns, LabelSelector.of({"app": f"a{i}"}), ingress=(Rule((web,), (PortSpec("TCP", 80),)),),
                      egress=(), policy_types=("Ingress", "Egress"))
        for i, ns in enumerate(["a", "a", "b"])
    )
    rec = Recommendation(policies, kind, {}, None)  # type: ignore[arg-type]
    docs = [output.render(p, kind) for p in policies]
    assert rec.by_namespace() == {"a": output.dump(docs[:2]), "b": output.dump(docs[2:])}
    assert rec.yaml() == output.dump(docs)


def _policy(peer: Peer, name: str = "ok") -> NetworkPolicy:
    return NetworkPolicy(name, "shop", LabelSelector.of({"app": "db"}), ingress=(Rule((peer,), (PortSpec("TCP", 5432),)),),
                         egress=(Rule((peer,)),), policy_types=("Ingress", "Egress"))


GOOD = Peer(pod_selector=LabelSelector.of({"app": "web"}))


@pytest.mark.parametrize("kind", ["k8s", "calico-staged", "calico-staged-native"])
def test_validation_passes_valid_policies_that_share_peers(kind: str) -> None:
    _validate(Recommendation((_policy(GOOD, "a"), _policy(GOOD, "b")), kind, {}, None))  # type: ignore[arg-type]


@pytest.mark.parametrize("bad, where", [
    (_policy(Peer(pod_selector=LabelSelector.of({"app": "not a label value!"}))), "a peer of generated policy shop/ok"),
    (_policy(Peer(ip_block=IPBlock("10.0.0.0/8", ("192.168.0.0/16",)))), "a peer of generated policy shop/ok"),
    (_policy(Peer()), "a peer of generated policy shop/ok"),
    (_policy(GOOD, "Not_A_Name"), "generated policy shop/Not_A_Name"),
    (NetworkPolicy("ok", "shop", ingress=(Rule((GOOD,), (PortSpec("TCP", 70000),)),)), "generated policy shop/ok"),
])
def test_validation_still_rejects_every_invalid_field(bad: NetworkPolicy, where: str) -> None:
    # the invalid policy comes after a valid one that uses the same (valid) peer
    rec = Recommendation((_policy(GOOD, "first"), bad), "k8s", {}, None)  # type: ignore[arg-type]
    with pytest.raises(RuntimeError, match=f"^{where} is invalid"):
        _validate(rec)


def test_a_pod_known_only_by_workload_is_not_traffic_to_itself() -> None:
    # the evaluator's self-traffic test compared pod names; an unnamed destination made it NULL
    # (neither allowed nor denied) instead of false
    from recommender.engine.evaluate import evaluate
    from recommender.model import Endpoint, EndpointKind, Flow, Pod

    flow = Flow(Endpoint(kind=EndpointKind.POD, ip="10.0.1.1", namespace="y", pod="a"),
                Endpoint(kind=EndpointKind.POD, ip="10.0.1.7", namespace="y", workload="agg", labels=Labels.of({"app": "a"})),
                "TCP", None)
    row = evaluate([NetworkPolicy("deny", "y")], [flow], pods=[Pod("y", "a", Labels.of({"app": "a"}), ("10.0.1.1",))]).iloc[0]
    assert (bool(row["allowed"]), bool(row["ingress_allowed"])) == (False, False)
    assert row["reason"] == "isolated for ingress by deny; they have no ingress rules"
