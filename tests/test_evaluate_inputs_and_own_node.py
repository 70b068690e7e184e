"""The evaluator's inputs (DataFrame, Arrow, CSV label text, PolicySet) agree with explain_flow; a pod and its own node.

Each case names the Kubernetes rule it protects. The semantics are those of
test_semantics_truth.py; here the same connection must get the same verdict
whatever shape it is handed to ``recommender.evaluate`` in (Flow list,
DataFrame, Arrow table) and through ``explain_flow``.
"""

from __future__ import annotations

import pandas as pd
import pyarrow as pa
import pytest
import yaml

import recommender
from recommender.engine.explain import explain_flow
from recommender.io.policies import parse_policy
from recommender.model import Endpoint, EndpointKind, Flow, Labels, Namespace, Pod

# db-0 carries app=db in the inventory, so the `db` policy selects it (isolated for ingress) and
# admits only web on 5432: 9999 is denied by Kubernetes.
POLICY = parse_policy(yaml.safe_load("""
{apiVersion: networking.k8s.io/v1, kind: NetworkPolicy, metadata: {name: db, namespace: shop}, spec: {
 podSelector: {matchLabels: {app: db}}, ingress: [{from: [{podSelector: {matchLabels: {app: web}}}], ports: [{port: 5432}]}]}}
"""))
PODS = [Pod("shop", "web-0", Labels.of(app="web"), ("10.0.0.1",)), Pod("shop", "db-0", Labels.of(app="db"), ("10.0.0.2",))]
NAMESPACES = [Namespace("shop")]
MAP = pa.map_(pa.string(), pa.string())


def _row(port: int, labels: dict[str, str] | None) -> dict[str, object]:
    return {"src_kind": "pod", "src_namespace": "shop", "src_pod": "web-0", "src_ip": "10.0.0.1", "src_labels": labels,
            "dst_kind": "pod", "dst_namespace": "shop", "dst_pod": "db-0", "dst_ip": "10.0.0.2", "dst_labels": labels,
            "protocol": "TCP", "dst_port": port, "action": "allow"}


def _flow(port: int) -> Flow:
    return Flow(Endpoint(EndpointKind.POD, "10.0.0.1", "shop", "web-0"),
                Endpoint(EndpointKind.POD, "10.0.0.2", "shop", "db-0"), "TCP", port)


@pytest.mark.parametrize("labels", [None, {}], ids=["null labels", "empty label map"])
def test_empty_flow_labels_fall_back_to_the_inventory_in_a_dataframe(labels: dict[str, str] | None) -> None:
    """An empty label map carries no labels: the pod keeps its inventory labels (and so its isolation),
    as for a Flow without labels. Read as "this pod has no labels", db-0 escaped the `db` policy and
    9999 was admitted although Kubernetes denies it."""
    frame = pd.DataFrame([_row(5432, labels), _row(9999, labels)])
    verdicts = recommender.evaluate([POLICY], frame, pods=PODS, namespaces=NAMESPACES)
    assert verdicts["allowed"].tolist() == [True, False]
    assert verdicts["ingress_isolated"].tolist() == [True, True]


def test_empty_label_maps_in_an_arrow_table_fall_back_to_the_inventory() -> None:
    rows = [_row(5432, None), _row(9999, None)]
    table = pa.Table.from_pylist(rows).drop_columns(["src_labels", "dst_labels"])
    empty = pa.array([[], []], MAP)
    table = table.append_column("src_labels", empty).append_column("dst_labels", empty)
    verdicts = recommender.evaluate([POLICY], table, pods=PODS, namespaces=NAMESPACES)
    assert verdicts["allowed"].tolist() == [True, False]
    assert verdicts["ingress_isolated_by"].tolist() == [["shop/db"], ["shop/db"]]


def test_every_input_shape_agrees_with_explain_flow() -> None:
    flows = [_flow(5432), _flow(9999)]
    expected = [explain_flow([POLICY], f, pods=PODS, namespaces=NAMESPACES).allowed for f in flows]
    assert expected == [True, False]
    by_flows = recommender.evaluate([POLICY], flows, pods=PODS, namespaces=NAMESPACES)
    by_frame = recommender.evaluate([POLICY], pd.DataFrame([_row(5432, {}), _row(9999, {})]), pods=PODS,
                                    namespaces=NAMESPACES)
    assert by_flows["allowed"].tolist() == expected == by_frame["allowed"].tolist()
    assert by_flows["reason"].tolist() == by_frame["reason"].tolist()


def test_explain_flow_takes_a_policy_set_or_a_path_like_evaluate(tmp_path) -> None:
    """`evaluate` takes policies as models, a PolicySet or a path; `explain_flow` raised TypeError on the
    latter two. The set's own Pods and Namespaces count as inventory, as in `evaluate`."""
    from recommender.io.policies import load_policies

    path = tmp_path / "cluster.yaml"
    docs = [{"apiVersion": "v1", "kind": "Pod", "metadata": {"name": p.name, "namespace": p.namespace,
                                                              "labels": p.labels.as_dict()}} for p in PODS]
    path.write_text(yaml.safe_dump_all([*docs, {"apiVersion": "networking.k8s.io/v1", "kind": "NetworkPolicy",
                                                 "metadata": {"name": "db", "namespace": "shop"},
                                                 "spec": {"podSelector": {"matchLabels": {"app": "db"}}}}]))
    for given in (load_policies(path), path, str(path)):
        verdict = explain_flow(given, _flow(5432))
        assert not verdict.allowed and verdict.ingress.isolated_by == ("shop/db",)


