"""Minimal Pod and Namespace readers for documents found beside policies.

Why this exists: ``--policies`` and ``--inventory`` may name the same
multi-document file (``kubectl get pods,namespaces,networkpolicies -A -o
yaml``), so the policy loader must not skip the Pods and Namespaces in it. Only
what NetworkPolicy semantics need is read: names, labels, IPs, host
networking, node, controller owner and named container ports. Malformed
fields raise ``PolicyError`` with ``FILE:LINE path``.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from recommender.errors import PolicyError
from recommender.io.yamlloc import FieldPath, Located, render_path
from recommender.model import ContainerPort, Labels, Namespace, Pod


def _fail(doc: Located, path: FieldPath, reason: str) -> PolicyError:
    return PolicyError(reason, file=doc.file, line=doc.line_of(path), path=render_path(path))


def _mapping(doc: Located, value: Any, path: FieldPath) -> Mapping[str, Any]:
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise _fail(doc, path, "must be a mapping")
    return value


def _list(doc: Located, value: Any, path: FieldPath) -> list[Any]:
    if value is None:
        return []
    if not isinstance(value, list):
        raise _fail(doc, path, "must be a list")
    return value


def _string(doc: Located, value: Any, path: FieldPath, *, required: bool = False) -> str | None:
    if value is None and not required:
        return None
    if not isinstance(value, str) or (required and not value):
        raise _fail(doc, path, "required value" if value in (None, "") else "must be a string")
    return value


def _labels(doc: Located, meta: Mapping[str, Any]) -> Labels:
    labels = _mapping(doc, meta.get("labels"), ("metadata", "labels"))
    for key, value in labels.items():
        _string(doc, value, ("metadata", "labels", str(key)), required=False)
    return Labels.of({str(k): v or "" for k, v in labels.items()})


def parse_namespace(value: Mapping[str, Any], doc: Located) -> Namespace:
    """A ``v1 Namespace`` document: name and labels."""
    meta = _mapping(doc, value.get("metadata"), ("metadata",))
    name = _string(doc, meta.get("name"), ("metadata", "name"), required=True)
    return Namespace(name=name or "", labels=_labels(doc, meta))


def _ips(doc: Located, status: Mapping[str, Any]) -> tuple[str, ...]:
    ips: list[str] = []
    for i, entry in enumerate(_list(doc, status.get("podIPs"), ("status", "podIPs"))):
        ip = _string(doc, _mapping(doc, entry, ("status", "podIPs", i)).get("ip"), ("status", "podIPs", i, "ip"))
        if ip and ip not in ips:
            ips.append(ip)
    single = _string(doc, status.get("podIP"), ("status", "podIP"))
    if single and single not in ips:
        ips.insert(0, single)
    return tuple(ips)


def _ports(doc: Located, spec: Mapping[str, Any]) -> tuple[ContainerPort, ...]:
    ports: list[ContainerPort] = []
    for group in ("initContainers", "containers"):
        for i, container in enumerate(_list(doc, spec.get(group), ("spec", group))):
            c = _mapping(doc, container, ("spec", group, i))
            for j, entry in enumerate(_list(doc, c.get("ports"), ("spec", group, i, "ports"))):
                path = ("spec", group, i, "ports", j)
                p = _mapping(doc, entry, path)
                number = p.get("containerPort")
                if not isinstance(number, int) or isinstance(number, bool) or not 1 <= number <= 65535:
                    raise _fail(doc, path + ("containerPort",), "must be a port number between 1 and 65535")
                protocol = _string(doc, p.get("protocol"), path + ("protocol",)) or "TCP"
                ports.append(ContainerPort(number, protocol, _string(doc, p.get("name"), path + ("name",))))
    return tuple(ports)


def _owner(doc: Located, meta: Mapping[str, Any]) -> tuple[str | None, str | None]:
    for i, ref in enumerate(_list(doc, meta.get("ownerReferences"), ("metadata", "ownerReferences"))):
        r = _mapping(doc, ref, ("metadata", "ownerReferences", i))
        if r.get("controller") is True:
            return r.get("kind"), r.get("name")
    return None, None


def parse_pod(value: Mapping[str, Any], doc: Located) -> Pod:
    """A ``v1 Pod`` document (namespace defaults to ``default``, like kubectl)."""
    meta = _mapping(doc, value.get("metadata"), ("metadata",))
    spec = _mapping(doc, value.get("spec"), ("spec",))
    status = _mapping(doc, value.get("status"), ("status",))
    host_network = spec.get("hostNetwork", False)
    if not isinstance(host_network, bool):
        raise _fail(doc, ("spec", "hostNetwork"), "must be a boolean")
    owner_kind, owner_name = _owner(doc, meta)
    return Pod(
        namespace=_string(doc, meta.get("namespace"), ("metadata", "namespace")) or "default",
        name=_string(doc, meta.get("name"), ("metadata", "name"), required=True) or "",
        labels=_labels(doc, meta),
        ips=_ips(doc, status),
        ports=_ports(doc, spec),
        host_network=host_network,
        node=_string(doc, spec.get("nodeName"), ("spec", "nodeName")),
        owner_kind=owner_kind,
        owner_name=owner_name,
    )
