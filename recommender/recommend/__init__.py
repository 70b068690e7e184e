"""Recommendation: least-privilege policies synthesized from observed flows, verified before written.

``generate(flows, ...)`` is the public entry point; the modules behind it are
``identity`` (endpoint → workload, selectors), ``synthesis`` (edges → rules),
``widen`` (bounded port ranges and CIDRs), ``merge`` (identical profiles),
``output``/``calico`` (names, documents, files), ``verify`` (proof) and
``report`` (summary and provenance).
"""

from recommender.recommend.generate import KINDS, Recommendation, generate

__all__ = ["KINDS", "Recommendation", "generate"]
