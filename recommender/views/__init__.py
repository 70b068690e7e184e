"""DataFrame views over the flow store, for notebooks, the report and scripts.

Every view takes a ``FlowStore`` (or a DuckDB connection holding the
``connections`` table, a ``.duckdb`` store file, or flow file paths) and
returns a pandas DataFrame computed by DuckDB queries.
"""

from recommender.views.policies import isolated_pods, policy_rules, verification
from recommender.views.traffic import external_peers, namespace_matrix, service_edges, top_talkers
from recommender.views.workloads import workloads

__all__ = [
    "external_peers",
    "isolated_pods",
    "namespace_matrix",
    "policy_rules",
    "service_edges",
    "top_talkers",
    "verification",
    "workloads",
]
