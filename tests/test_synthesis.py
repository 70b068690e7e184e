"""Rule synthesis, spec by example: each test is one requirement of `recommend generate`.

``make_store`` builds the normalized ``connections`` (and ``pods``) tables by hand
in an in-memory DuckDB, so these tests do not depend on any reader.
"""

from __future__ import annotations

from typing import Any

import duckdb

from recommender.io.enrich import enrich
from recommender.io.schema import COLUMN_NAMES, NAMESPACES_DDL, PODS_DDL, connections_ddl
from recommender.recommend.calico import selector_expression, staged_native
from recommender.recommend.generate import Synthesis, generate, synthesize
from recommender.recommend.merge import identical_profiles
from recommender.recommend.output import render, safe_name
from recommender.recommend.report import summary_text
from recommender.recommend.synthesis import Options
from recommender.recommend.widen import aggregate_addresses, compress_ports
from recommender.model import LabelSelector, Requirement


def make_store(rows: list[dict[str, Any]], pods: list[dict[str, Any]] = (), namespaces: list[dict[str, Any]] = ()) -> duckdb.DuckDBPyConnection:
    """An in-memory store from connection rows (defaults: TCP, allow, pod kind when a namespace is given)."""
    con = duckdb.connect(":memory:")
    for ddl in (connections_ddl(), PODS_DDL, NAMESPACES_DDL):
        con.execute(ddl)
    for i, r in enumerate(rows, start=1):
        r = {"action": "allow", "protocol": "TCP", "flows": 1, "bytes": 100, "format": "normalized",
             "file": "hand.csv", "line": i, "records": 1, **r}
        for side in ("src", "dst"):
            r.setdefault(f"{side}_kind", "pod" if r.get(f"{side}_namespace") else "network")
        cols = [c for c in COLUMN_NAMES if c in r]
        con.execute(f"INSERT INTO connections ({', '.join(cols)}) VALUES ({', '.join('?' * len(cols))})", [r[c] for c in cols])
    for p in pods:
        p = {"host_network": False, "ips": [], **p}
        con.execute(f"INSERT INTO pods ({', '.join(p)}) VALUES ({', '.join('?' * len(p))})", list(p.values()))
    for n in namespaces:
        con.execute("INSERT INTO namespaces (name, labels) VALUES (?, ?)", [n["name"], n.get("labels", {})])
    return con


def pod(ns: str, name: str, **labels: str) -> dict[str, Any]:
    """A pod endpoint for ``make_store`` rows: ``src=pod(...)`` expanded with ``side()``."""
    return {"namespace": ns, "pod": name, "labels": labels, "kind": "pod"}


def conn(src: dict[str, Any] | str, dst: dict[str, Any] | str, port: int | None, protocol: str = "TCP", **extra: Any) -> dict[str, Any]:
    row: dict[str, Any] = {"protocol": protocol, "dst_port": port, **extra}
    for side, ep in (("src", src), ("dst", dst)):
        if isinstance(ep, str):
            row[f"{side}_ip"] = ep
            row[f"{side}_kind"] = extra.get(f"{side}_kind", "network")
        else:
            for k, v in ep.items():
                row[f"{side}_{k}"] = v
    return row


def run(rows: list[dict[str, Any]], pods: list[dict[str, Any]] = (), **opts: Any) -> Synthesis:
    return synthesize(make_store(rows, pods), Options(**opts))


def spec(syn: Synthesis, name: str, ns: str | None = None) -> dict[str, Any]:
    for p in syn.policies:
        if p.name == name and (ns is None or p.namespace == ns):
            return render(p, "k8s")["spec"]
    raise KeyError(f"no policy {ns}/{name} in {[p.key for p in syn.policies]}")


WEB = pod("shop", "web-7d4b9c6f5-abcde", app="web", **{"pod-template-hash": "7d4b9c6f5"})
DB = pod("shop", "db-0", app="db")
PROM = pod("monitoring", "prometheus-0", app="prometheus")
DNS = pod("kube-system", "coredns-5d78c9869d-2xkqm", **{"k8s-app": "kube-dns"})


