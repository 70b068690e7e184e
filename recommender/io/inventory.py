"""Kubernetes pods and namespaces: the inventory that gives flow IPs an identity.

Why this exists: AWS VPC flow logs (and unaggregated Calico or Hubble records
of unknown peers) only carry IP addresses; policies need namespaces, labels
and workloads. This module reads ``kubectl get pods,namespaces -A -o json``
output (a ``List``), YAML (multi-document, ``kind: List``) or single Pod and
Namespace objects, and

* ``read_inventory(paths)`` returns model ``Pod``/``Namespace`` objects (the
  evaluator's ``explain`` command uses it);
* ``load_inventory(con, paths)`` replaces the ``pods`` and ``namespaces``
  tables with them, adding the resolved workload of each pod.

The ``default/kubernetes`` Service, Endpoints and EndpointSlices give the API
server's addresses (``recommender.io.apiserver``, the ``apiserver`` table).
Other kinds (NetworkPolicy, other Services…) in the same files are counted and
ignored. Errors name ``FILE:LINE field.path``.
"""

from __future__ import annotations

import gzip
import ipaddress
import json
import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import duckdb
import pyarrow as pa

from recommender.errors import InputError
from recommender.io import apiserver, json_items, schema, yamlloc
from recommender.model import ContainerPort, Labels, Namespace, Pod

NS_NAME_LABEL = "kubernetes.io/metadata.name"
# Characters of Kubernetes' rand.SafeEncodeString (no vowels, no 0/1/3 that spell words).
_HASH = r"[bcdfghjklmnpqrstvwxz2456789]{5,10}"
_CRONJOB_JOB = re.compile(r"^(?P<cron>.+)-(?P<ts>\d{8,})$")
_PROTOCOLS = ("TCP", "UDP", "SCTP")


@dataclass
class InventoryStats:
    """What the inventory files held."""

    files: int = 0
    pods: int = 0
    namespaces: int = 0
    host_network_pods: int = 0
    pods_without_ip: int = 0
    duplicates: int = 0                                        # same namespace/name seen again (last wins)
    apiserver_addresses: int = 0                               # of the default/kubernetes Service and endpoints
    ignored: dict[str, int] = field(default_factory=dict)      # kind -> count

    def ignore(self, kind: str) -> None:
        self.ignored[kind] = self.ignored.get(kind, 0) + 1


@dataclass(frozen=True)
class PodRecord:
    pod: Pod
    workload_kind: str
    workload: str
    file: str
    line: int | None


@dataclass(frozen=True)
class NamespaceRecord:
    namespace: Namespace
    file: str
    line: int | None


def resolve_workload(pod_name: str, labels: Labels, owner_kind: str | None, owner_name: str | None) -> tuple[str, str]:
    """The controller that owns the pod's template: ReplicaSet → Deployment, Job → CronJob."""
    if not owner_kind or not owner_name:
        return "Pod", pod_name
    if owner_kind == "ReplicaSet":
        template_hash = labels.get("pod-template-hash")
        if template_hash and owner_name.endswith(f"-{template_hash}"):
            return "Deployment", owner_name[: -len(template_hash) - 1]
        if template_hash is None and re.fullmatch(rf".+-{_HASH}", owner_name):
            return "Deployment", owner_name.rsplit("-", 1)[0]
        return "ReplicaSet", owner_name
    if owner_kind == "Job":
        match = _CRONJOB_JOB.match(owner_name)
        if match:
            return "CronJob", match.group("cron")
    return owner_kind, owner_name


class _Doc:
    """One document's value plus a lazy way to find the line of a field path."""

    def __init__(self, value: Any, file: str, text: str, located: yamlloc.Located | None,
                 item_lines: dict[int, int] | None = None) -> None:
        self.value = value
        self.file = file
        self._text = text
        self._located = located
        self._item_lines = item_lines or {}

    def line(self, path: tuple[str | int, ...]) -> int | None:
        """Line of ``path``; JSON is only re-read with positions on the error path."""
        if self._located is None:
            if len(path) <= 2 and path[:1] == ("items",) and isinstance(path[-1], int):
                return self._item_lines.get(path[-1])
            if not path:
                return 1
            try:
                docs = yamlloc.load_text(self._text, self.file)
            except InputError:
                return None
            self._located = docs[0] if docs else yamlloc.Located(self.value, self.file, 1, {})
        return self._located.line_of(path)

    def error(self, path: tuple[str | int, ...], reason: str) -> InputError:
        return InputError(reason, file=self.file, line=self.line(path), path=yamlloc.render_path(path) or None,
                          hint="fix the inventory file (e.g. re-export it with `kubectl get pods,namespaces -A -o json`)")


