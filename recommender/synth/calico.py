"""Calico Enterprise ``flows.log`` (Felix flow logs, one JSON object per line).

Field names and order follow the real Felix test data (see
``../shared/samples/calico/flows.log``). Shapes produced:

* pod→pod flows give two rows, ``reporter: src`` and ``reporter: dst``; a
  flow denied by the destination's ingress policy is ``allow`` at the source
  and ``deny`` at the destination; one denied by the source's egress policy
  has only the ``src`` row;
* flows between two in-cluster endpoints that touch ``kube-system`` or
  ``monitoring`` are written at aggregation level 2 (``*_ip`` null,
  ``*_name`` ``-``, ``*_name_aggr`` the pod prefix with ``*``, labels common
  to all pods); the rest at level 0 (pod names and IPs);
* outside peers are ``net`` (``pub``/``pvt``) or ``ns`` (a GlobalNetworkSet);
  hostNetwork pods are ``hep`` named after their node.
"""

from __future__ import annotations

import ipaddress
import json
from pathlib import Path
from typing import BinaryIO

import numpy as np

from recommender.synth.cluster import Cluster
from recommender.synth.traffic import Ep, LineSink, Traffic, active_rows, common_labels, label_strings

WINDOW_SECONDS = 300
AGGREGATED_NAMESPACES = frozenset({"kube-system", "monitoring"})
_PRIVATE = [ipaddress.ip_network(n) for n in ("10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16", "fc00::/7")]


def _js(v: str | None) -> str:
    return "null" if v is None else json.dumps(v)


def _net_aggr(ip: str) -> str:
    addr = ipaddress.ip_address(ip)
    return "pvt" if any(addr in n for n in _PRIVATE) else "pub"


def _side(prefix: str, ep: Ep, addr: str, cluster: Cluster, aggregated: bool, common: dict) -> tuple[str, str]:
    """The ``<prefix>_ip,name,name_aggr,namespace`` and ``<prefix>_type,labels`` JSON fragments."""
    if ep.kind == "pod":
        w = ep.workload
        assert w is not None
        labels = common[w.key] if aggregated else ep.labels
        ip, name, aggr, ns, typ = (None if aggregated else addr), ("-" if aggregated else ep.pod), \
            w.aggregated_name, ep.namespace, "wep"
        lab = json.dumps({"labels": label_strings(labels)}, separators=(",", ":"))
    elif ep.kind == "host":
        node = cluster.nodes[ep.node or 0].name
        ip, name, aggr, ns, typ, lab = (None if aggregated else addr), ("-" if aggregated else node), node, "-", \
            "hep", "null"
    elif ep.network_set:
        ip, name, aggr, ns, typ = addr, ep.network_set, ep.network_set, "-", "ns"
        lab = json.dumps({"labels": label_strings(ep.labels)}, separators=(",", ":"))
    else:
        ip, name, aggr, ns, typ, lab = addr, "-", _net_aggr(addr), "-", "net", "null"
    head = (f'"{prefix}_ip":{_js(ip)},"{prefix}_name":{_js(name)},"{prefix}_name_aggr":{_js(aggr)},'
            f'"{prefix}_namespace":{_js(ns)}')
    return head, f'"{prefix}_type":"{typ}","{prefix}_labels":{lab}'


def _policy(ep: Ep, cluster: Cluster, action: str, direction: str) -> str:
    if ep.kind == "host":
        return f"0|default|default.allow-host-{direction}|{action}|0"
    ns = ep.namespace or "-"
    if ns == "kube-system" and action == "allow":
        return "0|__PROFILE__|__PROFILE__.kns.kube-system|allow"
    if action == "deny":
        return f"0|default|{ns}/knp.default.default-deny|deny|-1"
    name = ep.workload.name if ep.workload else "default"
    return f"0|default|{ns}/knp.default.{name}-{direction}|allow|0"


