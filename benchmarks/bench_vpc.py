"""VPC reader benchmark: N flow-log records + a pod inventory → connections, enriched.

    python benchmarks/bench_vpc.py --records 10000000 [--work /tmp/bench-vpc] [--db file|memory]

Why a generator of its own: it has to write 10M records in seconds, so it is a
single DuckDB ``COPY`` rather than the per-connection Python of
``recommender.synth``. The traffic has the shape the reader has to undo: each
TCP connection is logged four times (request and reply, on the client's and
the server's node ENI) with SYN / SYN-ACK flags (one connection in five is a
mid-connection window with flags 0, so the port rules decide), DNS over UDP
twice, plus NODATA records; clients use ephemeral ports.

The connection is opened like the CLI's (``store.connect``: memory limit from
``RECOMMENDER_DUCKDB_MEMORY``, default 640MB, spilling to a temp directory).
Prints one Markdown row: records, connections, seconds for the reader, the
inventory and the enrichment, total, records/s, CPU seconds and peak RSS.
Generation time is not included. Each run is a fresh process (peak RSS is
per process).
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import sys
import time
from pathlib import Path

import duckdb

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

HEADER = ("version account-id interface-id srcaddr dstaddr srcport dstport protocol packets bytes start end action "
          "log-status tcp-flags pkt-srcaddr pkt-dstaddr flow-direction")
NODES, CLIENTS, SERVERS = 200, 8000, 2000


def ip(prefix: int, i: str) -> str:
    return f"'10.{prefix}.' || ({i} // 250) || '.' || ({i} % 250 + 1)"


def generate(path: Path, records: int) -> None:
    """Write ``records`` VPC records (S3 text, v5 custom format) with one DuckDB COPY."""
    conns = records // 4
    con = duckdb.connect()
    # each client talks to three servers
    client, server = f"(hash(c) % {CLIENTS})", f"((hash(c) % {CLIENTS}) * 31 + c % 3) % {SERVERS}"
    con.execute(f"""
    COPY (
      WITH c AS (
        SELECT c, {ip(1, client)} AS cip, {ip(2, server)} AS sip,
               'eni-' || lpad(CAST({client} % {NODES} AS VARCHAR), 17, '0') AS ceni,
               'eni-' || lpad(CAST({server} % {NODES} AS VARCHAR), 17, '0') AS seni,
               32768 + c % 28000 AS cport, CASE WHEN c % 10 = 0 THEN 53 ELSE 8000 + {server} % 4 END AS sport,
               CASE WHEN c % 10 = 0 THEN 17 ELSE 6 END AS proto, 1700000000 + (c // 20000) * 60 AS t,
               CASE WHEN c % 10 = 0 THEN 0 WHEN c % 5 = 1 THEN 0 WHEN c % 3 = 0 THEN 3 ELSE 2 END AS flags
        FROM range({conns}) r(c)
      )
      SELECT 5, '123456789012', CASE WHEN v < 2 THEN ceni ELSE seni END,
             CASE WHEN v % 2 = 0 THEN cip ELSE sip END, CASE WHEN v % 2 = 0 THEN sip ELSE cip END,
             CASE WHEN v % 2 = 0 THEN cport ELSE sport END, CASE WHEN v % 2 = 0 THEN sport ELSE cport END,
             proto, 3 + v, 400 + v, t, t + 60, 'ACCEPT', 'OK',
             CASE WHEN v % 2 = 1 AND flags > 0 THEN flags + 16 ELSE flags END,
             CASE WHEN v % 2 = 0 THEN cip ELSE sip END, CASE WHEN v % 2 = 0 THEN sip ELSE cip END,
             CASE WHEN v IN (0, 3) THEN 'egress' ELSE 'ingress' END
      FROM c, range(4) v(v) WHERE proto = 6 OR v IN (0, 1)
      UNION ALL
      SELECT 5, '123456789012', 'eni-' || lpad(CAST(n % {NODES} AS VARCHAR), 17, '0'), NULL, NULL, NULL, NULL,
             NULL, NULL, NULL, 1700000000, 1700000060, NULL, 'NODATA', NULL, NULL, NULL, NULL
      FROM range({records} - (SELECT count(*) FROM c, range(4) v(v) WHERE proto = 6 OR v IN (0, 1))) r(n)
    ) TO '{path}' (DELIMITER ' ', HEADER false, NULLSTR '-', QUOTE '')""")
    text = path.read_bytes()
    path.write_bytes(HEADER.encode() + b"\n" + text)


def write_inventory(path: Path) -> None:
    items = []
    for role, prefix, count in (("client", 1, CLIENTS), ("server", 2, SERVERS)):
        for i in range(count):
            app = f"{role}-{i % 40}"
            items.append({"apiVersion": "v1", "kind": "Pod", "metadata": {
                "name": f"{app}-7fb78fb6d8-{i:05d}", "namespace": f"ns-{i % 10}",
                "labels": {"app": app, "pod-template-hash": "7fb78fb6d8"},
                "ownerReferences": [{"kind": "ReplicaSet", "name": f"{app}-7fb78fb6d8", "controller": True}]},
                "spec": {"nodeName": f"node-{i % NODES}", "containers": [{"name": "c", "ports": [
                    {"name": "http", "containerPort": 8000 + i % 4}]}]},
                "status": {"podIP": f"10.{prefix}.{i // 250}.{i % 250 + 1}"}})
    items += [{"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": f"ns-{i}"}} for i in range(10)]
    path.write_text(json.dumps({"apiVersion": "v1", "kind": "List", "items": items}, indent=1))


def run(flows: Path, inventory_path: Path, db: str) -> dict[str, float | int]:
    from recommender.io import enrich, inventory, schema, store, vpc

    con = store.connect(db)           # the CLI's settings: memory limit, spill directory, UTC
    cpu0, t0 = os.times(), time.perf_counter()
    con.execute(schema.connections_ddl("_staging").replace("CREATE TABLE IF NOT EXISTS", "CREATE TEMP TABLE"))
    stats = vpc.read(con, str(flows), target="_staging", skip_bad=False)
    t1 = time.perf_counter()
    inv = inventory.load_inventory(con, [inventory_path])
    t2 = time.perf_counter()
    enriched = enrich.enrich(con, "_staging")
    t3, cpu1 = time.perf_counter(), os.times()
    assert stats.reconciles()
    return {"records": stats.records, "connections": stats.connections, "pods": inv.pods,
            "enriched": enriched.pods, "read_s": t1 - t0, "inventory_s": t2 - t1, "enrich_s": t3 - t2,
            "total_s": t3 - t0, "cpu_s": (cpu1.user - cpu0.user) + (cpu1.system - cpu0.system),
            "rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--records", type=int, default=1_000_000)
    ap.add_argument("--work", type=Path, default=Path("/tmp/bench-vpc"))
    ap.add_argument("--db", choices=("memory", "file"), default="memory")
    args = ap.parse_args()
    args.work.mkdir(parents=True, exist_ok=True)
    flows, inv = args.work / f"vpc-{args.records}.log", args.work / "inventory.json"
    if not flows.exists():
        t = time.perf_counter()
        generate(flows, args.records)
        print(f"generated {flows} ({flows.stat().st_size / 1e6:.0f} MB) in {time.perf_counter() - t:.1f} s",
              file=sys.stderr)
    if not inv.exists():
        write_inventory(inv)
    db = ":memory:" if args.db == "memory" else str(args.work / "bench.duckdb")
    if db != ":memory:":
        Path(db).unlink(missing_ok=True)
    r = run(flows, inv, db)
    print("| records | connections | pods | read s | inventory s | enrich s | total s | records/s | CPU s | peak RSS MB |")
    print("|---|---|---|---|---|---|---|---|---|---|")
    print(f"| {r['records']:,} | {r['connections']:,} | {r['pods']:,} | {r['read_s']:.2f} | {r['inventory_s']:.2f} "
          f"| {r['enrich_s']:.2f} | {r['total_s']:.2f} | {r['records'] / r['total_s']:,.0f} | {r['cpu_s']:.1f} "
          f"| {r['rss_mb']:.0f} |")


if __name__ == "__main__":
    main()