def test_peer_shapes_same_namespace_other_namespace_outside() -> None:
    syn = run([conn(WEB, DB, 5432), conn(PROM, DB, 9187), conn("203.0.113.7", WEB, 8080)])
    assert spec(syn, "db")["ingress"] == [
        {"from": [{"podSelector": {"matchLabels": {"app": "web"}}}], "ports": [{"protocol": "TCP", "port": 5432}]},
        {"from": [{"namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": "monitoring"}},
                   "podSelector": {"matchLabels": {"app": "prometheus"}}}],
         "ports": [{"protocol": "TCP", "port": 9187}]},
    ]
    assert spec(syn, "web")["ingress"] == [
        {"from": [{"ipBlock": {"cidr": "203.0.113.7/32"}}], "ports": [{"protocol": "TCP", "port": 8080}]}
    ]
    assert spec(syn, "web")["egress"] == [
        {"to": [{"podSelector": {"matchLabels": {"app": "db"}}}], "ports": [{"protocol": "TCP", "port": 5432}]}
    ]


def test_every_covered_workload_gets_both_directions() -> None:
    s = spec(run([conn(WEB, DB, 5432)]), "db")
    assert s["policyTypes"] == ["Ingress", "Egress"] and s["egress"] == []


def test_peers_with_the_same_port_set_share_one_rule() -> None:
    api = pod("shop", "api-0", app="api")
    s = spec(run([conn(WEB, DB, 5432), conn(api, DB, 5432), conn(PROM, DB, 9187)]), "db")
    assert len(s["ingress"]) == 2
    shared = [r for r in s["ingress"] if r["ports"] == [{"protocol": "TCP", "port": 5432}]][0]
    assert [p["podSelector"]["matchLabels"]["app"] for p in shared["from"]] == ["api", "web"]


def test_port_runs_become_ranges_only_when_fully_observed() -> None:
    media = pod("shop", "media-0", app="media")
    rows = [conn("192.0.2.10", media, p, "UDP") for p in (10000, 10001, 10002, 10004)]
    s = spec(run(rows), "media")
    assert s["ingress"][0]["ports"] == [{"protocol": "UDP", "port": 10000, "endPort": 10002},
                                        {"protocol": "UDP", "port": 10004}]
    syn = run(rows, port_range_slack=1)
    assert spec(syn, "media")["ingress"][0]["ports"] == [{"protocol": "UDP", "port": 10000, "endPort": 10004}]
    assert syn.widening["ports"] == 1


def test_sctp_ports_and_port_less_protocols() -> None:
    s = spec(run([conn(WEB, DB, 3868, "SCTP"), conn(WEB, DB, 3869, "SCTP")]), "web")
    assert s["egress"] == [{"to": [{"podSelector": {"matchLabels": {"app": "db"}}}],
                            "ports": [{"protocol": "SCTP", "port": 3868, "endPort": 3869}]}]
    # ICMP has no port: only a rule without ports admits it (and it subsumes the peer's other ports)
    syn = run([conn(WEB, DB, 3868, "SCTP"), conn(WEB, DB, None, "ICMP")])
    assert spec(syn, "web")["egress"] == [{"to": [{"podSelector": {"matchLabels": {"app": "db"}}}]}]
    # ... and the summary says that rule admits every port of its peers
    assert any(w.startswith("not expressible: ICMP with pod:shop/db (namespace shop)") and "every port" in w
               for w in syn.warnings)


def test_reply_traffic_to_ephemeral_ports_never_becomes_a_rule() -> None:
    syn = run([conn(WEB, DB, 5432), conn(DB, WEB, 43012), conn(DB, WEB, 40000)])
    assert spec(syn, "db")["egress"] == [] and len(syn.replies) == 2
    # a high port with no service traffic in the other direction is a real listener
    s = spec(run([conn(WEB, DB, 40000)]), "db")
    assert s["ingress"][0]["ports"] == [{"protocol": "TCP", "port": 40000}]