def _rows(traffic: Traffic) -> tuple[np.ndarray, np.ndarray, np.ndarray, list[str], np.ndarray]:
    """Static parts of every row: (instance, reporter is dst, instances merged, middle text, the
    reporting node or -1)."""
    cluster = traffic.cluster
    common = common_labels(cluster)
    eps = traffic.endpoints
    inst: list[int] = []
    is_dst: list[bool] = []
    merged: list[int] = []
    text: list[str] = []
    node: list[int] = []
    aggregated_rows: dict[int, list[int]] = {}   # connection → its level-2 rows (one per reporter)
    cache: dict[tuple[int, str, str, bool], tuple[str, str]] = {}

    def side(e: int, prefix: str, addr: str, aggregated: bool) -> tuple[str, str]:
        key = (e, prefix, addr, aggregated)
        if key not in cache:
            cache[key] = _side(prefix, eps[e], addr, cluster, aggregated, common)
        return cache[key]

    for i in range(len(traffic)):
        c = traffic.conn_of(i)
        s, d = eps[int(traffic.src[i])], eps[int(traffic.dst[i])]
        aggregated = s.in_cluster and d.in_cluster and (s.namespace in AGGREGATED_NAMESPACES
                                                        or d.namespace in AGGREGATED_NAMESPACES)
        ci = int(traffic.conn[i])
        if aggregated and ci in aggregated_rows:    # same prefixes: counted into the first pair's rows
            for r in aggregated_rows[ci]:
                merged[r] += 1
            continue
        s_ip, d_ip = traffic.addresses(i)
        sh, st = side(int(traffic.src[i]), "source", s_ip, aggregated)
        dh, dt = side(int(traffic.dst[i]), "dest", d_ip, aggregated)
        base = f'{sh},"source_port":null,{st},{dh},"dest_port":{c.port},{dt},"proto":"{c.protocol.lower()}"'
        reporters = []
        if s.in_cluster:
            act = "deny" if c.deny_at == "src" else "allow"
            reporters.append((False, act, _policy(s, cluster, act, "egress")))
        if d.in_cluster and c.deny_at != "src":
            act = "deny" if c.deny_at == "dst" else "allow"
            reporters.append((True, act, _policy(d, cluster, act, "ingress")))
        if aggregated:
            aggregated_rows[ci] = list(range(len(text), len(text) + len(reporters)))
        for dst_rep, act, pol in reporters:
            inst.append(i)
            is_dst.append(dst_rep)
            merged.append(1)
            reporter_node = (d if dst_rep else s).node
            node.append(-1 if reporter_node is None else reporter_node)
            text.append(f'{base},"action":"{act}","reporter":"{"dst" if dst_rep else "src"}",'
                        f'"policies":{{"all_policies":["{pol}"]}}')
    return (np.asarray(inst, dtype=np.int64), np.asarray(is_dst, dtype=bool), np.asarray(merged, dtype=np.int64),
            text, np.asarray(node, dtype=np.int64))


def write_calico(cluster: Cluster, out: str | Path | BinaryIO, *, records: int | None = None,
                 windows: int | None = None, traffic: Traffic | None = None, node_clocks: str = "aligned") -> int:
    """Write a Calico ``flows.log``: ``records`` lines, or ``windows`` 5-minute
    windows (whichever ends first; one window when neither is given).
    Returns the number of lines written.

    ``node_clocks="skewed"`` shifts each reporting node's windows by its own phase, as real Felix
    instances do (each starts its windows when it starts), so the two ends of a cross-node
    connection report windows that overlap instead of coinciding."""
    if node_clocks not in ("aligned", "skewed"):
        raise ValueError(f"unknown node_clocks {node_clocks!r}; choose aligned or skewed")
    traffic = traffic or Traffic(cluster)
    inst, is_dst, merged, text, node = _rows(traffic)
    phase = np.where(node < 0, 0, (node * 113 + 17) % WINDOW_SECONDS) if node_clocks == "skewed" else None
    with LineSink(out, records) as sink:
        for win in sink.windows(traffic, WINDOW_SECONDS, stream=10, count=windows):
            rows, k = active_rows(win, inst)
            m = merged[rows]
            flows = win.flows[k] * m
            dst = is_dst[rows]
            b_out = np.where(dst, win.bytes_in[k], win.bytes_out[k]) * m
            b_in = np.where(dst, win.bytes_out[k], win.bytes_in[k]) * m
            p_out = np.where(dst, win.packets_in[k], win.packets_out[k]) * m
            p_in = np.where(dst, win.packets_out[k], win.packets_in[k]) * m
            completed = flows - (flows > 1) * (rows % 2)
            if phase is None:
                heads = [f'{{"start_time":{win.start},"end_time":{win.end},'] * len(rows)
            else:
                heads = [f'{{"start_time":{win.start + p},"end_time":{win.end + p},' for p in phase[rows].tolist()]
            lines = [
                f'{head}{text[r]},"bytes_in":{bi},"bytes_out":{bo},"num_flows":{f},"num_flows_started":{f},'
                f'"num_flows_completed":{fc},"packets_in":{pi},"packets_out":{po},"http_requests_allowed_in":0,'
                f'"http_requests_denied_in":0,"original_source_ips":null,"num_original_source_ips":0}}'
                for head, r, bi, bo, f, fc, pi, po in zip(heads, rows.tolist(), b_in.tolist(), b_out.tolist(),
                                                          flows.tolist(), completed.tolist(), p_in.tolist(),
                                                          p_out.tolist())
            ]
            sink.write(lines)
        return sink.count
