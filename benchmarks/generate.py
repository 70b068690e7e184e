"""Write N synthetic records of each input format, for the ingest benchmarks.

    python benchmarks/generate.py --records 1000000 --format all --out benchmarks/out --seed 0

Every format describes the same seeded cluster (``--size``: medium, large,
xlarge; see recommender.synth.topology.SIZES) and traffic, so ingest timings
are comparable across formats. Prints a Markdown table of what was written
and how long it took (wall clock and this process's CPU time, which a busy
machine disturbs less); files land under ``--out`` (benchmarks/out/ is
gitignored): calico/flows.log, vpc/flows.log + inventory.json,
hubble/flows.json, normalized/flows.parquet, normalized/flows.csv.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:                      # runnable from a plain checkout too
    sys.path.insert(0, str(ROOT))

from recommender.synth import FORMATS, SIZES, Traffic, build_cluster, write_format  # noqa: E402


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--records", type=int, default=1_000_000, help="records per format (default 1,000,000)")
    ap.add_argument("--format", choices=[*FORMATS, "all"], default="all")
    ap.add_argument("--out", type=Path, default=ROOT / "benchmarks" / "out")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--size", choices=[s for s in SIZES if s != "small"] + ["small"], default="large")
    args = ap.parse_args(argv)

    t0 = time.perf_counter()
    cluster = build_cluster(args.seed, args.size)
    traffic = Traffic(cluster)
    setup = time.perf_counter() - t0
    s = cluster.summary()
    print(f"cluster {args.size} seed {args.seed}: {s['namespaces']} namespaces, {s['workloads']} workloads, "
          f"{s['pods']} pods, {s['nodes']} nodes, {s['connections']} connections, {len(traffic)} endpoint pairs "
          f"(built in {setup:.1f}s)\n")
    print("| format | records | seconds | CPU s | records/s | MB | file |")
    print("|---|---:|---:|---:|---:|---:|---|")
    for fmt in FORMATS if args.format == "all" else [args.format]:
        t0, c0 = time.perf_counter(), time.process_time()
        path, n = write_format(fmt, args.out, records=args.records, cluster=cluster, traffic=traffic)
        dt, cpu = time.perf_counter() - t0, time.process_time() - c0
        mb = path.stat().st_size / 1e6
        print(f"| {fmt} | {n:,} | {dt:.1f} | {cpu:.1f} | {n / dt:,.0f} | {mb:,.0f} | {path} |", flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
