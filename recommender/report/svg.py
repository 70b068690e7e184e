"""Render a laid-out service graph as inline SVG.

The report must open offline and be safe to share, so the SVG is written by
hand: presentation attributes instead of an external stylesheet (it looks the
same inline in the HTML report and alone in a notebook), every label and
tooltip escaped, element ids prefixed so several graphs can share one page.
Each node and edge carries ``data-*`` attributes naming its ends, which the
tests (and anyone scripting against the report) use to find them.
"""

from __future__ import annotations

import math
from html import escape

from recommender.report.graph import ADMITTED, DENIED, OBSERVED, OBSERVED_DENIED, PARTIAL, Edge, Graph, Node
from recommender.report.layout import Layout

EDGE_COLOURS = {
    ADMITTED: "#2e7d32",
    DENIED: "#c62828",
    PARTIAL: "#ef6c00",
    OBSERVED: "#546e7a",
    OBSERVED_DENIED: "#6a1b9a",
}
VERDICT_TEXT = {
    ADMITTED: "admitted by the policies",
    DENIED: "denied by the policies",
    PARTIAL: "partly denied by the policies",
    OBSERVED: "observed (allowed by the exporter)",
    OBSERVED_DENIED: "observed, denied by the exporter",
}
NODE_STYLE = {  # kind -> (fill, stroke, dash)
    "pod": ("#e3f2fd", "#1565c0", ""),
    "external": ("#fff3e0", "#e65100", "5 3"),
    "namespace": ("#e8eaf6", "#283593", ""),
    "dns": ("#e8f5e9", "#2e7d32", ""),
}
CLUSTER_STYLE = ("#eceff1", "#455a64", "2 2")
MAX_LABEL = 26
LABEL_AT = 0.7
SHARED_MARKERS = "arrow"


def short(text: str, limit: int = MAX_LABEL) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def ports_label(ports: tuple[str, ...], limit: int = 3) -> str:
    shown = ", ".join(ports[:limit])
    return shown + (f" +{len(ports) - limit}" if len(ports) > limit else "")


def edge_title(graph: Graph, edge: Edge) -> str:
    lines = [f"{graph.node(edge.src).label} → {graph.node(edge.dst).label}",
             f"{', '.join(edge.ports)}: {VERDICT_TEXT[edge.verdict]}",
             f"{edge.connections} connections, {edge.bytes} bytes"]
    lines += [f"denied: {r}" for r in edge.reasons]
    return "\n".join(lines)


def _node_svg(node: Node, x: float, y: float, lay: Layout, extra: str) -> str:
    kind = "dns" if node.dns else node.kind
    fill, stroke, dash = NODE_STYLE.get(kind, CLUSTER_STYLE)
    dash_attr = f' stroke-dasharray="{dash}"' if dash else ""
    text = short(node.name if lay.round_nodes or node.kind == "pod" else f"{node.kind}: {node.name}")
    if node.dns:
        text = short(node.name, MAX_LABEL - 6) + " (DNS)"
    title = f"{node.label} ({'DNS, ' if node.dns else ''}{node.kind}){extra}"
    if lay.round_nodes:
        shape = f'<circle cx="{x}" cy="{y}" r="14" fill="{fill}" stroke="{stroke}"{dash_attr}/>'
        label = f'<text x="{x}" y="{y + 28}" text-anchor="middle">{escape(text)}</text>'
    else:
        w, h = lay.node_w, lay.node_h
        shape = (f'<rect x="{x - w / 2}" y="{y - h / 2}" width="{w}" height="{h}" rx="6" '
                 f'fill="{fill}" stroke="{stroke}"{dash_attr}/>')
        label = f'<text x="{x}" y="{y + 4}" text-anchor="middle">{escape(text)}</text>'
    return (f'<g class="node {escape(kind)}" data-id="{escape(node.id)}">'
            f"<title>{escape(title)}</title>{shape}{label}</g>")


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
        return f"M{sx:.1f},{sy:.1f} Q{cx:.1f},{cy:.1f} {ex:.1f},{ey:.1f}", mx, my
    half = lay.node_w / 2
    if abs(x2 - x1) < half:  # same column: bulge to the right
        sx, ex = x1 + half, x2 + half + 6
        bulge = 40 + abs(y2 - y1) * 0.25
        path = f"M{sx:.1f},{y1:.1f} C{sx + bulge:.1f},{y1:.1f} {ex + bulge:.1f},{y2:.1f} {ex:.1f},{y2:.1f}"
        return path, (sx + ex) / 2 + bulge * 0.75, (y1 + y2) / 2
    sign = 1 if x2 > x1 else -1
    sx, ex = x1 + sign * half, x2 - sign * (half + 6)
    mid = (sx + ex) / 2
    # label at t=0.7 of the curve: edges fanning out of one node get their labels apart
    t = LABEL_AT
    lx = (1 - t) ** 3 * sx + 3 * (1 - t) ** 2 * t * mid + 3 * (1 - t) * t * t * mid + t ** 3 * ex
    ly = (1 - t) ** 3 * y1 + 3 * (1 - t) ** 2 * t * y1 + 3 * (1 - t) * t * t * y2 + t ** 3 * y2
    return f"M{sx:.1f},{y1:.1f} C{mid:.1f},{y1:.1f} {mid:.1f},{y2:.1f} {ex:.1f},{y2:.1f}", lx, ly


