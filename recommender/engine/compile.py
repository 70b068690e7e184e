"""Compile NetworkPolicies into small matchers that remember where they came from.

Evaluation never walks raw YAML-shaped policies. ``compile_policies`` turns
each policy into a ``Target`` (namespace + pod selector + the directions it
isolates) holding ``CompiledRule``s, whose ``PeerMatcher``s and
``PortMatcher``s each carry a ``Ref`` (policy, direction, rule, item). The
bulk evaluator (``recommender.engine.evaluate``) turns these matchers into
small relational tables; the single-flow explainer
(``recommender.engine.explain``) walks them directly. Both share this module,
so the two can only disagree on how they combine matchers, which a property
test checks.

``LabelIndex`` matches selectors against each *distinct* label set once, with
an inverted index on ``matchLabels`` pairs, so the cost depends on the number
of distinct pod label sets, never on the number of connections.
"""

from __future__ import annotations

import contextlib
import functools
import gc
import ipaddress
from collections.abc import Iterator
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field

from recommender.model import IPBlock, LabelSelector, Labels, Namespace, NetworkPolicy, Peer, Pod, PortSpec, Rule
from recommender.model.policy import EGRESS, INGRESS

DIRECTIONS = (EGRESS, INGRESS)

# _VALUE_OBJECTS: Ref, PeerMatcher, PortMatcher and CompiledRule are values (hashable, compared by
# field) that nothing mutates after compile. They are not declared frozen because a frozen
# dataclass assigns each field through object.__setattr__: 1.3 µs instead of 0.3 µs per object,
# and 20,000 policies make ~650,000 of them (compile 1.2 -> 0.6 s CPU).


@dataclass(slots=True, unsafe_hash=True)  # not frozen: see _VALUE_OBJECTS
class Ref:
    """Where a matcher came from: policy index (into ``CompiledPolicies.policies``), direction, rule
    index, peer/port index (-1: the implicit "all" of an empty list), and the policy key ``ns/name``."""

    policy: int
    direction: str
    rule: int
    item: int = -1
    key: str = ""


@dataclass(frozen=True, slots=True)
class IPRange:
    """A CIDR as an inclusive integer range; ``family`` 4 or 6 keeps IPv4 and IPv6 apart."""

    family: int
    low: int
    high: int
    text: str

    def contains(self, family: int, value: int) -> bool:
        return family == self.family and self.low <= value <= self.high


@functools.lru_cache(maxsize=65536)
def parse_cidr(cidr: str) -> IPRange | None:
    """A CIDR (host bits tolerated, as the API server did before 1.33) or None when unparsable."""
    try:
        net = ipaddress.ip_network(cidr.strip(), strict=False)
    except ValueError:
        return None
    return IPRange(net.version, int(net.network_address), int(net.broadcast_address), str(net))


def parse_ip(ip: str | None) -> tuple[int, int] | None:
    """(family, integer value) of an address, or None. An IPv4-mapped IPv6 address stays IPv6."""
    if ip is None:
        return None
    try:
        addr = ipaddress.ip_address(ip.strip())
    except ValueError:
        return None
    return addr.version, int(addr)


