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


STAGED = """\
apiVersion: projectcalico.org/v3
kind: StagedKubernetesNetworkPolicy
metadata:
  name: {name}
  namespace: shop
spec:
{action}  podSelector: {{}}
  policyTypes: [Egress]
"""


def staged(name: str, action: str | None) -> str:
    return STAGED.format(name=name, action=f"  stagedAction: {action}\n" if action else "")


def test_multi_document_file_with_other_kinds_pods_and_namespaces(tmp_path: Path) -> None:
    text = "\n".join([
        ALLOW_DB + "---",
        "apiVersion: v1\nkind: Service\nmetadata: {name: db, namespace: shop}\n---",
        "---",  # an empty document is ignored
        """\
apiVersion: v1
kind: Pod
metadata:
  name: db-0
  namespace: shop
  labels: {app: db}
  ownerReferences:
  - {kind: StatefulSet, name: db, controller: true}
spec:
  nodeName: n1
  containers:
  - name: pg
    ports:
    - {name: pg, containerPort: 5432}
    - {containerPort: 53, protocol: UDP}
status:
  podIP: 10.0.0.5
  podIPs: [{ip: 10.0.0.5}, {ip: 'fd00::5'}]
---
apiVersion: v1
kind: Namespace
metadata: {name: shop, labels: {team: a}}
""",
    ])
    path = write(tmp_path, "all.yaml", text)
    result = load_policies([path])
    assert [p.key for p in result.policies] == ["shop/allow-db"]
    assert result.skipped == [(str(path), 20, "Service", "shop/db", "kind Service is not a NetworkPolicy")]
    (pod,) = result.pods
    assert (pod.namespace, pod.name, pod.labels.as_dict(), pod.ips, pod.node) == ("shop", "db-0", {"app": "db"}, ("10.0.0.5", "fd00::5"), "n1")
    assert [(p.port, p.protocol, p.name) for p in pod.ports] == [(5432, "TCP", "pg"), (53, "UDP", None)]
    assert (pod.owner_kind, pod.owner_name, pod.host_network) == ("StatefulSet", "db", False)
    (ns,) = result.namespaces
    assert (ns.name, ns.labels.as_dict()) == ("shop", {"team": "a"})


KUBECTL_LIST = """\
apiVersion: v1
items:
- apiVersion: networking.k8s.io/v1
  kind: NetworkPolicy
  metadata:
    annotations:
      kubectl.kubernetes.io/last-applied-configuration: |
        {"apiVersion":"networking.k8s.io/v1","kind":"NetworkPolicy"}
    creationTimestamp: "2024-05-01T10:00:00Z"
    generation: 1
    name: b
    namespace: zeta
    resourceVersion: "123"
    uid: 4b7c5a84-1111-2222-3333-444455556666
  spec:
    podSelector: {}
    policyTypes:
    - Ingress
- apiVersion: networking.k8s.io/v1
  kind: NetworkPolicy
  metadata:
    name: a
    namespace: alpha
  spec:
    podSelector: {}
    ingress:
    - ports:
      - port: 0
kind: List
metadata:
  resourceVersion: ""
"""


def test_kubectl_list_output_and_item_locations(tmp_path: Path) -> None:
    path = write(tmp_path, "list.yaml", KUBECTL_LIST)
    with pytest.raises(PolicyError) as err:
        load_policies([path])
    assert str(err.value) == f"{path}:28 spec.ingress[0].ports[0].port: must be between 1 and 65535, inclusive"
    path.write_text(KUBECTL_LIST.replace("port: 0", "port: 53"))
    result = load_policies([path])
    assert [p.key for p in result.policies] == ["alpha/a", "zeta/b"]  # sorted by (namespace, name)
    assert [p.source.line for p in result.policies] == [19, 3]
    assert "kubectl.kubernetes.io/last-applied-configuration" in result.policies[1].annotations


