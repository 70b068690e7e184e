"""How big and how slow is the HTML report for a large cluster?

    python benchmarks/bench_report.py --size large --records 100000

The report must stay one file a browser opens comfortably (a few MB) even for
thousands of workloads; the tests only check 200 workloads, this script
measures the sizes the tests cannot afford. It writes the seeded synthetic
cluster's flows as normalized Parquet, loads them, and times
``render_report`` with and without generated policies (generation itself is
timed apart), printing a Markdown table.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:                      # runnable from a plain checkout too
    sys.path.insert(0, str(ROOT))

from recommender import generate, load_flows  # noqa: E402
from recommender.report import render_report  # noqa: E402
from recommender.synth import SIZES, Traffic, build_cluster, write_format  # noqa: E402
from recommender.synth.topology import ClusterSize  # noqa: E402


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--size", choices=list(SIZES), default="large")
    ap.add_argument("--records", type=int, default=100_000)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--tenants", type=int, help="custom cluster: N tenants × 14 workloads (140 ≈ 2,000 workloads)")
    ap.add_argument("--out", type=Path, help="also write the reports here")
    ap.add_argument("--skip-generate", action="store_true", help="only the observed-traffic report")
    args = ap.parse_args(argv)

    size = ClusterSize(tenants=args.tenants, workloads_per_tenant=14, nodes=max(8, args.tenants // 2)) \
        if args.tenants else args.size
    cluster = build_cluster(args.seed, size)
    s = cluster.summary()
    with tempfile.TemporaryDirectory() as tmp:
        path, n = write_format("parquet", Path(tmp), records=args.records, cluster=cluster, traffic=Traffic(cluster))
        store = load_flows([path])
        rows = store.con.execute("SELECT count(*) FROM connections").fetchall()[0][0]
        print(f"cluster {args.tenants and f'{args.tenants} tenants' or args.size}: {s['namespaces']} namespaces, {s['workloads']} workloads; "
              f"{n:,} records → {rows:,} connections\n")
        print("| report | seconds | MB | KB per workload |")
        print("|---|---:|---:|---:|")
        t0 = time.perf_counter()
        plain = render_report(store, generate=False)
        _row("observed traffic only (--no-generate)", time.perf_counter() - t0, plain, s["workloads"])
        if args.skip_generate:
            if args.out:
                args.out.mkdir(parents=True, exist_ok=True)
                (args.out / f"report-{args.size}-plain.html").write_text(plain, encoding="utf-8")
            return 0
        t0 = time.perf_counter()
        rec = generate(store)
        print(f"| (generate: {len(rec.policies)} policies) | {time.perf_counter() - t0:.1f} | | |")
        t0 = time.perf_counter()
        judged = render_report(store, policies=rec)
        _row("with the recommended policies", time.perf_counter() - t0, judged, s["workloads"])
        if args.out:
            args.out.mkdir(parents=True, exist_ok=True)
            (args.out / f"report-{args.size}-plain.html").write_text(plain, encoding="utf-8")
            (args.out / f"report-{args.size}.html").write_text(judged, encoding="utf-8")
        store.close()
    return 0


def _row(label: str, seconds: float, page: str, workloads: int) -> None:
    size = len(page.encode("utf-8"))
    print(f"| {label} | {seconds:.1f} | {size / 1e6:.2f} | {size / 1e3 / max(workloads, 1):.2f} |", flush=True)


if __name__ == "__main__":
    raise SystemExit(main())
