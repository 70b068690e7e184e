"""Cilium Hubble ``hubble observe -o jsonpb`` output: one ``GetFlowsResponse`` per line.

Field names and nesting follow the real captures in
``../shared/samples/hubble/``. Per connection instance and window:

* TCP: the client's SYN (``is_reply`` false) and the server's SYN-ACK
  (``is_reply`` true); UDP/SCTP: a request and a reply;
* a denied connection: one ``DROPPED`` request with ``POLICY_DENIED``;
* DNS to CoreDNS additionally gets an L7 request/response pair (``Type: L7``).

Each packet is written once, as seen by the node of the pod that initiated
the connection (``traffic_direction: EGRESS``) or, when the initiator is not a
pod, by the destination's node (``INGRESS``). Pods carry Cilium's identity
labels (``k8s:`` stable labels, ``io.cilium.k8s.*``,
``io.kubernetes.pod.namespace``; the noisy generated labels are filtered out
as Cilium does), ``pod_name``, ``namespace`` and ``workloads``; other peers
are ``reserved:world``, ``reserved:host``/``remote-node`` or
``reserved:kube-apiserver``.
"""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path
from typing import BinaryIO

import numpy as np

from recommender.synth.cluster import API_SERVER_IP, CLUSTER_NAME, Cluster
from recommender.synth.traffic import Ep, LineSink, Traffic, active_rows

WINDOW_SECONDS = 10
# Labels Cilium's default identity-relevant filter drops.
IGNORED_LABELS = frozenset({
    "pod-template-hash", "controller-revision-hash", "pod-template-generation", "statefulset.kubernetes.io/pod-name",
    "apps.kubernetes.io/pod-index", "job-name", "batch.kubernetes.io/job-name", "controller-uid",
    "batch.kubernetes.io/controller-uid",
})
RESERVED = {"world": (2, "reserved:world"), "host": (1, "reserved:host"), "remote-node": (6, "reserved:remote-node"),
            "kube-apiserver": (7, "reserved:kube-apiserver")}


class _Identities:
    """Endpoint JSON objects with stable numeric identities (one per label set)."""

    def __init__(self, traffic: Traffic) -> None:
        self.cluster = traffic.cluster
        self.ns_labels = dict(self.cluster.namespaces)
        self.rng = np.random.default_rng([traffic.seed, 5])
        self.ids: dict[tuple[str, ...], int] = {}
        self.cache: dict[tuple[int, int], str] = {}
        self.eps = traffic.endpoints

    def labels(self, ep: Ep) -> list[str]:
        assert ep.workload is not None and ep.namespace is not None
        out = [f"k8s:{k}={v}" for k, v in ep.labels if k not in IGNORED_LABELS]
        out += [f"k8s:io.cilium.k8s.namespace.labels.{k}={v}" for k, v in self.ns_labels[ep.namespace]]
        out += [f"k8s:io.cilium.k8s.policy.cluster={CLUSTER_NAME}",
                f"k8s:io.cilium.k8s.policy.serviceaccount={ep.workload.service_account}",
                f"k8s:io.kubernetes.pod.namespace={ep.namespace}"]
        return sorted(out)

    def json(self, e: int, observer: int) -> str:
        key = (e, observer if self.eps[e].kind == "host" else -1)
        if key not in self.cache:
            self.cache[key] = self._render(self.eps[e], observer)
        return self.cache[key]

    def _render(self, ep: Ep, observer: int) -> str:
        if ep.kind == "pod":
            labels = self.labels(ep)
            identity = self.ids.setdefault(tuple(labels), 10000 + 7 * len(self.ids))
            w = ep.workload
            assert w is not None
            kind = w.kind
            obj = {"ID": int(self.rng.integers(1, 4096)), "identity": identity, "cluster_name": CLUSTER_NAME,
                   "namespace": ep.namespace, "labels": labels, "pod_name": ep.pod,
                   "workloads": [{"name": w.name, "kind": kind}]}
        elif ep.kind == "host":
            ident, label = RESERVED["host" if ep.node == observer else "remote-node"]
            obj = {"identity": ident, "labels": [label]}
        elif ep.kind == "kube-apiserver":
            obj = {"identity": RESERVED["kube-apiserver"][0], "labels": ["reserved:kube-apiserver"]}
        else:
            obj = {"identity": 2, "labels": ["reserved:world"]}
        return json.dumps(obj, separators=(",", ":"))