@dataclass(slots=True, unsafe_hash=True)  # not frozen: see _VALUE_OBJECTS
class PeerMatcher:
    """One ``from``/``to`` entry.

    * ``all``: the rule's ``from``/``to`` is empty or absent, which the API defines as
      "all sources/destinations", pods and non-pod addresses alike.
    * ``pods``: ``namespace_selector`` None confines the peer to the policy's own
      ``namespace`` (podSelector alone); ``pod_selector`` None means every pod of the
      selected namespaces (namespaceSelector alone). Both present in ONE peer are ANDed.
      An empty ``{}`` namespaceSelector selects every namespace, but only pods, never IPs.
    * ``ipblock``: ``block`` minus ``excepts``. Per our documented choice (a) it also
      matches a pod's own IP (the spec leaves cluster-internal IPs implementation-defined;
      most CNIs match them).
    * ``none``: a peer with no field set, which the API server rejects; matches nothing.
    """

    kind: str
    ref: Ref
    namespace: str = ""
    namespace_selector: LabelSelector | None = None
    pod_selector: LabelSelector | None = None
    block: IPRange | None = None
    excepts: tuple[IPRange, ...] = ()

    @property
    def pods_anywhere(self) -> bool:
        """Matches every pod of every namespace: ``namespaceSelector: {}`` with no or an empty podSelector."""
        return (
            self.kind == "pods"
            and self.namespace_selector is not None
            and self.namespace_selector.is_empty
            and (self.pod_selector is None or self.pod_selector.is_empty)
        )

    def matches_pod(self, namespace: str, labels: Labels, namespace_labels: Mapping[str, str]) -> bool:
        if self.kind != "pods":
            return False
        if self.namespace_selector is None:
            if namespace != self.namespace:
                return False
        elif not self.namespace_selector.matches(namespace_labels):
            return False
        return self.pod_selector is None or self.pod_selector.matches(labels)

    def matches_ip(self, address: tuple[int, int] | None) -> bool:
        """ipBlock test; an unknown (null) address matches no ipBlock."""
        if self.kind != "ipblock" or self.block is None or address is None:
            return False
        family, value = address
        if not self.block.contains(family, value):
            return False
        return not any(x.contains(family, value) for x in self.excepts)

    def describe(self) -> str:
        if self.kind == "all":
            return "all peers"
        if self.kind == "ipblock":
            text = f"ipBlock {self.block.text if self.block else '?'}"
            return text + (f" except {', '.join(x.text for x in self.excepts)}" if self.excepts else "")
        if self.kind == "none":
            return "empty peer (matches nothing)"
        ns = f"namespace {self.namespace}" if self.namespace_selector is None else f"namespaceSelector {describe_selector(self.namespace_selector)}"
        pods = "all pods" if self.pod_selector is None else f"podSelector {describe_selector(self.pod_selector)}"
        return f"{pods} in {ns}"


@dataclass(slots=True, unsafe_hash=True)  # not frozen: see _VALUE_OBJECTS
class PortMatcher:
    """One ``ports`` entry. ``start`` None: every port of ``protocol`` (a ``ports: [{}]``
    entry is therefore "all TCP ports", since protocol defaults to TCP). ``end`` is
    ``endPort`` (inclusive) or ``start``. ``name``: a named port, resolved against the
    destination pod's container ports (name AND protocol must match)."""

    ref: Ref
    protocol: str
    start: int | None = None
    end: int | None = None
    name: str | None = None

    def describe(self) -> str:
        if self.name is not None:
            return f"{self.name}/{self.protocol}"
        if self.start is None:
            return f"all {self.protocol} ports"
        if self.end is not None and self.end != self.start:
            return f"{self.start}-{self.end}/{self.protocol}"
        return f"{self.start}/{self.protocol}"


@dataclass(slots=True, unsafe_hash=True)  # not frozen: see _VALUE_OBJECTS
class CompiledRule:
    ref: Ref
    peers: tuple[PeerMatcher, ...]
    ports: tuple[PortMatcher, ...]

    @property
    def all_peers(self) -> bool:
        return any(p.kind == "all" for p in self.peers)

    @property
    def all_ports(self) -> bool:
        """An empty or absent ``ports`` list allows every port of every protocol (incl. ICMP)."""
        return not self.ports


@dataclass(frozen=True, slots=True)
class Target:
    """What one policy isolates: pods of ``namespace`` matching ``selector``, for ``directions``."""

    policy: int
    key: str
    name: str
    namespace: str
    selector: LabelSelector
    directions: tuple[str, ...]
    egress: tuple[CompiledRule, ...]
    ingress: tuple[CompiledRule, ...]

    def rules(self, direction: str) -> tuple[CompiledRule, ...]:
        return self.egress if direction == EGRESS else self.ingress


@dataclass(frozen=True, slots=True)
class CompiledPolicies:
    policies: tuple[NetworkPolicy, ...]
    targets: tuple[Target, ...]
    # Derived, data-independent structures (e.g. the bulk evaluator's matcher tables), built once.
    cache: dict[str, object] = field(default_factory=dict, compare=False, hash=False, repr=False)

    def in_namespace(self, namespace: str) -> list[Target]:
        return [t for t in self.targets if t.namespace == namespace]


