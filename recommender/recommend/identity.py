"""Workload identity: which workload each observed endpoint belongs to, and how to select it.

Policies must name workloads, not pods: a pod that restarts gets a new name and
IP, and a replica that was idle during the capture must still be admitted. So
each distinct endpoint of the ``connections`` table is mapped to an identity —
a workload (namespace + name, selected by stable labels) or an address (only
an ``ipBlock`` can match it) — using the best evidence available, in order:

1. the inventory owner (Deployment via ReplicaSet, StatefulSet, DaemonSet, CronJob via Job);
2. the workload the exporter reported (Hubble ``workloads``);
3. Calico ``*_name_aggr`` prefixes (``web-7d4b9c6f5-*`` → ``web``);
4. the pod name without its generated suffix (``web-7d4b9c6f5-abcde`` → ``web``, ``db-0`` → ``db``).

The selector of a workload is the smallest set of *stable* labels whose
``matchLabels`` selects every known pod of the workload and no other known pod
of its namespace (``selectors.choose_selector``, its own module).
"""

from __future__ import annotations

import re
from functools import cached_property
from dataclasses import dataclass, field
from typing import Any

import duckdb

from recommender.engine import k8s_names
from recommender.io import apiserver
from recommender.io.schema import table_exists
from recommender.model import LabelSelector, Labels
from recommender.recommend.selectors import (  # noqa: F401  (re-exported: the selector API predates the split)
    MAX_SEARCH_KEYS, NOISY_LABELS, PREFERRED_KEYS, choose_selector, is_stable, selector_text, valid_value,
)

# Kubernetes' safe alphabet for generated suffixes (k8s.io/apimachinery rand.SafeEncodeString).
_SAFE = set("bcdfghjklmnpqrstvwxz2456789")
_RS_POD = re.compile(r"^(?P<base>.+)-(?P<hash>[a-z0-9]{6,10})-[a-z0-9]{5}$")
_GEN_POD = re.compile(r"^(?P<base>.+)-(?P<hash>[a-z0-9]{5})$")
_ORDINAL_POD = re.compile(r"^(?P<base>.+)-\d+$")
_RS_NAME = re.compile(r"^(?P<base>.+)-(?P<hash>[a-z0-9]{6,10})$")
_JOB_NAME = re.compile(r"^(?P<base>.+)-\d{6,}$")


def _generated(segment: str) -> bool:
    """A generated hash has a digit or uses only the vowel-free safe alphabet."""
    return any(c.isdigit() for c in segment) or set(segment) <= _SAFE


def _strip(pattern: re.Pattern[str], name: str) -> str | None:
    m = pattern.match(name)
    return m.group("base") if m and _generated(m.group("hash")) else None

ADDRESS_KINDS = frozenset({"host", "network", "world", "service", "kube-apiserver", "health", "unknown"})


def strip_pod_suffix(name: str) -> str:
    """``web-7d4b9c6f5-abcde`` → ``web``; ``agent-x7k2p`` → ``agent``; ``db-0`` → ``db``."""
    base = _strip(_RS_POD, name) or _strip(_GEN_POD, name)
    if base:
        return base
    m = _ORDINAL_POD.match(name)
    return m.group("base") if m else name


def workload_from_aggr(name: str) -> str:
    """Calico ``*_name_aggr`` (``web-7d4b9c6f5-*``, ``db-*``) → ``web`` / ``db``."""
    base = name.rstrip("*").rstrip("-")
    return _strip(_RS_NAME, base) or base


def workload_from_owner(kind: str | None, name: str | None, pod: str) -> str:
    """The top-level controller name from a pod's direct owner reference."""
    if not name:
        return strip_pod_suffix(pod)
    if kind == "ReplicaSet":
        return _strip(_RS_NAME, name) or name
    if kind == "Job":
        m = _JOB_NAME.match(name)
        return m.group("base") if m else name
    return name


@dataclass
class Workload:
    """A set of pods that share one policy: their label sets and how they were identified."""

    namespace: str
    name: str
    source: str                                        # inventory | hubble | calico-aggr | pod-name | labels
    pods: set[str] = field(default_factory=set)        # known pod names (inventory + flows)
    label_sets: set[Labels] = field(default_factory=set)
    pods_by_labels: dict[Labels, set[str]] = field(default_factory=dict)
    selector: LabelSelector = field(default_factory=LabelSelector)
    exact: bool = True
    also_selects: tuple[str, ...] = ()                 # other known pods the selector selects

    @cached_property
    def key(self) -> str:   # asked hundreds of thousands of times by over-permission; names never change
        return f"pod:{self.namespace}/{self.name}"


