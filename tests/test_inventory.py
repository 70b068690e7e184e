"""Inventory loader: kubectl List JSON, multi-document YAML, owners → workloads, errors with lines."""

from __future__ import annotations

import json
from pathlib import Path

import duckdb
import pytest

from recommender.errors import InputError
from recommender.io import inventory, json_items
from recommender.model import ContainerPort, Labels


def pod(name: str, ns: str = "shop", *, labels: dict | None = None, ip: str | None = None,
        ips: list[str] | None = None, owner: tuple[str, str] | None = None, host: bool = False,
        ports: list[dict] | None = None, kind: bool = True) -> dict:
    obj: dict = {"metadata": {"name": name, "namespace": ns, "labels": labels or {}},
                 "spec": {"nodeName": "node-1", "containers": [{"name": "c", "ports": ports or []}]},
                 "status": {}}
    if kind:
        obj = {"apiVersion": "v1", "kind": "Pod", **obj}
    if owner:
        obj["metadata"]["ownerReferences"] = [{"kind": owner[0], "name": owner[1], "controller": True}]
    if host:
        obj["spec"]["hostNetwork"] = True
    if ip:
        obj["status"]["podIP"] = ip
    if ips:
        obj["status"]["podIPs"] = [{"ip": i} for i in ips]
    return obj


def write_json(tmp_path: Path, obj: object, name: str = "inv.json") -> Path:
    path = tmp_path / name
    path.write_text(json.dumps(obj, indent=2))
    return path


@pytest.mark.parametrize(("owner", "labels", "expected"), [
    (None, {}, ("Pod", "bare")),
    (("ReplicaSet", "web-7fb78fb6d8"), {"pod-template-hash": "7fb78fb6d8"}, ("Deployment", "web")),
    (("ReplicaSet", "api-v2-5d4f8c9b7"), {}, ("Deployment", "api-v2")),          # hash-shaped suffix
    (("ReplicaSet", "legacy-rs"), {}, ("ReplicaSet", "legacy-rs")),              # a bare ReplicaSet
    (("StatefulSet", "db"), {}, ("StatefulSet", "db")),
    (("DaemonSet", "fluentd"), {}, ("DaemonSet", "fluentd")),
    (("Job", "backup-28930560"), {}, ("CronJob", "backup")),                     # CronJob job names
    (("Job", "migrate"), {}, ("Job", "migrate")),
    (("Node", "node-1"), {}, ("Node", "node-1")),                                # static (mirror) pod
])
def test_workload_resolution(owner: tuple[str, str] | None, labels: dict, expected: tuple[str, str]) -> None:
    kind, name = owner or (None, None)
    assert inventory.resolve_workload("bare", Labels.of(labels), kind, name) == expected


def test_kubectl_list_json(tmp_path: Path) -> None:
    items = [
        {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "shop", "labels": {"team": "a"}}},
        pod("web-7fb78fb6d8-abcde", labels={"app": "web", "pod-template-hash": "7fb78fb6d8"},
            ips=["10.0.0.5", "fd00::0:5"], owner=("ReplicaSet", "web-7fb78fb6d8"),
            ports=[{"name": "http", "containerPort": 8080}, {"containerPort": 53, "protocol": "UDP"}]),
        pod("node-agent", "kube-system", ip="192.168.0.10", host=True, owner=("DaemonSet", "agent")),
        {"apiVersion": "networking.k8s.io/v1", "kind": "NetworkPolicy", "metadata": {"name": "x"}},
        {"apiVersion": "v1", "kind": "Service", "metadata": {"name": "web"}},
    ]
    path = write_json(tmp_path, {"apiVersion": "v1", "kind": "List", "items": items})
    pods, namespaces, stats = inventory.read_records([path])
    assert (stats.pods, stats.namespaces, stats.host_network_pods) == (2, 1, 1)
    assert stats.ignored == {"NetworkPolicy": 1, "Service": 1}
    agent, web = pods
    assert web.pod.ips == ("10.0.0.5", "fd00::5")                         # canonical IPv6
    assert web.pod.ports == (ContainerPort(8080, "TCP", "http"), ContainerPort(53, "UDP", None))
    assert (web.workload_kind, web.workload, web.line) == ("Deployment", "web", 15)
    assert agent.pod.host_network and agent.pod.node == "node-1" and agent.workload == "agent"
    assert namespaces[0].namespace.labels.as_dict() == {"team": "a", "kubernetes.io/metadata.name": "shop"}