def _l4(proto: str, sport: int, dport: int, flags: str | None) -> str:
    key = "TCP" if proto == "TCP" else proto
    fl = f',"flags":{{{flags}}}' if flags else ""
    return f'"l4":{{"{key}":{{"source_port":{sport},"destination_port":{dport}{fl}}}}}'


def _dns_lookups(traffic: Traffic) -> dict[str, tuple[str, str]]:
    """Per source workload, a name it resolves (its first non-DNS peer) and the answer."""
    cluster = traffic.cluster
    first_ip = {}
    for e in traffic.endpoints:
        key = f"ext:{e.ext_name}" if e.ext_name else f"{e.namespace}/{e.workload.name if e.workload else ''}"
        first_ip.setdefault(key, e.ip)
    out: dict[str, tuple[str, str]] = {}
    for c in cluster.conns:
        if c.port == 53 or c.src in out:
            continue
        if c.dst.startswith("ext:"):
            ext = cluster.external(c.dst)
            api = ext.kind == "kube-apiserver"
            name = "kubernetes.default.svc.cluster.local." if api else f"{ext.name}.example.com."
        else:
            ns, wl = c.dst.split("/", 1)
            name = f"{wl}.{ns}.svc.cluster.local."
        out[c.src] = (name, first_ip[c.dst])
    return out


def _rows(traffic: Traffic, dns_l7: bool) -> tuple[np.ndarray, np.ndarray, list[str]]:
    """(instance, event offset in ms, flow text after ``time``) for every event."""
    cluster = traffic.cluster
    eps = traffic.endpoints
    ident = _Identities(traffic)
    inst: list[int] = []
    offset: list[int] = []
    text: list[str] = []
    lookups = _dns_lookups(traffic)
    for i in range(len(traffic)):
        c = traffic.conn_of(i)
        si, di = int(traffic.src[i]), int(traffic.dst[i])
        s, d = eps[si], eps[di]
        at_src = (s.kind == "pod" and c.deny_at != "dst") or d.node is None
        observer = s.node if at_src else d.node
        assert observer is not None
        node = cluster.nodes[observer].name
        direction = "EGRESS" if at_src else "INGRESS"
        point = ("TO_OVERLAY" if s.node != d.node and d.node is not None else "TO_STACK") if at_src else "TO_ENDPOINT"
        sj, dj = ident.json(si, observer), ident.json(di, observer)
        s_ip, d_ip = traffic.addresses(i)
        version = "IPv6" if ":" in s_ip else "IPv4"
        sport = int(traffic.sport[i])
        tcp = c.protocol == "TCP"
        events: list[tuple[bool, tuple[str, ...], str]] = []
        if c.action == "deny":
            events.append((False, ("SYN",) if tcp else (), "DROPPED"))
        else:
            events.append((False, ("SYN",) if tcp else (), "FORWARDED"))
            events.append((True, ("SYN", "ACK") if tcp else (), "FORWARDED"))
            if tcp and i % 4 == 0:                 # some captures also show the client's first data segment
                events.append((False, ("PSH", "ACK"), "FORWARDED"))

        def orient(is_reply: bool) -> tuple:
            """(source ip, destination ip, their JSON, their ports) of a request or reply packet."""
            if is_reply:
                return d_ip, s_ip, dj, sj, c.port, sport
            return s_ip, d_ip, sj, dj, sport, c.port

        for n, (is_reply, names, verdict) in enumerate(events):
            a, b, aj, bj, ap, bp = orient(is_reply)
            flags = ",".join(f'"{f}":true' for f in names) or None
            drop = ',"drop_reason":133,"drop_reason_desc":"POLICY_DENIED"' if verdict == "DROPPED" else ""
            etype = '{"type":1,"sub_type":133}' if verdict == "DROPPED" else '{"type":4}'
            summary = f"TCP Flags: {', '.join(names)}" if tcp else c.protocol
            inst.append(i)
            offset.append(n)
            text.append(
                f'"verdict":"{verdict}"{drop},"IP":{{"source":"{a}","destination":"{b}",'
                f'"ipVersion":"{version}"}},{_l4(c.protocol, ap, bp, flags)},"source":{aj},"destination":{bj},'
                f'"Type":"L3_L4","node_name":"{node}","event_type":{etype},"traffic_direction":"{direction}",'
                f'"trace_observation_point":"{point}","is_reply":{str(is_reply).lower()},'
                f'"Summary":"{summary}"}},"node_name":"{node}"')
        if dns_l7 and c.port == 53 and d.workload is not None and d.workload.name == "coredns" and i % 2 == 0:
            query, answer = lookups.get(c.src, ("kubernetes.default.svc.cluster.local.", API_SERVER_IP))
            for n, is_reply in ((3, False), (4, True)):
                a, b, aj, bj, ap, bp = orient(is_reply)
                l7 = ({"type": "RESPONSE", "dns": {"query": query, "ips": [answer], "ttl": 30, "rcode": 0,
                                                   "qtypes": ["A"], "rrtypes": ["A"]}} if is_reply
                      else {"type": "REQUEST", "dns": {"query": query, "qtypes": ["A"]}})
                inst.append(i)
                offset.append(n)
                text.append(
                    f'"verdict":"FORWARDED","IP":{{"source":"{a}","destination":"{b}","ipVersion":"{version}"}},'
                    f'{_l4(c.protocol, ap, bp, None)},"source":{aj},"destination":{bj},"Type":"L7",'
                    f'"node_name":"{node}","l7":{json.dumps(l7, separators=(",", ":"))},"event_type":{{"type":129}},'
                    f'"traffic_direction":"{direction}","is_reply":{str(is_reply).lower()},'
                    f'"Summary":"DNS {"Answer" if is_reply else "Query"} {query} A"}},"node_name":"{node}"')
    return np.asarray(inst, dtype=np.int64), np.asarray(offset, dtype=np.int64), text