def test_a_port_no_rule_can_name_is_reported_not_admitted() -> None:
    # Hubble and VPC record TCP/UDP to port 0 (scans); a rule's port must be 1-65535 and a rule without
    # ports would open every port, so the connection is left to the default deny and said so
    rows = [conn(WEB, DB, 5432), conn(WEB, DB, 0), conn(WEB, DB, 0, "UDP")]
    syn = run(rows)
    assert spec(syn, "db")["ingress"] == [
        {"from": [{"podSelector": {"matchLabels": {"app": "web"}}}], "ports": [{"protocol": "TCP", "port": 5432}]}]
    assert sorted((e.protocol, e.port) for e in syn.unnamed) == [("TCP", 0), ("UDP", 0)]
    assert sum("a NetworkPolicy port must be 1-65535" in w for w in syn.warnings) == 2
    rec = generate(make_store(rows))
    v = rec.summary["verification"]
    assert (v["connections"], v["admitted"], v["unnamed_port_not_admitted"], v["replies_skipped"]) == (1, 1, 2, 0)
    assert "2 to port 0 not admitted" in summary_text(rec.summary)


def test_dns_to_kube_dns_allows_udp_and_tcp_53() -> None:
    syn = run([conn(WEB, DNS, 53, "UDP"), conn(WEB, "169.254.20.10", 53, "UDP")])
    assert spec(syn, "web")["egress"] == [
        {"to": [{"namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": "kube-system"}},
                 "podSelector": {"matchLabels": {"k8s-app": "kube-dns"}}},
                {"ipBlock": {"cidr": "169.254.20.10/32"}}],
         "ports": [{"protocol": "TCP", "port": 53}, {"protocol": "UDP", "port": 53}]}
    ]
    assert {p.namespace for p in syn.policies} == {"shop"}          # kube-system is a peer only


def test_system_namespaces_only_with_include_system() -> None:
    syn = run([conn(WEB, DNS, 53, "UDP")], include_system=True)
    assert "coredns" in {p.name for p in syn.policies if p.namespace == "kube-system"}


def test_denied_flows_are_not_allowed_unless_asked() -> None:
    rows = [conn(WEB, DB, 5432), conn(WEB, DB, 22, action="deny")]
    assert spec(run(rows), "db")["ingress"][0]["ports"] == [{"protocol": "TCP", "port": 5432}]
    assert run(rows).counts["denied"] == 1
    ports = spec(run(rows, include_denied=True), "db")["ingress"][0]["ports"]
    assert ports == [{"protocol": "TCP", "port": 22}, {"protocol": "TCP", "port": 5432}]


def test_default_deny_per_covered_namespace() -> None:
    syn = run([conn(WEB, DB, 5432), conn(PROM, WEB, 9090)])
    denies = [p for p in syn.policies if p.name == "default-deny"]
    assert [p.namespace for p in denies] == ["monitoring", "shop"]
    assert render(denies[0], "k8s")["spec"] == {"podSelector": {}, "policyTypes": ["Ingress", "Egress"]}
    assert not [p for p in run([conn(WEB, DB, 5432)], default_deny=False).policies if p.name == "default-deny"]


def test_namespace_filters() -> None:
    rows = [conn(WEB, DB, 5432), conn(PROM, WEB, 9090)]
    assert {p.namespace for p in run(rows, namespaces=("monitoring",)).policies} == {"monitoring"}
    assert {p.namespace for p in run(rows, exclude_namespaces=("monitoring",)).policies} == {"shop"}


def test_external_addresses_exact_by_default_and_ipv6() -> None:
    s = spec(run([conn(WEB, "2001:db8::1", 443), conn(WEB, "198.51.100.9", 443)]), "web")
    assert s["egress"][0]["to"] == [{"ipBlock": {"cidr": "198.51.100.9/32"}}, {"ipBlock": {"cidr": "2001:db8::1/128"}}]


def test_cidr_aggregation_within_bounds_only() -> None:
    rows = [conn(WEB, f"203.0.113.{i}", 443) for i in (10, 11, 12, 13)] + [conn(WEB, f"10.1.0.{i}", 443) for i in (1, 2, 3)]
    syn = run(rows, cidr_max_prefix=24, cidr_min_addresses=3)
    to = spec(syn, "web")["egress"][0]["to"]
    assert {"ipBlock": {"cidr": "203.0.113.8/29"}} in to                 # smallest CIDR holding .10-.13
    assert {"ipBlock": {"cidr": "10.1.0.1/32"}} in to                    # private: never aggregated
    assert syn.widening["addresses"] == 8 - 4
    assert len(spec(run(rows, cidr_max_prefix=24, cidr_min_addresses=5), "web")["egress"][0]["to"]) == 7


