"""The Hubble reader, rule by rule, on small hand-written ``hubble observe`` lines."""

from __future__ import annotations

import gzip
import json
from pathlib import Path
from typing import Any

import duckdb
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from recommender.errors import InputError
from recommender.io import hubble, schema

T0 = "2024-05-01T10:00:00.000000001Z"


def pod(ns: str, name: str, *labels: str, workload: str | None = None, identity: int = 4242) -> dict[str, Any]:
    ep: dict[str, Any] = {"ID": 7, "identity": identity, "namespace": ns, "pod_name": name,
                          "labels": [f"k8s:{x}" for x in labels] + [f"k8s:io.kubernetes.pod.namespace={ns}",
                                                                     "k8s:io.cilium.k8s.policy.cluster=default"]}
    if workload:
        ep["workloads"] = [{"name": workload, "kind": "Deployment"}]
    return ep


def reserved(name: str, identity: int) -> dict[str, Any]:
    return {"identity": identity, "labels": [f"reserved:{name}"]}


CLIENT = pod("shop", "web-5d9c7-abcde", "app=web", workload="web")
SERVER = pod("shop", "db-0", "app=db")


def flow(sip: str = "10.0.0.1", dip: str = "10.0.0.2", sport: int = 40000, dport: int = 5432, *,
         proto: str = "TCP", flags: dict[str, bool] | None = None, src: dict | None = None, dst: dict | None = None,
         wrap: bool = True, t: str = T0, **extra: Any) -> dict[str, Any]:
    """One event; ``extra`` overrides/extends Flow fields (is_reply, reply, verdict, Type, l7, l4, ...)."""
    l4: dict[str, Any] = {"source_port": sport, "destination_port": dport}
    if proto == "TCP" and flags is not None:
        l4["flags"] = flags
    f: dict[str, Any] = {"time": t, "verdict": "FORWARDED", "IP": {"source": sip, "destination": dip,
                                                                   "ipVersion": "IPv4"},
                         "l4": {proto: l4}, "source": src if src is not None else CLIENT,
                         "destination": dst if dst is not None else SERVER, "Type": "L3_L4",
                         "node_name": "node-1", "event_type": {"type": 4}}
    f.update(extra)
    return {"flow": f, "node_name": "node-1", "time": t} if wrap else f


def back(fl: dict[str, Any], **extra: Any) -> dict[str, Any]:
    """The packet of ``fl`` in the other direction."""
    f = json.loads(json.dumps(fl.get("flow", fl)))
    f["IP"]["source"], f["IP"]["destination"] = f["IP"]["destination"], f["IP"]["source"]
    f["source"], f["destination"] = f["destination"], f["source"]
    for v in f["l4"].values():
        if "source_port" in v:
            v["source_port"], v["destination_port"] = v["destination_port"], v["source_port"]
        v.pop("flags", None)
    for k in ("is_reply", "reply"):
        f.pop(k, None)
    f.update(extra)
    return {"flow": f, "node_name": "node-1", "time": f["time"]}


def write(tmp_path: Path, *lines: dict | str, name: str = "flows.json", end: str = "\n") -> Path:
    p = tmp_path / name
    text = "\n".join(x if isinstance(x, str) else json.dumps(x) for x in lines) + end
    if name.endswith(".gz"):
        p.write_bytes(gzip.compress(text.encode()))
    else:
        p.write_text(text)
    return p


def ingest(path: Path, skip_bad: bool = False) -> tuple[hubble.ReadStats, duckdb.DuckDBPyConnection]:
    con = duckdb.connect()
    con.execute(schema.connections_ddl("staging"))
    con.execute(schema.REJECTED_DDL)
    stats = hubble.read(con, path, target="staging", skip_bad=skip_bad)
    assert stats.reconciles(), stats
    keys = ", ".join(schema.KEY_COLUMNS)   # hubble.DISTINCT_OUTPUT: the store copies the rows without merging
    assert con.execute(f"SELECT count(*) FROM (SELECT DISTINCT {keys} FROM staging)").fetchone()[0] == stats.connections
    return stats, con


def conns(con: duckdb.DuckDBPyConnection, cols: str = "src_ip, dst_ip, protocol, dst_port, flows, packets"
          ) -> list[tuple]:
    return con.execute(f"SELECT {cols} FROM staging ORDER BY ALL").fetchall()