def _edge_svg(graph: Graph, edge: Edge, lay: Layout, prefix: str, labels: bool) -> str:
    path, mx, my = _curve(lay, lay.pos[edge.src], lay.pos[edge.dst])
    colour = EDGE_COLOURS[edge.verdict]
    dash = ' stroke-dasharray="6 4"' if edge.dns else ""
    width = 1.2 + min(3.0, math.log10(max(edge.connections, 1)) * 0.8)
    classes = f"edge {edge.verdict}" + (" dns" if edge.dns else "")
    return (f'<g class="{classes}" data-src="{escape(edge.src)}" data-dst="{escape(edge.dst)}" '
            f'data-ports="{escape(" ".join(edge.ports))}"><title>{escape(edge_title(graph, edge))}</title>'
            f'<path d="{path}" fill="none" stroke="{colour}" stroke-width="{width:.1f}"{dash} '
            f'marker-end="url(#{prefix}-{edge.verdict})"/>'
            + (f'<text x="{mx:.1f}" y="{my - 3:.1f}" text-anchor="middle" class="port" paint-order="stroke" '
               f'stroke="#ffffff" stroke-width="3">{escape(ports_label(edge.ports, 2))}</text>'
               if labels and not edge.dns else "")
            + "</g>")


def markers(prefix: str) -> str:
    """Arrow heads, one per verdict colour, with ids ``{prefix}-{verdict}``."""
    return "".join(
        f'<marker id="{prefix}-{v}" viewBox="0 0 10 10" refX="9" refY="5" markerWidth="9" markerHeight="9" '
        f'markerUnits="userSpaceOnUse" orient="auto"><path d="M0,0 L10,5 L0,10 z" fill="{c}"/></marker>'
        for v, c in EDGE_COLOURS.items()
    )


def shared_markers(prefix: str = SHARED_MARKERS) -> str:
    """A hidden SVG holding the arrow heads every graph of an HTML page refers to."""
    return f'<svg width="0" height="0" style="position:absolute" aria-hidden="true"><defs>{markers(prefix)}</defs></svg>'


def render(graph: Graph, lay: Layout, *, prefix: str, title: str, notes: dict[str, str] | None = None,
           standalone: bool = False, max_labels: int = 60) -> str:
    """The ``<svg>`` element for ``graph`` laid out by ``lay``.

    ``notes`` adds a line to a node's tooltip. A ``standalone`` SVG carries
    the XML namespace and its own arrow heads (ids prefixed by ``prefix``);
    inside an HTML page the graphs share those of ``shared_markers()``.
    Port labels are drawn when there are at most ``max_labels`` edges (the
    tooltips always name the ports); DNS edges are dashed instead of labelled.
    """
    notes = notes or {}
    ns = ' xmlns="http://www.w3.org/2000/svg"' if standalone else ""
    arrows = prefix if standalone else SHARED_MARKERS
    parts = [
        f'<svg{ns} class="graph" viewBox="0 0 {lay.width:.0f} {lay.height:.0f}" width="{lay.width:.0f}" '
        f'height="{lay.height:.0f}" role="img" aria-label="{escape(title)}" '
        'font-family="system-ui, sans-serif" font-size="11">',
        f"<title>{escape(title)}</title>" + (f"<defs>{markers(prefix)}</defs>" if standalone else ""),
    ]
    for box in lay.boxes:
        parts.append(
            f'<g class="group" data-group="{escape(box.label)}"><rect x="{box.x}" y="{box.y}" width="{box.w}" '
            f'height="{box.h}" rx="8" fill="#fafafa" stroke="#9e9e9e"/>'
            f'<text x="{box.x + 8}" y="{box.y + 15}" font-weight="bold">{escape(short(box.label, 30))}</text></g>'
        )
    labels = len(graph.edges) <= max_labels
    parts += [_edge_svg(graph, e, lay, arrows, labels) for e in graph.edges]
    parts += [_node_svg(n, *lay.pos[n.id], lay, notes.get(n.id, "")) for n in graph.nodes]
    parts.append("</svg>")
    return "".join(parts)
