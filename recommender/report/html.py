"""Assemble the self-contained HTML report from collected views.

One file, no network: the stylesheet is inlined, graphs are inline SVG, and
drill-down is plain ``<details>``/``<summary>`` (no script at all). The page
reads top-down: the namespace overview graph beside the verification verdict,
then one collapsible section per namespace (its workload graph, its policies
with rule provenance, the pods default deny isolates, its edges with
verdicts), then per-policy verification, denied connections, external peers,
top talkers and the namespace matrix.
"""

from __future__ import annotations

from importlib import resources

import numpy as np
import pandas as pd

from recommender.report import graph as g
from recommender.report import layout, svg, tables
from recommender.report.data import ReportData
from recommender.report.tables import escape

MAX_EDGE_ROWS = 30
"""Rows of a namespace's edge table (denied first, then the busiest); the page says how many more exist."""
MAX_RULE_ROWS = 15
"""Rules shown per namespace, whole policies only (at least the first); the page says how many more exist."""
FULL_DATA = "all of them: recommend generate --report, or the DataFrame views"
FULL_GRAPH_MAX_NODES = 60
"""Above this many workloads the all-workloads graph is left out (the per-namespace graphs remain)."""
FULL_GRAPH_OPEN_EDGES = 40
"""Up to this many edges the all-workloads graph is shown open; beyond, it starts folded."""


def stylesheet() -> str:
    """The page's CSS plus the graphs' (inlined once for every SVG on the page)."""
    page_css = resources.files("recommender.report").joinpath("style.css").read_text(encoding="utf-8")
    return page_css + svg.SVG_CSS + "\n"


def edge_rows(edges: pd.DataFrame) -> pd.DataFrame:
    """Service edges as table rows: readable ends, a verdict word and the deny reasons."""
    out = pd.DataFrame({
        "source": edges["src_group"] + "/" + edges["src_name"],
        "destination": edges["dst_group"] + "/" + edges["dst_name"],
        "port": edges["port"],
        "connections": edges["connections"],
        "bytes": edges["bytes"],
    })
    if "admitted" in edges.columns:
        out["verdict"] = np.select(
            [edges["denied"] == 0, edges["admitted"] == 0], [g.ADMITTED, g.DENIED], default=g.PARTIAL)
        out["reason"] = edges["reasons"]
    else:
        out["verdict"] = np.where(edges["observed_denied"] > 0, g.OBSERVED_DENIED, g.OBSERVED)
    return out


def legend(with_verdicts: bool) -> str:
    keys = [g.ADMITTED, g.DENIED, g.PARTIAL] if with_verdicts else [g.OBSERVED, g.OBSERVED_DENIED]
    words = {g.ADMITTED: "admitted by the policies", g.DENIED: "denied by the policies",
             g.PARTIAL: "some ports denied", g.OBSERVED: "observed", g.OBSERVED_DENIED: "denied by the exporter"}
    items = "".join(f'<span style="--c:{svg.EDGE_COLOURS[k]}">{escape(words[k])}</span>' for k in keys)
    return (f'<div class="legend">{items}<span style="--c:repeating-linear-gradient(90deg,#546e7a 0 6px,'
            f'transparent 6px 10px)">DNS (port 53)</span><span style="--c:#e65100">dashed box: external peer</span>'
            "</div>")


def _graph_block(svg_text: str) -> str:
    return f'<div class="graph-wrap">{svg_text}</div>'


def overview_svg(edges: pd.DataFrame, standalone: bool = False) -> str:
    """The namespace-level graph; each node's tooltip says how much stays inside it."""
    graph = g.namespace_graph(edges)
    inside = g.internal_counts(edges)
    notes = {k: f"\n{v} connections inside" for k, v in inside.items()}
    return svg.render(graph, layout.circle(graph), title="namespaces and the traffic between them",
                      notes=notes, standalone=standalone)


def workloads_svg(edges: pd.DataFrame, standalone: bool = False) -> str:
    """Every workload inside its namespace box."""
    graph = g.workload_graph(edges)
    return svg.render(graph, layout.boxes(graph), title="workloads by namespace",
                      standalone=standalone, max_labels=30)


def namespace_svg(edges: pd.DataFrame | g.Graph, namespace: str, standalone: bool = False) -> str:
    """One namespace's workloads with the peers that call them (left) and that they call (right).

    ``edges`` is a service-edge frame or the whole workload graph (cheaper when drawing many namespaces).
    """
    whole = edges if isinstance(edges, g.Graph) else g.workload_graph(g.touching(edges, namespace))
    graph = g.subgraph(whole, namespace)
    return svg.render(graph, layout.columns(graph, namespace),
                      title=f"workloads of {namespace} and their peers", standalone=standalone,
                      max_labels=40, home=namespace)