def test_typed_list_without_item_kinds(tmp_path: Path) -> None:
    # the raw API's PodList omits kind/apiVersion on each item
    path = write_json(tmp_path, {"kind": "PodList", "items": [pod("a", kind=False, ip="10.0.0.1")]})
    pods, _ = inventory.read_inventory([path])
    assert [(p.name, p.ips) for p in pods] == [("a", ("10.0.0.1",))]


YAML = """\
apiVersion: v1
kind: Namespace
metadata:
  name: shop
  labels:
    kubernetes.io/metadata.name: shop
    env: prod
---
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {name: deny-all, namespace: shop}
spec: {podSelector: {}}
---
apiVersion: v1
kind: List
items:
- apiVersion: v1
  kind: Pod
  metadata:
    name: db-0
    namespace: shop
    labels: {app: db}
    ownerReferences: [{kind: StatefulSet, name: db, controller: true}]
  spec:
    containers: [{name: db, ports: [{name: pg, containerPort: 5432}]}]
  status:
    podIP: 10.0.0.9
"""


def test_multi_document_yaml_with_policies_and_a_list(tmp_path: Path) -> None:
    path = tmp_path / "inv.yaml"
    path.write_text(YAML)
    pods, namespaces, stats = inventory.read_records([path])
    assert stats.ignored == {"NetworkPolicy": 1}
    assert [(r.pod.name, r.workload_kind, r.workload, r.line) for r in pods] == [("db-0", "StatefulSet", "db", 17)]
    assert namespaces[0].namespace.labels.as_dict() == {"env": "prod", "kubernetes.io/metadata.name": "shop"}
    assert namespaces[0].line == 1


@pytest.mark.parametrize(("text", "message"), [
    (YAML.replace("podIP: 10.0.0.9", "podIPs: [{ip: 10.0.0.300}]"),
     "inv.yaml:27 items[0].status.podIPs[0].ip: invalid IP '10.0.0.300'"),
    (YAML.replace("containerPort: 5432", "containerPort: 70000"),
     "inv.yaml:25 items[0].spec.containers[0].ports[0].containerPort: invalid port 70000 (must be 1-65535)"),
    (YAML.replace("labels: {app: db}", "labels: {app: 1}"),
     "inv.yaml:22 items[0].metadata.labels.app: label value must be a string, found 1"),
    (YAML.replace("    name: db-0\n", ""), "inv.yaml:19 items[0].metadata.name: missing metadata.name"),
    ("kind: Pod\nmetadata: [\n", "inv.yaml:3: invalid YAML"),
])
def test_errors_name_file_line_and_field_path(tmp_path: Path, text: str, message: str) -> None:
    path = tmp_path / "inv.yaml"
    path.write_text(text)
    with pytest.raises(InputError) as err:
        inventory.read_records([path])
    assert str(err.value).replace(str(tmp_path) + "/", "").startswith(message)
    assert err.value.exit_code == 2


def test_json_error_line_found_on_the_error_path(tmp_path: Path) -> None:
    items = [pod("a", ip="10.0.0.1"), pod("b", ips=["10.0.0.2", "not-an-ip"])]
    path = write_json(tmp_path, {"kind": "List", "items": items})
    with pytest.raises(InputError) as err:
        inventory.read_records([path])
    assert err.value.path == "items[1].status.podIPs[1].ip"
    assert path.read_text().splitlines()[err.value.line - 1].strip() == '"ip": "not-an-ip"'


def test_invalid_json(tmp_path: Path) -> None:
    path = tmp_path / "inv.json"
    path.write_text('{"kind": "List",\n "items": [}')
    with pytest.raises(InputError, match=r"inv.json:2: invalid JSON"):
        inventory.read_records([path])


