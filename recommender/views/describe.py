"""One-line, human-readable renderings of selectors, peers and ports.

Tables in notebooks and in the HTML report show policies rule by rule; a
rule's peers and ports must fit in a cell and read like the YAML they stand
for (``app=web in namespaces team=a``), without dumping nested structures.
"""

from __future__ import annotations

from recommender.model import LabelSelector, Peer, PortSpec, Rule


def selector(sel: LabelSelector | None, everything: str = "all pods") -> str:
    if sel is None or sel.is_empty:
        return everything
    parts = [f"{k}={v}" for k, v in sel.match_labels]
    for r in sel.match_expressions:
        parts.append(f"{r.key} {r.operator} ({', '.join(r.values)})" if r.values else f"{r.key} {r.operator}")
    return ",".join(parts)


def peer(p: Peer) -> str:
    if p.ip_block is not None:
        text = f"ipBlock {p.ip_block.cidr}"
        return text + (f" except {', '.join(p.ip_block.except_)}" if p.ip_block.except_ else "")
    if p.namespace_selector is None:
        return f"pods {selector(p.pod_selector)} (same namespace)"
    namespaces = selector(p.namespace_selector, "all namespaces")
    if namespaces != "all namespaces":
        namespaces = f"namespaces {namespaces}"
    if p.pod_selector is None:
        return f"all pods in {namespaces}"
    return f"pods {selector(p.pod_selector)} in {namespaces}"


def port(p: PortSpec) -> str:
    proto = p.effective_protocol
    if p.port is None:
        return f"{proto} (all ports)"
    if p.end_port is not None:
        return f"{proto}/{p.port}-{p.end_port}"
    return f"{proto}/{p.port}"


def peers(rule: Rule) -> str:
    return "; ".join(peer(p) for p in rule.peers) if rule.peers else "anyone"


def ports(rule: Rule) -> str:
    return ", ".join(port(p) for p in rule.ports) if rule.ports else "all ports"