# --- direction ----------------------------------------------------------------------------------

def test_is_reply_marks_the_server_side_even_mid_stream(tmp_path: Path) -> None:
    req = flow(sport=5432, dport=40000, sip="10.0.0.2", dip="10.0.0.1", flags={"ACK": True}, is_reply=False,
               src=SERVER, dst=CLIENT)   # the *server* port is 40000 here: is_reply is trusted over ports
    stats, con = ingest(write(tmp_path, req, back(req, is_reply=True)))
    assert conns(con) == [("10.0.0.2", "10.0.0.1", "TCP", 40000, 1, 2)]
    assert (stats.records, stats.accepted, stats.connections) == (2, 2, 1)


def test_deprecated_reply_flag_orients_the_unmarked_packet(tmp_path: Path) -> None:
    req = flow(flags={"ACK": True})
    stats, con = ingest(write(tmp_path, back(req, reply=True), req))
    assert conns(con) == [("10.0.0.1", "10.0.0.2", "TCP", 5432, 1, 2)]


def test_syn_synack_and_acks_are_one_connection_per_source_port(tmp_path: Path) -> None:
    syn = flow(flags={"SYN": True})
    lines = [syn, back(syn, l4={"TCP": {"source_port": 5432, "destination_port": 40000,
                                        "flags": {"SYN": True, "ACK": True}}}),
             flow(flags={"ACK": True}), back(flow(flags={"ACK": True})), flow(flags={"ACK": True, "PSH": True}),
             flow(sport=40001, flags={"SYN": True}), flow(sport=40001, flags={"ACK": True})]
    stats, con = ingest(write(tmp_path, *lines))
    assert conns(con) == [("10.0.0.1", "10.0.0.2", "TCP", 5432, 2, 7)]
    assert (stats.accepted, stats.connections) == (7, 1)


def test_synack_alone_is_a_reply_and_creates_nothing(tmp_path: Path) -> None:
    synack = flow(sip="10.0.0.2", dip="10.0.0.1", sport=5432, dport=40000, flags={"SYN": True, "ACK": True},
                  src=SERVER, dst=CLIENT)
    stats, con = ingest(write(tmp_path, synack))
    assert conns(con) == []
    assert stats.skipped == {hubble.REPLY_WITHOUT_REQUEST: 1}


@pytest.mark.parametrize(("sport", "dport", "server_port"), [
    (51234, 443, 443),      # well-known vs ephemeral
    (443, 51234, 443),      # captured from the reply side only
    (40000, 8080, 8080),    # registered vs ephemeral
    (8080, 3306, 3306),     # both registered: the lower port listens
    (50000, 40000, 40000),  # both ephemeral: the lower port listens
])
def test_mid_stream_packets_without_any_direction_signal_use_ports(tmp_path: Path, sport: int, dport: int,
                                                                   server_port: int) -> None:
    a = flow(sport=sport, dport=dport, flags={"ACK": True})
    stats, con = ingest(write(tmp_path, a, back(a)))
    rows = conns(con, "dst_port, packets")
    assert rows == [(server_port, 2)]          # never a connection to the ephemeral side


def test_reverse_packets_follow_the_conversation_not_the_ports(tmp_path: Path) -> None:
    # the SYN says 10.0.0.1:40000 initiated, although 40000 > 5432 would say the same; use odd ports
    syn = flow(sport=80, dport=50000, flags={"SYN": True})
    stats, con = ingest(write(tmp_path, syn, back(syn), back(syn), flow(sport=80, dport=50000, flags={"ACK": True})))
    assert conns(con, "src_ip, dst_port, packets") == [("10.0.0.1", 50000, 4)]


def test_udp_request_response_with_and_without_is_reply(tmp_path: Path) -> None:
    q = flow(proto="UDP", sport=53001, dport=53, is_reply=False)
    plain = flow(proto="UDP", sip="10.0.0.3", sport=41000, dport=53)
    stats, con = ingest(write(tmp_path, q, back(q, is_reply=True), back(plain), plain))
    assert conns(con) == [("10.0.0.1", "10.0.0.2", "UDP", 53, 1, 2), ("10.0.0.3", "10.0.0.2", "UDP", 53, 1, 2)]


