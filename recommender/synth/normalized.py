"""The documented normalized format (``recommender.io.schema.NORMALIZED_COLUMNS``) as Parquet or CSV.

One row per connection instance and window: initiator and responder with
kind, namespace, pod, workload and labels, protocol, destination port, the
final action, counters and the window bounds. Parquet stores labels as
``MAP<string,string>`` and policies as ``LIST<string>``, or, with
``labels="json"``, labels as canonical JSON text (``{"app":"web"}``, keys
sorted): the encoding the README recommends for large files, since decoding
MAP columns is most of the cost of reading them. CSV, which has no nested
types, stores labels and policies as JSON text (``{"app":"web"}``,
``["ns/name"]``) and timestamps as ``YYYY-MM-DD HH:MM:SS``. Columns appear in
schema order, so the files are exactly what the normalized reader accepts.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.csv as pacsv
import pyarrow.parquet as pq

from recommender.io.schema import COLUMN_NAMES
from recommender.synth.cluster import Cluster
from recommender.synth.traffic import Traffic

WINDOW_SECONDS = 300
LABELS = pa.map_(pa.string(), pa.string())
TS = pa.timestamp("us")

SCHEMA = pa.schema([
    ("window_start", TS), ("window_end", TS),
    *[(f"{side}_{c}", t) for side in ("src", "dst")
      for c, t in (("ip", pa.string()), ("namespace", pa.string()), ("pod", pa.string()), ("workload", pa.string()),
                   ("kind", pa.string()), ("labels", LABELS))],
    ("protocol", pa.string()), ("dst_port", pa.int32()), ("action", pa.string()), ("policies", pa.list_(pa.string())),
    ("flows", pa.int64()), ("packets", pa.int64()), ("bytes", pa.int64()),
    ("first_seen", TS), ("last_seen", TS),
    ("format", pa.string()), ("file", pa.string()), ("line", pa.int64()), ("records", pa.int64()),
])
assert tuple(SCHEMA.names) == COLUMN_NAMES, "normalized writer out of step with recommender.io.schema"


def _json_schema() -> pa.Schema:
    """SCHEMA with labels as JSON text."""
    return pa.schema([pa.field(f.name, pa.string()) if f.name.endswith("_labels") else f for f in SCHEMA])


def _endpoint_table(traffic: Traffic, csv: bool, json_labels: bool = False) -> pa.Table:
    eps = traffic.endpoints
    labels: list = [list(e.labels) if e.kind in ("pod", "host") else None for e in eps]
    return pa.table({
        "ip": pa.array([e.ip for e in eps], pa.string()),
        "namespace": pa.array([e.namespace for e in eps], pa.string()),
        "pod": pa.array([e.pod for e in eps], pa.string()),
        "workload": pa.array([e.workload.name if e.workload else None for e in eps], pa.string()),
        "kind": pa.array([e.kind for e in eps], pa.string()),
        "labels": (pa.array([None if v is None else json.dumps(dict(v), sort_keys=True) for v in labels], pa.string())
                   if csv or json_labels else pa.array(labels, LABELS)),
    })


def _conn_table(cluster: Cluster, csv: bool) -> pa.Table:
    policies = []
    for c in cluster.conns:
        if c.action != "deny":
            policies.append(None)
            continue
        side = c.dst if c.deny_at == "dst" else c.src
        policies.append([f"{side.split('/')[0]}/default-deny"])
    return pa.table({
        "protocol": pa.array([c.protocol for c in cluster.conns], pa.string()),
        "dst_port": pa.array([c.port for c in cluster.conns], pa.int32()),
        "action": pa.array([c.action for c in cluster.conns], pa.string()),
        "policies": (pa.array([None if p is None else json.dumps(p) for p in policies], pa.string()) if csv
                     else pa.array(policies, pa.list_(pa.string()))),
    })


def _batches(traffic: Traffic, csv: bool, records: int | None, windows: int | None, json_labels: bool = False):
    eps = _endpoint_table(traffic, csv, json_labels)
    conns = _conn_table(traffic.cluster, csv)
    rng = np.random.default_rng([traffic.seed, 7])
    v4 = np.asarray([e.ip for e in traffic.endpoints], dtype=object)
    v6 = np.asarray([e.ip6 or e.ip for e in traffic.endpoints], dtype=object)
    src_ip = np.where(traffic.v6, v6[traffic.src], v4[traffic.src])
    dst_ip = np.where(traffic.v6, v6[traffic.dst], v4[traffic.dst])
    if records is None and windows is None:
        windows = 1
    done = 0
    for win in traffic.windows(WINDOW_SECONDS, stream=40):
        if (records is not None and done >= records) or (windows is not None and win.index >= windows):
            return
        k = win.active if records is None else win.active[: records - done]
        n = len(k)
        src, dst = eps.take(pa.array(traffic.src[k])), eps.take(pa.array(traffic.dst[k]))
        conn = conns.take(pa.array(traffic.conn[k]))
        first = win.start * 1_000_000 + rng.integers(0, WINDOW_SECONDS * 500_000, size=n)
        last = np.maximum(first, win.end * 1_000_000 - rng.integers(0, WINDOW_SECONDS * 500_000, size=n))
        cols = {
            "window_start": pa.array(np.full(n, win.start * 1_000_000), TS),
            "window_end": pa.array(np.full(n, win.end * 1_000_000), TS),
            **{f"src_{c}": src.column(c) for c in eps.column_names},
            **{f"dst_{c}": dst.column(c) for c in eps.column_names},
            "src_ip": pa.array(src_ip[k], pa.string()),
            "dst_ip": pa.array(dst_ip[k], pa.string()),
            **{c: conn.column(c) for c in conns.column_names},
            "flows": pa.array(win.flows[:n], pa.int64()),
            "packets": pa.array((win.packets_in + win.packets_out)[:n], pa.int64()),
            "bytes": pa.array((win.bytes_in + win.bytes_out)[:n], pa.int64()),
            "first_seen": pa.array(first, TS),
            "last_seen": pa.array(last, TS),
            "format": pa.array(["normalized"] * n, pa.string()),
            "file": pa.nulls(n, pa.string()),
            "line": pa.nulls(n, pa.int64()),
            "records": pa.array(np.ones(n, dtype=np.int64), pa.int64()),
        }
        done += n
        yield pa.table(cols)


def write_parquet(cluster: Cluster, out: str | Path, *, records: int | None = None, windows: int | None = None,
                  traffic: Traffic | None = None, labels: str = "map") -> int:
    """Write normalized Parquet (zstd, one row group per window). Returns rows written.

    ``labels``: ``"map"`` (MAP columns) or ``"json"`` (canonical JSON text, faster to ingest)."""
    if labels not in ("map", "json"):
        raise ValueError(f"labels must be 'map' or 'json', not {labels!r}")
    traffic = traffic or Traffic(cluster)
    Path(out).parent.mkdir(parents=True, exist_ok=True)
    schema = _json_schema() if labels == "json" else SCHEMA
    n = 0
    with pq.ParquetWriter(out, schema, compression="zstd") as writer:
        for table in _batches(traffic, False, records, windows, labels == "json"):
            writer.write_table(table.cast(schema))
            n += table.num_rows
    return n


def write_csv(cluster: Cluster, out: str | Path, *, records: int | None = None, windows: int | None = None,
              traffic: Traffic | None = None) -> int:
    """Write normalized CSV with a header row. Returns rows written."""
    traffic = traffic or Traffic(cluster)
    Path(out).parent.mkdir(parents=True, exist_ok=True)
    n = 0
    header = True
    with open(out, "wb") as fh:
        for table in _batches(traffic, True, records, windows):
            table = table.set_column(0, "window_start", table.column(0).cast(pa.string()))
            table = table.set_column(1, "window_end", table.column(1).cast(pa.string()))
            for name in ("first_seen", "last_seen"):
                i = table.column_names.index(name)
                table = table.set_column(i, name, table.column(i).cast(pa.string()))
            pacsv.write_csv(table, fh, pacsv.WriteOptions(include_header=header, quoting_style="needed"))
            header = False
            n += table.num_rows
    return n