@dataclass(frozen=True)
class Identity:
    """What an endpoint is for policy purposes: a workload, an address, or nothing expressible."""

    key: str
    kind: str                      # "workload" | "address" | "none"
    endpoint_kind: str             # the schema's endpoint kind
    namespace: str | None = None
    workload: str | None = None
    ip: str | None = None


@dataclass
class IdentityMap:
    """Endpoint keys → identities, plus every known workload (flows + inventory)."""

    identities: dict[str, Identity]               # identity key → identity
    workloads: dict[str, Workload]                # identity key → workload
    pod_workload: dict[tuple[str, str], str]      # (namespace, pod) → workload key
    namespace_labels: dict[str, Labels]
    warnings: list[str] = field(default_factory=list)
    cache: dict[str, Any] = field(default_factory=dict)   # derived views built once (e.g. model pods)
    apiserver_endpoints: frozenset[str] = frozenset()     # API server addresses the inventory named
    apiserver_services: frozenset[str] = frozenset()      # the kubernetes Service's ClusterIPs
    cluster_addresses: frozenset[str] = frozenset()       # pod and node IPs: no widened ipBlock may hold them


def endpoint_key_sql(side: str) -> str:
    """A SQL expression that identifies one distinct endpoint of ``side`` (src/dst)."""
    cols = [f"{side}_kind", f"{side}_ip", f"{side}_namespace", f"{side}_pod", f"{side}_workload"]
    parts = ", ".join(f"coalesce({c}, '')" for c in cols)
    return f"concat_ws('|', {parts}, coalesce(CAST({side}_labels AS VARCHAR), ''))"


def _inventory(con: duckdb.DuckDBPyConnection) -> list[dict[str, Any]]:
    if not table_exists(con, "pods"):
        return []
    rows = con.execute(
        "SELECT namespace, name, labels, ips, host_network, owner_kind, owner_name, workload, node, workload_kind "
        "FROM pods ORDER BY namespace, name"
    ).fetchall()
    keys = ("namespace", "name", "labels", "ips", "host_network", "owner_kind", "owner_name", "workload", "node",
            "workload_kind")
    pods = [dict(zip(keys, r)) for r in rows]
    _name_workloads(pods)
    return pods


def _name_workloads(pods: list[dict[str, Any]]) -> None:
    """Each inventory pod's workload name (``p["_workload"]``): its controller's name, with the
    controller's kind appended when two kinds of controller share that name in one namespace
    (a Deployment ``web`` and a StatefulSet ``web`` are two workloads: ``web-deployment``, ``web-statefulset``)."""
    kinds: dict[tuple[str, str], set[str]] = {}
    for p in pods:
        p["_workload"] = p["workload"] or workload_from_owner(p["owner_kind"], p["owner_name"], p["name"])
        p["_kind"] = p["workload_kind"] or _controller_kind(p["owner_kind"], p["owner_name"], p["_workload"])
        if not p["host_network"]:
            kinds.setdefault((p["namespace"], p["_workload"]), set()).add(p["_kind"])
    renamed: dict[tuple[str, str, str], str] = {}
    for (ns, name), found in sorted(kinds.items()):
        for kind in sorted(found) if len(found) > 1 else ():
            new, n = f"{name}-{kind.lower()}", 1
            while (ns, new) in kinds:           # a real workload already has that name: never join it
                n += 1
                new = f"{name}-{kind.lower()}-{n}"
            renamed[(ns, name, kind)] = new
    for p in pods:
        p["_workload"] = renamed.get((p["namespace"], p["_workload"], p["_kind"]), p["_workload"])


def _controller_kind(owner_kind: str | None, owner_name: str | None, workload: str) -> str:
    """The top-level controller's kind when the inventory did not record it (as ``io.inventory`` resolves it)."""
    if not owner_kind or not owner_name:
        return "Pod"
    if owner_name != workload:
        return {"ReplicaSet": "Deployment", "Job": "CronJob"}.get(owner_kind, owner_kind)
    return owner_kind


def _namespace_labels(con: duckdb.DuckDBPyConnection) -> dict[str, Labels]:
    if not table_exists(con, "namespaces"):
        return {}
    return {n: Labels.of(l or {}) for n, l in con.execute("SELECT name, labels FROM namespaces").fetchall()}


