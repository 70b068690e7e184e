"""The vocabulary of the tool: labels, selectors, policies, endpoints and verdicts.

Everything here is a frozen dataclass with no dependency on the rest of the
package (nor on duckdb, pandas or yaml), so every other layer can import it.
"""

from recommender.model.labels import Labels
from recommender.model.selectors import LabelSelector, Requirement
from recommender.model.policy import (
    IPBlock,
    NetworkPolicy,
    Peer,
    PortSpec,
    Rule,
    SourceRef,
)
from recommender.model.endpoints import ContainerPort, Endpoint, Flow, Namespace, Pod, EndpointKind
from recommender.model.verdict import DirectionVerdict, RuleRef, Verdict

__all__ = [
    "ContainerPort",
    "DirectionVerdict",
    "Endpoint",
    "EndpointKind",
    "Flow",
    "IPBlock",
    "LabelSelector",
    "Labels",
    "Namespace",
    "NetworkPolicy",
    "Peer",
    "Pod",
    "PortSpec",
    "Requirement",
    "Rule",
    "RuleRef",
    "SourceRef",
    "Verdict",
]