def test_any_external_only_when_asked() -> None:
    to = spec(run([conn(WEB, "198.51.100.9", 443)], allow_any_external=True), "web")["egress"][0]["to"]
    assert to == [{"ipBlock": {"cidr": "0.0.0.0/0", "except": ["10.0.0.0/8", "100.64.0.0/10", "172.16.0.0/12", "192.168.0.0/16"]}}]


def test_host_endpoint_by_node_name_gets_the_node_ip() -> None:
    node = {"kind": "host", "workload": "ip-10-0-1-10"}
    rows = [conn(PROM, node, 9100), {**conn(node, "10.0.32.15", 443), "src_ip": "10.0.1.10", "src_kind": "host"}]
    s = spec(run(rows), "prometheus")
    assert s["egress"] == [{"to": [{"ipBlock": {"cidr": "10.0.1.10/32"}}], "ports": [{"protocol": "TCP", "port": 9100}]}]


def test_calico_aggregated_pods_without_ip_or_name_use_labels() -> None:
    web = {"namespace": "shop", "workload": "web-7d4b9c6f5-*", "labels": {"app": "web"}, "kind": "pod"}
    db = {"namespace": "shop", "workload": "db-*", "labels": {"app": "db"}, "kind": "pod"}
    s = spec(run([conn(web, db, 5432)]), "db")
    assert s["podSelector"] == {"matchLabels": {"app": "db"}}
    assert s["ingress"][0]["from"] == [{"podSelector": {"matchLabels": {"app": "web"}}}]


def test_inventory_owner_wins_and_covers_held_out_replicas() -> None:
    pods = [{"namespace": "shop", "name": f"web-7d4b9c6f5-{s}", "labels": {"app": "web", "pod-template-hash": "7d4b9c6f5"},
             "owner_kind": "ReplicaSet", "owner_name": "web-7d4b9c6f5", "workload": "storefront"} for s in ("abcde", "fghij")]
    syn = run([conn(WEB, DB, 5432)], pods)
    assert "storefront" in {p.name for p in syn.policies}
    assert syn.ids.workloads["pod:shop/storefront"].pods == {"web-7d4b9c6f5-abcde", "web-7d4b9c6f5-fghij"}


def test_identical_profiles_merge_only_when_provably_no_wider() -> None:
    w1 = pod("jobs", "worker-a-0", app="worker-a", role="worker")
    w2 = pod("jobs", "worker-b-0", app="worker-b", role="worker")
    q = pod("jobs", "queue-0", app="queue")
    syn = run([conn(w1, q, 5672), conn(w2, q, 5672)])
    merged = [g for g in syn.groups if g.merged]
    assert len(merged) == 1 and merged[0].selector == LabelSelector.of({"role": "worker"})
    assert spec(syn, "worker-a-worker-b")["podSelector"] == {"matchLabels": {"role": "worker"}}
    # a third pod with role=worker that talks differently: role=worker is no longer exact → app In (…)
    w3 = pod("jobs", "worker-c-0", app="worker-c", role="worker")
    syn = run([conn(w1, q, 5672), conn(w2, q, 5672), conn(w3, q, 15672)])
    merged = [g for g in syn.groups if g.merged]
    assert merged[0].selector == LabelSelector.of(None, [Requirement("app", "In", ("worker-a", "worker-b"))])


def test_identical_profiles_are_exactly_the_equal_ones() -> None:
    a = frozenset({("egress", "ns/db", "TCP", 5432), ("namespace", "jobs", "", None)})
    b = frozenset({("egress", "ns/db", "TCP", 5432)})                       # a subset is not identical
    c = frozenset(reversed(sorted(a, key=repr)))                               # the same set, built otherwise
    assert identical_profiles([a, b, c, b, frozenset()]) == [[0, 2], [1, 3], [4]]
    assert identical_profiles([]) == [] and identical_profiles([a]) == [[0]]


