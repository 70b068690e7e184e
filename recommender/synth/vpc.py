"""AWS VPC flow logs as delivered to S3: a header line, then space-separated records.

The custom format is the default v2 fields plus ``tcp-flags``,
``pkt-srcaddr``, ``pkt-dstaddr`` and ``flow-direction`` (hence version 5).
Each connection instance is seen on the ENI of every node it touches
(outside peers have no ENI):

* on the client's ENI: the request (client → server port, ``egress``,
  ``tcp-flags`` 2 = SYN, or 3 = SYN+FIN for short connections) and the reply
  (server port → client's ephemeral port, ``ingress``, 18 = SYN+ACK, or 19);
* on the server's ENI: the same request as ``ingress`` and reply as ``egress``.

UDP and SCTP records carry flags 0. A denied connection shows only its
request records, ``REJECT`` on the ENI of the side whose policy refused it.
VPC logs know nothing of pods: pair them with the inventory
(``write_inventory``) of the same cluster. Traffic between two pods of one
node, which a real VPC never sees, is still written (on that node's ENI) so
that every expected connection is visible in this format too.
"""

from __future__ import annotations

from pathlib import Path
from typing import BinaryIO

import numpy as np

from recommender.synth.cluster import Cluster
from recommender.synth.traffic import LineSink, PROTO_NUMBER, Traffic, active_rows

WINDOW_SECONDS = 60
ACCOUNT = "123456789012"
HEADER = ("version account-id interface-id srcaddr dstaddr srcport dstport protocol packets bytes start end action "
          "log-status tcp-flags pkt-srcaddr pkt-dstaddr flow-direction")


def _rows(traffic: Traffic) -> tuple[np.ndarray, np.ndarray, list[str], list[str]]:
    """(instance, is reply, text before the counters, text after the timestamps) of every record."""
    cluster = traffic.cluster
    eps = traffic.endpoints
    inst: list[int] = []
    reply: list[bool] = []
    pre: list[str] = []
    post: list[str] = []
    for i in range(len(traffic)):
        c = traffic.conn_of(i)
        s, d = eps[int(traffic.src[i])], eps[int(traffic.dst[i])]
        proto = PROTO_NUMBER[c.protocol]
        sport = int(traffic.sport[i])
        short = i % 3 == 0
        req_flags, rep_flags = (3 if short else 2, 19 if short else 18) if c.protocol == "TCP" else (0, 0)
        denied = c.action == "deny"
        s_ip, d_ip = traffic.addresses(i)
        request = f"{s_ip} {d_ip} {sport} {c.port} {proto}"
        response = f"{d_ip} {s_ip} {c.port} {sport} {proto}"
        for ep, side in ((s, "src"), (d, "dst")):
            if ep.node is None:
                continue
            if denied and c.deny_at == "src" and side == "dst":
                continue                           # never left the source
            eni = cluster.nodes[ep.node].eni
            action = "REJECT" if denied and c.deny_at == side else "ACCEPT"
            out_dir, in_dir = ("egress", "ingress") if side == "src" else ("ingress", "egress")
            inst.append(i)
            reply.append(False)
            pre.append(f"5 {ACCOUNT} {eni} {request}")
            post.append(f"{action} OK {req_flags} {s_ip} {d_ip} {out_dir}")
            if not denied:
                inst.append(i)
                reply.append(True)
                pre.append(f"5 {ACCOUNT} {eni} {response}")
                post.append(f"ACCEPT OK {rep_flags} {d_ip} {s_ip} {in_dir}")
    return np.asarray(inst, dtype=np.int64), np.asarray(reply, dtype=bool), pre, post


def write_vpc(cluster: Cluster, out: str | Path | BinaryIO, *, records: int | None = None,
              windows: int | None = None, traffic: Traffic | None = None) -> int:
    """Write an S3-style VPC flow log: ``records`` records (header not
    counted) or ``windows`` 1-minute aggregation intervals (one when neither
    is given). Returns the number of records written."""
    traffic = traffic or Traffic(cluster)
    inst, reply, pre, post = _rows(traffic)
    rng = np.random.default_rng([traffic.seed, 4])
    with LineSink(out, records, header=HEADER) as sink:
        for win in sink.windows(traffic, WINDOW_SECONDS, stream=20, count=windows):
            rows, k = active_rows(win, inst)
            rep = reply[rows]
            packets = np.where(rep, win.packets_in[k], win.packets_out[k])
            nbytes = np.where(rep, win.bytes_in[k], win.bytes_out[k])
            start = win.start + rng.integers(0, WINDOW_SECONDS // 2, size=len(rows))
            end = np.minimum(start + rng.integers(1, WINDOW_SECONDS, size=len(rows)), win.end)
            sink.write([f"{pre[r]} {p} {b} {s} {e} {post[r]}"
                        for r, p, b, s, e in zip(rows.tolist(), packets.tolist(), nbytes.tolist(), start.tolist(),
                                                 end.tolist())])
        return sink.count
