"""Deterministic positions for the service graph.

No force simulation and no randomness: the same flows must give the same
bytes, and a reviewer comparing two reports must find nodes in the same
place. Three simple layouts cover the report's views:

* ``circle`` — the namespace overview, groups in sorted order on a circle;
* ``columns`` — one namespace in the middle, the peers that call it on the
  left and the peers it calls on the right;
* ``boxes`` — every workload, stacked inside a box per namespace, boxes on a
  grid (only used when the whole graph is small).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

from recommender.report.graph import Graph, group_order

NODE_W, NODE_H, GAP_Y = 190, 24, 12
MARGIN = 24


@dataclass(frozen=True)
class Box:
    """A namespace group drawn as a labelled rectangle."""

    label: str
    x: float
    y: float
    w: float
    h: float


@dataclass
class Layout:
    width: float
    height: float
    pos: dict[str, tuple[float, float]] = field(default_factory=dict)   # node id -> centre
    boxes: list[Box] = field(default_factory=list)
    node_w: float = NODE_W
    node_h: float = NODE_H
    round_nodes: bool = False


def circle(graph: Graph) -> Layout:
    """Groups on a circle, first at the top, clockwise in sorted order."""
    n = max(len(graph.nodes), 1)
    radius = max(200.0, n * 60 / math.pi)
    cx = cy = radius + NODE_W * 0.75 + MARGIN   # room for the names outside the circle
    pos = {}
    for i, node in enumerate(graph.nodes):
        angle = -math.pi / 2 + 2 * math.pi * i / n
        pos[node.id] = (round(cx + radius * math.cos(angle), 1), round(cy + radius * math.sin(angle), 1))
    if n == 1:
        pos = {graph.nodes[0].id: (cx, cy)} if graph.nodes else {}
    return Layout(2 * cx, 2 * cy, pos, round_nodes=True)


def _stack(ids: list[str], x: float, top: float) -> dict[str, tuple[float, float]]:
    return {nid: (x, top + i * (NODE_H + GAP_Y) + NODE_H / 2) for i, nid in enumerate(ids)}


def columns(graph: Graph, group: str) -> Layout:
    """``group``'s nodes in the middle; callers left, callees (and two-way peers) right."""
    inside = [n.id for n in graph.nodes if n.group == group]
    outside = [n.id for n in graph.nodes if n.group != group]
    calls_in = {e.src for e in graph.edges if e.dst in inside and e.src not in inside}
    called = {e.dst for e in graph.edges if e.src in inside and e.dst not in inside}
    left = [nid for nid in outside if nid in calls_in and nid not in called]
    right = [nid for nid in outside if nid not in left]
    rows = max(len(left), len(inside), len(right), 1)
    height = 2 * MARGIN + 20 + rows * (NODE_H + GAP_Y)
    col = NODE_W + 230
    top = MARGIN + 20
    row_h = NODE_H + GAP_Y

    def centred(ids: list[str]) -> float:  # shorter columns sit in the middle: fewer crossings
        return top + (rows - len(ids)) * row_h / 2

    pos = {**_stack(left, MARGIN + NODE_W / 2, centred(left)),
           **_stack(inside, MARGIN + col + NODE_W / 2, centred(inside)),
           **_stack(right, MARGIN + 2 * col + NODE_W / 2, centred(right))}
    box = Box(group, MARGIN + col - 10, centred(inside) - 20, NODE_W + 20, len(inside) * row_h + 20)
    return Layout(2 * MARGIN + 2 * col + NODE_W, height, pos, [box])


def boxes(graph: Graph) -> Layout:
    """Every node inside its group's box; boxes left to right, wrapping on a grid."""
    groups = sorted({n.group for n in graph.nodes}, key=group_order)
    per_row = max(1, math.ceil(math.sqrt(len(groups))))
    box_w = NODE_W + 20
    col_w = box_w + 120
    pos: dict[str, tuple[float, float]] = {}
    drawn: list[Box] = []
    y = MARGIN
    for start in range(0, len(groups), per_row):
        row = groups[start:start + per_row]
        tallest = 0.0
        for i, group in enumerate(row):
            ids = [n.id for n in graph.nodes if n.group == group]
            x = MARGIN + i * col_w
            h = 28 + len(ids) * (NODE_H + GAP_Y)
            drawn.append(Box(group, x, y, box_w, h))
            pos.update(_stack(ids, x + box_w / 2, y + 24))
            tallest = max(tallest, h)
        y += tallest + 60
    width = 2 * MARGIN + min(per_row, len(groups)) * col_w
    return Layout(width, y + MARGIN, pos, drawn)
