"""Assembles a ``Cluster`` from workload and connection declarations.

Topologies (``recommender.synth.topology``) say *what* runs and who talks to
whom; this builder supplies what a real API server and CNI would add: label
sets with their noisy generated members, generated pod names, node placement,
pod IPs from per-node /24s of the pod CIDR, and ENI ids. All randomness comes
from one seeded numpy Generator, so a seed always yields the same cluster.
"""

from __future__ import annotations

import numpy as np

from recommender.synth.cluster import (
    API_SERVER_IP,
    API_SERVER_PORT,
    HASH_ALPHABET,
    Cluster,
    Conn,
    External,
    Node,
    Port,
    SynthPod,
    Workload,
)

PODS_PER_NODE = 250


def pod_cidr_prefix(node: int) -> str:
    """The first three octets of node ``node``'s /24 inside 10.244.0.0/14."""
    return f"10.{244 + node // 256}.{node % 256}"


class Builder:
    """Collects declarations, then ``build()`` places pods and returns the Cluster."""

    def __init__(self, seed: int, size: str, nodes: int, *, ipv6: bool = False, labels: str = "helm") -> None:
        if labels not in ("helm", "plain"):
            raise ValueError(f"unknown label style {labels!r}; choose helm or plain")
        self.seed = seed
        self.label_style = labels
        self.size = size
        self.rng = np.random.default_rng(seed)
        self.ipv6 = ipv6
        self.nodes = tuple(
            Node(
                name=f"ip-10-0-{1 + i // 200}-{10 + i % 200}.ec2.internal",
                ip=f"10.0.{1 + i // 200}.{10 + i % 200}",
                eni="eni-0" + "".join(self.rng.choice(list("0123456789abcdef"), 16)),
            )
            for i in range(nodes)
        )
        self.namespaces: dict[str, tuple[tuple[str, str], ...]] = {}
        self.workloads: dict[str, Workload] = {}
        self.externals: dict[str, External] = {}
        self.conns: list[Conn] = []
        self._declared: set[tuple[str, str, str, int]] = set()
        self.api = self.external("kube-apiserver", "kube-apiserver", [API_SERVER_IP])

    # -- randomness ---------------------------------------------------------
    def suffix(self, n: int) -> str:
        return "".join(HASH_ALPHABET[i] for i in self.rng.integers(0, len(HASH_ALPHABET), n).tolist())

    def pick(self, items: list, k: int | None = None):
        if k is None:
            return items[int(self.rng.integers(len(items)))]
        idx = self.rng.choice(len(items), size=min(k, len(items)), replace=False)
        return [items[int(i)] for i in sorted(idx)]

    # -- declarations --------------------------------------------------------
    def namespace(self, name: str, **labels: str) -> str:
        merged = {"kubernetes.io/metadata.name": name, **labels}
        self.namespaces[name] = tuple(sorted(merged.items()))
        return name

    def workload(
        self,
        namespace: str,
        name: str,
        kind: str = "Deployment",
        replicas: int = 1,
        ports: list[tuple[str, int, str]] | tuple = (),
        *,
        labels: dict[str, str] | None = None,
        component: str = "server",
        part_of: str | None = None,
        tier: str | None = None,
        chart: str | None = None,
        version: str = "1.0.0",
        host_network: bool = False,
    ) -> str:
        """Declare a workload. ``labels`` replaces the recommended label set
        (system components use ``k8s-app``); noisy labels are always added. With the
        builder's ``plain`` label style the default set is ``app`` (and ``tier``) only."""
        if labels is None and self.label_style == "plain":
            labels = {"app": name, **({"tier": tier} if tier else {})}
        elif labels is None:
            release = part_of or namespace
            labels = {
                "app.kubernetes.io/name": name,
                "app.kubernetes.io/instance": release,
                "app.kubernetes.io/component": component,
                "app.kubernetes.io/part-of": release,
                "app.kubernetes.io/managed-by": "Helm",
                "app": name,
                "helm.sh/chart": f"{chart or name}-{version}",
                "app.kubernetes.io/version": version,
                "version": f"v{version.split('.')[0]}",
            }
            if tier:
                labels["tier"] = tier
        labels = dict(labels)
        if kind == "CronJob":   # a Job's suffix is its scheduled time in minutes since the epoch
            template_hash = str(29150000 + int(self.rng.integers(9999)))
        else:
            template_hash = self.suffix(10)
        if kind == "Deployment":
            labels["pod-template-hash"] = template_hash
        elif kind in ("StatefulSet", "DaemonSet"):
            labels["controller-revision-hash"] = (f"{name}-" if kind == "StatefulSet" else "") + template_hash
            if kind == "DaemonSet":
                labels["pod-template-generation"] = str(1 + int(self.rng.integers(4)))
        elif kind == "CronJob":
            uid = self._uid()
            job = f"{name}-{template_hash}"
            labels.update({"job-name": job, "batch.kubernetes.io/job-name": job,
                           "controller-uid": uid, "batch.kubernetes.io/controller-uid": uid})
        if kind == "DaemonSet":
            replicas = len(self.nodes)
        w = Workload(namespace, name, kind, replicas, tuple(sorted(labels.items())),
                     tuple(Port(*p) for p in ports), host_network, template_hash, service_account=name)
        self.workloads[w.key] = w
        return w.key

    def external(self, name: str, kind: str, ips: list[str], network_set: str | None = None,
                 labels: dict[str, str] | None = None) -> str:
        e = External(name, kind, tuple(ips), network_set, tuple(sorted((labels or {}).items())))
        self.externals[e.key] = e
        return e.key

    def call(self, src: str, dst: str, port: str | int, protocol: str = "TCP", *, action: str = "allow",
             deny_at: str = "", rate: float = 1.0, all_dst_pods: bool = False) -> None:
        """``src`` calls ``dst`` on a named port of ``dst`` or on a number."""
        if isinstance(port, str):
            p = self.workloads[dst].port(port)
            number, protocol = p.port, p.protocol
        else:
            number = port
        key = (src, dst, protocol, number)
        if key in self._declared:               # one verdict per connection: the first declaration wins
            return
        self._declared.add(key)
        if action == "deny" and not deny_at:
            deny_at = "dst" if not dst.startswith("ext:") else "src"
        self.conns.append(Conn(src, dst, protocol, number, action, deny_at, rate, all_dst_pods))

    def dns(self, src: str, coredns: str, tcp: bool = False) -> None:
        self.call(src, coredns, "dns", rate=2.0)
        if tcp:
            self.call(src, coredns, "dns-tcp", rate=0.2)

    def api_access(self, src: str) -> None:
        self.call(src, self.api, API_SERVER_PORT, "TCP", rate=0.5)

    # -- assembly -----------------------------------------------------------
    def _uid(self) -> str:
        h = "".join(self.rng.choice(list("0123456789abcdef"), 32))
        return f"{h[:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:]}"

    def build(self) -> Cluster:
        fill = [0] * len(self.nodes)
        pods: list[SynthPod] = []
        n_nodes = len(self.nodes)
        for w in self.workloads.values():
            for i in range(w.replicas):
                if w.kind == "DaemonSet":
                    node = i
                else:
                    node = int(self.rng.integers(n_nodes))
                    while fill[node] >= PODS_PER_NODE:
                        node = (node + 1) % n_nodes
                labels = dict(w.labels)
                if w.kind == "Deployment":
                    name = f"{w.name}-{w.template_hash}-{self.suffix(5)}"
                elif w.kind == "StatefulSet":
                    name = f"{w.name}-{i}"
                    labels["statefulset.kubernetes.io/pod-name"] = name
                    labels["apps.kubernetes.io/pod-index"] = str(i)
                elif w.kind == "CronJob":
                    name = f"{w.name}-{w.template_hash}-{self.suffix(5)}"
                else:
                    name = f"{w.name}-{self.suffix(5)}"
                if w.host_network:
                    ip, ip6 = self.nodes[node].ip, None
                else:
                    fill[node] += 1
                    ip = f"{pod_cidr_prefix(node)}.{fill[node] + 1}"
                    ip6 = f"fd00:10:244:{node:x}::{fill[node] + 1:x}" if self.ipv6 else None
                pods.append(SynthPod(w.namespace, name, w.name, tuple(sorted(labels.items())), ip, ip6, node,
                                     w.host_network))
        return Cluster(
            seed=self.seed,
            size=self.size,
            namespaces=tuple(sorted(self.namespaces.items())),
            workloads=tuple(self.workloads.values()),
            pods=tuple(pods),
            nodes=self.nodes,
            externals=tuple(self.externals.values()),
            conns=tuple(self.conns),
        )