def _namespace_section(data: ReportData, whole: g.Graph, namespace: str) -> str:
    edges = g.touching(data.edges, namespace)
    # each edge is listed once: in its source namespace's table (the graph shows both ends)
    listed = edges[(edges["src_group"] == namespace) | edges["src_group"].isin([g.CLUSTER_GROUP, g.EXTERNAL_GROUP])]
    rows = edge_rows(listed)
    rows = rows.assign(_bad=~rows["verdict"].isin([g.ADMITTED, g.OBSERVED])).sort_values(
        ["_bad", "connections", "source", "destination", "port"], ascending=[False, False, True, True, True],
        kind="stable")
    workloads = len({*edges.loc[edges.src_group == namespace, "src_name"],
                     *edges.loc[edges.dst_group == namespace, "dst_name"]})
    denied = int((edge_rows(edges)["verdict"].isin([g.DENIED, g.PARTIAL])).sum())
    facts = [f"{workloads} workloads", f"{len(edges)} edges"]
    if data.rules is not None:
        facts.append(f"{data.rules.loc[data.rules['namespace'] == namespace, 'policy'].nunique()} policies")
        facts.append(f"{denied} denied edges" if denied else "all edges admitted")
    side = _side_panel(data, namespace)
    cols = ["source", "destination", "port", "connections", "verdict"] + (
        ["reason"] if "reason" in rows.columns and rows["_bad"].any() else [])   # no empty column
    return (
        f"<details><summary>{escape(namespace)} <span class=\"muted\">{escape(' · '.join(facts))}</span></summary>"
        f"{_graph_block(namespace_svg(whole, namespace))}{side}"
        f"<h3>Edges from {escape(namespace)} and from outside the cluster</h3>"
        f"{tables.table(rows, cols, row_class='verdict', limit=MAX_EDGE_ROWS, more=f'edges ({FULL_DATA})')}</details>"
    )


ONE_NAMESPACE = r"in namespaces kubernetes\.io/metadata\.name=([^\s;,]+)(?=; |$)"
"""A namespace selector naming one namespace by its automatic name label reads as that namespace."""


MAX_POD_NAMES = 3
"""Pod names listed per row of the isolated-pods table; the rest are counted."""


def some_pods(pods: pd.Series, limit: int = MAX_POD_NAMES) -> str:
    """``a, b, c +4 more``: the first pod names (sorted) and how many others share the row."""
    names = sorted(pods)
    return ", ".join(names[:limit]) + (f" +{len(names) - limit} more" if len(names) > limit else "")


def capped_rules(rules: pd.DataFrame, limit: int = MAX_RULE_ROWS) -> pd.DataFrame:
    """The rules of the first policies that fit in ``limit`` rows (always the first policy whole),
    so a namespace with hundreds of rules stays a screenful and a policy is never cut in half."""
    if len(rules) <= limit:
        return rules.copy()
    ends = rules.groupby("policy", sort=False).size().cumsum()
    keep = set(ends.index[ends <= limit]) or {ends.index[0]}
    return rules[rules["policy"].isin(keep)].copy()


def _side_panel(data: ReportData, namespace: str) -> str:
    """Under a namespace's graph: its policies rule by rule, and the pods they isolate."""
    side = ""
    if data.rules is not None:
        rules = data.rules[data.rules["namespace"] == namespace].copy()
        cols = ["policy", "selects", "direction", "rule", "peers", "ports", "admits"]
        if (rules["provenance"] != "").any():   # generated rules say which observations they came from
            cols.append("provenance")
        shown = capped_rules(rules)
        shown["peers"] = shown["peers"].astype(str).str.replace(ONE_NAMESPACE, r"in namespace \1", regex=True)
        shown.loc[shown["policy"].duplicated(), ["policy", "selects"]] = ""   # name each policy once
        left = rules["policy"].nunique() - shown["policy"].replace("", pd.NA).nunique()
        side += "<h3>Policies and rule provenance</h3>" + tables.table(
            shown, cols, empty="no policy in this namespace: nothing is isolated", total=len(rules),
            more=f"rules in {left} more policies ({FULL_DATA})")
    if data.isolated is not None:
        isolated = data.isolated[data.isolated["namespace"] == namespace]
        by_policies = isolated.groupby(["ingress", "egress"], sort=True)["pod"].agg(some_pods).reset_index()
        side += "<h3>Pods default-deny isolates</h3>" + tables.table(
            by_policies.rename(columns={"pod": "pods", "ingress": "ingress isolated by", "egress": "egress isolated by"}),
            ["pods", "ingress isolated by", "egress isolated by"], empty="no known pod is selected")
    quiet = data.quiet_pods.get(namespace)
    if quiet:
        side += ('<p><span class="bad">Isolated without any observed traffic:</span> '
                 f"{escape(', '.join(quiet))}</p>")
    return side


