"""Measure `recommend ingest` throughput and peak memory on synthetic flow logs.

Why: ingestion must stream (never materialize raw records) and stay inside a
1 GiB footprint on a 2-core machine. This generates N records per format with
``recommender.synth`` (cached under benchmarks/out/), then runs the real CLI in
a child process per format and reports wall time, records/s and the child's
peak RSS (``resource.getrusage(RUSAGE_CHILDREN)``, i.e. what ``/usr/bin/time -v``
calls "Maximum resident set size"), its CPU seconds, and the 1-minute load average
(wall time is only meaningful on an otherwise idle machine). Peak RSS is the maximum
over all children so far, so run one format per invocation for exact per-format peaks.

    python benchmarks/bench_ingest.py                       # 1M calico + 1M parquet
    python benchmarks/bench_ingest.py --records 10000000 --formats parquet
    python benchmarks/bench_ingest.py --records 10000000 --formats parquet-json   # labels as JSON text
    python benchmarks/bench_ingest.py --db file             # into a DuckDB file instead of :memory:
    python benchmarks/bench_ingest.py --input /tmp/h9/c1m/calico/flows.log --formats calico   # an existing file
    python benchmarks/bench_ingest.py --formats vpc         # VPC is ingested with the generated inventory.json
    split -C 100M -d -a 3 flows.log /tmp/rotated/flows.log.  # rotated like Felix does (100 MB files), then:
    python benchmarks/bench_ingest.py --input /tmp/rotated --formats calico   # every file in the directory

Compare ``cpu_s_per_1m`` between versions on a busy machine: it is the child's CPU time (user +
system, all DuckDB threads) per million records, which load from other jobs barely changes.

Targets (issue 2): 10M Calico JSON lines ≤ 12 s, 10M Parquet rows ≤ 4 s, peak RSS ≤ 1 GiB.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

OUT = Path(__file__).resolve().parent / "out"
SYNTH_FORMAT = {"calico": "calico", "parquet": "parquet", "parquet-json": "parquet-json", "csv": "csv", "vpc": "vpc",
                "hubble": "hubble"}


def generate(fmt: str, records: int, size: str) -> tuple[Path, Path | None]:
    """Synthetic input for ``fmt`` with ``records`` records, generated once and cached,
    and the inventory written beside it (VPC records are IP-only and need one)."""
    from recommender.synth import write_format

    out_dir = OUT / f"{fmt}-{records}-{size}"
    done = out_dir / ".done"
    inventory = out_dir / "inventory.json"
    if done.exists():
        return Path(done.read_text()), inventory if inventory.exists() else None
    t0 = time.perf_counter()
    path, n = write_format(SYNTH_FORMAT[fmt], out_dir, records=records, size=size)
    print(f"generated {fmt}: {n} records, {path.stat().st_size / 1e9:.2f} GB in {time.perf_counter() - t0:.1f}s",
          file=sys.stderr)
    done.write_text(str(path))
    return path, inventory if inventory.exists() else None


def run(path: Path, db: str, inventory: Path | None = None) -> dict:
    """Ingest ``path`` (a file, or every file in a directory: rotated logs) with ``inventory`` in a
    child process; wall time, peak RSS and the JSON summary."""
    files = sorted(p for p in path.iterdir() if p.is_file()) if path.is_dir() else [path]
    cmd = [sys.executable, "-m", "recommender", "ingest", *map(str, files), "--db", db, "-q", "-o", "json"]
    if inventory is not None:
        cmd += ["--inventory", str(inventory)]
    r0 = resource.getrusage(resource.RUSAGE_CHILDREN)
    t0 = time.perf_counter()
    env = {**os.environ, "PYTHONPATH": str(OUT.parent.parent)}   # measure this checkout, not an installed copy
    proc = subprocess.run(cmd, capture_output=True, text=True, check=False, env=env)
    wall = time.perf_counter() - t0
    r1 = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (r1.ru_utime + r1.ru_stime) - (r0.ru_utime + r0.ru_stime)
    if proc.returncode != 0:
        raise SystemExit(f"ingest failed ({proc.returncode}): {proc.stderr.strip()}")
    summary = json.loads(proc.stdout)
    return {"wall_s": round(wall, 2), "records": summary["records"], "connections": summary["connections"],
            "records_per_s": int(summary["records"] / wall), "size_gb": round(sum(f.stat().st_size for f in files) / 1e9, 2),
            "files": len(files),
            "cpu_s": round(cpu, 2), "cpu_s_per_1m": round(cpu * 1e6 / max(summary["records"], 1), 2),
            "peak_rss_mb": round(r1.ru_maxrss / 1024), "reconciles": summary["reconciles"],
            "load_avg_1m": round(os.getloadavg()[0], 1)}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--records", type=int, default=1_000_000)
    ap.add_argument("--formats", default="calico,parquet", help="comma-separated: " + ", ".join(SYNTH_FORMAT))
    ap.add_argument("--size", default="large", help="synthetic cluster size (recommender.synth.SIZES)")
    ap.add_argument("--db", choices=["memory", "file"], default="memory")
    ap.add_argument("--input", type=Path, help="ingest this existing file, or all files in this directory, "
                                               "instead of generating (one format)")
    ap.add_argument("--inventory", type=Path, help="pod inventory to ingest with --input (VPC needs one)")
    args = ap.parse_args(argv)
    print(f"cpus={os.cpu_count()} memory_limit={os.environ.get('RECOMMENDER_DUCKDB_MEMORY', '640MB (default)')}",
          file=sys.stderr)
    for fmt in args.formats.split(","):
        path, inventory = (args.input, args.inventory) if args.input else generate(fmt, args.records, args.size)
        with tempfile.TemporaryDirectory() as tmp:
            db = ":memory:" if args.db == "memory" else str(Path(tmp) / "bench.duckdb")
            result = run(path, db, inventory)
        print(json.dumps({"format": fmt, **result}, sort_keys=True))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