def test_names_are_dns_safe_and_files_cannot_escape() -> None:
    assert safe_name("web") == "web"
    bad = safe_name("../../etc/Passwd")
    assert "/" not in bad and ".." not in bad and len(bad) <= 63
    assert safe_name("x" * 80) != safe_name("x" * 81) and len(safe_name("x" * 80)) == 63


def test_port_and_address_widening_units() -> None:
    assert compress_ports([80, 81, 82, 443]) == ([(80, 82), (443, None)], 0)
    assert compress_ports([80, 83], slack=2) == ([(80, 83)], 2)
    agg = aggregate_addresses(["198.51.100.1", "198.51.100.2"], max_prefix=24, min_addresses=2)
    assert [a.cidr for a in agg] == ["198.51.100.0/30"] and agg[0].extra == 2
    assert [a.cidr for a in aggregate_addresses(["198.51.100.1", "198.51.101.1"], max_prefix=24)] == [
        "198.51.100.1/32", "198.51.101.1/32"]


def test_widening_never_holds_a_cluster_address() -> None:
    """Pods (and nodes) may have public addresses; an aggregate must not admit one it did not observe."""
    def cidrs(ips: list[str], keep_out: set[str]) -> list[str]:
        return [a.cidr for a in aggregate_addresses(ips, max_prefix=24, min_addresses=4, keep_out=frozenset(keep_out))]

    observed = ["203.0.113.1", "203.0.113.2", "203.0.113.9", "203.0.113.10"]
    assert cidrs(observed, set()) == ["203.0.113.0/28"]
    assert cidrs(observed, {"203.0.113.5"}) == [f"{a}/32" for a in observed]     # .5 is a pod: no /28, and below K
    assert cidrs(observed, {"203.0.113.2"}) == ["203.0.113.0/28"]                # observed itself: no harm
    assert cidrs(observed, {"2001:db8::1", "198.51.100.1"}) == ["203.0.113.0/28"]  # elsewhere: no effect
    # 0.0.0.0/0 (--allow-any-external) excepts them as it excepts the private ranges, in as few CIDRs as exact
    [anyv4] = aggregate_addresses(["8.8.8.8"], allow_any=True,
                                  keep_out=frozenset({"203.0.113.100", "203.0.113.101", "10.0.0.1", "8.8.8.8"}))
    assert anyv4.cidr == "0.0.0.0/0" and anyv4.except_[-1] == "203.0.113.100/31" and len(anyv4.except_) == 5
    # in generate, the inventory's pod addresses are kept out: without them this would be 203.0.113.96/29
    pods_out = [{"namespace": "shop", "name": f"edge-{i}", "labels": {"app": "edge"}, "ips": [f"203.0.113.{100 + i}"]}
                for i in range(2)]
    rows = [conn(WEB, f"203.0.113.{i}", 443) for i in (98, 99, 102, 103)]
    syn = synthesize(make_store(rows, pods_out), Options(cidr_max_prefix=24, cidr_min_addresses=4))
    blocks = [peer["ipBlock"]["cidr"] for rule in spec(syn, "web")["egress"] for peer in rule["to"] if "ipBlock" in peer]
    assert blocks == [f"203.0.113.{i}/32" for i in (98, 99, 102, 103)]
    assert [b.cidr for b in aggregate_addresses([b[:-3] for b in blocks], max_prefix=24, min_addresses=4)] == [
        "203.0.113.96/29"]


def test_an_address_several_pods_claimed_is_never_guessed_and_is_warned_about() -> None:
    claimants = [{"namespace": "shop", "name": n, "labels": {"app": n[:-2]}, "ips": ["10.1.0.9"]} for n in ("x-0", "y-0")]
    con = make_store([conn(WEB, "10.1.0.9", 8080, dst_kind="unknown")], claimants)
    assert enrich(con, "connections").conflicts == 1
    syn = synthesize(con, Options())
    peers = [peer for rule in spec(syn, "web")["egress"] for peer in rule["to"]]
    assert peers == [{"ipBlock": {"cidr": "10.1.0.9/32"}}]           # not x's nor y's selector
    [warning] = [w for w in syn.warnings if "claimed by several inventory pods" in w]
    assert "10.1.0.9: shop/x-0, shop/y-0" in warning