# --- a pod and the node it runs on ------------------------------------------------------------
# Kubernetes docs (Network Policies, the peer kinds): "traffic to and from the node where a Pod is
# running is always allowed, regardless of the IP address of the Pod or the node" (kubelet probes,
# node-local agents). The node is known from the inventory: the pod's spec.nodeName, and the node's
# address from a hostNetwork pod on it (or a host endpoint the exporter named by its node).
NODE_PODS = [
    Pod("shop", "web-0", Labels.of(app="web"), ("10.0.0.1",), node="n1"),
    Pod("kube-system", "agent-n1", Labels.of(app="agent"), ("192.168.1.1",), host_network=True, node="n1"),
    Pod("kube-system", "agent-n2", Labels.of(app="agent"), ("192.168.1.2",), host_network=True, node="n2"),
]
DENY_ALL = parse_policy(yaml.safe_load("""
{apiVersion: networking.k8s.io/v1, kind: NetworkPolicy, metadata: {name: deny-all, namespace: shop},
 spec: {podSelector: {}, policyTypes: [Ingress, Egress]}}
"""))
WEB0 = Endpoint(EndpointKind.POD, "10.0.0.1", "shop", "web-0")
NODE_CASES = [
    (Flow(Endpoint(EndpointKind.HOST, "192.168.1.1"), WEB0, "TCP", 8080), True),                  # own node → pod
    (Flow(WEB0, Endpoint(EndpointKind.HOST, "192.168.1.1"), "TCP", 10250), True),                 # pod → own node
    (Flow(Endpoint(EndpointKind.POD, "192.168.1.1", "kube-system", "agent-n1"), WEB0, "TCP", 9100), True),
    (Flow(Endpoint(EndpointKind.HOST, None, workload="n1"), WEB0, "TCP", 8080), True),            # named by node
    (Flow(Endpoint(EndpointKind.HOST, "192.168.1.2"), WEB0, "TCP", 8080), False),                 # another node
    (Flow(WEB0, Endpoint(EndpointKind.HOST, "192.168.1.2"), "TCP", 10250), False),
    (Flow(Endpoint(EndpointKind.NETWORK, "192.168.1.9"), WEB0, "TCP", 8080), False),              # not a node
    (Flow(Endpoint(EndpointKind.HOST, None, workload="n2"), WEB0, "TCP", 8080), False),
]


def test_traffic_between_a_pod_and_its_own_node_is_always_allowed() -> None:
    flows = [f for f, _ in NODE_CASES]
    expected = [e for _, e in NODE_CASES]
    single = [explain_flow([DENY_ALL], f, pods=NODE_PODS) for f in flows]
    assert [v.allowed for v in single] == expected
    bulk = recommender.evaluate([DENY_ALL], flows, pods=NODE_PODS, namespaces=[])
    assert bulk["allowed"].tolist() == expected
    assert bulk["egress_reason"].tolist() == [v.egress.reason for v in single]
    assert bulk["ingress_reason"].tolist() == [v.ingress.reason for v in single]
    assert single[0].ingress.reason == "ingress allowed: traffic between a pod and the node it runs on"
    assert single[1].egress.reason == "egress allowed: traffic between a pod and the node it runs on"
    assert single[0].ingress.isolated and single[0].ingress.admitted_by == ()


def test_a_dataframe_read_from_a_normalized_csv_is_evaluated_not_a_traceback() -> None:
    """`pd.read_csv` of the documented normalized CSV holds labels as text (a JSON object or k=v;k=v) and
    empty cells as NaN; `evaluate` raised ValueError from dict(). Text labels read like the CSV reader's."""
    rows = [_row(5432, None), _row(9999, None), _row(9999, None)]
    frame = pd.DataFrame(rows).assign(src_labels=['{"app": "web"}', "app=web", float("nan")],
                                      dst_labels=['{"app":"db"}', "app=db;tier=x", ""])
    verdicts = recommender.evaluate([POLICY], frame, pods=PODS, namespaces=NAMESPACES)
    assert verdicts["allowed"].tolist() == [True, False, False]
    assert verdicts["ingress_isolated_by"].tolist() == [["shop/db"]] * 3


def test_unreadable_label_text_is_an_input_error() -> None:
    from recommender.errors import InputError

    frame = pd.DataFrame([_row(5432, None)]).assign(src_labels=["[1, 2]"])
    with pytest.raises(InputError, match="src_labels"):
        recommender.evaluate([POLICY], frame, pods=PODS, namespaces=NAMESPACES)