def test_icmp_echo_and_icmpv6_echo(tmp_path: Path) -> None:
    ping = flow(l4={"ICMPv4": {"type": 8}})
    pong = back(ping, l4={"ICMPv4": {}})          # type 0 is omitted by proto3 JSON
    ping6 = flow("fd00::1", "fd00::2", l4={"ICMPv6": {"type": 128}})
    pong6 = back(ping6, l4={"ICMPv6": {"type": 129}})
    unreach = back(ping, l4={"ICMPv4": {"type": 3, "code": 3}})
    stats, con = ingest(write(tmp_path, ping, pong, ping6, pong6, unreach))
    assert conns(con) == [("10.0.0.1", "10.0.0.2", "ICMP", None, 1, 3), ("fd00::1", "fd00::2", "ICMPv6", None, 1, 2)]


# --- endpoints ----------------------------------------------------------------------------------

@pytest.mark.parametrize(("ep", "kind", "workload"), [
    (reserved("world", 2), "world", "reserved:world"),
    (reserved("host", 1), "host", "reserved:host"),
    (reserved("remote-node", 6), "host", "reserved:remote-node"),
    ({"identity": 7, "labels": ["reserved:host", "reserved:kube-apiserver"]}, "kube-apiserver",
     "reserved:kube-apiserver"),
    (reserved("health", 4), "health", "reserved:health"),
    (reserved("init", 5), "unknown", "reserved:init"),
    (reserved("unmanaged", 3), "unknown", "reserved:unmanaged"),
    ({"identity": 2}, "world", "reserved:world"),                        # identity number without labels
    ({"identity": 16777217, "labels": ["cidr:1.2.3.0/24"]}, "world", "reserved:world"),
    ({"identity": 2, "labels": ["reserved:world"], "namespace": "kube-system", "pod_name": "coredns-1"},
     "world", "reserved:world"),                                           # the identity quirk: reserved wins
    (pod("shop", "db-0", "app=db"), "pod", None),
    (pod("shop", "api-7f9-xyz", "app=api", workload="api"), "pod", "api"),
    ({"identity": 0}, "unknown", None),
])
def test_endpoint_kinds_and_workloads(tmp_path: Path, ep: dict, kind: str, workload: str | None) -> None:
    stats, con = ingest(write(tmp_path, flow(flags={"SYN": True}, dst=ep)))
    assert conns(con, "dst_kind, dst_workload, dst_namespace, dst_pod") == [
        (kind, workload, ep.get("namespace"), ep.get("pod_name"))]


def test_labels_are_cleaned_and_sorted(tmp_path: Path) -> None:
    ep = {"identity": 9000, "namespace": "shop", "pod_name": "db-0", "labels": [
        "k8s:zeta=1", "k8s:app.kubernetes.io/name=db", "k8s:io.cilium.k8s.namespace.labels.team=a",
        "k8s:io.cilium.k8s.policy.serviceaccount=db", "k8s:io.kubernetes.pod.namespace=shop", "container:x=y",
        "k8s:flag", "alpha=2"]}
    stats, con = ingest(write(tmp_path, flow(flags={"SYN": True}, dst=ep, src=reserved("world", 2))))
    src_labels, dst_labels = con.execute("SELECT src_labels, dst_labels FROM staging").fetchone()
    assert src_labels is None
    assert list(dst_labels.items()) == [("alpha", "2"), ("app.kubernetes.io/name", "db"), ("flag", ""),
                                        ("zeta", "1")]


def test_a_label_key_given_twice_keeps_its_smallest_value(tmp_path: Path) -> None:
    """Labels are normalized per distinct endpoint with list functions: after stripping `k8s:`, a key
    may appear twice (prefixed and not); the smallest value wins, and an endpoint whose labels are all
    dropped has no labels (NULL), not an empty map."""
    dst = {"identity": 9001, "namespace": "shop", "pod_name": "api-0", "labels": [
        "k8s:tier=backend", "k8s:app=web", "url=http://x", "app=api", "tier=backend", "k8s:zone",
        "container:k=v", "k8s:io.cilium.k8s.policy.cluster=default"]}
    src = {"identity": 9002, "namespace": "shop", "pod_name": "web-0",
           "labels": ["k8s:io.cilium.k8s.policy.serviceaccount=web", "k8s:io.kubernetes.pod.namespace=shop"]}
    stats, con = ingest(write(tmp_path, flow(flags={"SYN": True}, src=src, dst=dst)))
    src_labels, dst_labels = con.execute("SELECT src_labels, dst_labels FROM staging").fetchone()
    assert src_labels is None
    assert list(dst_labels.items()) == [("app", "api"), ("tier", "backend"), ("url", "http://x"), ("zone", "")]


