"""Pods, namespaces and the two ends of an observed connection.

``EndpointKind`` lists the kinds the normalized flow schema uses. Only pods
can be selected by NetworkPolicy selectors; every other kind is an address
that only an ``ipBlock`` can match.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum

from recommender.model.labels import Labels


class EndpointKind(StrEnum):
    POD = "pod"                        # a (non-hostNetwork) pod
    HOST = "host"                      # a node: hostNetwork pod, node IP, Cilium host/remote-node
    NETWORK = "network"                # an address outside the cluster (Calico net pub/pvt, unknown VPC IP)
    WORLD = "world"                    # Cilium reserved:world (external, address may be unknown)
    SERVICE = "service"                # a Service VIP that was not resolved to a pod
    KUBE_APISERVER = "kube-apiserver"  # the Kubernetes API endpoint
    HEALTH = "health"                  # Cilium health-check endpoint
    UNKNOWN = "unknown"                # the exporter did not say

    @property
    def is_pod(self) -> bool:
        return self is EndpointKind.POD


@dataclass(frozen=True, slots=True)
class ContainerPort:
    port: int
    protocol: str = "TCP"
    name: str | None = None


@dataclass(frozen=True, slots=True)
class Namespace:
    name: str
    labels: Labels = field(default_factory=Labels)

    def effective_labels(self) -> Labels:
        """Namespace labels with ``kubernetes.io/metadata.name`` always present
        (the API server sets it since 1.21; older inventories lack it)."""
        if "kubernetes.io/metadata.name" in self.labels:
            return self.labels
        return self.labels.with_label("kubernetes.io/metadata.name", self.name)


@dataclass(frozen=True, slots=True)
class Pod:
    namespace: str
    name: str
    labels: Labels = field(default_factory=Labels)
    ips: tuple[str, ...] = ()
    ports: tuple[ContainerPort, ...] = ()
    host_network: bool = False
    node: str | None = None
    owner_kind: str | None = None
    owner_name: str | None = None


@dataclass(frozen=True, slots=True)
class Endpoint:
    """One side of a connection, as the normalized schema describes it."""

    kind: EndpointKind = EndpointKind.UNKNOWN
    ip: str | None = None
    namespace: str | None = None
    pod: str | None = None
    workload: str | None = None
    labels: Labels = field(default_factory=Labels)


@dataclass(frozen=True, slots=True)
class Flow:
    """An ad-hoc connection to evaluate: source, destination, protocol and port."""

    src: Endpoint
    dst: Endpoint
    protocol: str = "TCP"
    port: int | None = None
