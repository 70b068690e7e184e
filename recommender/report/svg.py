"""Render a laid-out service graph as inline SVG.

The report must open offline and be safe to share, so the SVG is written by
hand, every label and tooltip escaped. Colours, dashes and arrow heads live in
one small stylesheet (``SVG_CSS``): the HTML page inlines it once for all its
graphs, a standalone SVG (for a notebook) carries its own copy. That keeps a
graph element down to its geometry, which is what keeps a report of thousands
of workloads at a few megabytes. Each node and edge carries ``data-*``
attributes naming its ends, which the tests (and anyone scripting against the
report) use to find them.
"""

from __future__ import annotations

import math

from recommender.report.graph import ADMITTED, DENIED, OBSERVED, OBSERVED_DENIED, PARTIAL, Edge, Graph, Node
from recommender.report.layout import Layout
from recommender.report.tables import escape

EDGE_COLOURS = {
    ADMITTED: "#2e7d32",
    DENIED: "#c62828",
    PARTIAL: "#ef6c00",
    OBSERVED: "#546e7a",
    OBSERVED_DENIED: "#6a1b9a",
}
VERDICT_TEXT = {
    ADMITTED: "admitted",
    DENIED: "denied",
    PARTIAL: "partly denied",
    OBSERVED: "observed",
    OBSERVED_DENIED: "denied by the exporter",
}
NODE_STYLE = {  # node class -> (fill, stroke, dash); other kinds (host, service, …) get CLUSTER_STYLE
    "pod": ("#e3f2fd", "#1565c0", "none"),
    "external": ("#fff3e0", "#e65100", "5 3"),
    "namespace": ("#e8eaf6", "#283593", "none"),
    "dns": ("#e8f5e9", "#2e7d32", "none"),
}
CLUSTER_STYLE = ("#eceff1", "#455a64", "2 2")
MAX_LABEL = 26
LABEL_AT = 0.7
ARROW = "arrow"
ROOT_CLASS = "rgraph"
WIDTHS = (1, 2, 3, 4)
"""Edge line widths (a class each, not an attribute per edge): busier node pairs draw thicker."""


def _css() -> str:
    g = f".{ROOT_CLASS}"
    rules = [
        f"svg{g}{{font-family:system-ui,sans-serif;font-size:11px}}",
        f"{g} text{{text-anchor:middle;fill:#212121}}",
        f"{g} text.port{{font-size:10px;fill:#37474f;paint-order:stroke;stroke:#fff;stroke-width:3px}}",
        f"{g} .edge path{{fill:none}}",
        f"{g} .edge.dns path{{stroke-dasharray:6 4}}",
        f"{g} .edge:hover path{{stroke-width:5}}",
        f"{g} .group rect{{fill:#fafafa;stroke:#9e9e9e}}",
        f"{g} .group text{{text-anchor:start;font-weight:bold}}",
        "{0} .node rect,{0} .node circle{{fill:{1};stroke:{2};stroke-dasharray:{3}}}".format(g, *CLUSTER_STYLE),
    ]
    rules += [f"{g} path.w{w}{{stroke-width:{w}}}" for w in WIDTHS]
    rules += [f"{g} .edge.{v} path{{stroke:{c};marker-end:url(#{ARROW}-{v})}}" for v, c in EDGE_COLOURS.items()]
    rules += ["{0} .node.{1} rect,{0} .node.{1} circle{{fill:{2};stroke:{3};stroke-dasharray:{4}}}".format(g, k, *st)
              for k, st in NODE_STYLE.items()]
    return "\n".join(rules)


SVG_CSS = _css()
"""The graphs' stylesheet: the HTML page inlines it once; standalone SVGs embed it."""


def short(text: str, limit: int = MAX_LABEL) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def ports_label(ports: tuple[str, ...], limit: int = 3) -> str:
    shown = ", ".join(ports[:limit])
    return shown + (f" +{len(ports) - limit}" if len(ports) > limit else "")


def size(count: int) -> str:
    """Bytes for a tooltip, three significant figures (``489289`` → ``489 kB``)."""
    for unit in ("B", "kB", "MB", "GB"):
        if count < 999.5 or unit == "GB":
            return f"{count:.0f} {unit}" if unit == "B" else f"{count:.3g} {unit}"
        count /= 1000
    return ""


