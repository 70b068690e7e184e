"""`recommend generate`: ports the exporter did not record, denied connections the recommendation opens, replies, hairpins.

Each test names the Kubernetes rule it relies on and checks the generated policies with the
evaluator, the same judge the generator's own verification uses.
"""

from __future__ import annotations

from recommender.engine.explain import explain_flow
from recommender.model import Endpoint, EndpointKind, Flow, Labels, Pod, PortSpec
from recommender.recommend.generate import generate
from recommender.recommend.report import summary_text
from tests.test_synthesis import conn, make_store, pod

WEB, DB = pod("shop", "web-0", app="web"), pod("shop", "db-0", app="db")
MODEL_PODS = [Pod("shop", "web-0", Labels.of(app="web")), Pod("shop", "db-0", Labels.of(app="db"))]


def _admits(policies, protocol: str, port: int | None) -> bool:
    flow = Flow(Endpoint(EndpointKind.POD, None, "shop", "web-0"), Endpoint(EndpointKind.POD, None, "shop", "db-0"),
                protocol, port)
    return explain_flow(policies, flow, pods=MODEL_PODS).allowed


def test_tcp_without_a_recorded_port_gets_every_tcp_port_not_every_protocol() -> None:
    """NetworkPolicyPort: a `protocol` without `port` matches every port of that protocol. A TCP
    connection whose port the exporter did not record is admitted by `protocol: TCP`; a rule without
    `ports` (every port of every protocol) also opened UDP, SCTP and ICMP between the two workloads."""
    rec = generate(make_store([conn(WEB, DB, 5432), conn(WEB, DB, None)]))
    assert rec.ok
    db = next(p for p in rec.policies if p.name == "db")
    assert [r.ports for r in db.ingress] == [(PortSpec("TCP"),)]
    assert _admits(rec.policies, "TCP", 5432) and _admits(rec.policies, "TCP", None)
    assert not _admits(rec.policies, "UDP", 53)
    assert not _admits(rec.policies, "ICMP", None)
    # the warning says what the rule admits: every TCP port, not every protocol
    text = " ".join(rec.warnings)
    assert "every TCP port" in text and "every port and protocol" not in text
    assert {r.ports for r in rec.provenance} == {"TCP/all"}


def test_icmp_still_needs_a_rule_without_ports() -> None:
    """ICMP has no NetworkPolicy port: only a rule without `ports` admits it (unchanged)."""
    rec = generate(make_store([conn(WEB, DB, 5432), conn(WEB, DB, None, protocol="ICMP")]))
    db = next(p for p in rec.policies if p.name == "db")
    assert [r.ports for r in db.ingress] == [None]
    assert _admits(rec.policies, "ICMP", None)


def test_denied_connections_the_recommendation_admits_are_disclosed() -> None:
    """The recommendation may open a connection the exporter saw denied: web-1 shares web-0's labels
    (one selector, app=web), and ICMP forces a rule without ports, which admits web-0 → db 5433.
    Applying the policies would newly allow both; the summary must say so, not list them as if they
    stayed denied."""
    web1 = pod("shop", "web-1", app="web")
    rows = [conn(WEB, DB, 5432), conn(WEB, DB, None, protocol="ICMP"),
            conn(web1, DB, 5432, action="deny"), conn(WEB, DB, 5433, action="deny"),
            conn(pod("shop", "cache-0", app="cache"), DB, 5432, action="deny")]
    rec = generate(make_store(rows))
    assert rec.ok
    by_pair = {(d["source"], d["port"]): d for d in rec.summary["denied"]}
    assert by_pair[("shop/web-1", 5432)]["admitted"] is True
    assert by_pair[("shop/web-1", 5432)]["admitted_by"] == ["shop/db ingress[0]", "shop/web egress[0]"]
    assert by_pair[("shop/web-0", 5433)]["admitted"] is True
    assert by_pair[("shop/cache-0", 5432)]["admitted"] is False
    assert by_pair[("shop/cache-0", 5432)]["admitted_by"] == []
    assert rec.summary["input"]["denied_admitted"] == 2
    text = summary_text(rec.summary)
    assert "3 denied (excluded), 2 of them admitted by the recommended policies" in text
    assert "denied, admitted by shop/db ingress[0], shop/web egress[0]: shop/web-1 → shop/db-0 TCP/5432" in text
    assert any("the exporter saw denied" in w for w in rec.summary["warnings"])
    assert "| admitted by the recommendation |" in rec.report("md")


def test_denied_connections_stay_listed_as_not_admitted_when_nothing_opens_them() -> None:
    rows = [conn(WEB, DB, 5432), conn(WEB, DB, 5433, action="deny")]
    rec = generate(make_store(rows))
    assert [d["admitted"] for d in rec.summary["denied"]] == [False]
    assert rec.summary["input"]["denied_admitted"] == 0
    assert not any("the exporter saw denied" in w for w in rec.summary["warnings"])


def test_include_denied_counts_the_opened_denied_connections_without_warning() -> None:
    rec = generate(make_store([conn(WEB, DB, 5432), conn(WEB, DB, 5433, action="deny")]), include_denied=True)
    assert rec.summary["input"]["denied_admitted"] == 1
    assert not any("the exporter saw denied" in w for w in rec.warnings)