def test_workloads_seen_without_labels_get_the_namespace_selector_reported_and_measured() -> None:
    # no inventory, no labels in the flows: {} is the only selector, and it also selects the neighbours
    a, b, c, d = (pod("ns1", f"{n}-0") | {"labels": None} for n in "abcd")
    rec = generate(make_store([conn(a, b, 80), conn(c, d, 81)]))
    assert rec.summary["inexact_selectors"] == ["ns1/a", "ns1/b", "ns1/c", "ns1/d"]
    assert any(w.startswith("ns1/c: no stable label selector") and "ns1/d-0" in w for w in rec.warnings)
    assert rec.summary["over_permission"]["unobserved"] > 0          # e.g. a → d:80 is admitted, never seen


def test_a_host_network_pod_named_as_a_pod_is_verified_as_its_node() -> None:
    # the inventory says hostNetwork: policies never isolate it and only an ipBlock matches it, whatever the flow says
    exporter = {"namespace": "monitoring", "name": "node-exporter-4pwhv", "labels": {"app": "node-exporter"},
                "ips": ["10.0.1.10"], "host_network": True}
    node = pod("monitoring", "node-exporter-4pwhv", app="node-exporter") | {"ip": "10.0.1.10"}
    rows = [conn(PROM, node, 9100), conn(node, PROM, 9090)]
    rec = generate(make_store(rows, [exporter]))
    assert rec.summary["verification"]["coverage"] == 1.0
    assert spec(synthesize(make_store(rows, [exporter]), Options()), "prometheus", "monitoring")["egress"] == [
        {"to": [{"ipBlock": {"cidr": "10.0.1.10/32"}}], "ports": [{"protocol": "TCP", "port": 9100}]}]


def test_denied_connections_are_listed_with_the_policies_that_denied_them() -> None:
    rows = [conn(WEB, DB, 5432), conn(PROM, DB, 5432, action="deny", policies=["shop/knp.default.db-ingress"]),
            conn(PROM, DB, 5432, action="deny", line=9, flows=3)]
    rec = generate(make_store(rows))
    assert rec.summary["input"]["denied"] == 2
    assert rec.summary["denied"] == [{
        "source": "monitoring/prometheus-0", "destination": "shop/db-0", "protocol": "TCP", "port": 5432,
        "connections": 2, "flows": 4, "policies": ["shop/knp.default.db-ingress"], "sample": "hand.csv:2",
        "admitted": False, "admitted_by": []}]
    assert ("denied by shop/knp.default.db-ingress: monitoring/prometheus-0 → shop/db-0 TCP/5432, 4 flow(s) (hand.csv:2)"
            in summary_text(rec.summary))
    assert "## Denied by the exporter" in rec.report("md") and '"denied": [' in rec.report("json")


