"""Loading policies from files: formats, kinds, locations and the model they give."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from recommender.errors import PolicyError
from recommender.io.policies import load_policies, parse_policy
from recommender.model import IPBlock, LabelSelector, Peer, PortSpec, Requirement, Rule

BLOG_EXAMPLE = """\
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata:
  name: test-network-policy
  namespace: default
spec:
  podSelector:
    matchLabels:
      role: db
  policyTypes:
  - Ingress
  ingress:
  - from:
    - ipBlock:
        cidr: 128.12.0.0/24
        except:
        - 128.12.46.0/16
"""

ALLOW_DB = """\
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata:
  name: allow-db
  namespace: shop
spec:
  podSelector:
    matchLabels: {app: db}
  ingress:
  - from:
    - podSelector:
        matchExpressions:
        - {key: tier, operator: In, values: [web, api]}
      namespaceSelector: {}
    ports:
    - {protocol: TCP, port: 5432}
    - {port: 8000, endPort: 8100}
  - {}
"""


def write(tmp_path: Path, name: str, text: str) -> Path:
    path = tmp_path / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    return path


def test_blog_example_is_rejected_with_exact_location(tmp_path: Path) -> None:
    path = write(tmp_path, "policies.yaml", BLOG_EXAMPLE)
    with pytest.raises(PolicyError) as err:
        load_policies([path])
    assert str(err.value) == (
        f"{path}:17 spec.ingress[0].from[0].ipBlock.except[0]: must be a strict subset of cidr 128.12.0.0/24"
    )
    assert err.value.exit_code == 2


def test_model_of_a_valid_policy(tmp_path: Path) -> None:
    path = write(tmp_path, "db.yaml", ALLOW_DB)
    (policy,) = load_policies([path]).policies
    assert policy.key == "shop/allow-db"
    assert policy.pod_selector == LabelSelector.of({"app": "db"})
    assert policy.egress is None and policy.policy_types is None
    assert policy.ingress == (
        Rule(
            peers=(
                Peer(
                    pod_selector=LabelSelector.of(None, [Requirement("tier", "In", ("web", "api"))]),
                    namespace_selector=LabelSelector(),
                ),
            ),
            ports=(PortSpec("TCP", 5432), PortSpec(None, 8000, 8100)),
        ),
        Rule(peers=None, ports=None),
    )
    assert policy.source.file == str(path) and policy.source.line == 1


def test_parse_policy_from_a_plain_dict_defaults_namespace() -> None:
    doc = {"apiVersion": "networking.k8s.io/v1", "kind": "NetworkPolicy", "metadata": {"name": "deny"},
           "spec": {"podSelector": {}, "ingress": [], "egress": [{"to": []}]}}
    policy = parse_policy(doc, file="x.yaml", line=3)
    assert policy.namespace == "default"
    assert policy.ingress == () and policy.egress == (Rule(peers=(), ports=None),)
    doc["spec"]["ingress"] = [{"from": [{}]}]
    with pytest.raises(PolicyError, match=r"^x\.yaml:3 spec\.ingress\[0\]\.from\[0\]: must specify a peer"):
        parse_policy(doc, file="x.yaml", line=3)


def test_ipblock_peer(tmp_path: Path) -> None:
    text = BLOG_EXAMPLE.replace("128.12.46.0/16", "128.12.0.128/25")
    (policy,) = load_policies([write(tmp_path, "p.yaml", text)]).policies
    assert policy.ingress[0].peers == (Peer(ip_block=IPBlock("128.12.0.0/24", ("128.12.0.128/25",))),)


def test_json_file(tmp_path: Path) -> None:
    import yaml

    doc = yaml.safe_load(ALLOW_DB)
    path = write(tmp_path, "p.json", json.dumps(doc, indent="\t"))
    (policy,) = load_policies([path]).policies
    assert policy.key == "shop/allow-db"
