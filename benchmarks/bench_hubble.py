"""Hubble reader benchmark: ``hubble.read`` on N synthetic ``hubble observe -o jsonpb`` lines.

    python benchmarks/bench_hubble.py --records 1000000 --threads 2
    python benchmarks/bench_hubble.py --input /tmp/bench/hubble/flows.json   # an existing file

The input is written by ``recommender.synth`` (seeded; reused from ``--work``
when it exists with ``--reuse``) unless ``--input`` names one. The read runs in a fresh child
process into an in-memory staging table, on a connection with the store's settings (memory
limit, spill directory, UTC), so the figures are the reader's own: wall time,
CPU time (user+sys; on a busy machine wall time is inflated, CPU time is not),
records per second, peak RSS. ``--gzip`` benchmarks the compressed file.
"""

from __future__ import annotations

import argparse
import gzip
import json
import resource
import shutil
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))


def read_once(path: Path, threads: int) -> dict[str, float | int]:
    """Child side: read ``path`` once and measure."""
    from recommender.io import hubble, schema, store

    con = store.connect()
    con.execute(f"SET threads = {threads}")
    con.execute(schema.connections_ddl("staging"))
    con.execute(schema.REJECTED_DDL)
    r0 = resource.getrusage(resource.RUSAGE_SELF)
    t0 = time.perf_counter()
    stats = hubble.read(con, path, target="staging", skip_bad=False)
    wall = time.perf_counter() - t0
    r1 = resource.getrusage(resource.RUSAGE_SELF)
    return {"records": stats.records, "connections": stats.connections, "seconds": wall,
            "cpu": (r1.ru_utime - r0.ru_utime) + (r1.ru_stime - r0.ru_stime),
            "peak_rss_mb": r1.ru_maxrss / 1024, "mb": path.stat().st_size / 1e6}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--records", type=int, default=1_000_000)
    ap.add_argument("--size", default="large", help="synthetic cluster size (recommender.synth.SIZES)")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--gzip", action="store_true", help="also benchmark the gzip-compressed file")
    ap.add_argument("--work", type=Path, default=ROOT / "benchmarks" / "out")
    ap.add_argument("--reuse", action="store_true", help="reuse an existing input under --work")
    ap.add_argument("--input", type=Path, help="benchmark this Hubble file instead of a generated one")
    ap.add_argument("--child", type=Path, help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    if args.child:
        print(json.dumps(read_once(args.child, args.threads)))
        return 0

    from recommender.synth import Traffic, build_cluster
    from recommender.synth.hubble import write_hubble

    args.work.mkdir(parents=True, exist_ok=True)
    path = args.input or args.work / f"hubble-{args.records}-{args.size}-{args.seed}.json"
    if not args.input and not (args.reuse and path.exists()):
        t0 = time.perf_counter()
        cluster = build_cluster(args.seed, args.size)
        n = write_hubble(cluster, path, records=args.records, traffic=Traffic(cluster))
        print(f"generated {n:,} lines in {time.perf_counter() - t0:.1f} s -> {path}")
    inputs = [path]
    if args.gzip:
        gz = args.work / (path.name + ".gz")
        if not (args.reuse and gz.exists()):
            with open(path, "rb") as src, gzip.open(gz, "wb", compresslevel=6) as dst:
                shutil.copyfileobj(src, dst)
        inputs.append(gz)
    print(f"threads {args.threads}\n")
    print("| input | MB | records | connections | wall s | cpu s | records/s (wall) | peak RSS MB |")
    print("|---|---:|---:|---:|---:|---:|---:|---:|")
    for p in inputs:
        child = subprocess.run([sys.executable, __file__, "--child", str(p), "--threads", str(args.threads)],
                               capture_output=True, text=True)
        if child.returncode != 0:
            print(f"| {p.name} | read failed: {child.stderr.strip().splitlines()[-1:]} |||||||")
            continue
        r = json.loads(child.stdout.strip().splitlines()[-1])
        print(f"| {p.name} | {r['mb']:,.0f} | {r['records']:,} | {r['connections']:,} | {r['seconds']:.2f} | "
              f"{r['cpu']:.2f} | {r['records'] / r['seconds']:,.0f} | {r['peak_rss_mb']:,.0f} |", flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