def test_ipv6_aggregation_units() -> None:
    """IPv6 twin of the IPv4 bound: the tightest CIDR no wider than /max_prefix6 holding ≥ K observed addresses."""
    def cidrs(ips: list[str], **kw: Any) -> list[str]:
        return [a.cidr for a in aggregate_addresses(ips, **kw)]

    four = ["2001:db8::10", "2001:db8::11", "2001:db8::12", "2001:db8::13"]
    assert cidrs(four) == [f"{a}/128" for a in four]                                   # off by default
    agg = aggregate_addresses(four, max_prefix6=64, min_addresses=3)
    assert [a.cidr for a in agg] == ["2001:db8::10/126"] and agg[0].extra == 0
    assert cidrs(four + ["2001:db8::1:1"], max_prefix6=64, min_addresses=3) == ["2001:db8::10/126", "2001:db8::1:1/128"]
    assert cidrs(four, max_prefix6=64, min_addresses=5) == [f"{a}/128" for a in four]    # below K: /128 each
    apart = ["2001:db8::1", "2001:db8:0:1::1"]                                           # different /64s
    assert cidrs(apart, max_prefix6=64) == ["2001:db8::1/128", "2001:db8:0:1::1/128"]
    wide = aggregate_addresses(apart, max_prefix6=63)
    assert [a.cidr for a in wide] == ["2001:db8::/63"] and wide[0].extra == 2 ** 65 - 2    # exact, never capped
    # never across, nor inside, a never-aggregated range (ULA, link-local, loopback/unspecified, IPv4-mapped)
    assert cidrs(["fd00::1", "fd00::2", "fe80::1", "fe80::2", "::ffff:198.51.100.1", "::ffff:198.51.100.2"],
                 max_prefix6=64) == ["::ffff:c633:6401/128", "::ffff:c633:6402/128", "fd00::1/128", "fd00::2/128",
                                     "fe80::1/128", "fe80::2/128"]
    assert cidrs(["::2", "::3", "::4"], max_prefix6=64, min_addresses=3) == ["::2/128", "::3/128", "::4/128"]  # ::/125 ∋ ::1
    # IPv4 follows the same rule: 8.0.0.0/6 would hold 10.0.0.0/8
    assert cidrs(["9.255.255.255", "11.0.0.1"], max_prefix=4) == ["9.255.255.255/32", "11.0.0.1/32"]
    # the families are bounded separately, and ::/0 still needs allow_any
    assert cidrs(["198.51.100.1", "198.51.100.2", "2001:db8::1", "2001:db8::2"], max_prefix=24) == [
        "198.51.100.0/30", "2001:db8::1/128", "2001:db8::2/128"]
    assert cidrs(four, max_prefix6=64, allow_any=True) == ["::/0"]


def test_ipv6_aggregation_in_rules_counts_exactly() -> None:
    rows = [conn(WEB, f"2001:db8::{i}", 443) for i in (10, 11, 12, 13)] + [conn(WEB, "fd00::1", 443)]
    syn = run(rows, cidr6_max_prefix=120, cidr_min_addresses=3)
    assert spec(syn, "web")["egress"][0]["to"] == [{"ipBlock": {"cidr": "2001:db8::10/126"}},
                                                   {"ipBlock": {"cidr": "fd00::1/128"}}]
    assert syn.widening["addresses"] == 0
    syn = run([rows[0], conn(WEB, "2001:db8::ff:1", 443)], cidr6_max_prefix=64)
    assert spec(syn, "web")["egress"][0]["to"] == [{"ipBlock": {"cidr": "2001:db8::/104"}}]
    assert syn.widening["addresses"] == 2 ** 24 - 2             # admitted beyond ::10 and ::ff:1


def test_calico_native_selectors_and_rules() -> None:
    assert selector_expression(LabelSelector.of({"app": "web", "tier": "fe"})) == "app == 'web' && tier == 'fe'"
    assert selector_expression(LabelSelector.of(None, [Requirement("app", "In", ("a", "b")),
                                                       Requirement("x", "DoesNotExist")])) == "app in {'a', 'b'} && !has(x)"
    syn = run([conn(PROM, DB, 9187), conn(WEB, DB, 5432)])
    doc = staged_native([p for p in syn.policies if p.name == "db"][0], "platform")
    assert doc["kind"] == "StagedNetworkPolicy" and doc["metadata"]["name"] == "platform.db"
    assert doc["spec"]["stagedAction"] == "Set" and doc["spec"]["tier"] == "platform"
    assert doc["spec"]["selector"] == "app == 'db'" and doc["spec"]["types"] == ["Ingress", "Egress"]
    assert doc["spec"]["ingress"][1] == {
        "action": "Allow", "protocol": "TCP",
        "source": {"selector": "app == 'prometheus'", "namespaceSelector": "projectcalico.org/name == 'monitoring'"},
        "destination": {"ports": [9187]},
    }


def test_an_address_seen_as_the_api_server_anywhere_is_the_api_server() -> None:
    rows = [conn(WEB, "10.0.32.15", 443), {**conn(PROM, "10.0.32.15", 443), "dst_kind": "kube-apiserver"}]
    syn = run(rows)
    assert spec(syn, "web")["egress"][0]["to"] == [{"ipBlock": {"cidr": "10.0.32.15/32"}}]
    assert any("kube-apiserver endpoint 10.0.32.15" in w for w in syn.warnings)