def test_directory_recursive_sorted_and_suffix_filtered(tmp_path: Path) -> None:
    write(tmp_path, "b/two.yml", ALLOW_DB.replace("allow-db", "two"))
    write(tmp_path, "a/one.yaml", ALLOW_DB.replace("allow-db", "one"))
    write(tmp_path, "c/three.json", json.dumps({"apiVersion": "networking.k8s.io/v1", "kind": "NetworkPolicy",
                                                   "metadata": {"name": "three", "namespace": "shop"}, "spec": {"podSelector": {}}}))
    write(tmp_path, "README.md", "not: [valid")
    result = load_policies([tmp_path, tmp_path / "a" / "one.yaml"])  # a file named twice is read once
    assert [p.name for p in result.policies] == ["one", "three", "two"]


def test_staged_policies(tmp_path: Path) -> None:
    path = write(tmp_path, "staged.yaml", "---\n".join(
        [staged("set", "Set"), staged("implicit", None), staged("gone", "Delete"), staged("learn", "Learn")]))
    result = load_policies([path])
    assert [p.key for p in result.policies] == ["shop/implicit", "shop/set"]
    assert result.policies[0].policy_types == ("Egress",)
    assert [(s.kind, s.name, s.reason) for s in result.skipped] == [
        ("StagedKubernetesNetworkPolicy", "shop/gone", "stagedAction Delete: it creates no policy to evaluate"),
        ("StagedKubernetesNetworkPolicy", "shop/learn", "stagedAction Learn: it creates no policy to evaluate"),
    ]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("a: b\n  c: d\n", "2: invalid YAML: mapping values are not allowed in this context"),
        ("kind: NetworkPolicy\nkind: List\n", "2 kind: duplicate key 'kind'"),
        ("- just\n- a list\n", "1: a document must be a mapping with apiVersion and kind"),
        ("apiVersion: v1\nmetadata: {}\n", "1: document has no kind"),
        ("apiVersion: v1\nkind: List\nitems: {}\n", "3 items: must be a list"),
        ("x: &a [*a]\n", "1 x" + "[0]" * 64 + ": document is nested too deeply or expands too many aliases"),
    ],
)
def test_malformed_documents(tmp_path: Path, text: str, expected: str) -> None:
    path = write(tmp_path, "bad.yaml", text)
    with pytest.raises(PolicyError) as err:
        load_policies([path])
    assert str(err.value) == f"{path}:{expected}"


def test_duplicate_policy_names_are_an_error(tmp_path: Path) -> None:
    first = write(tmp_path, "a.yaml", ALLOW_DB)
    second = write(tmp_path, "b.yaml", "# a comment\n" + ALLOW_DB)
    with pytest.raises(PolicyError) as err:
        load_policies([first, second])
    assert str(err.value) == f"{second}:2: duplicate policy shop/allow-db (also defined at {first}:1)"


def test_missing_path(tmp_path: Path) -> None:
    with pytest.raises(PolicyError, match="no such file or directory"):
        load_policies([tmp_path / "nope.yaml"])


def test_a_single_path_string_is_accepted(tmp_path: Path) -> None:
    path = write(tmp_path, "db.yaml", ALLOW_DB)
    assert [p.name for p in load_policies(str(path)).policies] == ["allow-db"]


def test_merge_keys_and_anchors(tmp_path: Path) -> None:
    text = """\
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {name: m, namespace: ns}
spec:
  podSelector: &web {matchLabels: {app: web}}
  ingress:
  - from:
    - podSelector:
        <<: *web
        matchExpressions: [{key: env, operator: Exists}]
"""
    (policy,) = load_policies([write(tmp_path, "m.yaml", text)]).policies
    selector = policy.ingress[0].peers[0].pod_selector
    assert selector == LabelSelector.of({"app": "web"}, [Requirement("env", "Exists")])