def _verification_summary(data: ReportData) -> str:
    """The run-level verdict, shown beside the overview graph."""
    if data.verification is None:
        return ('<h3>Verification</h3><p class="muted">No policies were given or generated, so edges show what '
                "the exporter observed.</p>")
    summary = data.verification_summary
    if summary.get("verified"):
        verdict = '<p class="ok">Verified: the policies admit every observed allowed connection.</p>'
    elif summary.get("verified where expressible"):
        verdict = ('<p class="ok">Verified for every connection a policy can name.</p><p class="bad">'
                   f'{summary["not admitted"]} observed connections have an end without an address (the exporter '
                   "hid it): no NetworkPolicy can admit them once their pod is isolated (see below).</p>")
    else:
        verdict = '<p class="bad">Not verified: some observed allowed connections are denied (see below).</p>'
    rows = "".join(f"<tr><th>{escape(str(k))}</th><td class=\"n\">{escape(tables.cell(v))}</td></tr>"
                   for k, v in summary.items() if not k.startswith("verified"))
    return f"<h3>Verification</h3>{verdict}<table><tbody>{rows}</tbody></table>"


MAX_VERIFICATION_ROWS = 300
"""Policies listed in the per-policy verification table; beyond, those with unused rules or admitting
unobserved connections come first and the page says how many more exist."""


def _verification_table(verification: pd.DataFrame, limit: int = MAX_VERIFICATION_ROWS) -> str:
    if len(verification) > limit:
        flagged = [c for c in ("unused_rules", "unobserved_admitted") if c in verification.columns]
        if flagged:
            worst = verification[flagged].sum(axis=1) > 0
            verification = pd.concat([verification[worst], verification[~worst]])
    return tables.table(verification, empty="no policies", limit=limit, more=f"policies ({FULL_DATA})")


def page(data: ReportData) -> str:
    """The whole report as one HTML document."""
    with_verdicts = "admitted" in data.edges.columns
    stats = "".join(f"<div>{escape(str(k))}: <b>{escape(tables.cell(v))}</b></div>" for k, v in data.stats.items())
    with_policies = set(data.rules["namespace"]) if data.rules is not None else set()   # even without traffic
    groups = [x for x in sorted({*data.edges["src_group"], *data.edges["dst_group"], *with_policies},
                                key=g.group_order) if x not in (g.CLUSTER_GROUP, g.EXTERNAL_GROUP)]
    whole = g.workload_graph(data.edges)
    n_nodes = len(whole.nodes)
    full = ""
    if 0 < n_nodes <= FULL_GRAPH_MAX_NODES:
        opened = " open" if len(whole.edges) <= FULL_GRAPH_OPEN_EDGES else ""   # a hairball stays folded
        full = (f"<details{opened}><summary>All workloads</summary>"
                f"{_graph_block(workloads_svg(data.edges))}</details>")
    rows = edge_rows(data.edges)
    denied = rows[rows["verdict"].isin([g.DENIED, g.PARTIAL])] if with_verdicts else rows.iloc[0:0]
    sections = "".join(_namespace_section(data, whole, ns) for ns in groups)
    overview = _graph_block(overview_svg(data.edges)) if not data.edges.empty else "<p>no connections</p>"
    return f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>{escape(data.title)}</title><style>{stylesheet()}</style></head>
<body>
{svg.shared_markers()}
<h1>{escape(data.title)}</h1>
<p class="muted">{escape(data.subtitle)}</p>
<div class="stats">{stats}</div>
<h2>Service graph</h2>
{legend(with_verdicts)}
<div class="columns"><div>{overview}</div><div>{_verification_summary(data)}</div></div>
{full}
<h2>Namespaces</h2>
<p class="muted">Open a namespace for its workload graph, policies, isolated pods and edges.</p>
{sections}
<h2>Verification per policy</h2>
{_verification_table(data.verification) if data.verification is not None else
 '<p class="muted">no policies</p>'}
<h2>Denied connections</h2>
{tables.table(denied, row_class="verdict", empty="none: the policies admit every observed connection")
 if with_verdicts else '<p class="muted">no policies to check against</p>'}
<h2>External peers</h2>
{tables.table(data.externals, limit=500)}
<h2>Top talkers</h2>
{tables.table(data.talkers)}
<h2>Namespace matrix</h2>
{tables.heatmap(data.matrix)}
</body></html>
"""
