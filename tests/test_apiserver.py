"""The API server's addresses come from the inventory's default/kubernetes Service, Endpoints and EndpointSlices."""

from __future__ import annotations

import json
from pathlib import Path

import duckdb
import pytest
import yaml

from recommender.errors import InputError
from recommender.io import apiserver, inventory

HEADER = ("src_kind,src_namespace,src_pod,src_ip,src_labels,dst_kind,dst_namespace,dst_pod,dst_ip,dst_labels,"
          "protocol,dst_port,action\n")


def objects() -> list[dict]:
    return [
        {"kind": "Namespace", "metadata": {"name": "shop"}},
        {"kind": "Pod", "metadata": {"name": "web-0", "namespace": "shop", "labels": {"app": "web"}},
         "spec": {"containers": [{"name": "web"}]}, "status": {"podIP": "10.244.1.5"}},
        {"kind": "Service", "metadata": {"name": "kubernetes", "namespace": "default"},
         "spec": {"clusterIP": "10.96.0.1", "clusterIPs": ["10.96.0.1"], "ports": [{"port": 443}]}},
        {"kind": "Endpoints", "metadata": {"name": "kubernetes", "namespace": "default"},
         "subsets": [{"addresses": [{"ip": "172.20.0.5"}, {"ip": "172.20.0.6"}], "ports": [{"port": 6443}]}]},
        {"kind": "EndpointSlice", "metadata": {"name": "kubernetes", "namespace": "default",
                                               "labels": {"kubernetes.io/service-name": "kubernetes"}},
         "endpoints": [{"addresses": ["172.20.0.6"]}, {"addresses": ["172.20.0.7"]}]},
        {"kind": "EndpointSlice", "addressType": "FQDN",
         "metadata": {"name": "kubernetes-fqdn", "namespace": "default",
                      "labels": {"kubernetes.io/service-name": "kubernetes"}},
         "endpoints": [{"addresses": ["api.example.internal"]}]},
        # not the API server: counted as ignored
        {"kind": "Service", "metadata": {"name": "web", "namespace": "shop"}, "spec": {"clusterIP": "10.96.4.4"}},
        {"kind": "Endpoints", "metadata": {"name": "kubernetes", "namespace": "shop"},
         "subsets": [{"addresses": [{"ip": "10.244.9.9"}]}]},
    ]


def write(tmp_path: Path, items: list[dict]) -> Path:
    path = tmp_path / "cluster.json"
    path.write_text(json.dumps({"kind": "List", "items": items}, indent=1))
    return path


def test_service_endpoints_and_slices_name_the_api_server(tmp_path: Path) -> None:
    pods, namespaces, found, stats = inventory.read_all([write(tmp_path, objects())])
    assert {(a.ip, a.role) for a in found} == {
        ("10.96.0.1", "service"), ("172.20.0.5", "endpoint"), ("172.20.0.6", "endpoint"), ("172.20.0.7", "endpoint")}
    assert stats.apiserver_addresses == 4 and stats.ignored == {"Service": 1, "Endpoints": 1}
    assert [p.pod.name for p in pods] == ["web-0"] and [n.namespace.name for n in namespaces] == ["shop"]
    con = duckdb.connect()
    inventory.load_inventory(con, [write(tmp_path, objects())])
    assert apiserver.read(con) == (frozenset({"172.20.0.5", "172.20.0.6", "172.20.0.7"}), frozenset({"10.96.0.1"}))
    assert apiserver.read(duckdb.connect()) == (frozenset(), frozenset())      # no inventory: nothing known


def test_a_bad_endpoint_address_names_its_field(tmp_path: Path) -> None:
    items = objects()
    items[3]["subsets"][0]["addresses"][1]["ip"] = "172.20.0.300"
    with pytest.raises(InputError) as err:
        inventory.read_all([write(tmp_path, items)])
    assert "items[3].subsets[0].addresses[1].ip" in str(err.value) and "172.20.0.300" in str(err.value)


def test_generate_allows_the_service_address_with_every_api_server(cli, tmp_path: Path) -> None:
    """web calls the kubernetes Service (10.96.0.1) and one API server directly: its egress rule names the
    Service address and all three API servers (policies apply after DNAT), and the summary counts the three
    (address, port) admissions never observed (172.20.0.5 was seen on 6443 only) as widening, and warns."""
    inv = write(tmp_path, objects())
    flows = tmp_path / "flows.csv"
    flows.write_text(HEADER + "pod,shop,web-0,10.244.1.5,app=web,network,,,10.96.0.1,,TCP,443,allow\n"
                     "pod,shop,web-0,10.244.1.5,app=web,network,,,172.20.0.5,,TCP,6443,allow\n")
    r = cli("generate", flows, "--inventory", inv, "--report", tmp_path / "r.json")
    assert r.exit_code == 0, r.stderr
    web = next(d for d in yaml.safe_load_all(r.stdout) if d["metadata"]["name"] == "web-0")
    blocks = {(tuple(p["port"] for p in rule["ports"]), tuple(t["ipBlock"]["cidr"] for t in rule["to"]))
              for rule in web["spec"]["egress"]}
    assert ((443,), ("10.96.0.1/32", "172.20.0.5/32", "172.20.0.6/32", "172.20.0.7/32")) in blocks
    assert ((6443,), ("172.20.0.5/32",)) in blocks
    assert "kube-apiserver Service address 10.96.0.1 allowed as an ipBlock together with the API servers " \
           "172.20.0.5, 172.20.0.6, 172.20.0.7" in r.stderr
    assert "kube-apiserver endpoint 172.20.0.5 allowed as an ipBlock" in r.stderr
    summary = json.loads((tmp_path / "r.json").read_text())["summary"]
    assert summary["widening"]["addresses_beyond_observed"] == 3 and summary["verification"]["coverage"] == 1.0


def test_ingest_summary_counts_the_inventory_and_its_api_servers(cli, tmp_path: Path) -> None:
    flows = tmp_path / "flows.csv"
    flows.write_text(HEADER + "network,,,10.244.1.5,,network,,,10.96.0.1,,TCP,443,allow\n")
    r = cli("ingest", flows, "--inventory", write(tmp_path, objects()), "--db", ":memory:")
    assert r.exit_code == 0, r.stderr
    assert ("inventory: 1 pods, 1 namespaces, 4 API server addresses; enrichment: 1 endpoints → pods, 0 → hosts, "
            "0 left ambiguous") in r.stdout
