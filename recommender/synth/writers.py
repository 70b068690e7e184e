"""One entry point per output format, for benchmarks and ``python -m recommender.synth``.

``write_format("calico", out_dir, records=N)`` builds (or reuses) a cluster
and writes exactly N records of that format to a conventional file name, so
benchmark scripts of every reader can share the same inputs.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from recommender.synth.calico import write_calico
from recommender.synth.cluster import Cluster
from recommender.synth.topology import ClusterSize, build_cluster
from recommender.synth.traffic import Traffic

Writer = Callable[..., int]

FORMATS: dict[str, tuple[str, Writer]] = {
    "calico": ("calico/flows.log", write_calico),
}


def write_format(fmt: str, out_dir: str | Path, *, records: int, size: str | ClusterSize = "large", seed: int = 0,
                 cluster: Cluster | None = None, traffic: Traffic | None = None) -> tuple[Path, int]:
    """Write ``records`` records of ``fmt`` under ``out_dir``; returns (path, records written)."""
    if fmt not in FORMATS:
        raise ValueError(f"unknown format {fmt!r}; choose one of {', '.join(FORMATS)}")
    cluster = cluster or build_cluster(seed, size)
    traffic = traffic or Traffic(cluster)
    name, writer = FORMATS[fmt]
    path = Path(out_dir) / name
    n = writer(cluster, path, records=records, traffic=traffic)
    return path, n
