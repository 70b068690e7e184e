"""From the service graph to concrete endpoint pairs and per-window activity.

A ``Conn`` says "checkout calls cart on 9090"; flow logs speak of addresses.
``Traffic`` expands each connection into *instances* (one source endpoint,
one destination endpoint, a client ephemeral port) held in numpy arrays, and
decides, window by window, which instances were active and with what
counters. Every writer renders the same instances, so all formats describe
the same traffic; window 0 has every instance active, so one window of any
format already shows every expected connection.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

import numpy as np

from recommender.synth.cluster import BASE_TIME, Cluster, Conn, Workload

PROTO_NUMBER = {"TCP": 6, "UDP": 17, "SCTP": 132}


@dataclass(frozen=True, slots=True)
class Ep:
    """One address of the trace: a pod, a hostNetwork pod (node IP) or an outside address."""

    kind: str                                    # pod, host, network, kube-apiserver
    ip: str
    ip6: str | None = None
    namespace: str | None = None
    pod: str | None = None
    workload: Workload | None = None
    node: int | None = None
    labels: tuple[tuple[str, str], ...] = ()
    ext_name: str | None = None                  # External.name for outside peers
    network_set: str | None = None

    @property
    def in_cluster(self) -> bool:
        return self.kind in ("pod", "host")


@dataclass(frozen=True)
class Window:
    """The instances active in one export window, with their counters."""

    index: int
    start: int                                   # unix seconds
    end: int
    active: np.ndarray                           # instance indices, ascending
    flows: np.ndarray                            # connections started (>= 1)
    packets_out: np.ndarray                      # initiator → responder
    packets_in: np.ndarray
    bytes_out: np.ndarray
    bytes_in: np.ndarray


class Traffic:
    """The instances of a cluster's connections, and a seeded activity model."""

    def __init__(self, cluster: Cluster, seed: int | None = None, max_pairs_per_src: int = 2) -> None:
        self.cluster = cluster
        self.seed = cluster.seed if seed is None else seed
        rng = np.random.default_rng([self.seed, 1])
        self.endpoints: list[Ep] = []
        index: dict[str, list[int]] = {}
        for p in cluster.pods:
            w = cluster.workload(f"{p.namespace}/{p.workload}")
            index.setdefault(w.key, []).append(len(self.endpoints))
            self.endpoints.append(Ep("host" if p.host_network else "pod", p.ip, p.ip6, p.namespace, p.name, w,
                                     p.node, p.labels))
        for e in cluster.externals:
            for ip in e.ips:
                index.setdefault(e.key, []).append(len(self.endpoints))
                self.endpoints.append(Ep(e.kind, ip, labels=e.labels, ext_name=e.name, network_set=e.network_set))
        conn_i: list[int] = []
        src_i: list[int] = []
        dst_i: list[int] = []
        for ci, c in enumerate(cluster.conns):
            srcs, dsts = index[c.src], index[c.dst]
            every = c.all_dst_pods or c.dst.startswith("ext:")
            for s in srcs:
                if every or len(dsts) == 1:
                    chosen = dsts
                else:
                    k = 1 + int(rng.integers(min(max_pairs_per_src, len(dsts))))
                    j = int(rng.integers(len(dsts)))       # k distinct neighbours, cheaply
                    chosen = [dsts[(j + m) % len(dsts)] for m in range(k)]
                for d in chosen:
                    if s == d:
                        continue
                    conn_i.append(ci)
                    src_i.append(s)
                    dst_i.append(d)
        self.conn = np.asarray(conn_i, dtype=np.int64)
        self.src = np.asarray(src_i, dtype=np.int64)
        self.dst = np.asarray(dst_i, dtype=np.int64)
        self.sport = rng.integers(32768, 61000, size=len(self.conn))
        rates = np.asarray([c.rate for c in cluster.conns], dtype=np.float64)
        self.rate = rates[self.conn] if len(self.conn) else np.zeros(0)
        self.denied = np.asarray([c.action == "deny" for c in cluster.conns], dtype=bool)[self.conn]
        # Dual-stack clusters: half the pod-to-pod pairs talk over IPv6.
        has6 = np.asarray([e.ip6 is not None for e in self.endpoints], dtype=bool)
        self.v6 = np.zeros(len(self.conn), dtype=bool)
        if has6.any() and len(self.conn):
            self.v6 = has6[self.src] & has6[self.dst] & (rng.random(len(self.conn)) < 0.5)

    def __len__(self) -> int:
        return len(self.conn)

    def conn_of(self, i: int) -> Conn:
        return self.cluster.conns[int(self.conn[i])]

    def addresses(self, i: int) -> tuple[str, str]:
        """Source and destination address of instance ``i`` (IPv6 for dual-stack pairs)."""
        s, d = self.endpoints[int(self.src[i])], self.endpoints[int(self.dst[i])]
        if self.v6[i] and s.ip6 and d.ip6:
            return s.ip6, d.ip6
        return s.ip, d.ip

    def windows(self, seconds: int, *, activity: float = 0.5, stream: int = 0) -> Iterator[Window]:
        """Endless seeded windows of ``seconds``. Window 0 has every instance;
        later ones a rate-weighted random subset (about ``activity`` of them)."""
        rng = np.random.default_rng([self.seed, 2, stream])
        n = len(self)
        p = np.clip(activity * self.rate / max(float(self.rate.mean()) if n else 1.0, 1e-9), 0.02, 1.0)
        w = 0
        while True:
            active = np.arange(n) if w == 0 else np.flatnonzero(rng.random(n) < p)
            rate = self.rate[active]
            flows = 1 + rng.poisson(rate * 3)
            flows[self.denied[active]] = 1 + rng.poisson(0.5, size=int(self.denied[active].sum()))
            pk_out = flows * (1 + rng.poisson(6, size=len(active)))
            pk_in = np.where(self.denied[active], 0, flows * (1 + rng.poisson(5, size=len(active))))
            by_out = pk_out * rng.integers(60, 900, size=len(active))
            by_in = pk_in * rng.integers(60, 1400, size=len(active))
            start = BASE_TIME + w * seconds
            yield Window(w, start, start + seconds, active, flows, pk_out, pk_in, by_out, by_in)
            w += 1