def resolve(con: duckdb.DuckDBPyConnection, endpoints: list[tuple]) -> tuple[IdentityMap, dict[str, str]]:
    """Map distinct endpoints ``(key, kind, ip, namespace, pod, workload, labels)`` to identities
    (labels: a mapping or ``Labels``).

    Returns the identity map and ``endpoint key → identity key``.
    """
    workloads: dict[str, Workload] = {}
    pod_wl: dict[tuple[str, str], str] = {}
    by_ip: dict[str, dict[str, Any]] = {}
    inv_by_pod: dict[tuple[str, str], dict[str, Any]] = {}

    def add(ns: str, name: str, source: str, pod: str | None, labels: Labels | None) -> Workload:
        key = f"pod:{ns}/{name}"
        wl = workloads.get(key)
        if wl is None:
            wl = workloads[key] = Workload(ns, name, source)
        if pod:
            wl.pods.add(pod)
            pod_wl.setdefault((ns, pod), key)
        if labels is not None:
            wl.label_sets.add(labels)
            if pod:
                wl.pods_by_labels.setdefault(labels, set()).add(pod)
        return wl

    node_ips: dict[str, str] = {}
    for _, kind, ip, _, _, wl_name, _ in endpoints:
        if kind == "host" and ip and wl_name:
            node_ips.setdefault(wl_name, ip)
    for p in _inventory(con):
        if not p["namespace"] or not valid_namespace(p["namespace"]):
            continue
        inv_by_pod[(p["namespace"], p["name"])] = p
        for ip in p["ips"] or ():
            by_ip[ip] = p
        if p["host_network"]:
            if p.get("node") and p["ips"]:
                node_ips.setdefault(p["node"], sorted(p["ips"])[0])
            continue
        add(p["namespace"], p["_workload"], "inventory", p["name"], Labels.of(p["labels"] or {}))

    identities: dict[str, Identity] = {}
    ep_map: dict[str, str] = {}
    warnings: list[str] = []
    cluster = set(by_ip) | set(node_ips.values())
    for ip in _ip_conflicts(con, warnings):     # several pods claimed it (churn, reuse): never guess which
        by_ip.pop(ip, None)
    api_endpoints, api_services = apiserver.read(con)
    api_addresses = api_endpoints | api_services
    for ekey, kind, ip, ns, pod, wl_name, labels in endpoints:
        if ns is not None and not valid_namespace(ns):
            warnings.append(f"namespace {ns!r} is not a valid Kubernetes namespace name: its endpoints "
                            "are treated as addresses and get no policy")
            kind, ns, pod = ("unknown" if ip else "none"), None, None
        if kind == "host" and not ip and wl_name in node_ips:
            ip = node_ips[wl_name]      # a host endpoint known by node name: its node IP
        ident = _identify(kind, ip, ns, pod, wl_name, labels, inv_by_pod, by_ip, add)
        if ident.kind == "address" and ident.ip in api_addresses:
            # the inventory says this address is the API server (or its Service): a kube-apiserver peer
            ident = Identity(ident.key, "address", "kube-apiserver", ip=ident.ip)
        known = identities.setdefault(ident.key, ident)
        if ident.endpoint_kind == "kube-apiserver" and known.endpoint_kind != "kube-apiserver":
            identities[ident.key] = ident      # an address seen as the API server anywhere is the API server
        ep_map[ekey] = ident.key
        if ip and (ident.kind == "workload" or kind == "host"):
            cluster.add(ip)
    for wl in workloads.values():
        identities.setdefault(wl.key, Identity(wl.key, "workload", "pod", wl.namespace, wl.name))
        if not wl.label_sets:   # seen without labels (flows, no inventory): only {} selects its pods
            wl.label_sets.add(Labels.of({}))
            wl.pods_by_labels[Labels.of({})] = set(wl.pods)
    _choose_selectors(workloads, pod_wl, warnings)
    return IdentityMap(identities, workloads, pod_wl, _namespace_labels(con), sorted(set(warnings)),
                       apiserver_endpoints=api_endpoints, apiserver_services=api_services,
                       cluster_addresses=frozenset(cluster)), ep_map


def _ip_conflicts(con: duckdb.DuckDBPyConnection, warnings: list[str]) -> list[str]:
    found = con.execute("SELECT ip, pods FROM ip_conflicts ORDER BY ip").fetchall() if table_exists(con, "ip_conflicts") else []
    shown = "; ".join(f"{ip}: {', '.join(pods or ())}" for ip, pods in found[:5]) + "; …" * (len(found) > 5)
    if found:
        warnings.append(f"{len(found)} address(es) claimed by several inventory pods ({shown}): their connections stay plain "
                        "addresses, so the pods that used them may be isolated without that traffic admitted (table ip_conflicts)")
    return [ip for ip, _ in found]


