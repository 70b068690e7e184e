"""Verify observed traffic against policies, and explain one connection.

These are the library halves of ``recommend verify`` and ``recommend
explain``: each takes file paths (or already-loaded objects), loads flows,
policies and inventory, evaluates, and returns a report the CLI only renders.
``verify`` is also the impact preview of a cluster's current policies: which
observed connections would they deny, and why.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from recommender.engine.evaluate import evaluate, resolve_policies
from recommender.engine.explain import Explanation, explain, norm_protocol
from recommender.errors import UsageError, location
from recommender.model import Endpoint, EndpointKind, Flow, Namespace, Pod
from recommender.model.policy import EGRESS, INGRESS

PathLike = str | Path


@dataclass
class VerifyReport:
    """``results``: ``evaluate`` output; ``summary``: per namespace and direction; ``denied``: connections
    the policies deny with the reason; ``failures``: how many of them the exporter saw allowed."""

    results: pd.DataFrame
    summary: pd.DataFrame
    denied: pd.DataFrame
    failures: int
    notes: list[str] = field(default_factory=list)   # documents not evaluated, loader warnings (``policy_notes``)

    @property
    def ok(self) -> bool:
        return self.failures == 0


def _describe(df: pd.DataFrame, side: str) -> pd.Series:
    """``ns/pod`` for pods, else the address (or the kind when the address is unknown); vectorized."""
    ns, pod, work = (df[f"{side}_{c}"].astype("string") for c in ("namespace", "pod", "workload"))
    ip, kind = df[f"{side}_ip"].astype("string"), df[f"{side}_kind"].astype("string")
    name = pod.fillna(work).fillna("*")
    return pd.Series(np.where((kind == "pod").fillna(False) & ns.notna(), ns.fillna("") + "/" + name.fillna(""),
                              ip.fillna("<" + kind.fillna("unknown") + ">")), index=df.index)


def summarize(results: pd.DataFrame) -> pd.DataFrame:
    """Connections, isolated, admitted and denied per (namespace, direction); the namespace is the
    source's for egress and the destination's for ingress. Directions that do not apply are left out."""
    parts = []
    for direction, side in ((EGRESS, "src"), (INGRESS, "dst")):
        d = direction.lower()
        sub = results[results[f"{d}_applies"]]
        grouped = pd.DataFrame({
            "namespace": sub[f"{side}_namespace"].fillna(""), "connections": 1,
            "isolated": sub[f"{d}_isolated"].astype(int), "admitted": sub[f"{d}_allowed"].astype(int),
            "denied": (~sub[f"{d}_allowed"]).astype(int)}).groupby("namespace", as_index=False).sum()
        grouped.insert(1, "direction", d)
        parts.append(grouped)
    out = pd.concat(parts, ignore_index=True) if parts else pd.DataFrame()
    if out.empty:
        return pd.DataFrame(columns=["namespace", "direction", "connections", "isolated", "admitted", "denied"])
    return out.sort_values(["namespace", "direction"], ignore_index=True)


def policy_notes(policies: Any) -> tuple[Any, list[str]]:
    """``policies`` loaded into a ``PolicySet`` when given as a path, and what the user must be told about
    them: each document that is not evaluated (another kind, Calico's own policies, staged deletions) and
    each loader warning, as ``FILE:LINE: …`` lines. Verdicts hold only for the evaluated policies."""
    if isinstance(policies, (str, Path)):
        from recommender.io.policies import load_policies

        policies = load_policies(policies)
    if not hasattr(policies, "skipped"):
        return policies, []
    notes = [f"{location(s.file, s.line)}: skipped {s.kind} {s.name}: {s.reason}" for s in policies.skipped]
    return policies, notes + [str(w) for w in policies.warnings]


def verify(policies: Any, flows: Iterable[PathLike] | Any = (), *, inventory: Iterable[PathLike] = (),
           db: PathLike = ":memory:") -> VerifyReport:
    """Evaluate every observed connection in ``flows`` (paths, or a FlowStore) against ``policies``
    (a path, a PolicySet or NetworkPolicies). Without flow paths, the connections already in ``db`` are used."""
    from recommender.io.store import load_flows, open_store

    inventory = list(inventory)
    if hasattr(flows, "con"):
        store = flows
    else:
        paths = list(flows)
        if not paths and str(db) == ":memory:":
            raise UsageError("no flows to verify", hint="give flow files, or --db PATH of a database made by `recommend ingest`")
        store = load_flows(paths, inventory=inventory, db=db) if paths or inventory else open_store(db)
    policies, notes = policy_notes(policies)
    results = evaluate(policies, store)
    denied = results[~results["allowed"]]
    listing = pd.DataFrame({
        "source": _describe(denied, "src"), "destination": _describe(denied, "dst"),
        "protocol": denied["protocol"], "dst_port": denied["dst_port"].astype("Int64"),   # 81, not 81.0, beside ICMP
        "action": denied["action"] if "action" in denied else None, "reason": denied["reason"]})
    listing = listing.sort_values(["source", "destination", "protocol", "dst_port"], ignore_index=True, na_position="first")
    failures = int((listing["action"].fillna("allow") == "allow").sum()) if len(listing) else 0
    return VerifyReport(results, summarize(results), listing, failures, notes)


# The protocol names the flow schema reads (ingest's rec_protocol), as the evaluator spells them.
_PROTOCOLS = {"TCP": "TCP", "UDP": "UDP", "SCTP": "SCTP", "ICMP": "ICMP", "ICMPV4": "ICMP", "ICMPV6": "ICMPV6",
              "ICMP6": "ICMPV6", "IPV6-ICMP": "ICMPV6"}


def parse_port(text: str) -> tuple[str, int | None]:
    """``5432/TCP``, ``5432`` (TCP), ``53/udp``, or a bare protocol (``ICMP``, an IANA number 0-255). A
    protocol the schema does not know (a typo such as ``TPC``) or a port on a port-less protocol is a usage
    error: no rule could name it, so the answer would be a silent "denied"."""
    number, sep, proto = text.strip().partition("/")
    if not sep:
        number, proto = (number, "TCP") if number.isdigit() else ("", number)
    name = proto.strip().upper()
    name = _PROTOCOLS.get(name) or (name if name.isdigit() and int(name) <= 255 else "")
    bad_port = (sep and not number) or (number and (not number.isdigit() or not 0 < int(number) < 65536
                                                    or norm_protocol(name) not in ("TCP", "UDP", "SCTP")))
    if not name or bad_port:
        raise UsageError(f"--port {text!r} is not PORT[/PROTOCOL] or PROTOCOL",
                         hint="e.g. --port 5432/TCP, --port 53/UDP, --port ICMP; a port (1-65535) needs TCP, UDP or SCTP")
    return name, int(number) if number else None


def parse_endpoint(text: str, pods: list[Pod], option: str) -> Endpoint:
    """``NS/POD`` (must be in the inventory) or an IP; an IP that belongs to an inventory pod is that pod."""
    text = text.strip()
    try:
        ip = str(ipaddress.ip_address(text))
    except ValueError:
        ip = None
    if ip is not None:
        owners = [p for p in pods if ip in p.ips and not p.host_network]
        if len(owners) > 1:   # a completed pod keeps its address in status: never guess which pod it is
            names = ", ".join(sorted(f"{p.namespace}/{p.name}" for p in owners))
            raise UsageError(f"{option} {text}: the address of several inventory pods ({names})",
                             hint=f"give the pod as NAMESPACE/POD, e.g. {option} {names.split(', ')[0]}")
        if not owners:
            host = any(ip in p.ips for p in pods)
            return Endpoint(EndpointKind.HOST if host else EndpointKind.NETWORK, ip)
        return Endpoint(EndpointKind.POD, ip, owners[0].namespace, owners[0].name)
    ns, sep, name = text.partition("/")
    if not sep or not ns or not name:
        raise UsageError(f"{option} {text!r} is neither NAMESPACE/POD nor an IP address", hint=f"e.g. {option} shop/web-0 or {option} 10.0.0.7")
    pod = next((p for p in pods if (p.namespace, p.name) == (ns, name)), None)
    if pod is None:
        raise UsageError(f"{option} {text}: no such pod in the inventory",
                         hint="pass --inventory FILE holding it (kubectl get pods,namespaces -A -o yaml), or give its IP")
    if pod.host_network:  # hostNetwork pods are addresses to NetworkPolicy
        return Endpoint(EndpointKind.HOST, pod.ips[0] if pod.ips else None, pod.namespace, pod.name)
    return Endpoint(EndpointKind.POD, pod.ips[0] if pod.ips else None, pod.namespace, pod.name)


def explain_connection(policies: Any, source: str, destination: str, port: str, *,
                       inventory: Iterable[PathLike] = ()) -> Explanation:
    """Explain one connection given as CLI-style text (``NS/POD`` or IP, ``PORT/PROTO``)."""
    from recommender.io.inventory import read_inventory

    policies, notes = policy_notes(policies)
    compiled, ppods, pnss = resolve_policies(policies)
    inventory = list(inventory)
    ipods, inss = read_inventory(inventory) if inventory else ([], [])
    pods = list({(p.namespace, p.name): p for p in [*ipods, *ppods]}.values())
    nss: list[Namespace] = list({n.name: n for n in [*inss, *pnss]}.values())
    proto, number = parse_port(port)
    flow = Flow(parse_endpoint(source, pods, "--from"), parse_endpoint(destination, pods, "--to"), proto, number)
    return replace(explain(compiled, flow, pods=pods, namespaces=nss), notes=tuple(notes))


def explanation_lines(expl: Explanation) -> list[str]:
    """Human-readable lines: the verdict word first, then each direction and the rules behind it."""
    v = expl.verdict
    lines = [v.word]
    for d in (v.egress, v.ingress):
        lines.append(f"{d.direction.lower()}: {'allowed' if d.allowed else 'DENIED'} - {d.reason}")
        checks = expl.checks.get(d.direction, ())
        with_rules = {f"{c.rule.namespace}/{c.rule.policy}" for c in checks}
        for key in d.isolated_by:
            if key not in with_rules:
                lines.append(f"  {key}: selects the pod, has no {d.direction.lower()} rules")
        for c in checks:
            if c.peer is not None:
                peer = f"peer matches ({c.peer.describe()})"
                if c.peer.kind == "ipblock" and expl.sides and _side_is_pod(expl, d.direction):
                    peer += " [ipBlock matching a pod IP is implementation-defined; most CNIs honour it]"
            else:
                peer = "peer does not match (" + "; ".join(m.describe() for m in c.source.peers) + ")"
            if c.all_ports:
                port = "all ports"
            elif c.port is not None:
                port = f"port matches ({c.port.describe()})"
            else:
                port = "port does not match (" + ", ".join(m.describe() for m in c.source.ports) + ")"
            mark = "admits" if c.admits else "does not admit"
            lines.append(f"  {c.rule}: {mark}: {peer}; {port}")
    return lines


def _side_is_pod(expl: Explanation, direction: str) -> bool:
    if expl.sides is None:
        return False
    src, dst = expl.sides
    return (dst if direction == EGRESS else src).is_pod
