"""Bounded widening: port ranges and external CIDRs, never wider than the user allowed.

Least privilege means exact ports and single addresses. Two widenings are
useful in practice and both are opt-in and bounded, and both are counted so
the summary can say how much was admitted beyond what was observed:

* a run of ports becomes one ``port``/``endPort`` range only when every port of
  the run was observed, or the gaps are at most ``slack`` ports;
* external addresses are aggregated only inside an explicit bound per family:
  a CIDR no wider than ``/max_prefix`` (IPv4) or ``/max_prefix6`` (IPv6) that
  holds at least ``min_addresses`` distinct observed addresses, the smallest
  such CIDR, and never one that touches a private, link-local, shared (cluster),
  ULA or IPv4-embedding range, or holds a known cluster address (a pod or node
  IP outside those ranges) that was not itself observed there. ``0.0.0.0/0`` and ``::/0`` appear only with
  ``allow_any``.

Counts are exact Python ints: one IPv6 /64 admits 2**64 addresses, and the
summary says so rather than rounding or capping it.
"""

from __future__ import annotations

import bisect
import ipaddress
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from functools import lru_cache

# Never aggregated, and carved out of "any external": where clusters live.
CLUSTER_RANGES_V4 = ("10.0.0.0/8", "100.64.0.0/10", "172.16.0.0/12", "192.168.0.0/16")
CLUSTER_RANGES_V6 = ("fc00::/7",)
ANY_V4 = "0.0.0.0/0"
ANY_V6 = "::/0"


def compress_ports(ports: Iterable[int], slack: int = 0) -> tuple[list[tuple[int, int | None]], int]:
    """Sorted ``(port, end_port | None)`` ranges and the number of ports admitted beyond ``ports``.

    Consecutive observed ports always merge into a range; with ``slack`` N, a gap
    of at most N unobserved ports between two observed ones is bridged.
    """
    values = sorted(set(int(p) for p in ports))
    ranges: list[tuple[int, int | None]] = []
    extra = 0
    i = 0
    while i < len(values):
        start = end = values[i]
        j = i + 1
        while j < len(values) and values[j] - end - 1 <= slack:
            extra += values[j] - end - 1
            end = values[j]
            j += 1
        ranges.append((start, end if end != start else None))
        i = j
    return ranges, extra


# A rule is built per (workload, port set) and the same few hundred external and node addresses recur in
# thousands of them: each text is parsed once (``ipaddress`` objects are immutable, so sharing is safe).
_address = lru_cache(maxsize=65536)(ipaddress.ip_address)
_network = lru_cache(maxsize=65536)(ipaddress.ip_network)


def host_cidr(ip: str) -> str:
    addr = _address(ip)
    return f"{addr}/{addr.max_prefixlen}"


_NEVER_V4 = tuple(ipaddress.IPv4Network(n) for n in (*CLUSTER_RANGES_V4, "127.0.0.0/8", "169.254.0.0/16", "0.0.0.0/8", "224.0.0.0/3"))
# also the IPv4-mapped and NAT64 prefixes: their addresses are IPv4 ones (maybe private) in IPv6 clothes
_NEVER_V6 = tuple(ipaddress.IPv6Network(n) for n in (*CLUSTER_RANGES_V6, "fe80::/10", "::1/128", "ff00::/8", "::/128",
                                                      "::ffff:0:0/96", "64:ff9b::/96"))
_NEVER = {4: _NEVER_V4, 6: _NEVER_V6}
_NETWORK = {4: ipaddress.IPv4Network, 6: ipaddress.IPv6Network}
_ADDRESS = {4: ipaddress.IPv4Address, 6: ipaddress.IPv6Address}
_BITS = {4: 32, 6: 128}


def is_external(ip: str) -> bool:
    """Outside every private, shared (CGNAT), link-local, loopback, multicast and IPv4-embedding range."""
    return _is_external(_address(ip))


@lru_cache(maxsize=65536)
def _is_external(addr: ipaddress.IPv4Address | ipaddress.IPv6Address) -> bool:
    return not any(addr in n for n in _NEVER[addr.version])


@dataclass(frozen=True)
class Aggregated:
    cidr: str
    observed: tuple[str, ...]     # the observed addresses the CIDR stands for
    except_: tuple[str, ...] = ()

    @property
    def extra(self) -> int:
        """Addresses admitted beyond the observed ones: an exact int (an IPv6 /64 alone is 2**64)."""
        net = _network(self.cidr)
        excluded = sum(_network(e).num_addresses for e in self.except_)
        return net.num_addresses - excluded - len(self.observed)


