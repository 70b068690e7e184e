"""The synthetic cluster: workloads, pods, outside peers and the service graph.

Every benchmark and most end-to-end tests need flow logs whose ground truth is
known. This module holds that truth: a ``Cluster`` is a frozen description of
namespaces, workloads (with the stable *and* the noisy labels real clusters
carry), the pods they run with their IPs and nodes, the peers outside the
cluster, and the connections (``Conn``) between them. The format writers only
render it; ``Cluster.expected_connections()`` states what an ingest of any of
their outputs must find.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import pandas as pd

from recommender.model import ContainerPort, Labels, Namespace, Pod

HASH_ALPHABET = "bcdfghjklmnpqrstvwxz2456789"   # the alphabet Kubernetes uses for generated name suffixes
BASE_TIME = 1748822400                          # 2025-06-02T00:00:00Z: every trace starts here
CLUSTER_NAME = "default"
API_SERVER_IP = "10.0.32.15"                    # EKS control-plane ENI (10.0.0.2 is the VPC resolver)
API_SERVER_PORT = 443


@dataclass(frozen=True, slots=True)
class Port:
    """A named container port."""

    name: str
    port: int
    protocol: str = "TCP"


@dataclass(frozen=True, slots=True)
class Workload:
    """A Deployment, StatefulSet, DaemonSet or CronJob and its pod template."""

    namespace: str
    name: str
    kind: str
    replicas: int
    labels: tuple[tuple[str, str], ...]          # pod-template labels (stable and noisy)
    ports: tuple[Port, ...] = ()
    host_network: bool = False
    template_hash: str = ""                      # pod-template-hash / controller-revision-hash / job suffix
    service_account: str = "default"

    @property
    def key(self) -> str:
        return f"{self.namespace}/{self.name}"

    def port(self, name: str) -> Port:
        for p in self.ports:
            if p.name == name:
                return p
        raise KeyError(f"{self.key} has no port named {name!r}")

    @property
    def owner(self) -> tuple[str, str]:
        """The pods' direct owner (ownerReferences[0]): kind and name."""
        if self.kind == "Deployment":
            return "ReplicaSet", f"{self.name}-{self.template_hash}"
        if self.kind == "CronJob":
            return "Job", f"{self.name}-{self.template_hash}"
        return self.kind, self.name

    @property
    def aggregated_name(self) -> str:
        """The prefix Calico reports in ``*_name_aggr`` for this workload's pods."""
        if self.kind in ("Deployment", "CronJob"):
            return f"{self.owner[1]}-*"
        return f"{self.name}-*"


@dataclass(frozen=True, slots=True)
class SynthPod:
    namespace: str
    name: str
    workload: str                                # the owning Workload's name
    labels: tuple[tuple[str, str], ...]
    ip: str                                      # node IP when host_network
    ip6: str | None
    node: int                                    # index into Cluster.nodes
    host_network: bool = False


@dataclass(frozen=True, slots=True)
class Node:
    name: str
    ip: str
    eni: str                                     # AWS interface-id of the node's primary ENI


@dataclass(frozen=True, slots=True)
class External:
    """A peer outside the pod network.

    ``kind`` follows the normalized schema: ``network`` (a plain address),
    ``kube-apiserver``. ``network_set`` names a Calico GlobalNetworkSet
    covering the addresses (its flows then say ``ns`` instead of ``net``).
    """

    name: str
    kind: str
    ips: tuple[str, ...]
    network_set: str | None = None
    labels: tuple[tuple[str, str], ...] = ()

    @property
    def key(self) -> str:
        return f"ext:{self.name}"


@dataclass(frozen=True, slots=True)
class Conn:
    """One allowed or denied connection of the service graph.

    ``src``/``dst`` are ``Workload.key`` or ``External.key``. A denied
    connection is refused by the source's egress policy (``deny_at="src"``)
    or by the destination's ingress policy (``deny_at="dst"``).
    """

    src: str
    dst: str
    protocol: str
    port: int
    action: str = "allow"
    deny_at: str = ""
    rate: float = 1.0                             # relative traffic volume
    all_dst_pods: bool = False                    # scrapes: every destination pod is contacted


