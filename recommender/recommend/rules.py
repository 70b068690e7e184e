"""Rules from one workload's items: peers that share a port set become one rule.

Why this exists apart from ``synthesis`` (which turns edges into per-workload items): this is
where a rule's peers and ports are written, so it holds the choices that decide how wide a rule
is. Peers are pod selectors (with a namespace selector across namespaces), kube-dns, or ipBlocks
of observed addresses (aggregated only within the ``--cidr*-max-prefix`` bounds); ports are exact
(protocol, port) pairs unless a run of them may become an ``endPort`` range (``widen``). Peer and
port-set results are cached: thousands of workloads repeat the same few.
"""

from __future__ import annotations

import ipaddress
from collections import defaultdict
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

from recommender.model import IPBlock, LabelSelector, Peer, PortSpec, Rule
from recommender.recommend.identity import Identity, IdentityMap, is_unknown_public
from recommender.recommend.synthesis import KUBE_DNS_KEY, NS_LABEL, PORT_PROTOCOLS, Options, PortKey, Stats, total
from recommender.recommend.widen import aggregate_addresses, compress_ports


@dataclass
class BuiltRule:
    rule: Rule
    stats: Stats
    peers: tuple[str, ...]           # identity keys the rule stands for
    widened_ports: int = 0
    widened_addresses: int = 0
    widened_addresses6: int = 0      # of which IPv6: a /64 alone is 2^64, so the families are reported apart


def peer_for(ids: IdentityMap, key: str, own_ns: str) -> Peer | None:
    """The NetworkPolicy peer that selects identity ``key`` as seen from namespace ``own_ns``
    (built once per pair: a popular peer appears in thousands of rules)."""
    cache = ids.cache.setdefault("peer_for", {})
    hit = cache.get((key, own_ns), cache)
    if hit is cache:
        hit = cache[(key, own_ns)] = _peer_for(ids, key, own_ns)
    return hit


def _peer_for(ids: IdentityMap, key: str, own_ns: str) -> Peer | None:
    if key == KUBE_DNS_KEY:
        return Peer(pod_selector=LabelSelector.of({"k8s-app": "kube-dns"}),
                    namespace_selector=LabelSelector.of({NS_LABEL: "kube-system"}))
    ident = ids.identities[key]
    if ident.kind != "workload":
        return None
    wl = ids.workloads[key]
    if wl.namespace == own_ns:
        return Peer(pod_selector=wl.selector)
    return Peer(pod_selector=wl.selector, namespace_selector=LabelSelector.of({NS_LABEL: wl.namespace}))


def _peer_entry(ids: IdentityMap, key: str, own_ns: str) -> tuple[Peer, int, tuple] | None:
    """``peer_for`` with a number per distinct peer and its sort key, built once per pair: rules
    group thousands of peers per run, and a frozen peer's hash and sort key are computed from its
    nested selectors every time they are asked for."""
    cache = ids.cache.setdefault("peer_entry", {})
    hit = cache.get((key, own_ns), cache)
    if hit is cache:
        peer = peer_for(ids, key, own_ns)
        if peer is None:
            hit = None
        else:
            numbers = ids.cache.setdefault("peer_numbers", {})
            hit = (peer, numbers.setdefault(peer, len(numbers)), _peer_sort_key(peer))
        cache[(key, own_ns)] = hit
    return hit


