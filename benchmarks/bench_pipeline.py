"""End-to-end benchmark: ingest → generate (synthesis + verification) → write YAML.

    python benchmarks/bench_pipeline.py --format calico --records 1000000 --size large
    python benchmarks/bench_pipeline.py --format hubble --records 1000000 --reuse

Inputs come from ``recommender.synth`` (written under ``--work`` unless
``--reuse`` finds them). The pipeline runs in a fresh child process so the peak
RSS is the pipeline's own. Prints one Markdown row per phase: wall seconds, CPU
seconds, and at the end the peak RSS, policies, YAML lines and coverage. The
targets (issue 4): 10M Calico records (~2,000 workloads) ≤ 15 s and ≤ 1 GiB;
1M Hubble flows ≤ 3 s; writing 2,000 policies well under a second.
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))


def _cpu() -> float:
    r = resource.getrusage(resource.RUSAGE_SELF)
    return r.ru_utime + r.ru_stime


def run_pipeline(path: Path, inventory: list[Path], db: str) -> dict[str, object]:
    """The measured run (child-process side)."""
    from recommender import generate, load_flows
    from recommender.recommend import generate as _  # noqa: F401  (import cost outside the timings)

    phases: list[tuple[str, float, float]] = []

    def phase(name: str, t0: float, c0: float) -> None:
        phases.append((name, time.perf_counter() - t0, _cpu() - c0))

    t0, c0 = time.perf_counter(), _cpu()
    store = load_flows([path], inventory, db=db)
    phase("ingest", t0, c0)
    t0, c0 = time.perf_counter(), _cpu()
    rec = generate(store)
    phase("generate + verify", t0, c0)
    with tempfile.TemporaryDirectory() as out:
        t0, c0 = time.perf_counter(), _cpu()
        rec.write(out)
        phase("render + write YAML", t0, c0)
    return {
        "phases": phases,
        "records": store.summary.records,
        "connections": store.summary.connections,
        "workloads": sum(len(p.annotations.as_dict().get("recommender.io/workloads", "").split(","))
                         for p in rec.policies if p.name != "default-deny"),
        "policies": len(rec.policies),
        "yaml_lines": sum(ns.get("yaml_lines", 0) for ns in rec.summary["namespaces"].values()),
        "coverage": rec.summary["verification"]["coverage"],
        "checked": rec.summary["verification"]["connections"],
        "over_permission": rec.summary.get("over_permission"),
        "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
    }


def main(argv: list[str] | None = None) -> int:
    from recommender.synth import FORMATS, SIZES, Traffic, build_cluster, write_format
    from recommender.synth.topology import ClusterSize

    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--format", choices=list(FORMATS), default="calico")
    ap.add_argument("--records", type=int, default=1_000_000)
    ap.add_argument("--size", choices=list(SIZES), default="large")
    ap.add_argument("--tenants", type=int, help="custom cluster: N tenants × 14 workloads (140 ≈ 2,000 workloads)")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--db", default=":memory:", help="DuckDB file for the store (default in memory)")
    ap.add_argument("--work", type=Path, default=ROOT / "benchmarks" / "out")
    ap.add_argument("--reuse", action="store_true", help="use existing inputs under --work")
    ap.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    path = args.work / FORMATS[args.format][0]
    inventory = [args.work / "inventory.json"] if args.format == "vpc" else []
    if args.child:
        print(json.dumps(run_pipeline(path, inventory, args.db)))
        return 0
    if not (args.reuse and path.exists()):
        size = ClusterSize(tenants=args.tenants, workloads_per_tenant=14, nodes=max(8, args.tenants // 2)) \
            if args.tenants else args.size
        cluster = build_cluster(args.seed, size)
        t0 = time.perf_counter()
        write_format(args.format, args.work, records=args.records, cluster=cluster, traffic=Traffic(cluster))
        print(f"wrote {path} in {time.perf_counter() - t0:.1f} s (not part of the timings)", file=sys.stderr)
    child = [sys.executable, __file__, "--child", "--format", args.format, "--work", str(args.work), "--db", args.db]
    out = subprocess.run(child, check=True, capture_output=True, text=True)
    r = json.loads(out.stdout.strip().splitlines()[-1])
    print(f"{r['records']:,} {args.format} records → {r['connections']:,} connections, "
          f"{r['workloads']:,} workloads, {r['policies']:,} policies, {r['yaml_lines']:,} YAML lines\n")
    print("| phase | wall s | CPU s |\n|---|---:|---:|")
    for name, wall, cpu in r["phases"]:
        print(f"| {name} | {wall:.2f} | {cpu:.2f} |")
    total = sum(p[1] for p in r["phases"])
    print(f"| **total** | **{total:.2f}** | {sum(p[2] for p in r['phases']):.2f} |\n")
    print(f"peak RSS {r['peak_rss_mb']:.0f} MB; coverage {100 * r['coverage']:.1f}% of {r['checked']:,} "
          f"connections; over-permission {r['over_permission']}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
