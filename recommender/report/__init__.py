"""The self-contained HTML report (``recommend report``) and its SVG graphs.

``render_report`` is the one library call behind the CLI command; the SVG
helpers are public too so a notebook can show the same service graph inline.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from recommender.report.data import ReportData, collect
from recommender.report.html import namespace_svg, overview_svg, page, workloads_svg
from recommender.report.tables import heatmap
from recommender.errors import UsageError
from recommender.views.policies import connection_verdicts
from recommender.views.source import FlowSource, PathLike, connection_of, open_source
from recommender.views.traffic import service_edges

__all__ = ["ReportData", "heatmap", "namespace_svg", "overview_svg", "render_report", "service_graph_svg",
           "workloads_svg"]


def _load_policies(policies: Any) -> Any:
    """Policy file paths become NetworkPolicy objects; objects pass through."""
    if isinstance(policies, (str, os.PathLike)):
        policies = [policies]
    if isinstance(policies, Sequence) and policies and all(isinstance(p, (str, os.PathLike)) for p in policies):
        from recommender.io.policies import load_policies

        return load_policies([Path(p) for p in policies])
    return policies


def render_report(
    flows: FlowSource,
    *,
    inventory: Sequence[PathLike] = (),
    policies: Any = None,
    db: PathLike | None = None,
    generate: bool = True,
    title: str = "Network policy report",
) -> str:
    """The HTML report for ``flows`` (a FlowStore, connection, store file or flow files).

    ``policies`` (YAML paths, NetworkPolicy objects or a Recommendation)
    colour the edges by verdict; without them and with ``generate`` the
    recommended policies are generated and shown instead.
    """
    store = open_source(flows, inventory, db)
    con = connection_of(store)
    chosen = _load_policies(policies)
    if chosen is None and generate:
        from recommender.recommend.generate import generate as generate_policies

        chosen = generate_policies(store)
    return page(collect(store, con, policies=chosen, title=title))


def service_graph_svg(flows: FlowSource, *, policies: Any = None, level: str = "workloads") -> str:
    """A standalone SVG of the service graph (for ``IPython.display.SVG``).

    ``level="namespaces"`` gives the overview; ``"workloads"`` every workload in
    its namespace box; any other value is taken as one namespace's name.
    """
    store = open_source(flows)
    con = connection_of(store)
    chosen = _load_policies(policies)
    judged = connection_verdicts(chosen, store) if chosen is not None else None
    edges = service_edges(con, verdicts=judged)
    if level == "namespaces":
        return overview_svg(edges, standalone=True)
    if level == "workloads":
        return workloads_svg(edges, standalone=True)
    if level not in set(edges["src_group"]) | set(edges["dst_group"]):
        raise UsageError(f"no namespace {level!r} in the flows", hint="use 'namespaces', 'workloads' or a namespace name")
    return namespace_svg(edges, level, standalone=True)
