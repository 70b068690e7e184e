"""Calico staged output: preview the recommendation in a live cluster before enforcing it.

Staged policies are reported by Calico's flow logs as "would allow / would
deny" without changing traffic, which is the safe way to roll out a default
deny. Two kinds:

* ``calico-staged``: ``StagedKubernetesNetworkPolicy`` — the Kubernetes spec
  verbatim plus ``stagedAction: Set`` (rendered by ``io.yaml_out``);
* ``calico-staged-native``: ``StagedNetworkPolicy`` in Calico's own model —
  selector expressions (``app == 'web'``), ``types``, one ``Allow`` rule per
  (protocol, peer), ``nets`` for ipBlocks, namespaces selected by
  ``projectcalico.org/name``, in a tier (``default`` unless told otherwise).
  Unlike Kubernetes, Calico rules can name port-less protocols: a rule that is
  all-ports in Kubernetes only because of ICMP becomes ``protocol: ICMP`` (and
  exact ports for its other protocols), from the rule's ``protocol_ports``.

Both are renderings of the same verified model policy; nothing is decided here,
and a native rule never admits more than the Kubernetes rule that was verified.
"""

from __future__ import annotations

from typing import Any

from recommender.model import LabelSelector, NetworkPolicy, Peer, PortSpec, Rule

API_VERSION = "projectcalico.org/v3"
NS_LABEL_K8S = "kubernetes.io/metadata.name"
NS_LABEL_CALICO = "projectcalico.org/name"
# protocols Calico v3 rules accept by name (numbers 1-255 are accepted too)
_PROTOCOL_NAMES = {"TCP": "TCP", "UDP": "UDP", "SCTP": "SCTP", "ICMP": "ICMP", "ICMPV6": "ICMPv6", "UDPLITE": "UDPLite"}


def _quote(value: str) -> str:
    return "'" + value.replace("\\", "\\\\").replace("'", "\\'") + "'"


def selector_expression(sel: LabelSelector | None, rename: dict[str, str] | None = None) -> str:
    """A Kubernetes label selector as a Calico selector expression (``all()`` when empty)."""
    if sel is None or sel.is_empty:
        return "all()"
    rename = rename or {}
    terms = [f"{rename.get(k, k)} == {_quote(v)}" for k, v in sel.match_labels]
    for r in sel.match_expressions:
        key = rename.get(r.key, r.key)
        values = ", ".join(_quote(v) for v in r.values)
        terms.append({
            "In": f"{key} in {{{values}}}",
            "NotIn": f"{key} not in {{{values}}}",
            "Exists": f"has({key})",
            "DoesNotExist": f"!has({key})",
        }[r.operator])
    return " && ".join(terms)


def _entity(peer: Peer) -> dict[str, Any]:
    if peer.ip_block is not None:
        entity: dict[str, Any] = {"nets": [peer.ip_block.cidr]}
        if peer.ip_block.except_:
            entity["notNets"] = list(peer.ip_block.except_)
        return entity
    entity = {}
    if peer.pod_selector is not None:
        entity["selector"] = selector_expression(peer.pod_selector)
    if peer.namespace_selector is not None:
        entity["namespaceSelector"] = selector_expression(peer.namespace_selector, {NS_LABEL_K8S: NS_LABEL_CALICO})
        entity.setdefault("selector", "all()")
    return entity


def calico_protocol(protocol: str) -> str | int | None:
    """Calico's spelling of a protocol (``ICMPv6``, ``47``), or None when Calico cannot name it."""
    name = _PROTOCOL_NAMES.get(protocol.upper())
    if name is not None:
        return name
    return int(protocol) if protocol.isdigit() and 1 <= int(protocol) <= 255 else None


def _native_specs(rule: Rule) -> tuple[PortSpec, ...] | None:
    """The rule's ports, or — for an all-ports rule that only exists because of a port-less
    protocol — the per-protocol specs it stands for, when Calico can name every protocol."""
    if rule.ports or not rule.protocol_ports:
        return rule.ports
    if any(calico_protocol(p.effective_protocol) is None for p in rule.protocol_ports):
        return rule.ports      # e.g. a protocol name Calico does not know: stay with all protocols
    return rule.protocol_ports


def _ports_by_protocol(rule: Rule) -> list[tuple[str | int | None, list[int | str]]]:
    specs = _native_specs(rule)
    if not specs:
        return [(None, [])]
    out: dict[str | int, list[int | str]] = {}
    for p in specs:
        ports = out.setdefault(calico_protocol(p.effective_protocol) or p.effective_protocol, [])
        if p.port is None:
            continue
        ports.append(f"{p.port}:{p.end_port}" if p.end_port else p.port)
    return sorted(out.items(), key=lambda item: str(item[0]))


def _rules(rules: tuple[Rule, ...] | None, direction: str) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    for rule in rules or ():
        for protocol, ports in _ports_by_protocol(rule):
            for peer in rule.peers or (Peer(),):
                entity = _entity(peer) if rule.peers else {}
                r: dict[str, Any] = {"action": "Allow"}
                if protocol:
                    r["protocol"] = protocol
                if direction == "Ingress":
                    if entity:
                        r["source"] = entity
                    if ports:
                        r["destination"] = {"ports": ports}
                else:
                    dest = dict(entity)
                    if ports:
                        dest["ports"] = ports
                    if dest:
                        r["destination"] = dest
                out.append(r)
    return out


def staged_native(policy: NetworkPolicy, tier: str = "default") -> dict[str, Any]:
    """A model policy as a Calico ``StagedNetworkPolicy`` in ``tier``."""
    name = policy.name if tier == "default" else f"{tier}.{policy.name}"
    metadata: dict[str, Any] = {"name": name, "namespace": policy.namespace}
    if len(policy.labels):
        metadata["labels"] = policy.labels.as_dict()
    if len(policy.annotations):
        metadata["annotations"] = policy.annotations.as_dict()
    types = list(policy.effective_policy_types())
    spec: dict[str, Any] = {
        "stagedAction": "Set",
        "tier": tier,
        "selector": selector_expression(policy.pod_selector),
        "types": types,
    }
    if "Ingress" in types:
        spec["ingress"] = _rules(policy.ingress, "Ingress")
    if "Egress" in types:
        spec["egress"] = _rules(policy.egress, "Egress")
    return {"apiVersion": API_VERSION, "kind": "StagedNetworkPolicy", "metadata": metadata, "spec": spec}