def build_rules(
    ids: IdentityMap, own_ns: str, items: dict[str, dict[PortKey, Stats]], opts: Options, unexpressed: list[str]
) -> list[BuiltRule]:
    """Group peers by port set into rules; addresses may be aggregated per port set.

    Identities that render to the same selector peer (an inexact selector) are one
    peer: their port sets are united, which admits nothing the peer does not already.
    """
    peer_ports: dict[int, set[PortKey]] = {}          # by peer number (``_peer_entry``)
    peer_keys: dict[int, list[str]] = {}
    entries: dict[int, tuple[Peer, int, tuple]] = {}
    by_ports: dict[frozenset[PortKey], list[str | int]] = defaultdict(list)   # address keys, peer numbers
    for key, ports in items.items():
        entry = _peer_entry(ids, key, own_ns)
        if entry is None:
            by_ports[frozenset(ports)].append(key)
        elif entry[1] in peer_ports:
            peer_ports[entry[1]].update(ports)
            peer_keys[entry[1]].append(key)
        else:
            peer_ports[entry[1]] = set(ports)
            peer_keys[entry[1]] = [key]
            entries[entry[1]] = entry
    for number, ports in peer_ports.items():
        by_ports[frozenset(ports)].append(number)
    out: list[tuple[tuple, BuiltRule]] = []
    for portset, members in by_ports.items():
        port_specs, widened, protocol_ports = _port_specs(portset, opts.port_range_slack)
        keys = [k for m in members for k in (peer_keys[m] if isinstance(m, int) else (m,))]
        stats = total(st for k in keys for st in items[k].values())
        selector_peers = sorted((entries[m] for m in members if isinstance(m, int)), key=lambda e: e[2])
        named = [m for m in members if isinstance(m, str)]
        blocks, implied = _address_blocks(ids, named, opts, unexpressed) if named else ([], set())
        all_peers = [e[0] for e in selector_peers] + [Peer(ip_block=IPBlock(b.cidr, b.except_)) for b in blocks]
        if not all_peers:
            continue
        rule = Rule(peers=tuple(all_peers), ports=port_specs, protocol_ports=protocol_ports)
        peers_text = f"{', '.join(sorted(keys)[:3])}{', …' * (len(keys) > 3)} (namespace {own_ns})"
        if port_specs is None:
            portless = sorted({p for p, port in portset if port is None and p not in PORT_PROTOCOLS})
            unexpressed.append(f"{'/'.join(portless)} with {peers_text}: no NetworkPolicy port can name it, so the rule "
                               "that admits it admits every port and protocol of these peers")
        else:
            unexpressed.extend(f"{p} without a recorded port with {peers_text}: the rule that admits it admits every "
                               f"{p} port of these peers" for p in sorted({p for p, port in portset if port is None}))
        six = sum(1 for a in implied if ":" in a) + sum(b.extra for b in blocks if ":" in b.cidr)
        order = (_ports_sort_key(port_specs),
                 [e[2] for e in selector_peers] + [_peer_sort_key(p) for p in all_peers[len(selector_peers):]])
        out.append((order, BuiltRule(rule, stats, tuple(sorted(keys)),
                                     widened, len(implied) + sum(b.extra for b in blocks), six)))
    out.sort(key=lambda item: item[0])
    return [br for _, br in out]


def _address_blocks(ids: IdentityMap, keys: list[str], opts: Options, unexpressed: list[str]
                    ) -> tuple[list[Any], set[str]]:
    """The ipBlocks of the address identities ``keys`` of one rule, and the API server addresses
    they imply (``unexpressed`` gets the endpoints no ipBlock can name)."""
    addresses: list[str] = []
    behind_service: set[str] = set()       # API servers behind a kubernetes Service address (DNAT)
    no_address = False
    for key in keys:
        ident = ids.identities[key]
        if ident.ip and _ipv4_mapped(ident.ip):
            unexpressed.append(f"{ident.endpoint_kind} endpoint {ident.ip}: an IPv4-mapped IPv6 address, which no "
                               "ipBlock may name (the API server rejects it; on the wire the packet is IPv4): record "
                               "the peer's IPv4 address in the flow logs")
        elif ident.ip:
            addresses.append(ident.ip)
            if ident.ip in ids.apiserver_services:   # enforced after DNAT: the API servers too
                behind_service |= ids.apiserver_endpoints
        elif is_unknown_public(ident) and opts.allow_any_external:
            no_address = True
        else:
            unexpressed.append(_no_address(ident))
    implied = behind_service - set(addresses)
    addresses.extend(implied)
    blocks = aggregate_addresses(
        addresses, max_prefix=opts.cidr_max_prefix, min_addresses=opts.cidr_min_addresses,
        allow_any=opts.allow_any_external, any_without_address=no_address, max_prefix6=opts.cidr6_max_prefix,
        keep_out=ids.cluster_addresses,
    )
    return blocks, implied