def edge_title(graph: Graph, edge: Edge, home: str = "") -> str:
    """Tooltip of an edge; workloads of the ``home`` namespace (the one a graph is about) go by their name."""
    def name(node: Node) -> str:
        return node.name if node.group == home and node.kind == "pod" else node.label

    lines = [f"{name(graph.node(edge.src))} → {name(graph.node(edge.dst))}",
             f"{', '.join(edge.ports)}: {VERDICT_TEXT[edge.verdict]}; {edge.connections} connections, {size(edge.bytes)}"]
    lines += [f"denied: {r}" for r in edge.reasons]
    return "\n".join(lines)


def _node_svg(node: Node, x: float, y: float, lay: Layout, extra: str) -> str:
    kind = "dns" if node.dns else node.kind
    whole_group = node.id == node.group          # a folded namespace, (external) or (cluster)
    plain = lay.round_nodes or node.kind == "pod" or whole_group
    text = short(node.name if plain else f"{node.kind}: {node.name}")
    if whole_group and not lay.round_nodes and node.kind == "namespace" and not node.name.startswith("("):
        text = short(f"namespace {node.name}")
    if node.dns:
        text = short(node.name, MAX_LABEL - 6) + " (DNS)"
    title = f"{node.label} ({'DNS, ' if node.dns else ''}{node.kind}){extra}"
    if lay.round_nodes:
        # the name sits outside the circle, away from the centre, where no edge arrives
        dx, dy = x - lay.width / 2, y - lay.height / 2
        d = math.hypot(dx, dy) or 1.0
        ux, uy = dx / d, dy / d
        anchor = "start" if ux > 0.3 else "end" if ux < -0.3 else "middle"
        shape = (f'<circle cx="{x}" cy="{y}" r="14"/><text x="{x + ux * 20:.1f}" y="{y + uy * 24 + 4:.1f}" '
                 f'style="text-anchor:{anchor}">{escape(text)}</text>')
    else:
        w, h = lay.node_w, lay.node_h
        shape = (f'<rect x="{x - w / 2:g}" y="{y - h / 2:g}" width="{w:g}" height="{h:g}" rx="6"/>'
                 f'<text x="{x:g}" y="{y + 4:g}">{escape(text)}</text>')
    return (f'<g class="node {escape(kind)}" data-id="{escape(node.id)}">'
            f"<title>{escape(title)}</title>{shape}</g>")


def _curve(lay: Layout, p: tuple[float, float], q: tuple[float, float]) -> tuple[str, float, float]:
    """An SVG path from ``p`` to ``q`` between node borders, and its midpoint."""
    (x1, y1), (x2, y2) = p, q
    if lay.round_nodes:
        dx, dy = x2 - x1, y2 - y1
        d = math.hypot(dx, dy) or 1.0
        ux, uy = dx / d, dy / d
        sx, sy, ex, ey = x1 + 16 * ux, y1 + 16 * uy, x2 - 20 * ux, y2 - 20 * uy
        cx, cy = (sx + ex) / 2 - uy * d * 0.12, (sy + ey) / 2 + ux * d * 0.12  # bend: A→B and B→A part
        mx, my = (sx + 2 * cx + ex) / 4, (sy + 2 * cy + ey) / 4
        return f"M{sx:.0f},{sy:.0f} Q{cx:.0f},{cy:.0f} {ex:.0f},{ey:.0f}", mx, my
    half = lay.node_w / 2
    if abs(x2 - x1) < half:  # same column: bulge to the right
        sx, ex = x1 + half, x2 + half + 6
        bulge = 40 + abs(y2 - y1) * 0.25
        path = f"M{sx:.0f},{y1:.0f} C{sx + bulge:.0f},{y1:.0f} {ex + bulge:.0f},{y2:.0f} {ex:.0f},{y2:.0f}"
        return path, (sx + ex) / 2 + bulge * 0.75, (y1 + y2) / 2
    sign = 1 if x2 > x1 else -1
    sx, ex = x1 + sign * half, x2 - sign * (half + 6)
    mid = (sx + ex) / 2
    # label at t=0.7 of the curve: edges fanning out of one node get their labels apart
    t = LABEL_AT
    lx = (1 - t) ** 3 * sx + 3 * (1 - t) ** 2 * t * mid + 3 * (1 - t) * t * t * mid + t ** 3 * ex
    ly = (1 - t) ** 3 * y1 + 3 * (1 - t) ** 2 * t * y1 + 3 * (1 - t) * t * t * y2 + t ** 3 * y2
    return f"M{sx:.0f},{y1:.0f} C{mid:.0f},{y1:.0f} {mid:.0f},{y2:.0f} {ex:.0f},{y2:.0f}", lx, ly