def _stamp(seconds: int, nanos: int) -> str:
    return dt.datetime.fromtimestamp(seconds, dt.UTC).strftime("%Y-%m-%dT%H:%M:%S") + f".{nanos:09d}Z"


def write_hubble(cluster: Cluster, out: str | Path | BinaryIO, *, records: int | None = None,
                 windows: int | None = None, traffic: Traffic | None = None, dns_l7: bool = True) -> int:
    """Write ``hubble observe -o jsonpb`` lines: ``records`` events or
    ``windows`` 10-second windows (one when neither is given). Returns lines written."""
    traffic = traffic or Traffic(cluster)
    inst, offset, text = _rows(traffic, dns_l7)
    rng = np.random.default_rng([traffic.seed, 6])
    with LineSink(out, records) as sink:
        stamps: dict[int, str] = {}
        for win in sink.windows(traffic, WINDOW_SECONDS, stream=30, count=windows):
            rows, k = active_rows(win, inst)
            # A connection starts somewhere in the window; its events follow within a few ms.
            start_ns = rng.integers(0, WINDOW_SECONDS * 10**9 - 10**8, size=len(win.active))[k]
            t_ns = start_ns + offset[rows] * 350_000 + rng.integers(0, 100_000, size=len(rows))
            order = np.argsort(t_ns, kind="stable")
            lines = []
            for r, t in zip(rows[order].tolist(), t_ns[order].tolist()):
                sec = win.start + t // 10**9
                prefix = stamps.get(sec)
                if prefix is None:
                    prefix = stamps[sec] = _stamp(sec, 0)[:-11]
                ts = f"{prefix}.{t % 10**9:09d}Z"
                lines.append(f'{{"flow":{{"time":"{ts}",{text[r]},"time":"{ts}"}}')
            sink.write(lines)
            if len(stamps) > 100_000:
                stamps.clear()
        return sink.count
