"""Everything the report shows, gathered from the views in one place.

Separating collection from rendering keeps ``html.py`` free of DuckDB and
policy logic, and lets tests check what the report knows (edges, verdicts,
rules) apart from how it draws it. Verdicts come from
``recommender.evaluate`` over the same connections the graph is drawn from.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import duckdb
import pandas as pd

from recommender.views import policies as policy_views
from recommender.views import traffic


@dataclass
class ReportData:
    title: str
    subtitle: str
    stats: dict[str, Any]
    edges: pd.DataFrame                       # views.service_edges (with verdict columns when policies exist)
    matrix: pd.DataFrame
    talkers: pd.DataFrame
    externals: pd.DataFrame
    rules: pd.DataFrame | None = None         # views.policy_rules
    isolated: pd.DataFrame | None = None      # views.isolated_pods
    verification: pd.DataFrame | None = None  # per-policy verification
    verification_summary: dict[str, Any] = field(default_factory=dict)
    quiet_pods: dict[str, list[str]] = field(default_factory=dict)   # isolated by default deny, never seen talking


def _stats(con: duckdb.DuckDBPyConnection, edges: pd.DataFrame) -> tuple[dict[str, Any], str]:
    row = con.execute(
        "SELECT count(*), coalesce(sum(flows), 0), min(first_seen), max(last_seen), "
        "list(DISTINCT format ORDER BY format) FROM connections"
    ).fetchall()[0]
    distinct, flows, first, last, formats = row
    pods = edges[edges["src_kind"] == "pod"][["src_group", "src_name"]].set_axis(["g", "n"], axis=1)
    pods = pd.concat([pods, edges[edges["dst_kind"] == "pod"][["dst_group", "dst_name"]].set_axis(["g", "n"], axis=1)])
    stats = {
        "distinct connections": int(distinct),
        "connections": int(flows),
        "namespaces": int(pods["g"].nunique()),
        "workloads": int(len(pods.drop_duplicates())),
        "edges": int(len(edges)),
    }
    window = f"observed {first} – {last}" if first is not None else "no timestamps"
    subtitle = f"{window}; formats: {', '.join(f for f in formats or [] if f) or 'unknown'}"
    return stats, subtitle


def collect(flows: Any, con: duckdb.DuckDBPyConnection, *, policies: Any = None,
            title: str = "Network policy report") -> ReportData:
    """Run every view the report needs over ``con`` (``flows`` is the store it belongs to)."""
    judged = policy_views.connection_verdicts(policies, flows) if policies is not None else None
    edges = traffic.service_edges(con, verdicts=judged)
    stats, subtitle = _stats(con, edges)
    data = ReportData(
        title=title, subtitle=subtitle, stats=stats, edges=edges,
        matrix=traffic.namespace_matrix(con),
        talkers=traffic.top_talkers(con, n=20),
        externals=traffic.external_peers(con, policies=policies),
    )
    if policies is not None:
        data.isolated = policy_views.isolated_pods(policies, con)
        data.verification, data.verification_summary = policy_views.verification_parts(
            policies, judged, isolated=data.isolated)
        data.rules = policy_views.rules_with_hits(policies, judged)
        data.stats["policies"] = len(policy_views.policies_of(policies))
        per_ns = (getattr(policies, "summary", None) or {}).get("namespaces", {})
        data.quiet_pods = {ns: list(v.get("isolated_without_traffic", [])) for ns, v in per_ns.items()
                           if v.get("isolated_without_traffic")}
    return data
