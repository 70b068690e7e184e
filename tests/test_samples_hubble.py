"""The Hubble reader on the four real ``hubble observe -o jsonpb`` samples (cilium/hubble-otel testdata).

Every count below was derived by hand from the sample lines (see SOURCES.md
in ../shared/samples for what each file contains).
"""

from __future__ import annotations

from pathlib import Path

import duckdb
import pytest

from recommender.io import hubble, schema

COLS = ("src_ip, src_namespace, src_pod, src_workload, src_kind, dst_ip, dst_namespace, dst_pod, dst_workload, "
        "dst_kind, protocol, dst_port, action, flows, packets, records")


def _read(path: Path) -> tuple[hubble.ReadStats, list[tuple], duckdb.DuckDBPyConnection]:
    con = duckdb.connect()
    con.execute(schema.connections_ddl("staging"))
    con.execute(schema.REJECTED_DDL)
    stats = hubble.read(con, path, target="staging", skip_bad=False)
    rows = con.execute(f"SELECT {COLS} FROM staging ORDER BY first_seen, src_ip, dst_ip, dst_port").fetchall()
    assert stats.reconciles()
    # events are grouped in parallel, so no record number is kept (README: Hubble, provenance)
    assert con.execute("SELECT count(*) FROM staging WHERE line IS NOT NULL").fetchone()[0] == 0
    return stats, rows, con


@pytest.fixture
def hub(samples: Path) -> Path:
    return samples / "hubble"


def test_all_samples_are_sniffed_as_hubble(hub: Path) -> None:
    for f in sorted(hub.glob("*.json")):
        assert hubble.sniff(f.read_bytes()[:65536]), f.name


def test_basic_10_flows_orients_every_pair_with_the_deprecated_reply_flag(hub: Path) -> None:
    stats, rows, con = _read(hub / "basic-sample-10-flows.json")
    assert (stats.records, stats.accepted, stats.skipped, stats.connections) == (10, 10, {}, 5)
    bookinfo = "reviews-v1-545db77b95-s6jb8"
    assert rows == [
        # line 1 is reply:true from the pod, so its unmarked reverse (line 2) is the host's request
        ("10.0.2.1", None, None, "reserved:host", "host", "10.0.2.16", "bookinfo", bookinfo, None, "pod",
         "TCP", 15020, "allow", 1, 2, 2),
        ("10.0.1.4", "istio-system", "prometheus-6655946b9f-hx9ln", None, "pod", "10.0.2.16", "bookinfo", bookinfo,
         None, "pod", "TCP", 15090, "allow", 1, 2, 2),
        ("10.0.0.53", "istio-system", "istio-telemetry-85cf8ddf5f-kw64q", None, "pod", "10.0.2.14", "istio-system",
         "istio-galley-7994d74d58-s2pwm", None, "pod", "TCP", 9901, "allow", 1, 2, 2),
        ("10.0.2.13", "kube-system", "event-exporter-gke-67986489c8-svnrf", None, "pod", "35.246.31.234", None, None,
         "reserved:world", "world", "TCP", 443, "allow", 1, 2, 2),
        # SYN (line 9) and SYN-ACK (line 10): one connection host -> kube-dns:10054
        ("10.0.2.1", None, None, "reserved:host", "host", "10.0.2.12", "kube-system", "kube-dns-6c7b8dc9f9-gnxh2",
         None, "pod", "TCP", 10054, "allow", 1, 2, 2),
    ]
    labels = con.execute("SELECT dst_labels FROM staging WHERE dst_port = 15020").fetchone()[0]
    # k8s: prefixes stripped, io.cilium.* and io.kubernetes.pod.namespace dropped, keys sorted
    assert list(labels.items()) == [("app", "reviews"), ("security.istio.io/tlsMode", "istio"), ("version", "v1")]


def test_icmp_sample_has_three_echo_connections_between_reserved_identities(hub: Path) -> None:
    stats, rows, _ = _read(hub / "basic-sample-400-icmpv4-flows.json")
    assert (stats.records, stats.accepted, stats.skipped, stats.connections) == (18, 18, {}, 3)
    assert [(r[0], r[3], r[4], r[5], r[8], r[9], r[10], r[11], r[14], r[15]) for r in rows] == [
        ("10.244.0.148", "reserved:host", "host", "10.244.0.160", "reserved:health", "health", "ICMP", None, 8, 8),
        # no is_reply and no traffic_direction: echo requests (type 8) are requests; nothing answered them
        ("10.244.0.148", "reserved:remote-node", "host", "10.244.1.204", "reserved:health", "health", "ICMP", None,
         4, 4),
        # replies with an empty ICMPv4 object (type 0 omitted by proto3) and no is_reply fold into the request
        ("10.244.1.29", "reserved:remote-node", "host", "10.244.0.160", "reserved:health", "health", "ICMP", None,
         6, 6),
    ]


def test_dns_sample_l7_only_records_make_the_dns_connection(hub: Path) -> None:
    stats, rows, _ = _read(hub / "basic-sample-5-dns-flows.json")
    assert (stats.records, stats.accepted, stats.skipped, stats.connections) == (5, 5, {}, 1)
    # 3 requests + 2 responses of one 5-tuple; L7 records are not packets
    assert rows == [("10.156.2.2", "kube-system", "node-local-dns-88zrp", None, "pod", "10.156.2.3", "kube-system",
                     "kube-dns-b4f5c58c7-vnx5s", None, "pod", "TCP", 53, "allow", 1, None, 5)]


def test_http_sample_reserved_world_identity_wins_over_pod_name(hub: Path) -> None:
    stats, rows, _ = _read(hub / "basic-sample-5-http-flows.json")
    assert (stats.records, stats.accepted, stats.connections) == (5, 4, 3)
    # line 5 answers a request (port 52506) that is not in the file
    assert stats.skipped == {hubble.REPLY_WITHOUT_REQUEST: 1}
    prom = ("10.156.2.7", "istio-system", "prometheus-6655946b9f-6xcpf", None, "pod")
    assert rows == [
        (*prom, "10.128.0.4", None, None, "reserved:world", "world", "TCP", 9990, "allow", 1, None, 1),
        # identity 2 / reserved:world with a namespace and pod name: kind world, names kept
        (*prom, "10.156.3.6", "kube-system", "kube-dns-b4f5c58c7-7qmtw", "reserved:world", "world", "TCP", 10054,
         "allow", 1, None, 1),
        (*prom, "10.156.1.2", "kube-system", "node-local-dns-r99x7", "reserved:world", "world", "TCP", 9253,
         "allow", 1, None, 2),
    ]