def active_rows(win: Window, inst: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """For output rows belonging to instances ``inst``: the rows active in
    ``win`` (ascending) and each one's position in the window's arrays."""
    if not len(win.active):
        empty = np.zeros(0, dtype=np.int64)
        return empty, empty
    pos = np.minimum(np.searchsorted(win.active, inst), len(win.active) - 1)
    rows = np.flatnonzero(win.active[pos] == inst)
    return rows, pos[rows]


def label_strings(labels: tuple[tuple[str, str], ...]) -> list[str]:
    return [f"{k}={v}" for k, v in labels]


def common_labels(cluster: Cluster) -> dict[str, tuple[tuple[str, str], ...]]:
    """Per workload key, the labels every one of its pods carries (what an
    aggregated record can still report)."""
    out: dict[str, set[tuple[str, str]]] = {}
    for p in cluster.pods:
        key = f"{p.namespace}/{p.workload}"
        out[key] = set(p.labels) if key not in out else out[key] & set(p.labels)
    return {k: tuple(sorted(v)) for k, v in out.items()}

class LineSink:
    def __init__(self, target: str | Path | BinaryIO, limit: int | None = None, header: str | None = None) -> None:
        if isinstance(target, (str, Path)):
            Path(target).parent.mkdir(parents=True, exist_ok=True)
            self._fh: BinaryIO = open(target, "wb")
            self._owned = True
        else:
            self._fh, self._owned = target, False
        self.limit = limit
        self.count = 0
        if header is not None:
            self._fh.write((header + "\n").encode())

    @property
    def full(self) -> bool:
        return self.limit is not None and self.count >= self.limit

    def windows(self, traffic: Traffic, seconds: int, *, stream: int, count: int | None) -> Iterator[Window]:
        """``traffic``'s windows until the record budget is spent or ``count``
        windows were produced (one window when neither is set)."""
        if count is None and self.limit is None:
            count = 1
        if not len(traffic):
            return
        for win in traffic.windows(seconds, stream=stream):
            if self.full or (count is not None and win.index >= count):
                return
            yield win

    def write(self, lines: list[str]) -> None:
        if self.limit is not None and self.count + len(lines) > self.limit:
            lines = lines[: self.limit - self.count]
        if lines:
            self._fh.write(("\n".join(lines) + "\n").encode())
            self.count += len(lines)

    def close(self) -> None:
        if self._owned:
            self._fh.close()
        else:
            self._fh.flush()

    def __enter__(self) -> "LineSink":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