def _peer(p: Peer, ref: Ref, namespace: str) -> PeerMatcher:
    if p.ip_block is not None:
        return _ipblock(p.ip_block, ref)
    if p.pod_selector is None and p.namespace_selector is None:
        return PeerMatcher("none", ref)
    return PeerMatcher("pods", ref, namespace, p.namespace_selector, p.pod_selector)


def _ipblock(block: IPBlock, ref: Ref) -> PeerMatcher:
    cidr = parse_cidr(block.cidr)
    if cidr is None:  # the validator rejects this first; an unparsable block matches nothing
        return PeerMatcher("none", ref)
    excepts = tuple(x for x in (parse_cidr(e) for e in block.except_) if x is not None)
    return PeerMatcher("ipblock", ref, block=cidr, excepts=excepts)


def _port(p: PortSpec, ref: Ref) -> PortMatcher:
    proto = p.effective_protocol.upper()  # protocol defaults to TCP
    if p.port is None:
        return PortMatcher(ref, proto)  # "matches all port names and numbers" of the protocol
    if isinstance(p.port, str) and not p.port.isdigit():
        return PortMatcher(ref, proto, name=p.port)
    start = int(p.port)
    return PortMatcher(ref, proto, start, p.end_port if p.end_port is not None else start)


def _rule(rule: Rule, ref: Ref, namespace: str) -> CompiledRule:
    if not rule.peers:  # absent or empty from/to: every peer
        peers: tuple[PeerMatcher, ...] = (PeerMatcher("all", ref),)
    else:
        peers = tuple(_peer(p, Ref(ref.policy, ref.direction, ref.rule, i, ref.key), namespace) for i, p in enumerate(rule.peers))
    ports = tuple(_port(p, Ref(ref.policy, ref.direction, ref.rule, i, ref.key)) for i, p in enumerate(rule.ports or ()))
    return CompiledRule(ref, peers, ports)


@contextlib.contextmanager
def gc_paused() -> Iterator[None]:
    """Suspend the cyclic garbage collector while building many small acyclic objects.

    Compiling 20,000 policies allocates ~1M matchers; each allocation burst triggers collections
    that rescan every live object, which took half of compile's CPU time. Nothing built here forms
    reference cycles, so postponing collection frees nothing late. The previous state is restored."""
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()


def compile_policies(policies: Iterable[NetworkPolicy] | CompiledPolicies) -> CompiledPolicies:
    """Compile policies (in the given order) into targets with matchers."""
    if isinstance(policies, CompiledPolicies):
        return policies
    with gc_paused():
        return _compile(tuple(policies))


def _compile(pols: tuple[NetworkPolicy, ...]) -> CompiledPolicies:
    targets = []
    for i, pol in enumerate(pols):
        types = pol.effective_policy_types()
        rules = {}
        for direction, source in ((EGRESS, pol.egress), (INGRESS, pol.ingress)):
            # Rules of a direction the policy does not list in policyTypes are ignored.
            listed = source if direction in types else None
            rules[direction] = tuple(_rule(r, Ref(i, direction, j, key=pol.key), pol.namespace) for j, r in enumerate(listed or ()))
        targets.append(Target(i, pol.key, pol.name, pol.namespace, pol.pod_selector, types, rules[EGRESS], rules[INGRESS]))
    return CompiledPolicies(pols, tuple(targets))


def describe_selector(sel: LabelSelector) -> str:
    if sel.is_empty:
        return "{}"
    parts = [f"{k}={v}" for k, v in sel.match_labels]
    parts += [f"{r.key} {r.operator} ({','.join(r.values)})" if r.values else f"{r.key} {r.operator}" for r in sel.match_expressions]
    return "{" + ", ".join(parts) + "}"


def node_addresses(pods: Iterable[Pod]) -> dict[str, str]:
    """Address -> node name, from the inventory's hostNetwork pods (their IPs are their node's); an address
    two nodes claim is left out. Kubernetes always allows traffic between a pod and the node it runs on."""
    found: dict[str, str | None] = {}
    for pod in pods:
        if pod.host_network and pod.node:
            for ip in pod.ips:
                found[ip] = pod.node if found.get(ip, pod.node) == pod.node else None
    return {ip: node for ip, node in found.items() if node is not None}


