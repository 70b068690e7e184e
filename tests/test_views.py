"""The DataFrame views, checked cell by cell on a hand-written cluster (tests/explore_scenario.py)."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import recommender
from conftest import DATA
from explore_scenario import CONNECTIONS, EXTERNALS, WORKLOADS, ext, insert, pod, scenario
from recommender.errors import UsageError
from recommender.io.store import FlowStore, connect
from recommender.model import IPBlock, LabelSelector, NetworkPolicy, Peer, PortSpec, Rule
from recommender.views import (
    external_peers,
    isolated_pods,
    namespace_matrix,
    policy_rules,
    service_edges,
    top_talkers,
    verification,
    workloads,
)


@pytest.fixture
def con():
    return scenario()


@pytest.fixture
def store():
    st = recommender.open_store(":memory:")
    insert(st.con, CONNECTIONS)
    return st


def test_namespace_matrix_counts_connections_between_groups(con):
    m = namespace_matrix(con)
    groups = ["(external)", "kube-system", "team-a", "team-b"]
    assert list(m.index) == groups and list(m.columns) == groups   # square, sorted
    expected = {
        ("team-a", "team-a"): 75, ("team-a", "kube-system"): 90, ("team-a", "team-b"): 20,
        ("team-a", "(external)"): 5, ("(external)", "team-a"): 12, ("team-b", "team-a"): 3,
    }
    for src in groups:
        for dst in groups:
            assert m.loc[src, dst] == expected.get((src, dst), 0), (src, dst)


def test_namespace_matrix_by_bytes_and_bad_value(con):
    assert namespace_matrix(con, value="bytes").loc["team-a", "team-b"] == 200000
    with pytest.raises(UsageError):
        namespace_matrix(con, value="packets-per-fortnight")


def test_top_talkers_by_connections_and_bytes(con):
    by_conn = top_talkers(con, by="connections", n=3)
    assert list(by_conn["workload"]) == ["web", "api", "coredns"]
    web = by_conn.iloc[0]
    assert (web.connections_out, web.connections_in, web.connections) == (165, 12, 177)
    assert list(web.listening) == ["TCP/80"]
    by_bytes = top_talkers(con, by="bytes", n=2)
    assert list(by_bytes["workload"]) == ["api", "db"]
    assert len(top_talkers(con, n=100)) == len(WORKLOADS) + len(EXTERNALS)
    with pytest.raises(UsageError):
        top_talkers(con, by="packets")


def test_external_peers_with_and_without_cidr_aggregation(con):
    peers = external_peers(con)
    assert set(peers["ip"]) == EXTERNALS
    row = peers.set_index("ip").loc["93.184.216.34"]
    assert (row.direction, list(row.workloads), list(row.ports), row.cidr) == (
        "egress", ["team-a/api"], ["TCP/443"], "93.184.216.34/32")
    assert peers.set_index("ip").loc["203.0.113.7", "direction"] == "ingress"
    wide = Rule(peers=(Peer(ip_block=IPBlock("93.184.0.0/16")),))
    narrow = Rule(peers=(Peer(ip_block=IPBlock("93.184.216.0/24")),))
    pols = [NetworkPolicy("a", "team-a", egress=(wide,)), NetworkPolicy("b", "team-a", egress=(narrow,))]
    aggregated = external_peers(con, policies=pols).set_index("ip")
    assert aggregated.loc["93.184.216.34", "cidr"] == "93.184.216.0/24"     # the narrowest containing block
    assert aggregated.loc["203.0.113.7", "cidr"] == "203.0.113.7/32"


def test_service_edges_one_row_per_workload_pair_and_port(con):
    edges = service_edges(con)
    got = {(f"{r.src_group}/{r.src_name}", f"{r.dst_group}/{r.dst_name}", r.port) for r in edges.itertuples()}
    assert got == {
        ("team-a/web", "team-a/api", "TCP/8080"),
        ("team-a/web", "kube-system/coredns", "UDP/53"),
        ("team-a/api", "team-b/db", "TCP/5432"),
        ("team-a/api", "(external)/93.184.216.34", "TCP/443"),
        ("(external)/203.0.113.7", "team-a/web", "TCP/80"),
        ("team-b/batch", "team-a/api", "TCP/9090"),
    }
    web_api = edges[(edges.src_name == "web") & (edges.dst_name == "api")].iloc[0]
    assert web_api.connections == 75                 # both replicas folded into the workload
    assert set(edges.loc[edges.dns, "port"]) == {"UDP/53"}
    assert edges.set_index("port").loc["TCP/9090", "observed_denied"] == 1


def test_workloads_selectors_and_replicas(con):
    wl = workloads(con).set_index(["namespace", "workload"])
    assert {f"{ns}/{name}" for ns, name in wl.index} == WORKLOADS
    web = wl.loc[("team-a", "web")]
    assert (web.replicas, web.replicas_seen) == (2, 2)
    assert (web.selector, web.quality) == ("app=web", "exact")   # pod-template-hash is not stable


def test_views_accept_a_store_a_connection_and_flow_paths(store, con):
    assert namespace_matrix(store).equals(namespace_matrix(con))
    demo = DATA / "demo" / "calico" / "flows.log"
    from_path = top_talkers(demo, n=5)
    assert from_path.equals(top_talkers(recommender.load_flows([demo]), n=5))
    assert from_path.equals(top_talkers([str(demo)], n=5))


def test_a_store_file_made_by_ingest_is_read_back(con, tmp_path):
    db = tmp_path / "flows.duckdb"
    st = FlowStore(connect(db), str(db))
    insert(st.con, CONNECTIONS)
    st.close()
    assert namespace_matrix(db).equals(namespace_matrix(con))


WEB_ONLY = NetworkPolicy(
    "web", "team-a", pod_selector=LabelSelector.of({"app": "web"}),
    ingress=(Rule(peers=(Peer(namespace_selector=LabelSelector.of({"team": "x"})),), ports=(PortSpec("TCP", 80),)),),
    egress=(Rule(peers=(Peer(pod_selector=LabelSelector.of({"app": "api"})),), ports=(PortSpec("TCP", 8080),)),),
    policy_types=("Ingress", "Egress"),
)
DENY_DB_EGRESS = NetworkPolicy("db-deny", "team-b", pod_selector=LabelSelector.of({"app": "db"}),
                               policy_types=("Egress",))


def test_policy_rules_one_row_per_rule_and_default_deny_marker():
    rules = policy_rules([WEB_ONLY, DENY_DB_EGRESS])
    assert list(rules[["namespace", "policy", "direction", "rule"]].itertuples(index=False, name=None)) == [
        ("team-a", "web", "Ingress", 0), ("team-a", "web", "Egress", 0), ("team-b", "db-deny", "Egress", -1)]
    web = rules.iloc[0]
    assert (web.selects, web.peers, web.ports) == ("app=web", "all pods in namespaces team=x", "TCP/80")
    assert rules.iloc[1].peers == "pods app=api (same namespace)"
    assert rules.iloc[2].peers == "nobody (default deny)"


@pytest.mark.parametrize("peer, text", [
    (Peer(ip_block=IPBlock("10.0.0.0/8", ("10.1.0.0/16",))), "ipBlock 10.0.0.0/8 except 10.1.0.0/16"),
    (Peer(pod_selector=LabelSelector()), "pods all pods (same namespace)"),
    (Peer(namespace_selector=LabelSelector()), "all pods in all namespaces"),
    (Peer(pod_selector=LabelSelector.of({"app": "db"}), namespace_selector=LabelSelector.of({"t": "b"})),
     "pods app=db in namespaces t=b"),
])
def test_peers_read_like_the_yaml(peer, text):
    assert policy_rules([NetworkPolicy("p", "n", ingress=(Rule(peers=(peer,)),))]).iloc[0].peers == text


def test_isolated_pods_are_the_selected_known_pods(con):
    iso = isolated_pods([WEB_ONLY, DENY_DB_EGRESS], con)
    assert list(iso.itertuples(index=False, name=None)) == [
        ("team-a", "web-1", "web", "web"), ("team-a", "web-2", "web", "web"), ("team-b", "db-0", "", "db-deny")]


def test_verification_counts_admitted_and_unused_rules(store):
    v = verification([WEB_ONLY, DENY_DB_EGRESS], store).set_index("policy")
    # web's egress rule admits web→api twice (two replicas); its ingress rule (pods of team=x namespaces)
    # admits nothing observed: the only ingress to web is from the internet
    assert v.loc["web", "admitted_connections"] == 2
    assert v.loc["web", "unused_rules"] == 1 and v.loc["web", "isolated_pods"] == 2
    assert (v.loc["db-deny", "rules"], v.loc["db-deny", "isolated_pods"]) == (0, 1)


def test_verification_of_a_recommendation_admits_everything_observed(store):
    from recommender.recommend.generate import generate
    from recommender.views.policies import connection_verdicts, verification_parts

    rec = generate(store)
    frame, summary = verification_parts(rec, connection_verdicts(rec, store))
    assert summary["verified"] and summary["not admitted"] == 0
    assert summary["observed allowed connections"] == sum(1 for c in CONNECTIONS if c[4] == "allow")
    rules = policy_rules(rec)
    assert (rules.loc[rules["rule"] >= 0, "provenance"] != "").all()    # every recommended rule says why
    assert "unobserved_admitted" in frame.columns                       # the recommender attributes over-permission
    assert summary["unobserved combinations admitted"] == 0 and (frame["unobserved_admitted"] == 0).all()


def test_per_policy_over_permission_is_shown_when_the_recommendation_attributes_it(store):
    from types import SimpleNamespace

    from recommender.views.policies import connection_verdicts, verification_parts

    rec = SimpleNamespace(policies=(WEB_ONLY, DENY_DB_EGRESS), provenance=[],
                          summary={"over_permission": {"unobserved": 3, "per_policy": {"team-a/web": 3}}})
    frame, summary = verification_parts(rec, connection_verdicts(rec, store))
    assert summary["unobserved combinations admitted"] == 3
    assert dict(zip(frame["policy"], frame["unobserved_admitted"])) == {"db-deny": 0, "web": 3}


def test_an_inventory_needs_flow_paths(con):
    with pytest.raises(UsageError, match="only accepted with flow paths"):
        top_talkers(con, inventory=["inventory.yaml"])
    with pytest.raises(UsageError, match="cannot read flows"):
        top_talkers(42)


def test_connections_to_an_end_without_address_are_counted_apart():
    from recommender.views.policies import connection_verdicts, verification_parts

    hidden_node = dict(namespace=None, pod=None, workload="node-1", kind="host", labels={}, ip=None)
    st = recommender.open_store(":memory:")
    insert(st.con, [(pod("team-a", "web-1", "web", {"app": "web"}), hidden_node, "TCP", 9100, "allow", 1, 1),
                    (pod("team-a", "web-1", "web", {"app": "web"}), pod("team-a", "db-1", "db", {"app": "db"}),
                     "TCP", 5432, "allow", 1, 1)])
    _, summary = verification_parts([WEB_ONLY], connection_verdicts([WEB_ONLY], st))
    assert (summary["not admitted"], summary["not admitted, no address to name"]) == (2, 1)
    assert not summary["verified"] and not summary["verified where expressible"]


def test_flow_paths_keep_the_inventory_namespace_labels_for_the_evaluator():
    """bff (namespace shop-frontend, labelled tier=frontend in the inventory) → cart on 9090."""
    cart = NetworkPolicy(
        "cart", "shop-backend", pod_selector=LabelSelector.of({"app.kubernetes.io/name": "cart"}),
        ingress=(Rule(peers=(Peer(namespace_selector=LabelSelector.of({"tier": "frontend"}),
                                  pod_selector=LabelSelector.of({"app.kubernetes.io/name": "bff"})),),
                      ports=(PortSpec("TCP", 9090),)),),
        policy_types=("Ingress",))
    demo = DATA / "demo"
    v = verification([cart], [demo / "calico" / "flows.log"], inventory=[demo / "inventory.yaml"])
    assert v.set_index("policy").loc["cart", "admitted_connections"] > 0
    store = recommender.load_flows([demo / "calico" / "flows.log"], inventory=[demo / "inventory.yaml"])
    assert verification([cart], store.con).equals(v)       # a bare connection to the store too


ENDPOINTS = st.one_of(
    st.builds(lambda ns, wl: pod(f"ns-{ns}", f"{wl}-0", wl, {"app": wl}),
              st.integers(0, 3), st.sampled_from(["web", "api", "db", "dns"])),
    st.builds(lambda i: ext(f"203.0.113.{i}"), st.integers(1, 4)),
)
ROWS = st.lists(st.tuples(ENDPOINTS, ENDPOINTS, st.sampled_from(["TCP", "UDP"]), st.sampled_from([53, 80, 443]),
                          st.sampled_from(["allow", "deny"]), st.integers(1, 50), st.integers(0, 10_000)),
                min_size=1, max_size=12)


@settings(max_examples=15, deadline=None)
@given(rows=ROWS)
def test_every_view_accounts_for_every_connection(rows):
    """However the connections fall, the views neither lose nor double-count them."""
    con = scenario(rows)
    total = con.execute("SELECT sum(flows), sum(bytes) FROM connections").fetchall()[0]
    assert namespace_matrix(con).to_numpy().sum() == total[0]
    assert namespace_matrix(con, value="bytes").to_numpy().sum() == total[1]
    edges = service_edges(con)
    assert edges["connections"].sum() == total[0] and edges["bytes"].sum() == total[1]
    talkers = top_talkers(con, n=1000)
    assert talkers["connections"].sum() == 2 * total[0]          # each connection has two ends
    assert (talkers["connections_in"] + talkers["connections_out"] == talkers["connections"]).all()
    peers = external_peers(con)
    assert set(peers["ip"]) == {e["ip"] for r in rows for e in r[:2] if e["ip"]}


def test_a_recommendation_alone_is_judged_by_its_own_verdicts(store):
    rec = recommender.generate(store)
    alone = verification(rec).set_index("policy")
    with_store = verification(rec, store).set_index("policy")
    assert (alone["admitted_connections"] == with_store["admitted_connections"]).all()
    assert "isolated_pods" not in alone.columns
    with pytest.raises(UsageError, match="needs the flows"):
        verification([WEB_ONLY])
