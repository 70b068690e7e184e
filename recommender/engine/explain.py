"""Explain one connection: a rule-by-rule walk over the compiled matchers.

This is the readable reference implementation of the semantics, used for
ad-hoc questions (`recommend explain`) and as the oracle the bulk evaluator is
property-tested against. It also owns the wording of verdict reasons; the bulk
evaluator renders the same sentences in SQL (``recommender.engine.evaluate``),
and tests check that both produce identical text.

Semantics decided here (and mirrored in the bulk SQL):

* Only endpoints of kind ``pod`` that are not hostNetwork and have a namespace
  are selectable and subject to isolation; everything else (nodes, hostNetwork
  pods, external networks, services) is an address only an ipBlock can match.
* A direction is enforced only when its own end is such a pod: pod→IP needs
  egress only, IP→pod needs ingress only, pod→pod needs both.
* Implementation-defined choice (c): a pod's traffic to itself is always
  allowed (it never leaves the pod's network namespace, so CNIs do not police it).
* Traffic between a pod and the node it runs on is always allowed, both ways (the
  Kubernetes docs: "traffic to and from the node where a Pod is running is always
  allowed"): a host endpoint is that node when it is a hostNetwork inventory pod
  on the pod's node (``Pod.node``), when such a pod holds its address, or, with an
  address no such pod holds, when the exporter named it by that node (``workload``).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from recommender.engine.compile import (
    DIRECTIONS,
    CompiledPolicies,
    CompiledRule,
    PeerMatcher,
    PortMatcher,
    compile_policies,
    namespace_labels,
    node_addresses,
    parse_ip,
)
from recommender.model import ContainerPort, DirectionVerdict, Endpoint, Flow, Labels, Namespace, NetworkPolicy, Pod, RuleRef, Verdict
from recommender.model.policy import EGRESS, INGRESS

PROTOCOL_NUMBERS = {"6": "TCP", "17": "UDP", "132": "SCTP", "1": "ICMP", "58": "ICMPV6"}


def norm_protocol(protocol: str | None) -> str:
    """Upper-case protocol name; IANA numbers of the policy protocols map to their names."""
    p = (protocol or "").strip().upper()
    return PROTOCOL_NUMBERS.get(p, p)


@dataclass(frozen=True, slots=True)
class Side:
    """One end of a connection, resolved against the inventory."""

    kind: str
    is_pod: bool
    namespace: str | None
    pod: str | None
    workload: str | None
    labels: Labels
    ip: str | None
    ports: tuple[ContainerPort, ...] = ()
    node: str | None = None     # the node a pod runs on, or the node a host endpoint is

    @property
    def address(self) -> tuple[int, int] | None:
        return parse_ip(self.ip)

    def describe(self) -> str:
        if self.is_pod:
            return f"{self.namespace}/{self.pod or self.workload or '*'}"
        return self.ip if self.ip is not None else f"{self.kind} endpoint with unknown address (matches no ipBlock)"


def resolve(ep: Endpoint, pods: Mapping[tuple[str, str], Pod], nodes: Mapping[str, str] | None = None) -> Side:
    """Labels come from the flow when it carries any, else from the inventory pod;
    named ports always from the inventory; hostNetwork pods become ``host`` addresses.
    ``nodes``: ``node_addresses`` of the inventory (computed from ``pods`` when not given)."""
    kind = str(ep.kind.value if hasattr(ep.kind, "value") else ep.kind or "unknown")
    inv = pods.get((ep.namespace, ep.pod)) if kind == "pod" and ep.namespace and ep.pod else None
    node = inv.node if inv is not None else None
    if kind == "pod" and inv is not None and inv.host_network:
        kind = "host"
    elif kind == "pod" and not ep.namespace:
        kind = "unknown"
    if kind == "host" and node is None:
        nodes = node_addresses(pods.values()) if nodes is None else nodes
        node = nodes[ep.ip] if ep.ip in nodes else ep.workload
    labels = ep.labels if len(ep.labels) else (inv.labels if inv is not None else Labels())
    ports = inv.ports if inv is not None else ()
    return Side(kind, kind == "pod", ep.namespace, ep.pod, ep.workload, labels, ep.ip, ports, node)


def port_text(protocol: str, port: int | None) -> str:
    return protocol if port is None else f"{port}/{protocol}"


@dataclass(frozen=True, slots=True)
class RuleCheck:
    """One rule of an isolating policy, tested against the connection."""

    rule: RuleRef
    source: CompiledRule
    peer: PeerMatcher | None   # first peer that matched, None when none did
    port: PortMatcher | None   # first port that matched (None with all_ports means "all ports")
    all_ports: bool

    @property
    def peer_ok(self) -> bool:
        return self.peer is not None

    @property
    def port_ok(self) -> bool:
        return self.all_ports or self.port is not None

    @property
    def admits(self) -> bool:
        return self.peer_ok and self.port_ok


@dataclass(frozen=True, slots=True)
class Explanation:
    verdict: Verdict
    checks: Mapping[str, tuple[RuleCheck, ...]] = field(default_factory=dict)
    sides: tuple[Side, Side] | None = None
    notes: tuple[str, ...] = ()      # documents of the policy files that were not evaluated, loader warnings


def peer_matches(m: PeerMatcher, side: Side, ns_labels: Mapping[str, Labels]) -> bool:
    if m.kind == "all":
        return True
    if m.kind == "pods":
        return side.is_pod and m.matches_pod(side.namespace or "", side.labels, ns_labels[side.namespace or ""])
    return m.matches_ip(side.address)  # ipBlock matches pod IPs too: choice (a)


def port_matches(m: PortMatcher, protocol: str, port: int | None, dst: Side) -> bool:
    # SCTP, UDP and TCP are distinct; ICMP and others match only rules without ports.
    if m.protocol != protocol:
        return False
    if m.name is not None:
        # A named port resolves against the destination pod's declared container ports
        # (name and protocol must both match); a non-pod destination declares none.
        return dst.is_pod and port is not None and any(
            cp.name == m.name and norm_protocol(cp.protocol) == protocol and cp.port == port for cp in dst.ports
        )
    if m.start is None:
        return True
    return port is not None and m.start <= port <= (m.end if m.end is not None else m.start)


def check_rule(rule: CompiledRule, compiled: CompiledPolicies, peer: Side, dst: Side, protocol: str, port: int | None,
               ns_labels: Mapping[str, Labels]) -> RuleCheck:
    t = compiled.targets[rule.ref.policy]
    hit_peer = next((m for m in rule.peers if peer_matches(m, peer, ns_labels)), None)
    hit_port = next((m for m in rule.ports if port_matches(m, protocol, port, dst)), None)
    return RuleCheck(RuleRef(t.namespace, t.name, rule.ref.direction, rule.ref.rule), rule, hit_peer, hit_port, rule.all_ports)


def direction_reason(direction: str, *, applies: bool, kind: str, self_flow: bool, isolated_names: list[str],
                     admitted: list[str], n_rules: int, n_peer: int, n_port: int, target: str, peer: str,
                     port: str, own_node: bool = False) -> str:
    """The sentence for one direction; the bulk SQL renders exactly the same text."""
    d = direction.lower()
    if not applies:
        side = "source" if direction == EGRESS else "destination"
        return f"{d} not enforced: {side} is a {kind} endpoint, not a pod"
    if self_flow:
        return f"{d} allowed: traffic of a pod to itself"
    if not isolated_names:
        return f"{d} allowed: {target} is not isolated for {d}"
    if admitted:
        return f"{d} allowed by {', '.join(admitted)}"
    if own_node:
        return f"{d} allowed: traffic between a pod and the node it runs on"
    head = f"isolated for {d} by {', '.join(isolated_names)}; "
    role = "source" if direction == INGRESS else "destination"
    if n_rules == 0:
        return head + f"they have no {d} rules"
    if n_peer == 0 and n_port == 0:
        return head + f"no rule matches {role} {peer} or port {port}"
    if n_peer == 0:
        return head + f"no rule matches {role} {peer}"
    return head + f"no rule matches port {port} for {role} {peer}"


def explain_compiled(compiled: CompiledPolicies, flow: Flow, pods: Mapping[tuple[str, str], Pod],
                     ns_labels: Mapping[str, Labels]) -> Explanation:
    src, dst = resolve(flow.src, pods), resolve(flow.dst, pods)
    labels = dict(ns_labels)
    for s in (src, dst):
        if s.is_pod and s.namespace not in labels:
            labels[s.namespace or ""] = Namespace(s.namespace or "").effective_labels()
    protocol, port = norm_protocol(flow.protocol), flow.port
    self_flow = src.is_pod and dst.is_pod and src.pod is not None and (src.namespace, src.pod) == (dst.namespace, dst.pod)
    verdicts, checks = {}, {}
    for direction in DIRECTIONS:
        target, peer = (src, dst) if direction == EGRESS else (dst, src)
        found: list[RuleCheck] = []
        isolating = []
        if target.is_pod:
            for t in compiled.in_namespace(target.namespace or ""):
                # A policy isolates the pods its podSelector selects ({} = all pods of its
                # namespace) for the directions in its effective policyTypes.
                if direction in t.directions and t.selector.matches(target.labels):
                    isolating.append(t)
                    found += [check_rule(r, compiled, peer, dst, protocol, port, labels) for r in t.rules(direction)]
        names = sorted({t.name for t in isolating})
        admitted = sorted({c.rule for c in found if c.admits}, key=lambda r: (f"{r.namespace}/{r.policy}", r.index))
        own_node = target.is_pod and peer.kind == "host" and target.node is not None and peer.node == target.node
        allowed = not target.is_pod or not isolating or self_flow or own_node or bool(admitted)
        reason = direction_reason(
            direction, applies=target.is_pod, kind=target.kind, self_flow=self_flow, isolated_names=names,
            admitted=[str(r) for r in admitted], n_rules=len(found), n_peer=sum(c.peer_ok for c in found),
            n_port=sum(c.port_ok for c in found), target=target.describe(), peer=peer.describe(),
            port=port_text(protocol, port), own_node=own_node)
        verdicts[direction] = DirectionVerdict(
            direction, target.is_pod, bool(isolating), allowed, tuple(sorted({t.key for t in isolating})),
            tuple(admitted), reason)
        checks[direction] = tuple(found)
    return Explanation(Verdict(verdicts[EGRESS], verdicts[INGRESS]), checks, (src, dst))


def explain(policies: Iterable[NetworkPolicy] | CompiledPolicies | Any, flow: Flow, *, pods: Iterable[Pod] = (),
            namespaces: Iterable[Namespace] = ()) -> Explanation:
    """Verdict plus the per-rule checks behind it, for one flow. ``policies`` as ``evaluate`` takes them:
    models, compiled, a ``PolicySet`` or a path (whose Pods and Namespaces join ``pods``/``namespaces``)."""
    if isinstance(policies, (str, Path)) or hasattr(policies, "skipped"):
        from recommender.engine.evaluate import load_policy_input   # pandas/duckdb only for this case

        policies, more_pods, more_namespaces = load_policy_input(policies)
        pods, namespaces = [*more_pods, *pods], [*more_namespaces, *namespaces]   # the caller's win (last)
    compiled = compile_policies(policies)
    return explain_compiled(compiled, flow, {(p.namespace, p.name): p for p in pods}, namespace_labels(namespaces))


def explain_flow(policies: Iterable[NetworkPolicy] | CompiledPolicies | Any, flow: Flow, *, pods: Iterable[Pod] = (),
                 namespaces: Iterable[Namespace] = ()) -> Verdict:
    """The verdict for one ad-hoc flow, with isolating policies, admitting rules and a reason."""
    return explain(policies, flow, pods=pods, namespaces=namespaces).verdict