def own_node_sql(pod_kind: str, pod_node: str, host_kind: str, host_nodes: Sequence[str]) -> str:
    """SQL: one side is a pod and the other a host endpoint of the node the pod runs on, whose traffic
    Kubernetes always allows. The host's node is the first known of ``host_nodes`` (SQL expressions, e.g.
    a hostNetwork pod's node, the node owning its address, the exporter's name for it); unknown is false."""
    return (f"coalesce({pod_kind} = 'pod' AND {host_kind} = 'host' AND {pod_node} = coalesce({', '.join(host_nodes)}), "
            "false)")


def namespace_labels(namespaces: Iterable[Namespace], extra: Iterable[str] = ()) -> dict[str, Labels]:
    """Effective labels per namespace; a namespace missing from the inventory still carries
    ``kubernetes.io/metadata.name`` (set by the API server since 1.21), nothing else."""
    out = {ns.name: ns.effective_labels() for ns in namespaces}
    for name in extra:
        if name not in out:
            out[name] = Namespace(name).effective_labels()
    return out


class LabelIndex:
    """Distinct pod label sets ``(namespace, labels)`` with selector matching done once per set."""

    def __init__(self, label_sets: Sequence[tuple[str, Labels]], namespaces: Mapping[str, Labels]) -> None:
        self.sets = label_sets
        self.ns_labels = dict(namespaces)
        self.by_ns: dict[str, list[int]] = {}
        self.postings: dict[tuple[str, str, str], set[int]] = {}  # (namespace, key, value) -> label-set ids
        for i, (ns, labels) in enumerate(label_sets):
            self.by_ns.setdefault(ns, []).append(i)
            if ns not in self.ns_labels:
                self.ns_labels[ns] = Namespace(ns).effective_labels()
            for k, v in labels.pairs:
                self.postings.setdefault((ns, k, v), set()).add(i)
        self._ns_cache: dict[LabelSelector, tuple[str, ...]] = {}
        self._ns_postings: dict[tuple[str, str], list[str]] | None = None   # (key, value) -> namespaces
        self._cache: dict[tuple[LabelSelector | None, tuple[str, ...]], list[int]] = {}

    def namespaces_matching(self, sel: LabelSelector) -> tuple[str, ...]:
        hit = self._ns_cache.get(sel)
        if hit is None:
            spaces: Iterable[str] = self.ns_labels
            if sel.match_labels:
                # Generated policies name one namespace per peer (kubernetes.io/metadata.name): with
                # hundreds of namespaces, testing every one for every such selector dominated.
                if self._ns_postings is None:
                    self._ns_postings = {}
                    for n, labels in self.ns_labels.items():
                        for pair in labels.items():
                            self._ns_postings.setdefault(pair, []).append(n)
                spaces = self._ns_postings.get(sel.match_labels[0], ())
            hit = tuple(sorted(n for n in spaces if sel.matches(self.ns_labels[n])))
            self._ns_cache[sel] = hit
        return hit

    def pods_matching(self, sel: LabelSelector | None, namespaces: tuple[str, ...]) -> list[int]:
        """Label-set ids in ``namespaces`` matching ``sel`` (None or ``{}``: all of them)."""
        key = (sel, namespaces)
        hit = self._cache.get(key)
        if hit is not None:
            return hit
        if sel is not None and sel.match_labels:
            ids = []
            for ns in namespaces:  # intersect the postings of every matchLabels pair, per namespace
                lists = [self.postings.get((ns, k, v)) for k, v in sel.match_labels]
                if all(lists):
                    ids.extend(lists[0] if len(lists) == 1 else set.intersection(*lists))  # type: ignore[arg-type]
        else:
            ids = [i for ns in namespaces for i in self.by_ns.get(ns, ())]
        if sel is not None and sel.match_expressions:
            ids = [i for i in ids if all(r.matches(self.sets[i][1]) for r in sel.match_expressions)]
        self._cache[key] = ids
        return ids

    def peer_sets(self, peer: PeerMatcher) -> list[int]:
        """Label-set ids a ``pods`` peer matches."""
        if peer.kind != "pods":
            return []
        nss = (peer.namespace,) if peer.namespace_selector is None else self.namespaces_matching(peer.namespace_selector)
        return self.pods_matching(peer.pod_selector, nss)
