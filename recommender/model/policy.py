"""``networking.k8s.io/v1`` NetworkPolicy as frozen dataclasses.

The model keeps the distinction between a *missing* list and an *empty* one
(``None`` vs ``()``) so that YAML → model → YAML round-trips exactly, even
though Kubernetes gives both the same meaning for ``from``/``to``/``ports``.
Where they differ (``ingress``/``egress`` feed the default ``policyTypes``),
``effective_policy_types`` encodes the rule.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from recommender.model.labels import Labels
from recommender.model.selectors import LabelSelector

INGRESS = "Ingress"
EGRESS = "Egress"


@dataclass(frozen=True, slots=True)
class SourceRef:
    """Where an object came from, for error messages and explanations."""

    file: str | None = None
    line: int | None = None


@dataclass(frozen=True, slots=True)
class IPBlock:
    cidr: str
    except_: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class Peer:
    """One ``from``/``to`` entry. Exactly one shape is valid per the API:
    an ``ipBlock`` alone, or a pod and/or namespace selector."""

    pod_selector: LabelSelector | None = None
    namespace_selector: LabelSelector | None = None
    ip_block: IPBlock | None = None


@dataclass(frozen=True, slots=True)
class PortSpec:
    """One ``ports`` entry. ``protocol`` None means absent (TCP per the spec);
    ``port`` None means all ports of the protocol; a str port is a named port."""

    protocol: str | None = None
    port: int | str | None = None
    end_port: int | None = None

    @property
    def effective_protocol(self) -> str:
        return self.protocol or "TCP"


@dataclass(frozen=True, slots=True)
class Rule:
    """An ingress or egress rule. ``peers`` is ``from`` or ``to``.

    ``None`` (absent) and ``()`` (empty) both mean "all peers" / "all ports".

    ``protocol_ports`` is not Kubernetes: when a rule must allow all ports only
    because a port-less protocol (ICMP…) has no ``ports`` entry, it may record
    the (protocol, port) specs the rule stands for, e.g. ``PortSpec("ICMP")``,
    so renderers that can name such protocols (Calico's own rules) stay
    narrower. Equality, hashing, the evaluator and Kubernetes YAML ignore it.
    """

    peers: tuple[Peer, ...] | None = None
    ports: tuple[PortSpec, ...] | None = None
    protocol_ports: tuple[PortSpec, ...] | None = field(default=None, compare=False)


@dataclass(frozen=True, slots=True)
class NetworkPolicy:
    name: str
    namespace: str
    pod_selector: LabelSelector = field(default_factory=LabelSelector)
    ingress: tuple[Rule, ...] | None = None
    egress: tuple[Rule, ...] | None = None
    policy_types: tuple[str, ...] | None = None
    labels: Labels = field(default_factory=Labels)
    annotations: Labels = field(default_factory=Labels)
    source: SourceRef = field(default_factory=SourceRef, compare=False)

    def effective_policy_types(self) -> tuple[str, ...]:
        """The policyTypes the API server would default.

        When ``policyTypes`` is absent, Ingress is always included, and Egress
        only when the policy has a non-empty ``egress`` list.
        """
        if self.policy_types is not None and len(self.policy_types) > 0:
            return tuple(t for t in (INGRESS, EGRESS) if t in self.policy_types)
        types = [INGRESS]
        if self.egress:
            types.append(EGRESS)
        return tuple(types)

    @property
    def key(self) -> str:
        return f"{self.namespace}/{self.name}"