@lru_cache(maxsize=65536)
def _ipv4_mapped(ip: str) -> bool:
    try:
        return ":" in ip and ipaddress.ip_address(ip).ipv4_mapped is not None
    except ValueError:
        return False


def _no_address(ident: Identity) -> str:
    """Why no ipBlock can name an endpoint without an address, and what would."""
    what = f"{ident.endpoint_kind} endpoint{f' {ident.workload}' if ident.workload else ''} without an address"
    if is_unknown_public(ident):
        return f"{what}: the exporter hid a public address; only --allow-any-external (0.0.0.0/0) admits it"
    if ident.endpoint_kind == "pod":
        return (f"{what}: the exporter named this pod by nothing a selector or ipBlock can use (no name, address "
                "or labels: aggregated away); keep pod names in the flow logs or exclude the namespace")
    if ident.workload == "pvt":
        return (f"{what}: Calico aggregated a private address away, and no ipBlock may span the private ranges; "
                "keep addresses (FelixConfiguration flowLogsFileAggregationKindForAllowed) or exclude the namespace")
    return f"{what}: give --inventory (or flows that carry the address) so it resolves"


@lru_cache(maxsize=65536)   # workloads repeat the same few port sets (DNS, 8080, …); the result is immutable
def _port_specs(
    portset: frozenset[PortKey], slack: int
) -> tuple[tuple[PortSpec, ...] | None, int, tuple[PortSpec, ...] | None]:
    """``(ports, widened ports, protocol_ports)`` of the rule for ``portset``.

    A port-less protocol (ICMP…) has no ``ports`` entry in Kubernetes, so only an
    all-ports rule admits it: then ``ports`` is None and ``protocol_ports`` keeps
    what the rule stands for per protocol (``PortSpec("ICMP")`` without a port),
    for renderers that can say ``protocol: ICMP``. Otherwise it is None.
    """
    specs: list[PortSpec] = []
    widened = 0
    for proto in sorted({p for p, _ in portset}):
        ports = [port for p, port in portset if p == proto]
        if None in ports:   # a port-less protocol, or TCP/UDP/SCTP whose port was not recorded: every port of it
            specs.append(PortSpec(protocol=proto))
            continue
        ranges, extra = compress_ports(ports, slack)  # type: ignore[arg-type]
        widened += extra
        specs.extend(PortSpec(protocol=proto, port=start, end_port=end) for start, end in ranges)
    # `protocol: TCP` without `port` names every TCP port; only a protocol no `ports` entry can name
    # (ICMP…) needs the rule without `ports`, which admits every port of every protocol
    if any(port is None and p not in PORT_PROTOCOLS for p, port in portset):
        return None, 0, tuple(specs)
    return tuple(specs), widened, None


def _peer_sort_key(p: Peer) -> tuple:
    ns = p.namespace_selector.match_labels if p.namespace_selector else ()
    pod = p.pod_selector.match_labels if p.pod_selector else ()
    pod_ex = tuple((r.key, r.operator, r.values) for r in p.pod_selector.match_expressions) if p.pod_selector else ()
    return (p.ip_block is not None, ns, pod, pod_ex, p.ip_block.cidr if p.ip_block else "")


def _ports_sort_key(ports: tuple[PortSpec, ...] | None) -> tuple:
    if ports is None:
        return (1,)
    return (0, tuple((p.protocol or "TCP", p.port if isinstance(p.port, int) else -1, p.end_port or 0) for p in ports))
