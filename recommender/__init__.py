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

# The public names are imported on first use (PEP 562), so that `recommend ingest` and other light
# entry points do not pay for pandas and the evaluator at start-up (~0.45 s of every command).
_EXPORTS = {
    "FlowStore": "recommender.io.store", "load_flows": "recommender.io.store", "open_store": "recommender.io.store",
    "evaluate": "recommender.engine.evaluate",
    "Recommendation": "recommender.recommend", "generate": "recommender.recommend",
    **{name: "recommender.views" for name in ("external_peers", "isolated_pods", "namespace_matrix", "policy_rules",
                                              "service_edges", "top_talkers", "verification", "workloads")},
}

__all__ = ["__version__", *sorted(_EXPORTS)]


def __getattr__(name: str) -> object:
    if name not in _EXPORTS:
        raise AttributeError(f"module 'recommender' has no attribute {name!r}")
    import importlib
    value = getattr(importlib.import_module(_EXPORTS[name]), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted({*globals(), *_EXPORTS})