def test_the_earliest_request_names_an_endpoint_its_events_disagree_on(tmp_path: Path) -> None:
    """A pod relabelled during the capture: the connection keeps the endpoint of its earliest request,
    whatever the line order; replies only decide when no request carries the endpoint."""
    old, new = pod("shop", "web-1", "app=web", "v=1"), pod("shop", "web-1", "app=web", "v=2")
    late = flow(src=new, t="2024-05-01T10:00:05Z")
    early = flow(src=old, t="2024-05-01T10:00:01Z", flags={"SYN": True})
    reply = back(flow(src=pod("shop", "web-1", "v=0"), t="2024-05-01T10:00:00Z"), is_reply=True)
    stats, con = ingest(write(tmp_path, late, reply, early))
    assert conns(con, "src_labels, packets") == [({"app": "web", "v": "1"}, 3)]


def test_a_pod_seen_with_two_label_sets_keeps_its_earliest(tmp_path: Path) -> None:
    """Hubble connections have no line number, so the store takes a flow-only pod's labels from its
    earliest connection (first_seen), not from whichever row it meets first."""
    from recommender import load_flows
    relabelled = pod("shop", "web-1", "app=web", "v=2")
    later = flow(dport=80, src=relabelled, flags={"SYN": True}, t="2024-05-01T10:00:05Z")
    earlier = flow(dport=443, src=pod("shop", "web-1", "app=web", "v=1"), flags={"SYN": True},
                   t="2024-05-01T10:00:01Z")
    for order in ((later, earlier), (earlier, later)):
        store = load_flows(write(tmp_path, *order))
        web = next(p for p in store.pods() if p.name == "web-1")
        assert dict(web.labels.items()) == {"app": "web", "v": "1"}