def _read_text(path: Path) -> str:
    try:
        raw = path.read_bytes()
        if raw[:2] == b"\x1f\x8b":
            raw = gzip.decompress(raw)
        return raw.decode("utf-8-sig")
    except OSError as exc:
        raise InputError(f"cannot read: {exc.strerror or exc}", file=str(path)) from None
    except UnicodeDecodeError as exc:
        raise InputError(f"not UTF-8 text (byte {exc.start})", file=str(path)) from None


def _documents(path: Path) -> Iterator[_Doc]:
    text = _read_text(path)
    name = str(path)
    if text.lstrip().startswith(("{", "[")):
        try:
            value, item_lines = json_items.loads_with_item_lines(text)
        except json.JSONDecodeError as exc:
            raise InputError(f"invalid JSON: {exc.msg}", file=name, line=exc.lineno) from None
        yield _Doc(value, name, text, None, item_lines)
        return
    for located in yamlloc.iter_documents(text, name):
        yield _Doc(located.value, name, text, located)


def _objects(doc: _Doc) -> Iterator[tuple[dict[str, Any], tuple[str | int, ...], str | None]]:
    """(object, field path, kind implied by a typed list) for every object of a document."""
    value = doc.value
    if isinstance(value, list):  # a bare JSON array of objects
        items: Iterable[tuple[int, Any]] = enumerate(value)
        yield from ((item, (i,), None) for i, item in items if isinstance(item, dict))
        return
    if not isinstance(value, dict):
        raise doc.error((), "expected a Kubernetes object or List")
    kind = value.get("kind")
    if isinstance(kind, str) and kind.endswith("List") and isinstance(value.get("items"), list):
        implied = kind[: -len("List")] or None
        for i, item in enumerate(value["items"]):
            if not isinstance(item, dict):
                raise doc.error(("items", i), "expected an object")
            yield item, ("items", i), implied
        return
    yield value, (), None


def _string_map(doc: _Doc, value: Any, path: tuple[str | int, ...]) -> dict[str, str]:
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise doc.error(path, "must be a map of strings")
    for key, item in value.items():
        if not isinstance(item, str):
            raise doc.error(path + (str(key),), f"label value must be a string, found {item!r}")
    return {str(k): v for k, v in value.items()}


def _get(obj: dict[str, Any], *keys: str) -> Any:
    for key in keys:
        if not isinstance(obj, dict):
            return None
        obj = obj.get(key)  # type: ignore[assignment]
    return obj


_IPV4 = re.compile(r"((25[0-5]|2[0-4][0-9]|1[0-9][0-9]|[1-9]?[0-9])\.){3}(25[0-5]|2[0-4][0-9]|1[0-9][0-9]|[1-9]?[0-9])")


def _ip(doc: _Doc, value: Any, path: tuple[str | int, ...]) -> str:
    """The canonical text of an IP address (IPv6 compressed), the form enrichment joins on."""
    if isinstance(value, str) and _IPV4.fullmatch(value):
        return value
    try:
        return ipaddress.ip_address(str(value)).compressed
    except ValueError:
        raise doc.error(path, f"invalid IP {value!r}") from None


def _pod_ips(doc: _Doc, obj: dict[str, Any], at: tuple[str | int, ...]) -> tuple[str, ...]:
    status = obj.get("status") or {}
    ips: list[str] = []
    pod_ips = status.get("podIPs") if isinstance(status, dict) else None
    if isinstance(pod_ips, list) and pod_ips:
        for i, entry in enumerate(pod_ips):
            ip = entry.get("ip") if isinstance(entry, dict) else None
            ips.append(_ip(doc, ip, at + ("status", "podIPs", i, "ip")))
    elif isinstance(status, dict) and status.get("podIP"):
        ips.append(_ip(doc, status["podIP"], at + ("status", "podIP")))
    return tuple(dict.fromkeys(ips))


