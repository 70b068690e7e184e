"""The cluster's pods and namespaces as ``kubectl get pods,namespaces -A -o json|yaml``.

VPC flow logs carry only addresses, so they are ingested together with this
inventory; Calico and Hubble inputs can be enriched by it. The objects carry
what readers rely on and what makes them realistic: ``generateName``,
``ownerReferences`` (ReplicaSet, StatefulSet, DaemonSet, Job), ``nodeName``,
``hostNetwork``, named ``containers[].ports``, ``status.podIP`` and
``status.podIPs``.
"""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path
from typing import Any

import numpy as np
import yaml

from recommender.synth.cluster import BASE_TIME, Cluster, SynthPod

_API_VERSION = {"ReplicaSet": "apps/v1", "StatefulSet": "apps/v1", "DaemonSet": "apps/v1", "Job": "batch/v1"}


def _stamp(offset: int) -> str:
    return dt.datetime.fromtimestamp(BASE_TIME - offset, dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


class _Uids:
    def __init__(self, seed: int) -> None:
        self.rng = np.random.default_rng([seed, 3])

    def __call__(self) -> str:
        h = "".join(f"{b:02x}" for b in self.rng.integers(0, 256, 16).tolist())
        return f"{h[:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:]}"


def _pod(cluster: Cluster, p: SynthPod, uid: _Uids) -> dict[str, Any]:
    w = cluster.workload(f"{p.namespace}/{p.workload}")
    owner_kind, owner_name = w.owner
    node = cluster.nodes[p.node]
    meta: dict[str, Any] = {
        "creationTimestamp": _stamp(86400),
        "labels": dict(p.labels),
        "name": p.name,
        "namespace": p.namespace,
        "ownerReferences": [{"apiVersion": _API_VERSION[owner_kind], "blockOwnerDeletion": True, "controller": True,
                             "kind": owner_kind, "name": owner_name, "uid": uid()}],
        "uid": uid(),
    }
    if w.kind != "StatefulSet":
        meta["generateName"] = p.name[: p.name.rfind("-") + 1]
    ports = []
    for port in w.ports:
        entry: dict[str, Any] = {"containerPort": port.port, "name": port.name, "protocol": port.protocol}
        if w.host_network:
            entry["hostPort"] = port.port
        ports.append(entry)
    version = dict(w.labels).get("app.kubernetes.io/version", "1.0.0")
    container: dict[str, Any] = {"image": f"registry.example.com/{w.namespace}/{w.name}:{version}", "name": w.name}
    if ports:
        container["ports"] = ports
    spec: dict[str, Any] = {"containers": [container], "nodeName": node.name,
                            "restartPolicy": "Never" if w.kind == "CronJob" else "Always",
                            "serviceAccountName": w.service_account}
    if w.host_network:
        spec["hostNetwork"] = True
        spec["dnsPolicy"] = "ClusterFirstWithHostNet"
    ips = [{"ip": p.ip}] + ([{"ip": p.ip6}] if p.ip6 else [])
    status = {"hostIP": node.ip, "hostIPs": [{"ip": node.ip}], "phase": "Running", "podIP": p.ip, "podIPs": ips,
              "startTime": _stamp(86000)}
    return {"apiVersion": "v1", "kind": "Pod", "metadata": meta, "spec": spec, "status": status}


def inventory_objects(cluster: Cluster) -> dict[str, Any]:
    """A ``v1 List`` of every Namespace, then every Pod, in a stable order."""
    uid = _Uids(cluster.seed)
    items: list[dict[str, Any]] = []
    for name, labels in cluster.namespaces:
        items.append({"apiVersion": "v1", "kind": "Namespace",
                      "metadata": {"creationTimestamp": _stamp(864000), "labels": dict(labels), "name": name,
                                   "uid": uid()},
                      "spec": {"finalizers": ["kubernetes"]}, "status": {"phase": "Active"}})
    for p in sorted(cluster.pods, key=lambda p: (p.namespace, p.name)):
        items.append(_pod(cluster, p, uid))
    return {"apiVersion": "v1", "items": items, "kind": "List", "metadata": {"resourceVersion": ""}}


def write_inventory(cluster: Cluster, path: str | Path, fmt: str | None = None) -> Path:
    """Write the inventory as JSON (``kubectl -o json`` layout) or YAML, by
    ``fmt`` or the file suffix."""
    path = Path(path)
    fmt = fmt or ("yaml" if path.suffix in (".yaml", ".yml") else "json")
    obj = inventory_objects(cluster)
    path.parent.mkdir(parents=True, exist_ok=True)
    if fmt == "yaml":
        dumper = getattr(yaml, "CSafeDumper", yaml.SafeDumper)
        text = yaml.dump(obj, Dumper=dumper, sort_keys=True, default_flow_style=False, width=1000)
    elif fmt == "json":
        text = json.dumps(obj, indent=4, sort_keys=True) + "\n"
    else:
        raise ValueError(f"unknown inventory format {fmt!r} (json or yaml)")
    path.write_text(text, encoding="utf-8")
    return path
