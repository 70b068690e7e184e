"""``python -m recommender.synth``: regenerate the demo data or write benchmark inputs.

    python -m recommender.synth demo data/demo
    python -m recommender.synth write --format calico --records 1000000 --size large --out benchmarks/out
"""

from __future__ import annotations

import argparse
import sys
import time

from recommender.synth.demo import DEMO_SEED, write_demo
from recommender.synth.writers import FORMATS, write_format


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
    w.add_argument("--size", default="large")
    w.add_argument("--seed", type=int, default=0)
    w.add_argument("--out", default="benchmarks/out")
    args = ap.parse_args(argv)
    if args.command == "demo":
        for path in write_demo(args.out_dir, args.seed):
            print(path)
        return 0
    for fmt in FORMATS if args.format == "all" else [args.format]:
        t0 = time.perf_counter()
        path, n = write_format(fmt, args.out, records=args.records, size=args.size, seed=args.seed)
        print(f"{fmt}\t{n}\t{time.perf_counter() - t0:.2f}s\t{path}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