@dataclass(frozen=True)
class Cluster:
    """A whole synthetic cluster, deterministic for its seed and size."""

    seed: int
    size: str
    namespaces: tuple[tuple[str, tuple[tuple[str, str], ...]], ...]
    workloads: tuple[Workload, ...]
    pods: tuple[SynthPod, ...]
    nodes: tuple[Node, ...]
    externals: tuple[External, ...]
    conns: tuple[Conn, ...]
    _wl_index: dict[str, int] = field(default_factory=dict, repr=False, compare=False)

    @classmethod
    def build(cls, seed: int = 0, size: object = "small") -> "Cluster":
        """Same as ``recommender.synth.build_cluster(seed, size)``."""
        from recommender.synth.topology import build_cluster
        return build_cluster(seed, size)  # type: ignore[arg-type]

    def model_namespaces(self) -> list[Namespace]:
        """The namespaces as ``recommender.model.Namespace`` (labels include the metadata.name label)."""
        return [Namespace(name, Labels.of(dict(labels))) for name, labels in self.namespaces]

    def model_pods(self) -> list[Pod]:
        """The pods as ``recommender.model.Pod``, sorted by namespace and name (as in the inventory)."""
        out = []
        for p in sorted(self.pods, key=lambda p: (p.namespace, p.name)):
            w = self.workload(f"{p.namespace}/{p.workload}")
            owner_kind, owner_name = w.owner
            out.append(Pod(p.namespace, p.name, Labels.of(dict(p.labels)), (p.ip,) + ((p.ip6,) if p.ip6 else ()),
                           tuple(ContainerPort(x.port, x.protocol, x.name) for x in w.ports), p.host_network,
                           self.nodes[p.node].name, owner_kind, owner_name))
        return out

    def workload(self, key: str) -> Workload:
        if not self._wl_index:
            self._wl_index.update({w.key: i for i, w in enumerate(self.workloads)})
        return self.workloads[self._wl_index[key]]

    def external(self, key: str) -> External:
        for e in self.externals:
            if e.key == key:
                return e
        raise KeyError(key)

    def pods_of(self, key: str) -> list[SynthPod]:
        ns, name = key.split("/", 1)
        return [p for p in self.pods if p.namespace == ns and p.workload == name]

    def expected_connections(self) -> pd.DataFrame:
        """Ground truth: one row per connection and (for outside peers) per address.

        Columns: src_kind, src_namespace, src_workload, src_ip, dst_kind,
        dst_namespace, dst_workload, dst_ip, protocol, port, action. Pods
        have kind ``pod`` (``host`` when hostNetwork) and a null ip; outside
        peers have null namespace/workload and one row per address. Sorted.
        """
        rows: list[tuple] = []
        for c in self.conns:
            for s in self._side(c.src):
                for d in self._side(c.dst):
                    rows.append((*s, *d, c.protocol, c.port, "deny" if c.action == "deny" else "allow"))
        cols = ["src_kind", "src_namespace", "src_workload", "src_ip",
                "dst_kind", "dst_namespace", "dst_workload", "dst_ip", "protocol", "port", "action"]
        df = pd.DataFrame(rows, columns=cols).drop_duplicates()
        df = df.sort_values(cols, na_position="first", kind="stable").reset_index(drop=True)
        df["port"] = df["port"].astype("int64")
        return df

    def _side(self, key: str) -> list[tuple[str, str | None, str | None, str | None]]:
        if key.startswith("ext:"):
            e = self.external(key)
            return [(e.kind, None, None, ip) for ip in e.ips]
        w = self.workload(key)
        return [("host" if w.host_network else "pod", w.namespace, w.name, None)]

    def summary(self) -> dict[str, int]:
        return {
            "namespaces": len(self.namespaces),
            "workloads": len(self.workloads),
            "pods": len(self.pods),
            "nodes": len(self.nodes),
            "connections": len(self.conns),
        }
