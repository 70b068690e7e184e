"""recommender: least-privilege Kubernetes NetworkPolicies from observed flows, proven.

The public Python API (what notebooks and scripts use):

* ``load_flows(paths, inventory=..., db=...)`` → a ``FlowStore`` over DuckDB
* ``evaluate(policies, flows)`` → a DataFrame of verdicts with explanations
* ``generate(flows, ...)`` → recommended policies, verified
"""

from __future__ import annotations

__version__ = "0.1.0"

from recommender.io.store import FlowStore, load_flows, open_store  # noqa: E402
from recommender.engine.evaluate import evaluate  # noqa: E402
from recommender.recommend import Recommendation, generate  # noqa: E402

__all__ = ["__version__", "FlowStore", "Recommendation", "evaluate", "generate", "load_flows", "open_store"]