def _ports(doc: _Doc, obj: dict[str, Any], at: tuple[str | int, ...]) -> tuple[ContainerPort, ...]:
    ports: list[ContainerPort] = []
    spec = obj.get("spec") or {}
    for group in ("initContainers", "containers"):
        for c, container in enumerate(spec.get(group) or []):
            for p, port in enumerate((container or {}).get("ports") or []):
                here = at + ("spec", group, c, "ports", p)
                number = port.get("containerPort")
                if not isinstance(number, int) or isinstance(number, bool) or not 1 <= number <= 65535:
                    raise doc.error(here + ("containerPort",), f"invalid port {number!r} (must be 1-65535)")
                protocol = port.get("protocol") or "TCP"
                if protocol not in _PROTOCOLS:
                    raise doc.error(here + ("protocol",), f"unsupported protocol {protocol!r} (TCP, UDP or SCTP)")
                ports.append(ContainerPort(number, protocol, port.get("name") or None))
    return tuple(dict.fromkeys(ports))


def _owner(obj: dict[str, Any]) -> tuple[str | None, str | None]:
    refs = [r for r in (_get(obj, "metadata", "ownerReferences") or []) if isinstance(r, dict)]
    controller = next((r for r in refs if r.get("controller")), None)
    if controller is None:
        return None, None
    return controller.get("kind"), controller.get("name")


def _name(doc: _Doc, obj: dict[str, Any], at: tuple[str | int, ...]) -> str:
    name = _get(obj, "metadata", "name")
    if not isinstance(name, str) or not name:
        raise doc.error(at + ("metadata", "name"), "missing metadata.name")
    return name


def _pod(doc: _Doc, obj: dict[str, Any], at: tuple[str | int, ...]) -> PodRecord:
    meta = obj.get("metadata") or {}
    name = _name(doc, obj, at)
    labels = Labels.of(_string_map(doc, meta.get("labels"), at + ("metadata", "labels")))
    owner_kind, owner_name = _owner(obj)
    spec = obj.get("spec") or {}
    pod = Pod(
        namespace=meta.get("namespace") or "default", name=name, labels=labels, ips=_pod_ips(doc, obj, at),
        ports=_ports(doc, obj, at), host_network=bool(spec.get("hostNetwork")), node=spec.get("nodeName"),
        owner_kind=owner_kind, owner_name=owner_name,
    )
    workload_kind, workload = resolve_workload(name, labels, owner_kind, owner_name)
    return PodRecord(pod, workload_kind, workload, doc.file, doc.line(at))


def _namespace(doc: _Doc, obj: dict[str, Any], at: tuple[str | int, ...]) -> NamespaceRecord:
    name = _name(doc, obj, at)
    labels = _string_map(doc, _get(obj, "metadata", "labels"), at + ("metadata", "labels"))
    labels.setdefault(NS_NAME_LABEL, name)
    return NamespaceRecord(Namespace(name, Labels.of(labels)), doc.file, doc.line(at))


def _looks_like_pod(obj: dict[str, Any]) -> bool:
    return isinstance(_get(obj, "spec", "containers"), list)


def _expand(paths: Iterable[str | Path]) -> Iterator[Path]:
    """Files as given; directories contribute their *.json/*.yaml/*.yml files (recursively, sorted)."""
    for path in map(Path, paths):
        if path.is_dir():
            yield from sorted(p for p in path.rglob("*") if p.suffix in (".json", ".yaml", ".yml") and p.is_file())
        else:
            yield path


def read_records(paths: Iterable[str | Path]) -> tuple[list[PodRecord], list[NamespaceRecord], InventoryStats]:
    """Every pod and namespace of the files (later files win on duplicates), sorted by namespace/name."""
    pods, namespaces, _, stats = read_all(paths)
    return pods, namespaces, stats