def test_warnings_are_collected(tmp_path: Path) -> None:
    text = BLOG_EXAMPLE.replace("128.12.46.0/16", "128.12.0.128/25").replace("cidr: 128.12.0.0/24", "cidr: 128.12.0.1/24")
    path = write(tmp_path, "w.yaml", text)
    result = load_policies([path])
    assert [str(w) for w in result.warnings] == [
        f"{path}:15 spec.ingress[0].from[0].ipBlock.cidr: has bits set beyond the prefix length: "
        "it means 128.12.0.0/24 (or did you mean 128.12.0.1/32?) (warning)"
    ]


def test_pod_with_malformed_port(tmp_path: Path) -> None:
    text = "apiVersion: v1\nkind: Pod\nmetadata: {name: p}\nspec:\n  containers:\n  - ports:\n    - containerPort: http\n"
    path = write(tmp_path, "pod.yaml", text)
    with pytest.raises(PolicyError) as err:
        load_policies([path])
    assert str(err.value) == f"{path}:7 spec.containers[0].ports[0].containerPort: must be a port number between 1 and 65535"


def test_real_kubectl_objects_are_read_or_skipped(samples: Path) -> None:
    result = load_policies([samples / "k8s-inventory"])
    assert result.policies == ()
    assert sorted((s.kind, s.name) for s in result.skipped) == [("EndpointSlice", "blee/fred"), ("Service", "default/dictionary1")]
    (pod,) = result.pods
    assert (pod.namespace, pod.name, pod.ips, pod.owner_kind) == ("default", "nginx-7fb78fb6d8-2w75j", ("10.44.0.229",), "ReplicaSet")
    assert [(p.port, p.protocol) for p in pod.ports] == [(80, "TCP")]
    assert [n.name for n in result.namespaces] == ["kube-system"]


def test_cli_reports_an_invalid_policy_with_exit_code_2(tmp_path: Path, cli) -> None:
    path = write(tmp_path, "policies.yaml", BLOG_EXAMPLE)
    result = cli("explain", "--policies", path, "--from", "10.0.0.1", "--to", "10.0.0.2", "--port", "80/TCP")
    assert result.exit_code == 2
    assert f"{path}:17 spec.ingress[0].from[0].ipBlock.except[0]: must be a strict subset of cidr 128.12.0.0/24" in result.stderr
    assert result.stdout == ""


def test_calico_native_network_policy_is_skipped_not_rejected(tmp_path: Path) -> None:
    text = "apiVersion: projectcalico.org/v3\nkind: NetworkPolicy\nmetadata: {name: allow-tcp-6379, namespace: production}\n" \
           "spec:\n  selector: role == 'database'\n  types: [Ingress]\n"
    result = load_policies([write(tmp_path, "calico.yaml", text)])
    assert result.policies == ()
    assert [(s.kind, s.name, s.reason) for s in result.skipped] == [
        ("NetworkPolicy", "production/allow-tcp-6379", "projectcalico.org/v3 NetworkPolicy is Calico's own kind, not evaluated")
    ]


def test_duplicate_keys_in_json_are_refused(tmp_path: Path) -> None:
    path = write(tmp_path, "dup.json", '{"apiVersion": "networking.k8s.io/v1", "kind": "NetworkPolicy",\n "kind": "List"}')
    with pytest.raises(PolicyError) as err:
        load_policies([path])
    assert str(err.value) == f"{path}:2 kind: duplicate key 'kind'"


@pytest.mark.parametrize("encoding", ["utf-8", "utf-8-sig", "utf-16"])
def test_text_encodings(tmp_path: Path, encoding: str) -> None:
    path = tmp_path / "p.yaml"
    path.write_bytes(("# propriétaire: équipe données\n" + ALLOW_DB).encode(encoding))
    assert [p.key for p in load_policies([path]).policies] == ["shop/allow-db"]


def test_binary_file_is_an_error(tmp_path: Path) -> None:
    path = tmp_path / "p.yaml"
    path.write_bytes(b"kind: \xff\xfe\x00garbage")
    with pytest.raises(PolicyError, match=r"p\.yaml: not UTF-8 text \(byte 6\)"):
        load_policies([path])