def _edge_svg(graph: Graph, edge: Edge, lay: Layout, labels: bool, home: str) -> str:
    path, mx, my = _curve(lay, lay.pos[edge.src], lay.pos[edge.dst])
    width = WIDTHS[min(len(WIDTHS) - 1, int(math.log10(max(edge.connections, 1)) * 0.8 + 0.5))]
    classes = f"edge {edge.verdict}" + (" dns" if edge.dns else "")
    label = ""
    if labels and not edge.dns:
        label = f'<text x="{mx:.0f}" y="{my - 3:.0f}" class="port">{escape(ports_label(edge.ports, 2))}</text>'
    return (f'<g class="{classes}" data-src="{escape(edge.src)}" data-dst="{escape(edge.dst)}">'
            f'<title>{escape(edge_title(graph, edge, home))}</title>'
            f'<path class="w{width}" d="{path}"/>{label}</g>')


def markers() -> str:
    """Arrow heads, one per verdict colour, with ids ``arrow-{verdict}`` (``SVG_CSS`` refers to them)."""
    return "".join(
        f'<marker id="{ARROW}-{v}" viewBox="0 0 10 10" refX="9" refY="5" markerWidth="9" markerHeight="9" '
        f'markerUnits="userSpaceOnUse" orient="auto"><path d="M0,0 L10,5 L0,10 z" fill="{c}"/></marker>'
        for v, c in EDGE_COLOURS.items()
    )


def shared_markers() -> str:
    """A hidden SVG holding the arrow heads every graph of an HTML page refers to."""
    return f'<svg width="0" height="0" style="position:absolute" aria-hidden="true"><defs>{markers()}</defs></svg>'


def render(graph: Graph, lay: Layout, *, title: str, notes: dict[str, str] | None = None,
           standalone: bool = False, max_labels: int = 60, home: str = "") -> str:
    """The ``<svg>`` element for ``graph`` laid out by ``lay``.

    ``notes`` adds a line to a node's tooltip. A ``standalone`` SVG carries
    the XML namespace, ``SVG_CSS`` and its own arrow heads; inside an HTML
    page the graphs share the page's (see ``shared_markers``).
    Port labels are drawn when there are at most ``max_labels`` edges (the
    tooltips always name the ports); DNS edges are dashed instead of labelled.
    In a graph about one namespace (``home``), edge tooltips call its workloads by their bare names.
    """
    notes = notes or {}
    ns = ' xmlns="http://www.w3.org/2000/svg"' if standalone else ""
    own = f"<style>{SVG_CSS}</style><defs>{markers()}</defs>" if standalone else ""
    parts = [
        f'<svg{ns} class="{ROOT_CLASS}" viewBox="0 0 {lay.width:.0f} {lay.height:.0f}" width="{lay.width:.0f}" '
        f'height="{lay.height:.0f}" role="img" aria-label="{escape(title)}">',
        f"<title>{escape(title)}</title>{own}",
    ]
    for box in lay.boxes:
        parts.append(
            f'<g class="group" data-group="{escape(box.label)}"><rect x="{box.x:g}" y="{box.y:g}" '
            f'width="{box.w:g}" height="{box.h:g}" rx="8"/>'
            f'<text x="{box.x + 8:g}" y="{box.y + 15:g}">{escape(short(box.label, 30))}</text></g>'
        )
    labels = len(graph.edges) <= max_labels
    parts += [_edge_svg(graph, e, lay, labels, home) for e in graph.edges]
    parts += [_node_svg(n, *lay.pos[n.id], lay, notes.get(n.id, "")) for n in graph.nodes]
    parts.append("</svg>")
    return "".join(parts)