def read_all(paths: Iterable[str | Path]) -> tuple[list[PodRecord], list[NamespaceRecord],
                                                    list[apiserver.ApiAddress], InventoryStats]:
    """``read_records`` plus the API server's addresses."""
    stats = InventoryStats()
    api: list[apiserver.ApiAddress] = []
    pods: dict[tuple[str, str], PodRecord] = {}
    namespaces: dict[str, NamespaceRecord] = {}
    for path in _expand(paths):
        stats.files += 1
        for doc in _documents(path):
            for obj, at, implied in _objects(doc):
                kind = obj.get("kind") or implied or ("Pod" if _looks_like_pod(obj) else "<no kind>")
                if kind == "Pod":
                    rec = _pod(doc, obj, at)
                    key = (rec.pod.namespace, rec.pod.name)
                    stats.duplicates += key in pods
                    pods[key] = rec
                elif kind == "Namespace":
                    ns = _namespace(doc, obj, at)
                    stats.duplicates += ns.namespace.name in namespaces
                    namespaces[ns.namespace.name] = ns
                else:
                    found = apiserver.addresses(str(kind), obj, at, lambda v, p, d=doc: _ip(d, v, p))
                    if found is None:
                        stats.ignore(str(kind))
                    api.extend(apiserver.ApiAddress(ip, role, doc.file, doc.line(at)) for ip, role in found or ())
    pod_list = [pods[k] for k in sorted(pods)]
    ns_list = [namespaces[k] for k in sorted(namespaces)]
    stats.pods, stats.namespaces = len(pod_list), len(ns_list)
    stats.host_network_pods = sum(r.pod.host_network for r in pod_list)
    stats.pods_without_ip = sum(not r.pod.ips for r in pod_list)
    stats.apiserver_addresses = len({(a.ip, a.role) for a in api})
    return pod_list, ns_list, api, stats


def read_inventory(paths: Iterable[str | Path]) -> tuple[list[Pod], list[Namespace]]:
    """Model objects of every pod and namespace in the files (pure Python, no database)."""
    pods, namespaces, _ = read_records(paths)
    return [r.pod for r in pods], [r.namespace for r in namespaces]


_KV = pa.list_(pa.string())
_PORTS = pa.list_(pa.struct([("name", pa.string()), ("port", pa.int32()), ("protocol", pa.string())]))


def load_inventory(con: duckdb.DuckDBPyConnection, paths: Iterable[str | Path]) -> InventoryStats:
    """Replace the ``pods``, ``namespaces`` and ``apiserver`` tables with the inventory in ``paths``."""
    pods, namespaces, api, stats = read_all(paths)
    apiserver.store(con, api)
    con.execute(schema.PODS_DDL)
    con.execute(schema.NAMESPACES_DDL)
    pod_table = pa.table({
        "namespace": [r.pod.namespace for r in pods], "name": [r.pod.name for r in pods],
        "lk": pa.array([list(r.pod.labels) for r in pods], _KV),
        "lv": pa.array([[v for _, v in r.pod.labels.pairs] for r in pods], _KV),
        "ips": pa.array([list(r.pod.ips) for r in pods], _KV),
        "ports": pa.array([[{"name": p.name, "port": p.port, "protocol": p.protocol} for p in r.pod.ports]
                           for r in pods], _PORTS),
        "host_network": pa.array([r.pod.host_network for r in pods], pa.bool_()),
        "node": pa.array([r.pod.node for r in pods], pa.string()),
        "owner_kind": pa.array([r.pod.owner_kind for r in pods], pa.string()),
        "owner_name": pa.array([r.pod.owner_name for r in pods], pa.string()),
        "workload_kind": [r.workload_kind for r in pods], "workload": [r.workload for r in pods],
        "file": [r.file for r in pods], "line": pa.array([r.line for r in pods], pa.int64()),
    })
    ns_table = pa.table({
        "name": [r.namespace.name for r in namespaces],
        "lk": pa.array([list(r.namespace.labels) for r in namespaces], _KV),
        "lv": pa.array([[v for _, v in r.namespace.labels.pairs] for r in namespaces], _KV),
        "file": [r.file for r in namespaces], "line": pa.array([r.line for r in namespaces], pa.int64()),
    })
    con.execute("DELETE FROM pods")
    con.execute("DELETE FROM namespaces")
    con.register("_inventory_pods", pod_table)
    con.register("_inventory_namespaces", ns_table)
    try:
        con.execute("""INSERT INTO pods SELECT namespace, name, map(lk, lv), ips, ports, host_network, node,
                       owner_kind, owner_name, workload_kind, workload, file, line FROM _inventory_pods""")
        con.execute("INSERT INTO namespaces SELECT name, map(lk, lv), file, line FROM _inventory_namespaces")
    finally:
        con.unregister("_inventory_pods")
        con.unregister("_inventory_namespaces")
    return stats
