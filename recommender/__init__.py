"""recommender: least-privilege Kubernetes NetworkPolicies from observed flows, proven.

The public Python API (what notebooks and scripts use):

* ``load_flows(paths, inventory=..., db=...)`` → a ``FlowStore`` over DuckDB
* ``evaluate(policies, flows)`` → a DataFrame of verdicts with explanations
* ``generate(flows, ...)`` → recommended policies, verified
* views (``namespace_matrix``, ``top_talkers``, ``workloads``, ``external_peers``, ``policy_rules``,
  ``verification``, …) → DataFrames for notebooks; ``recommender.report`` → the HTML report and SVG graphs
"""

from __future__ import annotations

__version__ = "0.1.0"

from recommender.io.store import FlowStore, load_flows, open_store  # noqa: E402
from recommender.engine.evaluate import evaluate  # noqa: E402
from recommender.recommend import Recommendation, generate  # noqa: E402
from recommender.views import (  # noqa: E402
    external_peers, isolated_pods, namespace_matrix, policy_rules, service_edges, top_talkers, verification,
    workloads,
)

__all__ = ["__version__", "FlowStore", "Recommendation", "evaluate", "external_peers", "generate", "isolated_pods",
           "load_flows", "namespace_matrix", "open_store", "policy_rules", "service_edges", "top_talkers",
           "verification", "workloads"]
