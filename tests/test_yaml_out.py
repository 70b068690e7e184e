"""The YAML writer: exact shape, determinism, and strings that stay strings."""

from __future__ import annotations

import pytest
import yaml

from recommender.io.yaml_out import dump_policies, dump_yaml, policy_to_dict, quote_scalar, staged_policy_to_dict
from recommender.model import IPBlock, LabelSelector, Labels, NetworkPolicy, Peer, PortSpec, Requirement, Rule

LOADERS = [pytest.param(yaml.SafeLoader, id="pure-python"), pytest.param(getattr(yaml, "CSafeLoader", yaml.SafeLoader), id="libyaml")]

# Strings that some YAML reader would turn into a bool, null, number, date or sexagesimal.
AMBIGUOUS = [
    "yes", "no", "on", "off", "y", "n", "Yes", "NO", "On", "True", "true", "false", "null", "Null", "~", "",
    "1.10", "0x1F", "1e3", "012", "0o17", ".inf", "-.inf", ".nan", "1_000", "2001-01-01", "2001-12-14t21:59:43.10-05:00",
    "1:20", "190:20:30", "+1", "-1", ".5", "0b101", "<<", "=",
]
TRICKY = [
    "a b", "it's", "#x", "- a", "a: b", "x #y", "\n", "two\nlines", "tab\tx", "\u2028", "\x85", "\ufeff", "é", "日本",
    " lead", "trail ", "'", '"', "\\", "@x", "`x", "%x", "!x", "&x", "*x", "|", ">", "?", ":", "-", "---", "...",
    "{a}", "[a]", "a,b", "\x00", "\x7f", "10.0.0.0/8", "0.0.0.0/0", "2001:db8::/64", "::/0", "fe80::1:20/64", "1:20/3",
]


@pytest.mark.parametrize("loader", LOADERS)
@pytest.mark.parametrize("text", AMBIGUOUS + TRICKY)
def test_every_string_round_trips_as_that_string(text: str, loader: type) -> None:
    doc = {"metadata": {"labels": {text: text}}, "values": [text]}
    assert yaml.load(dump_yaml([doc]), Loader=loader) == doc


@pytest.mark.parametrize("text", AMBIGUOUS)
def test_ambiguous_words_are_quoted(text: str) -> None:
    assert quote_scalar(text) == "'" + text + "'"


@pytest.mark.parametrize("text", ["web", "app.kubernetes.io/name", "v1.2.3", "my-app_x", "NaN", "a/b", "10.0.0.0/8", "2001:db8::/64"])
def test_ordinary_names_stay_plain(text: str) -> None:
    assert quote_scalar(text) == text


@pytest.mark.parametrize(
    ("text", "expected"),
    [("it's", "'it''s'"), ("a\nb", '"a\\nb"'), ('q"\t', '"q\\"\\t"'), ("\x85", '"\\x85"'), ("\u2028", '"\\u2028"')],
)
def test_quoting_style(text: str, expected: str) -> None:
    assert quote_scalar(text) == expected


POLICY = NetworkPolicy(
    name="allow-web",
    namespace="shop",
    pod_selector=LabelSelector.of({"app": "web", "tier": "yes"}),
    ingress=(
        Rule(
            peers=(
                Peer(namespace_selector=LabelSelector(), pod_selector=LabelSelector.of(None, [Requirement("env", "NotIn", ("1.10",))])),
                Peer(ip_block=IPBlock("10.0.0.0/8", ("10.1.0.0/16",))),
            ),
            ports=(PortSpec("TCP", 8080), PortSpec(None, "http"), PortSpec("UDP", 1000, 2000)),
        ),
        Rule(peers=(), ports=None),
    ),
    egress=(),
    policy_types=("Ingress", "Egress"),
    labels=Labels.of({"generated-by": "recommender"}),
)

EXPECTED = """\
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata:
  name: allow-web
  namespace: shop
  labels:
    generated-by: recommender
spec:
  podSelector:
    matchLabels:
      app: web
      tier: 'yes'
  policyTypes:
  - Ingress
  - Egress
  ingress:
  - from:
    - namespaceSelector: {}
      podSelector:
        matchExpressions:
        - key: env
          operator: NotIn
          values:
          - '1.10'
    - ipBlock:
        cidr: 10.0.0.0/8
        except:
        - 10.1.0.0/16
    ports:
    - protocol: TCP
      port: 8080
    - port: http
    - protocol: UDP
      port: 1000
      endPort: 2000
  - from: []
  egress: []
"""


def test_policy_golden_text() -> None:
    assert dump_policies([POLICY]) == EXPECTED


def test_matches_pyyaml_reading() -> None:
    assert yaml.safe_load(EXPECTED) == policy_to_dict(POLICY)


def test_absent_fields_are_omitted() -> None:
    doc = policy_to_dict(NetworkPolicy(name="deny", namespace="ns"))
    assert doc == {"apiVersion": "networking.k8s.io/v1", "kind": "NetworkPolicy",
                   "metadata": {"name": "deny", "namespace": "ns"}, "spec": {"podSelector": {}}}
    assert dump_yaml([doc]).endswith("spec:\n  podSelector: {}\n")


def test_staged_policy() -> None:
    doc = staged_policy_to_dict(POLICY, staged_action="Set")
    assert (doc["apiVersion"], doc["kind"]) == ("projectcalico.org/v3", "StagedKubernetesNetworkPolicy")
    assert list(doc["spec"])[:2] == ["stagedAction", "podSelector"]
    assert doc["spec"]["stagedAction"] == "Set"


def test_multi_document_and_deterministic() -> None:
    other = NetworkPolicy(name="b", namespace="shop")
    text = dump_policies([POLICY, other])
    assert text == dump_policies([POLICY, other])
    assert text.count("\n---\n") == 1
    assert [d["metadata"]["name"] for d in yaml.safe_load_all(text)] == ["allow-web", "b"]
    assert dump_yaml([]) == ""


@pytest.mark.parametrize("value", [None, True, False, 0, -7, 1.5, 1e300, float("inf"), [], {}, [[1, [2]], {"k": [None]}]])
def test_other_values_round_trip(value: object) -> None:
    assert yaml.safe_load(dump_yaml([{"v": value}])) == {"v": value}


def test_unsupported_value_is_a_type_error() -> None:
    with pytest.raises(TypeError):
        dump_yaml([{"v": object()}])


@pytest.mark.parametrize("loader", LOADERS)
def test_keys_longer_than_yaml_simple_key_limit(loader: type) -> None:
    long_key = "k" * 1500
    doc = {"a": {long_key: "v", long_key + "x": {"n": [1, {"m": None}]}, long_key + "y": ["z"], long_key + "z": []}}
    assert yaml.load(dump_yaml([doc]), Loader=loader) == doc


def test_numpy_scalars_from_dataframes_are_written_as_numbers() -> None:
    import numpy as np

    policy = NetworkPolicy(name="p", namespace="ns", ingress=(Rule(ports=(PortSpec("TCP", np.int64(80), np.int32(90)),)),))
    doc = policy_to_dict(policy)
    assert doc["spec"]["ingress"][0]["ports"] == [{"protocol": "TCP", "port": 80, "endPort": 90}]
    assert type(doc["spec"]["ingress"][0]["ports"][0]["port"]) is int
    assert yaml.safe_load(dump_yaml([{"n": np.int64(7), "f": np.float64(0.5), "b": np.bool_(True)}])) == {"n": 7, "f": 0.5, "b": True}
