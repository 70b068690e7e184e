"""``python -m recommender.synth``: regenerate the demo data, write benchmark inputs, print ground truth.

    python -m recommender.synth demo data/demo
    python -m recommender.synth write --format all --records 1000000 --size large --out benchmarks/out
    python -m recommender.synth expected --size small --seed 7 > expected.csv

``write`` reports one tab-separated line per format on stderr:
format, records, seconds, path.
"""

from __future__ import annotations

import argparse
import sys
import time

from recommender.synth.topology import SIZES, build_cluster
from recommender.synth.traffic import Traffic
from recommender.synth.writers import DEMO_SEED, FORMATS, write_demo, write_format


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m recommender.synth", description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = ap.add_subparsers(dest="command", required=True)
    d = sub.add_parser("demo", help="write the bundled demo data set")
    d.add_argument("out_dir")
    d.add_argument("--seed", type=int, default=DEMO_SEED)
    w = sub.add_parser("write", help="write N records of one or all formats")
    w.add_argument("--format", choices=[*FORMATS, "all"], default="all")
    w.add_argument("--records", type=int, default=100_000)
    w.add_argument("--size", choices=list(SIZES), default="large")
    w.add_argument("--seed", type=int, default=0)
    w.add_argument("--out", default="benchmarks/out")
    e = sub.add_parser("expected", help="print a cluster's expected connections as CSV")
    e.add_argument("--size", choices=list(SIZES), default="small")
    e.add_argument("--seed", type=int, default=DEMO_SEED)
    args = ap.parse_args(argv)
    if args.command == "demo":
        for path in write_demo(args.out_dir, args.seed):
            print(path)
    elif args.command == "expected":
        build_cluster(args.seed, args.size).expected_connections().to_csv(sys.stdout, index=False,
                                                                         lineterminator="\n")
    else:
        t0 = time.perf_counter()
        cluster = build_cluster(args.seed, args.size)
        traffic = Traffic(cluster)
        print(f"cluster\t{cluster.summary()}\t{time.perf_counter() - t0:.2f}s", file=sys.stderr)
        for fmt in FORMATS if args.format == "all" else [args.format]:
            t0 = time.perf_counter()
            path, n = write_format(fmt, args.out, records=args.records, cluster=cluster, traffic=traffic)
            print(f"{fmt}\t{n}\t{time.perf_counter() - t0:.2f}s\t{path}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