def test_over_permission_counts_each_unobserved_admitted_combination() -> None:
    """Port-range slack makes web → api admit 8081, an observed port (web → db uses it) that web never
    sent to api: exactly one unobserved (source, destination, protocol, port) combination, owed to
    api's ingress and web's egress policies."""
    from recommender import generate

    api = pod("shop", "api-0", app="api")
    rows = [conn(WEB, api, 8080), conn(WEB, api, 8082), conn(WEB, DB, 8081)]
    tight = generate(make_store(rows)).summary["over_permission"]
    assert (tight["admitted"], tight["observed"], tight["unobserved"]) == (3, 3, 0)
    wide = generate(make_store(rows), port_range_slack=1).summary["over_permission"]
    assert (wide["admitted"], wide["observed"], wide["unobserved"]) == (4, 3, 1)
    assert wide["per_policy"] == {"shop/api": 1, "shop/web": 1}


def _native_rules(syn: Synthesis, name: str, direction: str) -> list[dict[str, Any]]:
    return staged_native([p for p in syn.policies if p.name == name][0])["spec"][direction]


def test_calico_native_names_port_less_protocols_instead_of_allowing_everything() -> None:
    """Truth table: the Kubernetes rule stays all-ports (the verified one); the native rules are one per
    protocol and admit exactly the observed protocols and ports, so never more than the verified rule."""
    db_dst = {"selector": "app == 'db'"}
    cases = [
        # (observed from web to db, native egress rules of web)
        ([(None, "ICMP")], [{"action": "Allow", "protocol": "ICMP", "destination": db_dst}]),
        ([(None, "ICMPv6")], [{"action": "Allow", "protocol": "ICMPv6", "destination": db_dst}]),
        ([(5432, "TCP"), (5433, "TCP"), (None, "ICMP")],
         [{"action": "Allow", "protocol": "ICMP", "destination": db_dst},
          {"action": "Allow", "protocol": "TCP", "destination": {**db_dst, "ports": ["5432:5433"]}}]),
        ([(None, "47")], [{"action": "Allow", "protocol": 47, "destination": db_dst}]),
        ([(None, "GRE")], [{"action": "Allow", "destination": db_dst}]),        # no Calico name: all protocols
        ([(5432, "TCP")], [{"action": "Allow", "protocol": "TCP", "destination": {**db_dst, "ports": [5432]}}]),
    ]
    for observed, native in cases:
        syn = run([conn(WEB, DB, port, proto) for port, proto in observed])
        assert _native_rules(syn, "web", "egress") == native, observed
        k8s_ports = spec(syn, "web")["egress"][0].get("ports")
        assert (k8s_ports is None) == any(port is None for port, _ in observed), observed


def test_port_less_protocols_keep_the_kubernetes_rule_and_its_ingress_side() -> None:
    syn = run([conn(WEB, DB, 3868, "SCTP"), conn(WEB, DB, None, "ICMP"), conn("203.0.113.9", WEB, None, "ICMP")])
    assert spec(syn, "web")["egress"] == [{"to": [{"podSelector": {"matchLabels": {"app": "db"}}}]}]
    assert spec(syn, "web")["ingress"] == [{"from": [{"ipBlock": {"cidr": "203.0.113.9/32"}}]}]
    assert render([p for p in syn.policies if p.name == "web"][0], "calico-staged")["spec"]["egress"] == [
        {"to": [{"podSelector": {"matchLabels": {"app": "db"}}}]}]
    assert _native_rules(syn, "web", "ingress") == [
        {"action": "Allow", "protocol": "ICMP", "source": {"nets": ["203.0.113.9/32"]}}]
    assert [r.get("protocol") for r in _native_rules(syn, "web", "egress")] == ["ICMP", "SCTP"]
    assert _native_rules(syn, "db", "ingress") == [
        {"action": "Allow", "protocol": "ICMP", "source": {"selector": "app == 'web'"}},
        {"action": "Allow", "protocol": "SCTP", "source": {"selector": "app == 'web'"}, "destination": {"ports": [3868]}}]
    from recommender import generate

    rec = generate(make_store([conn(WEB, DB, None, "ICMP")]), kind="calico-staged-native")
    assert rec.ok and "protocol: ICMP" in rec.yaml()
