"""The Kubernetes API server's addresses, from the inventory's ``default/kubernetes`` objects.

Why this exists: under default deny, egress to the API server is the first
thing that breaks (operators, controllers, anything with a client library),
and IP-only flow logs (VPC, unaggregated Calico) show it as traffic to a plain
private address or to the ``kubernetes`` Service's ClusterIP. The cluster
says which addresses those are: the ``kubernetes`` Service in ``default`` (its
ClusterIP), and its Endpoints / EndpointSlices (the API servers themselves,
usually control-plane node addresses). ``kubectl get
pods,namespaces,services,endpoints -A -o json`` exports them with the pods.

With them, identity resolution marks those addresses as ``kube-apiserver``,
and synthesis allows the Service address together with every endpoint
address: policies are enforced after DNAT, so a rule naming only the
ClusterIP would not admit the traffic on most CNIs (Hubble reports the same
endpoints as ``reserved:kube-apiserver``).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import duckdb
import pyarrow as pa

from recommender.io.schema import table_exists

NAMESPACE, SERVICE = "default", "kubernetes"
SERVICE_NAME_LABEL = "kubernetes.io/service-name"
ENDPOINT, SERVICE_ADDRESS = "endpoint", "service"
APISERVER_DDL = "CREATE TABLE IF NOT EXISTS apiserver (ip VARCHAR, role VARCHAR, file VARCHAR, line BIGINT)"

Path_ = tuple[str | int, ...]
IpReader = Callable[[Any, Path_], str]   # (value, field path) -> canonical IP text, raising InputError


@dataclass(frozen=True)
class ApiAddress:
    ip: str
    role: str            # ENDPOINT (an API server) or SERVICE_ADDRESS (the kubernetes Service's ClusterIP)
    file: str
    line: int | None


def _meta(obj: dict[str, Any]) -> tuple[str, str, dict[str, Any]]:
    meta = obj.get("metadata") if isinstance(obj.get("metadata"), dict) else {}
    labels = meta.get("labels") if isinstance(meta.get("labels"), dict) else {}
    return str(meta.get("namespace") or NAMESPACE), str(meta.get("name") or ""), labels


def _list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else []


def addresses(kind: str, obj: dict[str, Any], at: Path_, ip: IpReader) -> list[tuple[str, str]] | None:
    """``[(ip, role)]`` when ``obj`` describes the API server's addresses, else None (not about it).

    * ``Service`` ``default/kubernetes``: ``spec.clusterIP`` and ``spec.clusterIPs`` (role service);
    * ``Endpoints`` ``default/kubernetes``: ``subsets[].addresses[].ip`` (role endpoint);
    * ``EndpointSlice`` in ``default`` labelled ``kubernetes.io/service-name: kubernetes``:
      ``endpoints[].addresses[]`` (role endpoint; an ``FQDN`` slice names hosts and adds nothing).
    """
    ns, name, labels = _meta(obj)
    if ns != NAMESPACE:
        return None
    found: list[tuple[str, str]] = []
    if kind == "Service" and name == SERVICE:
        spec = obj.get("spec") if isinstance(obj.get("spec"), dict) else {}
        if spec.get("clusterIP") not in (None, "", "None"):
            found.append((ip(spec["clusterIP"], at + ("spec", "clusterIP")), SERVICE_ADDRESS))
        for i, value in enumerate(_list(spec.get("clusterIPs"))):
            if value not in ("", "None"):
                found.append((ip(value, at + ("spec", "clusterIPs", i)), SERVICE_ADDRESS))
    elif kind == "Endpoints" and name == SERVICE:
        for s, subset in enumerate(_list(obj.get("subsets"))):
            for a, address in enumerate(_list(subset.get("addresses") if isinstance(subset, dict) else None)):
                if isinstance(address, dict):
                    found.append((ip(address.get("ip"), at + ("subsets", s, "addresses", a, "ip")), ENDPOINT))
    elif kind == "EndpointSlice" and labels.get(SERVICE_NAME_LABEL) == SERVICE:
        if obj.get("addressType") == "FQDN":   # host names, not addresses: nothing a policy can name
            return []
        for e, endpoint in enumerate(_list(obj.get("endpoints"))):
            for a, value in enumerate(_list(endpoint.get("addresses") if isinstance(endpoint, dict) else None)):
                found.append((ip(value, at + ("endpoints", e, "addresses", a)), ENDPOINT))
    else:
        return None
    return list(dict.fromkeys(found))


def store(con: duckdb.DuckDBPyConnection, found: list[ApiAddress]) -> None:
    """Replace the ``apiserver`` table with ``found`` (sorted, one row per address and role)."""
    con.execute(APISERVER_DDL)
    con.execute("DELETE FROM apiserver")
    rows = sorted({(a.ip, a.role): a for a in found}.values(), key=lambda a: (a.role, a.ip))
    table = pa.table({"ip": [a.ip for a in rows], "role": [a.role for a in rows], "file": [a.file for a in rows],
                      "line": pa.array([a.line for a in rows], pa.int64())})
    con.register("_inventory_apiserver", table)
    try:
        con.execute("INSERT INTO apiserver SELECT ip, role, file, line FROM _inventory_apiserver")
    finally:
        con.unregister("_inventory_apiserver")


def read(con: duckdb.DuckDBPyConnection) -> tuple[frozenset[str], frozenset[str]]:
    """(endpoint addresses, Service addresses) from the store; empty when no inventory named them."""
    if not table_exists(con, "apiserver"):
        return frozenset(), frozenset()
    rows = con.execute("SELECT ip, role FROM apiserver").fetchall()
    return (frozenset(ip for ip, role in rows if role == ENDPOINT),
            frozenset(ip for ip, role in rows if role == SERVICE_ADDRESS))