def test_separate_files_single_objects_and_duplicates(tmp_path: Path) -> None:
    a = write_json(tmp_path, pod("a", ip="10.0.0.1", labels={"v": "1"}), "a.json")
    a2 = write_json(tmp_path, pod("a", ip="10.0.0.7", labels={"v": "2"}), "a2.json")
    ns = write_json(tmp_path, {"kind": "Namespace", "metadata": {"name": "shop"}}, "ns.json")
    pods, namespaces, stats = inventory.read_records([a, ns, a2])
    assert stats.duplicates == 1 and stats.files == 3
    assert [(r.pod.ips, r.file) for r in pods] == [(("10.0.0.7",), str(a2))]     # the later file wins


def test_load_inventory_fills_tables_and_replaces_them(tmp_path: Path) -> None:
    path = tmp_path / "inv.yaml"
    path.write_text(YAML)
    con = duckdb.connect()
    stats = inventory.load_inventory(con, [path])
    assert stats.pods == 1 and stats.namespaces == 1
    rows = con.execute("SELECT namespace, name, labels, ips, ports, host_network, node, owner_kind, owner_name,"
                       " workload_kind, workload, line FROM pods").fetchall()
    assert rows == [("shop", "db-0", {"app": "db"}, ["10.0.0.9"], [{"name": "pg", "port": 5432, "protocol": "TCP"}],
                     False, None, "StatefulSet", "db", "StatefulSet", "db", 17)]
    assert con.execute("SELECT name, labels FROM namespaces").fetchall() == [
        ("shop", {"env": "prod", "kubernetes.io/metadata.name": "shop"})]
    inventory.load_inventory(con, [path])
    assert con.execute("SELECT count(*) FROM pods").fetchone()[0] == 1


def test_pod_without_ip_and_empty_inventory(tmp_path: Path) -> None:
    path = write_json(tmp_path, {"kind": "List", "items": [pod("pending")]})
    con = duckdb.connect()
    stats = inventory.load_inventory(con, [path])
    assert stats.pods_without_ip == 1
    assert con.execute("SELECT ips FROM pods").fetchall() == [([],)]
    empty = write_json(tmp_path, {"kind": "List", "items": []}, "empty.json")
    assert inventory.load_inventory(con, [empty]).pods == 0


def test_a_directory_contributes_its_json_and_yaml_files(tmp_path: Path) -> None:
    (tmp_path / "sub").mkdir()
    write_json(tmp_path, pod("a", ip="10.0.0.1"), "sub/a.json")
    (tmp_path / "ns.yaml").write_text("kind: Namespace\nmetadata: {name: shop}\n")
    (tmp_path / "notes.txt").write_text("not an inventory")
    pods, namespaces = inventory.read_inventory([tmp_path])
    assert [p.name for p in pods] == ["a"] and [n.name for n in namespaces] == ["shop"]
    with pytest.raises(InputError, match="no-such.json: cannot read"):
        inventory.read_inventory([tmp_path / "no-such.json"])


@pytest.mark.parametrize("text", [
    '{"kind": "List", "items": [{"a": 1}, {"b": [1, 2]}], "metadata": {}}',
    '\n\n{ "items" : [\n {"a": 1},\n\n {"b": 2} ] }\n',
    '{"items": []}', "{}", '[{"kind": "Pod"}]', '{"nested": {"items": [1, 2]}, "items": [3]}',
])
def test_json_items_reads_like_json_loads(text: str) -> None:
    value, lines = json_items.loads_with_item_lines(text)
    assert value == json.loads(text)
    items = value.get("items", []) if isinstance(value, dict) else []
    assert sorted(lines) == list(range(len(items)))
    for i, line in lines.items():       # each item starts on its line
        assert json.dumps(items[i])[:2] in text.splitlines()[line - 1]


@pytest.mark.parametrize("text", ['{"items": [1,]}', '{"a": 1,}', '{1: 2}', '{"a" 1}', '{"items": [1] "b": 2}',
                                  '{"a": 1} x', '{"items": [1 2]}'])
def test_json_items_refuses_what_json_loads_refuses(text: str) -> None:
    with pytest.raises(json.JSONDecodeError):
        json.loads(text)
    with pytest.raises(json.JSONDecodeError):
        json_items.loads_with_item_lines(text)
