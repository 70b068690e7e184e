"""Bounded widening: port ranges and external CIDRs, never wider than the user allowed.

Least privilege means exact ports and single addresses. Two widenings are
useful in practice and both are opt-in and bounded, and both are counted so
the summary can say how much was admitted beyond what was observed:

* a run of ports becomes one ``port``/``endPort`` range only when every port of
  the run was observed, or the gaps are at most ``slack`` ports;
* external IPv4 addresses are aggregated only inside an explicit bound: a CIDR
  no wider than ``/max_prefix`` that holds at least ``min_addresses`` distinct
  observed addresses, the smallest such CIDR, and never for private, link-local
  or shared (cluster) ranges. ``0.0.0.0/0`` appears only with ``allow_any``.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable
from dataclasses import dataclass

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


def host_cidr(ip: str) -> str:
    addr = ipaddress.ip_address(ip)
    return f"{addr}/{addr.max_prefixlen}"


_NEVER_V4 = tuple(ipaddress.IPv4Network(n) for n in (*CLUSTER_RANGES_V4, "127.0.0.0/8", "169.254.0.0/16", "0.0.0.0/8", "224.0.0.0/3"))
_NEVER_V6 = tuple(ipaddress.IPv6Network(n) for n in (*CLUSTER_RANGES_V6, "fe80::/10", "::1/128", "ff00::/8", "::/128"))


def is_external(ip: str) -> bool:
    """Outside every private, shared (CGNAT), link-local, loopback and multicast range."""
    addr = ipaddress.ip_address(ip)
    return not any(addr in n for n in (_NEVER_V4 if addr.version == 4 else _NEVER_V6))


def is_aggregatable(ip: str) -> bool:
    """Only external IPv4 addresses may be aggregated; cluster and private ranges never."""
    return ipaddress.ip_address(ip).version == 4 and is_external(ip)


@dataclass(frozen=True)
class Aggregated:
    cidr: str
    observed: tuple[str, ...]     # the observed addresses the CIDR stands for
    except_: tuple[str, ...] = ()

    @property
    def extra(self) -> int:
        """Addresses admitted beyond the observed ones."""
        net = ipaddress.ip_network(self.cidr)
        excluded = sum(ipaddress.ip_network(e).num_addresses for e in self.except_)
        return net.num_addresses - excluded - len(self.observed)


def aggregate_addresses(
    ips: Iterable[str],
    *,
    max_prefix: int | None = None,
    min_addresses: int | None = None,
    allow_any: bool = False,
    any_without_address: bool = False,
) -> list[Aggregated]:
    """ipBlocks for ``ips``: /32 (/128) each, or aggregated within the bounds.

    ``any_without_address`` says some peer had no address at all (Cilium
    ``reserved:world``); with ``allow_any`` it becomes ``0.0.0.0/0`` too.
    """
    addrs = sorted(set(ips), key=lambda s: (ipaddress.ip_address(s).version, ipaddress.ip_address(s)))
    out: list[Aggregated] = []
    public4 = [a for a in addrs if is_aggregatable(a)]
    rest = [a for a in addrs if not is_aggregatable(a)]
    if allow_any and (public4 or any_without_address):
        out.append(Aggregated(ANY_V4, tuple(public4), CLUSTER_RANGES_V4))
        public4 = []
    public6 = [a for a in rest if ipaddress.ip_address(a).version == 6 and is_external(a)]
    if allow_any and public6:
        out.append(Aggregated(ANY_V6, tuple(public6), CLUSTER_RANGES_V6))
        rest = [a for a in rest if a not in set(public6)]
    if max_prefix is not None and public4:
        out.extend(_bucketed(public4, max_prefix, min_addresses or 2))
    else:
        out.extend(Aggregated(host_cidr(a), (a,)) for a in public4)
    out.extend(Aggregated(host_cidr(a), (a,)) for a in rest)
    return sorted(out, key=lambda a: _sort_key(a.cidr))


def _bucketed(addrs: list[str], max_prefix: int, min_addresses: int) -> list[Aggregated]:
    buckets: dict[ipaddress.IPv4Network, list[int]] = {}
    for a in addrs:
        ip = int(ipaddress.IPv4Address(a))
        buckets.setdefault(ipaddress.IPv4Network((ip, max_prefix), strict=False), []).append(ip)
    out: list[Aggregated] = []
    for members in buckets.values():
        out.extend(_split(sorted(members), max(min_addresses, 2)))
    return out


def _split(members: list[int], k: int) -> list[Aggregated]:
    """The tightest CIDRs holding at least ``k`` observed addresses each; the rest stay /32.

    Take the smallest CIDR covering ``members``; if one of its halves holds ``k``
    addresses on its own, aggregate each half separately (tighter), otherwise the
    whole CIDR is the aggregate.
    """
    if len(members) < k:
        return [Aggregated(f"{ipaddress.IPv4Address(m)}/32", (str(ipaddress.IPv4Address(m)),)) for m in members]
    lo, hi = members[0], members[-1]
    prefix = 32 - (lo ^ hi).bit_length()
    if prefix < 32:
        mid = (lo >> (31 - prefix)) | 1
        left = [m for m in members if (m >> (31 - prefix)) != mid]
        right = [m for m in members if (m >> (31 - prefix)) == mid]
        if len(left) >= k or len(right) >= k:
            return _split(left, k) + _split(right, k)
    net = ipaddress.IPv4Network((lo, prefix), strict=False)
    return [Aggregated(str(net), tuple(str(ipaddress.IPv4Address(m)) for m in members))]


def _sort_key(cidr: str) -> tuple[int, int, int]:
    net = ipaddress.ip_network(cidr, strict=False)
    return (net.version, int(net.network_address), net.prefixlen)
