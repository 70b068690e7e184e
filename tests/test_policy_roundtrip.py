"""Property: any valid policy survives model → dict → YAML → loader → model exactly.

Also: the YAML reads back as the same dict in PyYAML (pure and libyaml), the
generated policies pass validation, and absent vs empty lists are kept apart.
"""

from __future__ import annotations

import ipaddress
from pathlib import Path

import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from recommender.engine.validate import validate_policy
from recommender.io.policies import load_policies, parse_policy
from recommender.io.yaml_out import dump_policies, dump_yaml, policy_to_dict
from recommender.io.yamlloc import load_text
from recommender.model import IPBlock, LabelSelector, Labels, NetworkPolicy, Peer, PortSpec, Requirement, Rule

SETTINGS = settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])

dns_label = st.from_regex(r"[a-z0-9]([-a-z0-9]{0,8}[a-z0-9])?", fullmatch=True)
subdomain = st.lists(dns_label, min_size=1, max_size=3).map(".".join)
name_part = st.from_regex(r"[A-Za-z0-9]([-A-Za-z0-9_.]{0,10}[A-Za-z0-9])?", fullmatch=True)
label_key = st.one_of(name_part, st.tuples(subdomain, name_part).map("/".join))
# Valid label values, with the ones YAML would misread if written unquoted.
label_value = st.one_of(
    st.just(""),
    name_part,
    st.sampled_from(["yes", "no", "on", "off", "y", "n", "true", "False", "null", "1.10", "0x1F", "1e3", "012",
                     "1_000", "2001-01-01", "190-20-30", "1.0", "NaN", "0", "10"]),
)
labels = st.dictionaries(label_key, label_value, max_size=3)


@st.composite
def requirements(draw: st.DrawFn) -> Requirement:
    op = draw(st.sampled_from(["In", "NotIn", "Exists", "DoesNotExist"]))
    values = tuple(draw(st.lists(label_value, min_size=1, max_size=3))) if op in ("In", "NotIn") else ()
    return Requirement(draw(label_key), op, values)


selectors = st.builds(LabelSelector.of, labels, st.lists(requirements(), max_size=2))


@st.composite
def ip_blocks(draw: st.DrawFn) -> IPBlock:
    bits = draw(st.sampled_from([32, 128]))
    prefix = draw(st.integers(0, bits - 1))
    factory = ipaddress.IPv4Network if bits == 32 else ipaddress.IPv6Network
    net = factory((draw(st.integers(0, 2**bits - 1)), prefix), strict=False)
    excepts = []
    for _ in range(draw(st.integers(0, 2))):
        longer = draw(st.integers(prefix + 1, bits))
        inside = int(net.network_address) + draw(st.integers(0, net.num_addresses - 1))
        excepts.append(str(factory((inside, longer), strict=False)))
    return IPBlock(str(net), tuple(excepts))


peers = st.one_of(
    st.builds(Peer, ip_block=ip_blocks()),
    st.builds(Peer, pod_selector=selectors),
    st.builds(Peer, namespace_selector=selectors),
    st.builds(Peer, pod_selector=selectors, namespace_selector=selectors),
)
port_names = st.from_regex(r"[a-z]([a-z0-9]{0,6}(-[a-z0-9]{1,4})?)", fullmatch=True)


@st.composite
def port_specs(draw: st.DrawFn) -> PortSpec:
    protocol = draw(st.sampled_from([None, "TCP", "UDP", "SCTP"]))
    kind = draw(st.sampled_from(["none", "number", "range", "name"]))
    if kind == "none":
        return PortSpec(protocol)
    if kind == "name":
        return PortSpec(protocol, draw(port_names))
    port = draw(st.integers(1, 65535))
    end = draw(st.integers(port, 65535)) if kind == "range" else None
    return PortSpec(protocol, port, end)


def optional_tuple(elements: st.SearchStrategy, max_size: int = 3) -> st.SearchStrategy:
    """None (absent), () (empty) or a non-empty tuple — all three must survive."""
    return st.one_of(st.none(), st.lists(elements, max_size=max_size).map(tuple))


rules = st.builds(Rule, peers=optional_tuple(peers), ports=optional_tuple(port_specs()))
policy_types = st.sampled_from([None, (), ("Ingress",), ("Egress",), ("Ingress", "Egress"), ("Egress", "Ingress"), ("Egress", "Egress")])
annotation_values = st.text(max_size=20)  # anything: quoting must cope with every character

policies = st.builds(
    NetworkPolicy,
    name=subdomain,
    namespace=dns_label,
    pod_selector=selectors,
    ingress=optional_tuple(rules, 2),
    egress=optional_tuple(rules, 2),
    policy_types=policy_types,
    labels=labels.map(Labels.of),
    annotations=st.dictionaries(label_key, annotation_values, max_size=2).map(Labels.of),
)


@SETTINGS
@given(policies)
def test_model_yaml_model_round_trip(policy: NetworkPolicy) -> None:
    doc = policy_to_dict(policy)
    text = dump_yaml([doc])
    (located,) = load_text(text, "p.yaml")
    assert located.value == doc
    assert parse_policy(located.value, file="p.yaml", line=located.line, lines=located.lines) == policy
    assert yaml.safe_load(text) == doc
    assert yaml.load(text, Loader=getattr(yaml, "CSafeLoader", yaml.SafeLoader)) == doc


@SETTINGS
@given(policies)
def test_generated_policies_are_valid_and_output_is_stable(policy: NetworkPolicy) -> None:
    assert [p for p in validate_policy(policy) if p.severity == "error"] == []
    assert dump_policies([policy]) == dump_policies([policy])


@settings(max_examples=10, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(st.lists(policies, max_size=5, unique_by=lambda p: (p.namespace, p.name)))
def test_multi_document_file_round_trip(tmp_path: Path, batch: list[NetworkPolicy]) -> None:
    ordered = sorted(batch, key=lambda p: (p.namespace, p.name))
    path = tmp_path / "all.yaml"
    path.write_text(dump_policies(ordered), encoding="utf-8")
    assert list(load_policies([path]).policies) == ordered


def test_absent_and_empty_lists_stay_apart() -> None:
    policy = NetworkPolicy(name="p", namespace="ns", ingress=(Rule(peers=(), ports=None),), egress=None, policy_types=())
    text = dump_policies([policy])
    assert "egress" not in text and "policyTypes: []" in text and "from: []" in text and "ports" not in text
    (located,) = load_text(text)
    assert parse_policy(located.value) == policy