def test_endpoints_sharing_a_key_hash_are_told_apart_by_their_text(tmp_path: Path, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    """Events are grouped on a 64-bit hash of each endpoint; a collision is detected and the file is read
    again keyed on the texts. Forced here with a 1-bit key: the result must not change."""
    lines = [flow(sip=f"10.0.0.{i}", src=pod("shop", f"web-{i}", f"app=web{i}"), flags={"SYN": True})
             for i in range(1, 6)]
    path = write(tmp_path, *lines)
    _, con = ingest(path)
    expected = conns(con, "src_ip, src_pod, src_labels, dst_pod")
    assert len({r[2]["app"] for r in expected}) == 5
    calls: list[bool] = []
    classify = hubble.Q.classify_sql

    def spy(*args: Any, **kw: Any) -> str:
        calls.append(kw.get("exact_endpoints", False))
        return classify(*args, **kw)

    monkeypatch.setattr(hubble.Q, "ENDPOINT_KEY", "hash({}) % 2")
    monkeypatch.setattr(hubble.Q, "classify_sql", spy)
    _, con = ingest(path)
    assert calls == [False, True]
    assert conns(con, "src_ip, src_pod, src_labels, dst_pod") == expected


# --- verdicts, policies, non-flow lines ---------------------------------------------------------

def test_verdicts_and_policies(tmp_path: Path) -> None:
    allowed = flow(flags={"SYN": True}, ingress_allowed_by=[{"name": "allow-web", "namespace": "shop"}],
                   egress_allowed_by=[{"name": "ccnp-egress", "kind": "CiliumClusterwideNetworkPolicy"}])
    data = flow(flags={"ACK": True})         # a later packet of that connection without policy metadata
    denied = flow(sport=40002, dport=6379, flags={"SYN": True}, verdict="DROPPED", drop_reason_desc="POLICY_DENIED",
                  ingress_denied_by=[{"name": "deny-redis", "namespace": "shop"}])
    audit = flow(sport=40003, dport=9090, flags={"SYN": True}, verdict="AUDIT")
    broken = flow(sport=40004, dport=7000, flags={"SYN": True}, verdict="DROPPED",
                  drop_reason_desc="CT_MAP_INSERTION_FAILED")
    traced = flow(sport=40005, dport=7001, flags={"SYN": True}, verdict="TRACED")
    stats, con = ingest(write(tmp_path, allowed, data, denied, audit, broken, traced))
    assert conns(con, "dst_port, action, policies, packets") == [
        (5432, "allow", ["ccnp-egress", "shop/allow-web"], 2),
        (6379, "deny", ["shop/deny-redis"], 1),
        (9090, "allow", ["(audit)"], 1),
    ]
    assert stats.skipped == {"dropped for a non-policy reason": 1, "verdict TRACED": 1}


def _seen(verdict: str, direction: str | None, **extra: Any) -> dict[str, Any]:
    """The request (SYN) of one connection as one observation point reports it."""
    drop = {"drop_reason_desc": "POLICY_DENIED"} if verdict == "DROPPED" else {}
    where = {"traffic_direction": direction} if direction else {}
    return flow(flags={"SYN": True}, verdict=verdict, **drop, **where, **extra)


# (what the observation points saw of one connection's request) → (its connection rows, records skipped as
# forwarded by the source but denied by the destination). Hubble Relay shows a cross-node connection at both
# ends: the source node's egress and the destination node's ingress.
PATHS = [
    ([("FORWARDED", "EGRESS"), ("DROPPED", "INGRESS")], ["deny"], 1),
    ([("FORWARDED", "EGRESS"), ("FORWARDED", "EGRESS"), ("DROPPED", "INGRESS")], ["deny"], 2),
    # delivered at the destination too (a retransmitted SYN after a policy change): the connection worked
    ([("FORWARDED", "EGRESS"), ("DROPPED", "INGRESS"), ("FORWARDED", "INGRESS")], ["allow", "deny"], 0),
    ([("AUDIT", "EGRESS"), ("DROPPED", "INGRESS"), ("AUDIT", "INGRESS")], ["allow", "deny"], 0),
    # dropped at the source's egress: the forwarded attempt went out, so it stays allowed
    ([("FORWARDED", "EGRESS"), ("DROPPED", "EGRESS")], ["allow", "deny"], 0),
    # without traffic_direction nothing says where the drop happened: both rows stay
    ([("FORWARDED", None), ("DROPPED", None)], ["allow", "deny"], 0),
    ([("FORWARDED", "EGRESS"), ("DROPPED", "TRAFFIC_DIRECTION_UNKNOWN")], ["allow", "deny"], 0),
    ([("FORWARDED", "EGRESS"), ("FORWARDED", "INGRESS")], ["allow"], 0),
    ([("DROPPED", "INGRESS")], ["deny"], 0),
]


@pytest.mark.parametrize(("seen", "actions", "lost"), PATHS)
def test_forwarded_at_the_source_but_denied_at_the_destination_is_denied(
        tmp_path: Path, seen: list[tuple[str, str | None]], actions: list[str], lost: int) -> None:
    events = [_seen(v, d) for v, d in seen]
    stats, con = ingest(write(tmp_path, *events))
    assert [a for (a,) in conns(con, "action")] == actions
    assert stats.skipped.get(hubble.DENIED_AT_DESTINATION, 0) == lost
    assert stats.accepted == len(events) - lost


def test_denied_at_the_destination_is_judged_per_connection(tmp_path: Path) -> None:
    """Another source port of the same client and server (another connection) that got through keeps its
    allow row; the L7 records of a connection denied at the destination go with its forwarded events."""
    denied = [_seen("FORWARDED", "EGRESS"), _seen("DROPPED", "INGRESS"),
              flow(Type="L7", l7={"type": "REQUEST"}, traffic_direction="EGRESS")]
    other = [_seen("FORWARDED", "EGRESS", l4={"TCP": {"source_port": 40001, "destination_port": 5432,
                                                      "flags": {"SYN": True}}}),
             _seen("FORWARDED", "INGRESS", l4={"TCP": {"source_port": 40001, "destination_port": 5432,
                                                       "flags": {"SYN": True}}})]
    stats, con = ingest(write(tmp_path, *denied, *other))
    assert conns(con, "action, flows, records") == [("allow", 1, 2), ("deny", 1, 1)]
    assert stats.skipped == {hubble.DENIED_AT_DESTINATION: 2}


def test_l7_verdicts_at_the_destination(tmp_path: Path) -> None:
    """An L7 drop at ingress is an L7 policy's verdict on a connection that was let in; an L7 request
    forwarded at ingress shows the connection was delivered."""
    l7 = {"Type": "L7", "l7": {"type": "REQUEST"}, "traffic_direction": "INGRESS"}
    _, con = ingest(write(tmp_path, _seen("FORWARDED", "EGRESS"), flow(verdict="DROPPED", **l7)))
    assert conns(con, "action, records") == [("allow", 1), ("deny", 1)]
    stats, con = ingest(write(tmp_path, _seen("FORWARDED", "EGRESS"), _seen("DROPPED", "INGRESS"),
                              flow(**l7), name="delivered.json"))
    assert [a for (a,) in conns(con, "action")] == ["allow", "deny"]
    assert hubble.DENIED_AT_DESTINATION not in stats.skipped


def test_a_connection_denied_at_the_destination_gets_no_rule(tmp_path: Path, cli) -> None:  # type: ignore[no-untyped-def]
    path = write(tmp_path, _seen("FORWARDED", "EGRESS"), _seen("DROPPED", "INGRESS"))
    out = cli("generate", str(path), "--db", ":memory:", "-o", "-")
    assert out.exit_code == 0, out.stderr
    assert "5432" not in out.stdout
    assert "1 denied" in out.stderr


def test_policy_lists_of_each_field_survive_grouping_exactly(tmp_path: Path) -> None:
    """Events are grouped on their four policy lists as one JSON text and the lists are decoded per group:
    names with quotes, backslashes and non-ASCII, empty lists, and fields the verdict ignores come out as
    the verdict rules say, and the policies of all events of a connection are merged."""
    odd = {"name": 'we"ird\\name', "namespace": "ns-\u00e9"}
    fwd = [flow(flags={"SYN": True}, egress_allowed_by=[odd], ingress_allowed_by=[]),
           flow(flags={"ACK": True}, ingress_allowed_by=[{"name": "b", "kind": "CiliumClusterwideNetworkPolicy"}]),
           flow(flags={"ACK": True}, egress_denied_by=[{"name": "not-for-forwarded", "namespace": "x"}])]
    every = {f: [{"name": f, "namespace": "p"}] for f in ("egress_allowed_by", "ingress_allowed_by",
                                                            "egress_denied_by", "ingress_denied_by")}
    audit = flow(sport=40001, dport=9090, flags={"SYN": True}, verdict="AUDIT", **every)
    dropped = flow(sport=40002, dport=6379, flags={"SYN": True}, verdict="DROPPED", **every)
    nothing = flow(sport=40003, dport=8080, flags={"SYN": True}, egress_allowed_by=[], ingress_allowed_by=None)
    _, con = ingest(write(tmp_path, *fwd, audit, dropped, nothing))
    assert conns(con, "dst_port, action, policies, packets") == [
        (5432, "allow", ["b", 'ns-\u00e9/we"ird\\name'], 3),
        (6379, "deny", ["p/egress_denied_by", "p/ingress_denied_by"], 1),
        (8080, "allow", None, 1),
        (9090, "allow", ["(audit)", "p/egress_allowed_by", "p/egress_denied_by", "p/ingress_allowed_by",
                         "p/ingress_denied_by"], 1),
    ]


def test_non_flow_lines_are_skipped_with_reasons(tmp_path: Path) -> None:
    lines = [{"node_status": {"state_change": "NODE_CONNECTED", "node_names": ["n1"]}, "time": T0},
             {"lost_events": {"source": "HUBBLE_RING_BUFFER", "num_events_lost": 3}, "time": T0},
             {"something": "else"},
             flow(flags={"SYN": True}, wrap=False),                 # `hubble observe -o json` (old): bare flow
             flow(l4=None, IP=None, ethernet={"source": "aa:bb:cc:dd:ee:ff"}),
             flow(Type="SOCK", flags={"SYN": True})]
    stats, con = ingest(write(tmp_path, *lines))
    assert stats.skipped == {"node status event": 1, "lost events notice": 1, "not a flow record": 1,
                             "L2 event without IP": 1, "socket-level (SOCK) event": 1}
    assert (stats.records, stats.accepted, stats.connections) == (6, 1, 1)


def test_bare_flow_files_and_mixed_shapes(tmp_path: Path) -> None:
    syn = flow(flags={"SYN": True}, wrap=False)                 # `hubble observe -o json` of older releases
    stats, con = ingest(write(tmp_path, syn, back(syn, is_reply=True)["flow"]))
    assert conns(con) == [("10.0.0.1", "10.0.0.2", "TCP", 5432, 1, 2)]
    # a wrapped line in a bare file: the file is read again with both shapes
    stats, con = ingest(write(tmp_path, syn, back(syn, is_reply=True), name="mixed.json"))
    assert conns(con) == [("10.0.0.1", "10.0.0.2", "TCP", 5432, 1, 2)]
    assert (stats.records, stats.accepted) == (2, 2)


# --- L7 -----------------------------------------------------------------------------------------

def _dns(is_reply: bool, **kw: Any) -> dict[str, Any]:
    f = flow(proto="UDP", sport=34567, dport=53, Type="L7", is_reply=is_reply, event_type={"type": 129},
             l7={"type": "RESPONSE" if is_reply else "REQUEST", "dns": {"query": "db.shop.svc.cluster.local."}},
             dst=pod("kube-system", "coredns-5d78c9869d-abcde", "k8s-app=kube-dns"), **kw)
    if is_reply:
        return back(f, is_reply=True)
    return f


def test_l7_only_dns_becomes_the_udp_53_connection(tmp_path: Path) -> None:
    stats, con = ingest(write(tmp_path, _dns(False), _dns(True)))
    assert conns(con, "dst_namespace, protocol, dst_port, flows, packets, records") == [
        ("kube-system", "UDP", 53, 1, None, 2)]


def test_l7_records_duplicating_an_l4_flow_are_skipped(tmp_path: Path) -> None:
    l4 = flow(proto="UDP", sport=34567, dport=53, dst=pod("kube-system", "coredns-5d78c9869d-abcde"))
    stats, con = ingest(write(tmp_path, l4, _dns(False), _dns(True), back(l4)))
    assert conns(con, "dst_port, packets, records") == [(53, 2, 2)]
    assert stats.skipped == {hubble.L7_DUPLICATE: 2}


# --- files --------------------------------------------------------------------------------------

def test_gzip_and_timestamps(tmp_path: Path) -> None:
    a = flow(flags={"SYN": True}, t="2024-05-01T10:00:00Z")
    b = back(a, time="2024-05-01T11:00:01.5+01:00")   # offsets are converted to UTC
    c = flow(sport=41000, dport=80, flags={"SYN": True}, t="2024-05-01T12:00:00.25Z")
    stats, con = ingest(write(tmp_path, a, b, c, name="flows.json.gz"))
    rows = con.execute("SELECT dst_port, first_seen, last_seen, window_start, window_end, format, line "
                       "FROM staging ORDER BY dst_port").fetchall()
    assert [(r[0], str(r[1]), str(r[2]), str(r[3]), str(r[4]), r[5], r[6]) for r in rows] == [
        (80, "2024-05-01 12:00:00.250000", "2024-05-01 12:00:00.250000", "2024-05-01 10:00:00",
         "2024-05-01 12:00:00.250000", "hubble", None),
        (5432, "2024-05-01 10:00:00", "2024-05-01 10:00:01.500000", "2024-05-01 10:00:00",
         "2024-05-01 12:00:00.250000", "hubble", None)]   # no record number: events are grouped in parallel


def test_sniff() -> None:
    assert hubble.sniff(json.dumps(flow()).encode())
    assert hubble.sniff(json.dumps(flow(wrap=False)).encode())
    assert hubble.sniff(b'{"node_status":{"state_change":"NODE_CONNECTED"},"time":"2024-05-01T10:00:00Z"}\n')
    assert not hubble.sniff(b'{"start_time":1,"reporter":"src","source_name_aggr":"x-*"}\n')
    assert not hubble.sniff(b"version account-id interface-id srcaddr dstaddr\n")
    assert not hubble.sniff(b'{"apiVersion":"v1","kind":"Pod"}')


# --- bad input ----------------------------------------------------------------------------------

GOOD = json.dumps(flow(flags={"SYN": True}))


@pytest.mark.parametrize(("bad", "reason"), [
    ('{"flow": {"verdict": "FORWARDED",', "invalid JSON"),
    ("[1, 2]", "expected a JSON object, got list"),
    (json.dumps(flow(sport="abc")), "flow.l4.TCP.source_port: expected an integer"),
    (json.dumps(flow(IP=None)), "IP: missing in an L3/L4 flow"),
    (json.dumps(flow(l4=None)), "l4: missing in an L3/L4 flow"),
    (json.dumps(flow(sip="10.0.0.300")), 'IP.source: invalid IP address "10.0.0.300"'),
    (json.dumps(flow(dport=70000)), "l4.TCP.destination_port: invalid port 70000 (expected 0-65535)"),
    (json.dumps(flow(t="yesterday")), 'time: invalid timestamp "yesterday"'),
], ids=["broken-json", "not-object", "port-type", "no-ip", "no-l4", "bad-ip", "port-range", "bad-time"])
def test_bad_records_stop_with_file_and_line(tmp_path: Path, bad: str, reason: str) -> None:
    path = write(tmp_path, GOOD, "", bad, GOOD)       # the blank line still counts for the line number
    with pytest.raises(InputError) as e:
        ingest(path)
    assert e.value.line == 3 and e.value.file == str(path)
    assert reason in e.value.reason
    stats, con = ingest(path, skip_bad=True)
    assert (stats.records, stats.accepted, stats.rejected) == (3, 2, 1)
    assert con.execute("SELECT line, format, text FROM rejected").fetchall() == [(3, "hubble", bad)]
    assert reason in con.execute("SELECT reason FROM rejected").fetchone()[0]


def test_truncated_last_line_is_skipped_not_an_error(tmp_path: Path) -> None:
    for name in ("t.json", "t.json.gz"):
        path = write(tmp_path, GOOD, GOOD[:40], name=name, end="")
        stats, con = ingest(path)
        assert stats.truncated_last_line and stats.skipped == {"truncated last line": 1}
        assert (stats.records, stats.accepted, stats.connections) == (2, 1, 1)
        assert any("truncated last line" in n for n in stats.notes)


def test_cli_reports_bad_line_with_exit_code_2(tmp_path: Path, cli) -> None:  # type: ignore[no-untyped-def]
    path = write(tmp_path, GOOD, json.dumps(flow(dip="not-an-ip")))
    res = cli("ingest", path, "--db", ":memory:", "--format", "hubble")
    assert res.exit_code == 2
    assert f"{path}:2" in res.stderr and "IP.destination: invalid IP address" in res.stderr


# --- property: every connection is recovered from its packets in any order, whatever is marked --

@settings(max_examples=15, deadline=None)
@given(st.lists(st.tuples(st.integers(1, 4), st.sampled_from([22, 80, 443, 5432, 8080]),
                          st.integers(32768, 60999), st.booleans(), st.sampled_from(["is_reply", "reply", "none"])),
                min_size=1, max_size=6, unique_by=lambda c: (c[0], c[2])),
       st.randoms(use_true_random=False))
def test_connections_are_recovered_from_shuffled_packets(  # type: ignore[no-untyped-def]
        tmp_path_factory, conns_spec, rnd) -> None:
    lines, expected = [], set()
    for host, port, eph, with_syn, marking in conns_spec:
        c = flow(sip=f"10.1.0.{host}", dip="10.2.0.1", sport=eph, dport=port,
                 flags={"SYN": True} if with_syn else {"ACK": True},
                 **({"is_reply": False} if marking == "is_reply" else {}))
        r = back(c, **({"is_reply": True} if marking == "is_reply" else {"reply": True} if marking == "reply" else {}))
        lines += [c, r, back(r, **({"is_reply": False} if marking == "is_reply" else {}))]
        expected.add((f"10.1.0.{host}", "10.2.0.1", port))
    rnd.shuffle(lines)
    path = write(tmp_path_factory.mktemp("p"), *lines)
    stats, con = ingest(path)
    assert set(con.execute("SELECT src_ip, dst_ip, dst_port FROM staging").fetchall()) == expected
    assert stats.accepted == len(lines)
