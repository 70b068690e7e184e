"""Ingest benchmark: time ``load_flows`` on N synthetic records of each input format.

    python benchmarks/ingest.py --records 1000000 --format all --size large

For each format it writes the input with ``recommender.synth`` (unless
``--reuse`` finds it already under ``--work``), then ingests it in a fresh
child process into an on-disk DuckDB database (the CLI default), so every
format gets its own peak-memory figure. Prints a Markdown table: records,
distinct connections, ingest seconds, records per second, peak RSS, database
size. Generation time is reported separately and not part of the ingest time.
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from recommender.synth import FORMATS, SIZES, Traffic, build_cluster, write_format  # noqa: E402


def ingest_once(fmt: str, work: Path) -> dict[str, float | int]:
    """Ingest ``work``'s file of ``fmt`` into ``work/<fmt>.duckdb`` (child-process side)."""
    from recommender.io.store import load_flows

    path = work / FORMATS[fmt][0]
    inventory = [work / "inventory.json"] if fmt == "vpc" else []
    db = work / f"{fmt}.duckdb"
    for stale in (db, db.with_suffix(".duckdb.wal")):
        stale.unlink(missing_ok=True)
    t0 = time.perf_counter()
    store = load_flows(path, inventory, db=db, format="normalized" if fmt in ("parquet", "csv") else None)
    seconds = time.perf_counter() - t0
    summary = store.summary
    store.close()
    return {
        "records": summary.records,
        "connections": summary.connections,
        "seconds": seconds,
        "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
        "db_mb": db.stat().st_size / 1e6,
    }


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--records", type=int, default=1_000_000)
    ap.add_argument("--format", choices=[*FORMATS, "all"], default="all")
    ap.add_argument("--size", choices=list(SIZES), default="large")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--work", type=Path, default=ROOT / "benchmarks" / "out")
    ap.add_argument("--reuse", action="store_true", help="ingest existing inputs under --work instead of regenerating")
    ap.add_argument("--child", help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    if args.child:
        print(json.dumps(ingest_once(args.child, args.work)))
        return 0

    formats = list(FORMATS) if args.format == "all" else [args.format]
    cluster = traffic = None
    print(f"{args.records:,} records per format, cluster size {args.size}, seed {args.seed}\n")
    print("| format | generate s | records | connections | ingest s | records/s | peak RSS MB | db MB |")
    print("|---|---:|---:|---:|---:|---:|---:|---:|")
    for fmt in formats:
        gen = 0.0
        if not (args.reuse and (args.work / FORMATS[fmt][0]).exists()):
            if cluster is None:
                cluster = build_cluster(args.seed, args.size)
                traffic = Traffic(cluster)
            t0 = time.perf_counter()
            write_format(fmt, args.work, records=args.records, cluster=cluster, traffic=traffic)
            gen = time.perf_counter() - t0
        child = subprocess.run([sys.executable, __file__, "--child", fmt, "--work", str(args.work)],
                               capture_output=True, text=True)
        if child.returncode != 0:
            print(f"| {fmt} | {gen:.1f} | ingest failed (exit {child.returncode}): "
                  f"{child.stderr.strip().splitlines()[-1:] or ''} |||||", flush=True)
            continue
        r = json.loads(child.stdout.strip().splitlines()[-1])
        rate = r["records"] / r["seconds"] if r["seconds"] else 0
        print(f"| {fmt} | {gen:.1f} | {r['records']:,} | {r['connections']:,} | {r['seconds']:.1f} | {rate:,.0f} | "
              f"{r['peak_rss_mb']:,.0f} | {r['db_mb']:,.0f} |", flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