def test_a_listener_on_a_high_port_is_not_a_reply_when_the_reader_oriented_the_connection() -> None:
    """Calico, Hubble and VPC readers make each connection the initiator's (replies are folded into
    their connection), so namenode → datanode:50010 there is a real connection even though the datanode
    also calls the namenode's service port: skipped as a "reply", it got no rule, the default deny
    blocks it, and verification (which leaves replies out) still said 100 %."""
    nn, dn = pod("hdfs", "namenode-0", app="namenode"), pod("hdfs", "datanode-0", app="datanode")
    for fmt in ("calico", "hubble", "vpc"):
        rec = generate(make_store([conn(dn, nn, 8020, format=fmt), conn(nn, dn, 50010, format=fmt)]))
        datanode = next(p for p in rec.policies if p.name == "datanode")
        assert [r.ports for r in datanode.ingress] == [(PortSpec("TCP", 50010),)], fmt
        assert rec.summary["verification"]["replies_skipped"] == 0, fmt
        assert rec.summary["verification"]["connections"] == 2, fmt


def test_normalized_records_keep_the_reply_heuristic() -> None:
    """The normalized schema may come from exports that keep both directions: there an edge to an
    ephemeral port answering a service edge is still taken for a reply (unchanged)."""
    nn, dn = pod("hdfs", "namenode-0", app="namenode"), pod("hdfs", "datanode-0", app="datanode")
    rec = generate(make_store([conn(dn, nn, 8020), conn(nn, dn, 50010)]))
    assert rec.summary["verification"]["replies_skipped"] == 1


def test_existing_documents_that_are_not_evaluated_are_warned_about(tmp_path) -> None:
    """--existing files may hold Calico's own policies or staged deletions: they are not evaluated, so
    the rules they would make unnecessary are still generated; the summary must say they were left out."""
    path = tmp_path / "existing.yaml"
    path.write_text("apiVersion: projectcalico.org/v3\nkind: NetworkPolicy\nmetadata: {name: allow-db, namespace: shop}\n"
                    "spec: {selector: app == 'db'}\n")
    rec = generate(make_store([conn(WEB, DB, 5432)]), existing=path)
    assert any(w.startswith(f"--existing: {path}:1: skipped NetworkPolicy shop/allow-db") for w in rec.warnings)


def test_a_pod_talking_to_itself_needs_no_rule() -> None:
    """Kubernetes: a pod cannot block access to itself (hairpin traffic through its own Service shows in flow
    logs as pod → same pod). A rule web → web:8080 for it admitted web-1 → web-0:8080, never observed, and
    the over-permission count could not show it (the identity edge web → web looked observed)."""
    web1 = pod("shop", "web-1", app="web")
    rec = generate(make_store([conn(WEB, WEB, 8080), conn(web1, DB, 5432)]))
    assert rec.ok and rec.summary["verification"]["connections"] == 2
    web = next(p for p in rec.policies if p.name == "web")
    assert web.ingress == () and [r.ports for r in web.egress] == [(PortSpec("TCP", 5432),)]
    # replicas that really talk to each other still get their rule
    rec = generate(make_store([conn(WEB, WEB, 8080), conn(WEB, web1, 8080)]))
    web = next(p for p in rec.policies if p.name == "web")
    assert [r.ports for r in web.ingress] == [(PortSpec("TCP", 8080),)]


def test_traffic_between_a_pod_and_its_own_node_needs_no_rule() -> None:
    """Kubernetes: traffic to and from the node where a pod runs is always allowed. A kubelet probe
    (node-1 → web-0 on node-1) and a pod calling its node's agent need no rule; a rule for node-1's
    address would also admit node-1 to web-1 on node-2 and change with every node replacement. The
    same node's address reaching a pod on another node still gets its rule."""
    node1, node2 = "10.0.0.11", "10.0.0.12"
    pods = [{"namespace": "shop", "name": "web-0", "labels": {"app": "web"}, "node": "node-1", "ips": ["10.1.0.5"]},
            {"namespace": "shop", "name": "web-1", "labels": {"app": "web"}, "node": "node-2", "ips": ["10.1.0.6"]},
            {"namespace": "kube-system", "name": "agent-a", "labels": {"app": "agent"}, "node": "node-1",
             "ips": [node1], "host_network": True}]
    web0, web1 = pod("shop", "web-0", app="web"), pod("shop", "web-1", app="web")
    host1 = {"ip": node1, "kind": "host", "workload": "node-1"}
    probe, agent = conn(host1, web0, 8080), conn(web0, host1, 10250)
    rec = generate(make_store([probe, agent], pods))
    assert rec.ok and rec.summary["verification"]["coverage"] == 1.0
    assert rec.summary["input"]["always_allowed"] == 2
    # web still gets its policy, without rules: isolated (also with --no-default-deny), its node traffic allowed
    web = next(p for p in rec.policies if p.name == "web")
    assert (web.ingress, web.egress, web.policy_types) == ((), (), ("Ingress", "Egress"))
    assert [p.name for p in rec.policies if p.namespace == "shop"] == ["default-deny", "web"]
    assert "2 always allowed" in summary_text(rec.summary)
    # node-1 reaching web-1, which runs on node-2: a rule, for exactly that address
    rec = generate(make_store([probe, agent, conn(host1, web1, 8080)], pods))
    web = next(p for p in rec.policies if p.name == "web")
    assert [(tuple(str(q.ip_block.cidr) for q in r.peers), r.ports) for r in web.ingress] == [
        (("10.0.0.11/32",), (PortSpec("TCP", 8080),))]
    assert rec.summary["input"]["always_allowed"] == 2
    # without the pods' nodes nothing is known to be local: every connection gets its rule
    bare = [{k: v for k, v in p.items() if k != "node"} for p in pods]
    rec = generate(make_store([probe, agent], bare))
    assert rec.summary["input"]["always_allowed"] == 0
    web = next(p for p in rec.policies if p.name == "web")
    assert len(web.ingress) == 1 and len(web.egress) == 1