def aggregate_addresses(
    ips: Iterable[str],
    *,
    max_prefix: int | None = None,
    min_addresses: int | None = None,
    allow_any: bool = False,
    any_without_address: bool = False,
    max_prefix6: int | None = None,
    keep_out: frozenset[str] = frozenset(),
) -> list[Aggregated]:
    """ipBlocks for ``ips``: /32 (/128) each, or aggregated within the bounds.

    External IPv4 addresses aggregate within ``/max_prefix``, external IPv6 ones
    within ``/max_prefix6`` (each off when None); both need ``min_addresses``
    observed addresses per CIDR. ``any_without_address`` says some peer had no
    address at all (Cilium ``reserved:world``); with ``allow_any`` it becomes
    ``0.0.0.0/0`` too. No aggregate holds an address of ``keep_out`` (the cluster's
    pod and node addresses) unless that address is one of its observed ones; ``0.0.0.0/0``
    and ``::/0`` except them.
    """
    unique = set(ips)
    if not unique and not (allow_any and any_without_address):
        return []                      # most rules have selector peers only
    addrs = sorted(unique, key=lambda s: (_address(s).version, _address(s)))
    public = {v: [a for a in addrs if _address(a).version == v and is_external(a)] for v in (4, 6)}
    out: list[Aggregated] = []
    for version, any_cidr, except_, bound in ((4, ANY_V4, CLUSTER_RANGES_V4, max_prefix),
                                               (6, ANY_V6, CLUSTER_RANGES_V6, max_prefix6)):
        members = public[version]
        if allow_any and (members or (version == 4 and any_without_address)):
            out.append(Aggregated(any_cidr, tuple(members), except_ + _public_cluster(keep_out, version, members)))
        elif bound is not None:
            out.extend(_bucketed(members, version, bound, min_addresses or 2, _sorted_ints(keep_out, version)))
        else:
            out.extend(Aggregated(host_cidr(a), (a,)) for a in members)
    taken = set(public[4]) | set(public[6])
    out.extend(Aggregated(host_cidr(a), (a,)) for a in addrs if a not in taken)
    return sorted(out, key=lambda a: _sort_key(a.cidr))


# A rule is aggregated per (workload, port set), thousands per run, against the one set of cluster addresses
# (``IdentityMap.cluster_addresses``, a frozenset that hashes once): what is derived from it is derived once.
@lru_cache(maxsize=8)
def _public_cluster_all(keep_out: frozenset[str], version: int) -> tuple[frozenset[str], tuple[str, ...]]:
    public = frozenset(a for a in keep_out if _address(a).version == version and is_external(a))
    return public, _collapsed(public)


def _collapsed(hosts: Iterable[str]) -> tuple[str, ...]:
    return tuple(str(n) for n in ipaddress.collapse_addresses(sorted(_network(host_cidr(a)) for a in hosts)))


def _public_cluster(keep_out: frozenset[str], version: int, observed: list[str]) -> tuple[str, ...]:
    """The cluster's own addresses outside the never-aggregated ranges (public pod ranges), but for the
    ``observed`` ones, as few CIDRs as cover exactly them: ``any`` must except them too, or it would
    admit pods as "external" addresses."""
    public, collapsed = _public_cluster_all(keep_out, version)
    seen = public.intersection(observed)
    return _collapsed(public - seen) if seen else collapsed


@lru_cache(maxsize=8)
def _sorted_ints(ips: frozenset[str], version: int) -> tuple[int, ...]:
    return tuple(sorted(int(a) for a in map(_address, ips) if a.version == version))


def _bucketed(addrs: list[str], version: int, max_prefix: int, min_addresses: int, keep_out: Sequence[int]
              ) -> list[Aggregated]:
    network = _NETWORK[version]
    buckets: dict[ipaddress.IPv4Network | ipaddress.IPv6Network, list[int]] = {}
    for a in addrs:
        ip = int(ipaddress.ip_address(a))
        buckets.setdefault(network((ip, max_prefix), strict=False), []).append(ip)
    out: list[Aggregated] = []
    for members in buckets.values():
        out.extend(_split(sorted(members), max(min_addresses, 2), version, keep_out))
    return out


def _split(members: list[int], k: int, version: int, keep_out: Sequence[int] = ()) -> list[Aggregated]:
    """The tightest CIDRs holding at least ``k`` observed addresses each; the rest stay /32 (/128).

    Take the smallest CIDR covering ``members``; if one of its halves holds ``k``
    addresses on its own, or the CIDR touches a never-aggregated range or holds an
    unobserved ``keep_out`` address (sorted ints), aggregate each half separately
    (tighter), otherwise the whole CIDR is the aggregate.
    """
    network, address, bits = _NETWORK[version], _ADDRESS[version], _BITS[version]
    if len(members) < k:
        return [Aggregated(host_cidr(str(address(m))), (str(address(m)),)) for m in members]
    lo, hi = members[0], members[-1]
    prefix = bits - (lo ^ hi).bit_length()
    net = network((lo, prefix), strict=False)
    if prefix < bits:
        shift = bits - prefix - 1          # the first bit in which the members differ
        left = [m for m in members if not (m >> shift) & 1]
        right = [m for m in members if (m >> shift) & 1]
        if (len(left) >= k or len(right) >= k or any(net.overlaps(n) for n in _NEVER[version])
                or _holds_other(keep_out, int(net.network_address), int(net.broadcast_address), members)):
            return _split(left, k, version, keep_out) + _split(right, k, version, keep_out)
    return [Aggregated(str(net), tuple(str(address(m)) for m in members))]


def _holds_other(keep_out: Sequence[int], lo: int, hi: int, members: list[int]) -> bool:
    """Does ``[lo, hi]`` hold a ``keep_out`` address that is not one of ``members`` (both sorted)?"""
    i = bisect.bisect_left(keep_out, lo)
    while i < len(keep_out) and keep_out[i] <= hi:
        j = bisect.bisect_left(members, keep_out[i])
        if j == len(members) or members[j] != keep_out[i]:
            return True
        i += 1
    return False


def _sort_key(cidr: str) -> tuple[int, int, int]:
    net = _network(cidr, strict=False)
    return (net.version, int(net.network_address), net.prefixlen)
