"""The HTML report: parses, is self-contained, shows every workload and edge, escapes names, colours verdicts."""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from html.parser import HTMLParser

import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import recommender
from conftest import DATA
from explore_scenario import CONNECTIONS, EXTERNALS, WORKLOADS, ext, insert, many_workloads, pod, scenario
from recommender.errors import UsageError
from recommender.model import LabelSelector, NetworkPolicy, Peer, PortSpec, Rule
from recommender.report import render_report, service_graph_svg


EMPTY = {"meta", "rect", "circle", "path", "marker"}   # void in HTML, or self-closed in the inline SVG


class Page(HTMLParser):
    """Collects tags, attributes and text, and every end tag that does not close the innermost open tag;
    fails on nothing, so the assertions say what is wrong."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.tags: list[tuple[str, dict[str, str | None]]] = []
        self.text: list[str] = []
        self.open: list[str] = []
        self.misnested: list[tuple[str, tuple[int, int]]] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append((tag, dict(attrs)))
        if tag not in EMPTY:
            self.open.append(tag)

    def handle_startendtag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append((tag, dict(attrs)))

    def handle_endtag(self, tag: str) -> None:
        if tag in EMPTY:
            return
        if not self.open or self.open[-1] != tag:
            self.misnested.append((tag, self.getpos()))
        if tag in self.open:
            while self.open.pop() != tag:
                pass

    def handle_data(self, data: str) -> None:
        self.text.append(data)


def parse(html: str) -> Page:
    page = Page()
    page.feed(html)
    page.close()
    return page


def svgs(html: str) -> list[ET.Element]:
    """Every inline <svg> of the page, parsed as XML (so it is well-formed)."""
    return [ET.fromstring(m) for m in re.findall(r"<svg\b.*?</svg>", html, flags=re.S)]


def graph_ids(root: ET.Element) -> tuple[set[str], set[tuple[str, str]]]:
    nodes = {g.get("data-id") for g in root.iter("g") if g.get("data-id")}
    edges = {(g.get("data-src"), g.get("data-dst")) for g in root.iter("g") if g.get("data-src")}
    return nodes, edges


EXPECTED_EDGES = {
    ("team-a/web", "team-a/api"), ("team-a/web", "kube-system/coredns"), ("team-a/api", "team-b/db"),
    ("team-a/api", "(external)/93.184.216.34"), ("(external)/203.0.113.7", "team-a/web"),
    ("team-b/batch", "team-a/api"),
}


@pytest.fixture(scope="module")
def plain() -> str:
    return render_report(scenario(), generate=False)


def test_page_parses_and_every_svg_is_well_formed(plain):
    page = parse(plain)
    tags = [t for t, _ in page.tags]
    assert tags[:1] == ["html"] and "body" in tags and tags.count("svg") >= 3
    assert page.misnested == [] and page.open == []          # every element closed, in order
    assert len(svgs(plain)) == tags.count("svg")


def test_every_workload_and_edge_of_the_scenario_is_drawn(plain):
    full = next(root for root in svgs(plain) if root.get("aria-label") == "workloads by namespace")
    nodes, edges = graph_ids(full)
    assert nodes == WORKLOADS | {f"(external)/{ip}" for ip in EXTERNALS}
    assert edges == EXPECTED_EDGES
    titles = " ".join(t.text or "" for t in full.iter("title"))
    for port in ("TCP/8080", "UDP/53", "TCP/5432", "TCP/443", "TCP/80", "TCP/9090"):
        assert port in titles


def test_namespace_sections_hold_each_namespace_graph(plain):
    per_ns = {root.get("aria-label"): graph_ids(root) for root in svgs(plain)}
    nodes, edges = per_ns["workloads of team-a and their peers"]
    assert {"team-a/web", "team-a/api"} <= nodes
    assert edges == {e for e in EXPECTED_EDGES if e[0].startswith("team-a/") or e[1].startswith("team-a/")}
    summaries = [t for t, _ in parse(plain).tags if t == "summary"]
    assert len(summaries) >= 3   # team-a, team-b, kube-system (+ the all-workloads graph)


def test_dns_and_external_peers_are_drawn_distinctly(plain):
    full = next(root for root in svgs(plain) if root.get("aria-label") == "workloads by namespace")
    classes = {g.get("data-id") or (g.get("data-src"), g.get("data-dst")): g.get("class") for g in full.iter("g")}
    assert "dns" in classes[("team-a/web", "kube-system/coredns")].split()
    assert classes["kube-system/coredns"] == "node dns"
    assert classes["(external)/93.184.216.34"] == "node external"
    assert classes["team-a/web"] == "node pod"


def test_nothing_is_loaded_from_the_network(plain):
    page = parse(plain)
    for tag, attrs in page.tags:
        assert tag not in ("script", "link", "iframe", "img", "object", "embed"), tag
        for name in ("src", "href", "xlink:href"):
            assert attrs.get(name) is None, (tag, name, attrs.get(name))
    assert "@import" not in plain
    assert not re.search(r"https?://", plain)
    assert all(u.startswith("#") for u in re.findall(r"url\(([^)]*)\)", plain))   # only in-page markers


def test_names_are_escaped_everywhere():
    evil = '<script>alert("x")</script>'
    ns = '"><img src=x onerror=alert(1)>'
    rows = [(pod(ns, "p-1", evil, {"app": evil}), pod("team-a", "api-1", "api", {"app": "api"}),
             "TCP", 80, "allow", 1, 1),
            (pod("team-a", "api-1", "api", {"app": "api"}), ext("10.9.9.9' onmouseover='x"), "TCP", 443, "deny", 1, 1)]
    html = render_report(scenario(rows), generate=False)
    assert evil not in html and ns not in html and "' onmouseover='" not in html
    assert "&lt;script&gt;" in html
    page = parse(html)
    assert not [t for t, _ in page.tags if t in ("script", "img")]
    assert not [a for _, attrs in page.tags for a in attrs if a.startswith("on")]
    for root in svgs(html):   # still well-formed XML with the hostile names inside
        assert root.tag == "svg"


WEB = NetworkPolicy(
    "web", "team-a", pod_selector=LabelSelector.of({"app": "web"}),
    egress=(Rule(peers=(Peer(pod_selector=LabelSelector.of({"app": "api"})),), ports=(PortSpec("TCP", 8080),)),),
    policy_types=("Egress",),
)


def test_edges_are_coloured_by_the_given_policies_with_reasons():
    store = recommender.open_store(":memory:")
    insert(store.con, CONNECTIONS)
    html = render_report(store, policies=[WEB])
    full = next(root for root in svgs(html) if root.get("aria-label") == "workloads by namespace")
    by_pair = {(g.get("data-src"), g.get("data-dst")): g for g in full.iter("g") if g.get("data-src")}
    assert by_pair[("team-a/web", "team-a/api")].get("class") == "edge admitted"
    dns = by_pair[("team-a/web", "kube-system/coredns")]
    assert dns.get("class") == "edge denied dns"
    reason = dns.find("title").text
    assert "denied: isolated for egress by web" in reason
    assert by_pair[("team-a/api", "team-b/db")].get("class") == "edge admitted"   # api is not isolated
    page_text = " ".join(parse(html).text)
    assert "isolated for egress by web" in page_text.split("Denied connections", 1)[1]   # the table too
    assert "Pods default-deny isolates" in page_text and "web-2" in page_text
    assert "Not verified" in page_text


def test_policies_of_a_namespace_without_traffic_get_a_section():
    store = recommender.open_store(":memory:")
    insert(store.con, CONNECTIONS)
    quiet = NetworkPolicy("quiet", "nobody-home", pod_selector=LabelSelector(), policy_types=("Ingress",))
    html = render_report(store, policies=[WEB, quiet])
    sections = [s for s in re.findall(r"<summary>(.*?)</summary>", html) if s.startswith("nobody-home")]
    assert sections and "1 policies" in sections[0]


def test_generated_policies_are_shown_with_provenance():
    store = recommender.open_store(":memory:")
    insert(store.con, CONNECTIONS)
    html = render_report(store)
    text = " ".join(parse(html).text)
    assert "observed connections" in text        # rule provenance
    assert "default-deny" in text
    assert "Verified: the policies admit every observed allowed connection" in text
    edge_classes = {g.get("class") for root in svgs(html) for g in root.iter("g") if g.get("data-src")}
    assert edge_classes <= {"edge admitted", "edge admitted dns", "edge denied", "edge partial"}


def test_report_is_deterministic(plain):
    assert render_report(scenario(), generate=False) == plain


def test_two_hundred_workloads_collapse_to_namespaces_and_stay_small():
    html = render_report(many_workloads(200), generate=False)
    labels = [root.get("aria-label") for root in svgs(html)]
    assert "workloads by namespace" not in labels            # too many for one readable graph
    assert "namespaces and the traffic between them" in labels
    assert sum(1 for label in labels if label and label.startswith("workloads of ns-")) == 20
    assert len(html.encode()) < 600_000      # ~1.4 KB per workload; benchmarks/report_size.py checks 2,000


def test_standalone_svg_for_notebooks_is_namespaced_xml():
    con = scenario()
    for level in ("namespaces", "workloads", "team-a"):
        root = ET.fromstring(service_graph_svg(con, level=level))
        assert root.tag == "{http://www.w3.org/2000/svg}svg"
        assert root.find("{http://www.w3.org/2000/svg}style") is not None   # carries its own colours
    with pytest.raises(UsageError, match="no namespace 'nope'"):
        service_graph_svg(con, level="nope")


def test_cli_writes_one_file(cli, tmp_path):
    bad = cli("report", tmp_path / "does-not-exist.log", "-o", tmp_path / "r.html")
    assert bad.exit_code == 2 and "does-not-exist.log" in bad.stderr
    assert not (tmp_path / "r.html").exists()
    out = tmp_path / "report.html"
    ok = cli("report", DATA / "demo" / "calico" / "flows.log", "-o", out)
    assert ok.exit_code == 0, ok.stderr
    assert ok.stdout == "" and "wrote" in ok.stderr
    html = out.read_text()
    assert "shop-frontend" in html and not re.search(r"https?://", html)


def test_cli_judges_given_policy_files(cli, tmp_path):
    (tmp_path / "web.yaml").write_text(
        "apiVersion: networking.k8s.io/v1\nkind: NetworkPolicy\n"
        "metadata: {name: web-egress, namespace: shop-frontend}\n"
        "spec:\n  podSelector: {matchLabels: {app.kubernetes.io/name: web}}\n  policyTypes: [Egress]\n")
    out = tmp_path / "report.html"
    result = cli("report", DATA / "demo" / "calico" / "flows.log", "--policies", tmp_path, "-o", out)
    assert result.exit_code == 0, result.stderr
    html = out.read_text()
    assert "Not verified" in html and "isolated for egress by web-egress" in html


def test_an_empty_store_still_gives_a_page_and_no_flows_is_a_usage_error(cli, tmp_path):
    html = render_report(recommender.open_store(":memory:"))
    assert "no connections" in html and parse(html).tags[0][0] == "html"
    result = cli("report", "-o", tmp_path / "r.html")
    assert result.exit_code == 2 and "no flows to read" in result.stderr


def _star(peers: int) -> pd.DataFrame:
    """hub/prom scrapes one workload in each of ``peers`` namespaces (connections i+1)."""
    return pd.DataFrame({
        "src_group": ["hub"] * peers, "src_name": ["prom"] * peers, "src_kind": ["pod"] * peers,
        "dst_group": [f"ns-{i:02d}" for i in range(peers)], "dst_name": ["app"] * peers, "dst_kind": ["pod"] * peers,
        "port": ["TCP/9102"] * peers, "dns": [False] * peers, "connections": list(range(1, peers + 1)),
        "bytes": [10] * peers, "observed_denied": [0] * peers,
    })


def test_a_namespace_calling_everyone_folds_its_peers_and_keeps_the_counts():
    from recommender.report import graph as g

    whole = g.workload_graph(_star(40))
    hub = g.subgraph(whole, "hub")
    kept = g.MAX_PEERS - 1
    assert len(hub.nodes) == 1 + g.MAX_PEERS                     # prom + the busiest namespaces + "others"
    assert f"({40 - kept} other namespaces)" in {n.id for n in hub.nodes}
    quietest_kept, first_folded = f"ns-{40 - kept:02d}", f"ns-{39 - kept:02d}"
    assert {"ns-39", quietest_kept} <= {n.id for n in hub.nodes} and first_folded not in {n.id for n in hub.nodes}
    assert sum(e.connections for e in hub.edges) == sum(range(1, 41))
    small = g.subgraph(g.workload_graph(_star(5)), "hub")        # few peers: drawn one by one
    assert {n.id for n in small.nodes} == {"hub/prom"} | {f"ns-{i:02d}/app" for i in range(5)}


def test_the_overview_folds_the_quietest_namespaces():
    from recommender.report import graph as g

    overview = g.namespace_graph(_star(40))
    assert len(overview.nodes) == g.MAX_GROUPS
    assert sum(e.connections for e in overview.edges) == sum(range(1, 41))


NAMES = st.text(min_size=1, max_size=12).filter(lambda s: "\x00" not in s and s.strip() == s and "/" not in s)


@settings(max_examples=60, deadline=None)
@given(ns=NAMES, name=NAMES)
def test_any_name_round_trips_through_the_svg(ns, name):
    """Whatever a flow log calls a workload, the SVG parses as XML and names it exactly (U+FFFD standing
    for the control characters XML cannot carry)."""
    from recommender.report import workloads_svg

    edges = _star(1).assign(src_group=ns, src_name=name)
    root = ET.fromstring(workloads_svg(edges, standalone=True))
    ids = {g.get("data-id") for g in root.iter("{http://www.w3.org/2000/svg}g") if g.get("data-id")}
    clean = re.sub("[\x01-\x08\x0b\x0c\x0e-\x1f\ufffe\uffff]", "\ufffd", f"{ns}/{name}")
    assert ids == {clean, "ns-00/app"}
    titles = [t.text for t in root.iter("{http://www.w3.org/2000/svg}title")]
    assert any(t.startswith(clean + " → ") for t in titles)


def test_long_rule_tables_show_whole_policies_and_say_how_many_more():
    """Beyond MAX_RULE_ROWS rules a namespace shows its first policies whole, then one line with what is left."""
    from recommender.report import html

    rules = pd.DataFrame({"policy": [f"p{i:02d}" for i in range(10) for _ in range(4)], "rule": list(range(40))})
    assert len(html.capped_rules(rules.head(8), limit=8)) == 8                 # at the limit: nothing cut
    shown = html.capped_rules(rules, limit=10)
    assert list(shown["policy"].unique()) == ["p00", "p01"]                  # 8 rows: p02 would cut in half
    assert len(html.capped_rules(pd.DataFrame({"policy": ["big"] * 30}), limit=10)) == 30   # first one whole
    page = recommender.report.tables.table(shown, total=len(rules), more="rules in 8 more policies")
    assert "… and 32 more rules in 8 more policies" in page
    assert "more" not in recommender.report.tables.table(rules)


def test_tooltips_give_bytes_in_three_figures():
    from recommender.report.svg import size

    assert [size(n) for n in (0, 999, 1000, 489289, 1094931)] == ["0 B", "999 B", "1 kB", "489 kB", "1.09 MB"]


def test_isolated_pods_are_named_up_to_a_few_then_counted():
    from recommender.report.html import some_pods

    assert some_pods(pd.Series(["b", "a"])) == "a, b"
    assert some_pods(pd.Series(["e", "d", "c", "b", "a"])) == "a, b, c +2 more"


def test_a_namespace_graph_names_its_own_workloads_bare_and_peers_in_full():
    from recommender.report.graph import ADMITTED, Edge, Graph, Node
    from recommender.report.svg import edge_title

    graph = Graph((Node("a/web", "a", "web", "pod"), Node("b/db", "b", "db", "pod")),
                  (Edge("a/web", "b/db", ("TCP/5432",), 3, 2048, ADMITTED),))
    assert edge_title(graph, graph.edges[0], home="a").startswith("web → b/db\nTCP/5432: admitted; 3 connections, 2.05 kB")
    assert edge_title(graph, graph.edges[0]).startswith("a/web → b/db\n")


def test_a_long_verification_table_puts_policies_with_findings_first_and_counts_the_rest():
    from recommender.report import html

    verification = pd.DataFrame({"policy": ["a", "b", "c", "d"], "unused_rules": [0, 0, 1, 0],
                                 "unobserved_admitted": [0, 2, 0, 0]})
    text = html._verification_table(verification, limit=2)
    assert text.index(">b<") < text.index(">c<") and ">a<" not in text and ">d<" not in text
    assert "… and 2 more policies" in text
    assert ">a<" in html._verification_table(verification)
