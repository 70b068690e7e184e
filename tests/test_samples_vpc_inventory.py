"""Real AWS VPC flow logs and kubectl objects from ../shared/samples (see SOURCES.md there)."""

from __future__ import annotations

from pathlib import Path

import duckdb

from recommender.io import enrich, inventory, schema, vpc


def read(path: Path) -> tuple[vpc.ReadStats, list[tuple]]:
    con = duckdb.connect()
    con.execute(schema.connections_ddl("stage"))
    stats = vpc.read(con, str(path), target="stage", skip_bad=False)
    assert stats.reconciles(), stats
    assert vpc.sniff(path.read_bytes()[:65536])
    rows = con.execute("SELECT src_ip, dst_ip, protocol, dst_port, action, flows, packets, bytes, line"
                       " FROM stage ORDER BY line").fetchall()
    return stats, rows


def test_multi_s3_text_with_header(samples: Path) -> None:
    stats, rows = read(samples / "aws-vpc" / "valid_vpc_flow_log_multi.log")
    assert (stats.records, stats.accepted, stats.connections) == (2, 2, 2)
    assert rows == [("172.31.16.139", "172.31.16.21", "TCP", 22, "allow", 1, 20, 4249, 2),
                    ("172.31.9.69", "172.31.9.12", "TCP", 3389, "deny", 1, 20, 4249, 3)]


def test_nodata_record_is_skipped(samples: Path) -> None:
    stats, rows = read(samples / "aws-vpc" / "valid_vpc_flow_log.log")
    assert (stats.records, stats.accepted, stats.skipped) == (1, 0, {"NODATA": 1})
    assert rows == []


def test_ecs_custom_format_with_a_lying_version(samples: Path) -> None:
    stats, rows = read(samples / "aws-vpc" / "valid_vpc_flow_log_ecs.log")
    assert (stats.records, stats.accepted) == (1, 1)
    assert rows == [("10.0.1.100", "10.0.2.200", "TCP", 22, "allow", 1, 15, 3500, 2)]


def test_cloudwatch_subscription_envelope(samples: Path) -> None:
    stats, rows = read(samples / "aws-vpc" / "valid_vpc_flow_cw.json")
    assert (stats.records, stats.accepted, stats.connections) == (2, 2, 2)
    assert [r[:5] for r in rows] == [("172.31.16.139", "172.31.16.21", "TCP", 22, "allow"),
                                     ("172.31.9.69", "172.31.9.12", "TCP", 3389, "deny")]


def test_kubectl_objects(samples: Path) -> None:
    files = sorted((samples / "k8s-inventory").glob("*.json"))
    pods, namespaces, stats = inventory.read_records(files)
    assert (stats.files, stats.pods, stats.namespaces) == (4, 1, 1)
    assert stats.ignored == {"EndpointSlice": 1, "Service": 1}
    (nginx,) = pods
    assert (nginx.pod.namespace, nginx.pod.name, nginx.pod.ips) == ("default", "nginx-7fb78fb6d8-2w75j", ("10.44.0.229",))
    assert (nginx.workload_kind, nginx.workload) == ("Deployment", "nginx")
    assert nginx.pod.node == "gke-k9s-default-pool-0fa2fb89-lbtf" and nginx.pod.ports[0].port == 80
    (kube_system,) = namespaces
    assert kube_system.namespace.labels.as_dict() == {"kubernetes.io/metadata.name": "kube-system"}


def test_vpc_record_enriched_with_the_sample_pod(samples: Path, tmp_path: Path) -> None:
    flows = tmp_path / "flows.log"
    flows.write_text("version interface-id srcaddr dstaddr srcport dstport protocol action tcp-flags log-status\n"
                     "5 eni-1 10.128.0.15 10.44.0.229 41000 80 6 ACCEPT 2 OK\n")
    con = duckdb.connect()
    inventory.load_inventory(con, sorted((samples / "k8s-inventory").glob("*.json")))
    con.execute(schema.connections_ddl("stage"))
    vpc.read(con, str(flows), target="stage", skip_bad=False)
    stats = enrich.enrich(con, "stage")
    assert stats.pods == 1
    assert con.execute("SELECT src_kind, dst_kind, dst_namespace, dst_workload, dst_labels['app'] FROM stage"
                       ).fetchall() == [("network", "pod", "default", "nginx", "nginx")]


def test_cli_ingest_with_inventory_and_a_bad_file(samples: Path, tmp_path: Path, cli) -> None:
    ok = cli("ingest", samples / "aws-vpc" / "valid_vpc_flow_log_multi.log", samples / "aws-vpc" / "valid_vpc_flow_cw.json",
             "--inventory", samples / "k8s-inventory" / "p1.json", "--inventory", samples / "k8s-inventory" / "ns.json",
             "--db", ":memory:", "-q", "-o", "json")
    assert ok.exit_code == 0, ok.stderr
    bad = tmp_path / "bad.log"
    bad.write_text((samples / "aws-vpc" / "valid_vpc_flow_log_multi.log").read_text().replace("3389", "70000"))
    result = cli("ingest", bad, "--db", ":memory:", "-q")
    assert result.exit_code == 2
    assert f"{bad}:3: dstport: invalid port '70000'" in result.stderr