def _identify(kind, ip, ns, pod, wl_name, labels, inv_by_pod, by_ip, add) -> Identity:
    kind = (kind or "unknown").lower()
    inv = None
    if kind == "pod" or kind == "unknown":
        if ns and pod:
            inv = inv_by_pod.get((ns, pod))
        if inv is None and ip and (kind == "pod" or ns is None):
            cand = by_ip.get(ip)
            if cand is not None and (ns is None or cand["namespace"] == ns):
                inv = cand
    if inv is not None and inv["host_network"]:
        return _address("host", ip)
    if inv is not None:
        wl = add(inv["namespace"], inv["_workload"], "inventory", inv["name"], None)
        inv_labels = Labels.of(inv["labels"] or {})
        if labels and not inv["labels"]:
            inv_labels = _as_labels(labels)
        wl.label_sets.add(inv_labels)
        wl.pods_by_labels.setdefault(inv_labels, set()).add(inv["name"])
        return Identity(wl.key, "workload", "pod", wl.namespace, wl.name)
    if kind == "pod" and ns:
        flow_labels = _as_labels(labels) if labels else None
        if wl_name and wl_name.endswith("*"):
            wl = add(ns, workload_from_aggr(wl_name), "calico-aggr", pod, flow_labels)
        elif wl_name:
            wl = add(ns, wl_name, "hubble", pod, flow_labels)
        elif pod:
            wl = add(ns, strip_pod_suffix(pod), "pod-name", pod, flow_labels)
        elif flow_labels:
            wl = add(ns, _name_from_labels(flow_labels), "labels", None, flow_labels)
        else:
            return Identity(f"none:pod:{ns}", "none", "pod", ns)
        return Identity(wl.key, "workload", "pod", wl.namespace, wl.name)
    return _address(kind if kind != "pod" else "unknown", ip, wl_name)


def _as_labels(labels: Any) -> Labels:
    """An endpoint's labels: a mapping, or already ``Labels`` (``generate`` makes each distinct set once)."""
    return labels if isinstance(labels, Labels) else Labels.of(labels)


def is_unknown_public(ident: Identity) -> bool:
    """An external endpoint whose address the exporter hid (Cilium world, Calico ``pub``)."""
    return ident.kind == "none" and (ident.endpoint_kind == "world" or
                                     (ident.endpoint_kind == "network" and ident.workload == "pub"))


def _address(kind: str, ip: str | None, name: str | None = None) -> Identity:
    if ip:
        return Identity(f"ip:{ip}", "address", kind, ip=ip)
    return Identity(f"none:{kind}:{name or ''}", "none", kind, workload=name)


def _name_from_labels(labels: Labels) -> str:
    for key in ("app.kubernetes.io/name", "app", "k8s-app", "name"):
        if key in labels:
            return labels[key]
    return "unnamed"


def _choose_selectors(workloads: dict[str, Workload], pod_wl: dict[tuple[str, str], str], warnings: list[str]) -> None:
    """Give each workload the smallest stable selector unique within its namespace."""
    by_ns: dict[str, list[Workload]] = {}
    for wl in workloads.values():
        by_ns.setdefault(wl.namespace, []).append(wl)
    for ns, members in by_ns.items():
        # known pods per workload: (label set, pod names), written once per namespace
        known_pods = [
            (other, ls, [f"{ns}/{n}" for n in (sorted(other.pods_by_labels.get(ls, ())) or [f"{other.name} (workload)"])])
            for other in members for ls in other.label_sets
        ]
        for wl in members:
            others: dict[Labels, list[str]] = {}
            for other, ls, names in known_pods:
                if other is not wl:
                    others.setdefault(ls, []).extend(names)
            known = {ls for ls in wl.label_sets if len(ls)} or wl.label_sets
            selector, exact, hit = choose_selector(known, list(others))
            wl.selector = selector
            wl.exact = exact
            wl.also_selects = tuple(sorted({n for ls in hit for n in others[ls]}))
            if not exact:
                warnings.append(
                    f"{ns}/{wl.name}: no stable label selector selects only this workload; "
                    f"{selector_text(selector)} also selects {', '.join(wl.also_selects)}"
                )
            unlabeled = sorted(wl.pods.difference(*wl.pods_by_labels.values()) | wl.pods_by_labels.get(Labels(), set()))
            if unlabeled and not selector.is_empty:
                warnings.append(
                    f"{ns}/{wl.name}: pod(s) known only from flows without labels ({', '.join(f'{ns}/{n}' for n in unlabeled)}): "
                    f"{selector_text(selector)} cannot select them (only {{}} could), so their connections are not admitted "
                    "as theirs; give --inventory with those pods or flows that carry their labels"
                )


def valid_namespace(ns: str) -> bool:
    return not k8s_names.dns1123_label(ns)
