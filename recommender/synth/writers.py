"""One entry point per output format, and the bundled demo data set built from them.

``write_format("calico", out_dir, records=N)`` builds (or reuses) a cluster
and writes exactly N records of that format under a conventional file name,
so the benchmarks of every reader share the same inputs.

``write_demo`` is the single seeded recipe of ``data/demo``. The README's
first commands run on those files, and a test regenerates them and compares
bytes, so ``data/`` never drifts from the generator. The total stays under
2 MB: one export window per format, one destination pod per source pod.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from pathlib import Path

from recommender.synth.calico import write_calico
from recommender.synth.cluster import Cluster
from recommender.synth.hubble import write_hubble
from recommender.synth.inventory import write_inventory
from recommender.synth.normalized import write_csv, write_parquet
from recommender.synth.topology import ClusterSize, build_cluster
from recommender.synth.traffic import Traffic
from recommender.synth.vpc import write_vpc

Writer = Callable[..., int]

FORMATS: dict[str, tuple[str, Writer]] = {
    "calico": ("calico/flows.log", write_calico),
    # each node's export windows start at its own phase, as real Felix instances' do
    "calico-skewed": ("calico-skewed/flows.log", functools.partial(write_calico, node_clocks="skewed")),
    "vpc": ("vpc/flows.log", write_vpc),
    "hubble": ("hubble/flows.json", write_hubble),
    "parquet": ("normalized/flows.parquet", write_parquet),
    # the same rows with labels as JSON text, the encoding the README recommends for large files
    "parquet-json": ("normalized/flows-json.parquet", functools.partial(write_parquet, labels="json")),
    "csv": ("normalized/flows.csv", write_csv),
}
DEMO_SEED = 7
DEMO_FORMATS = ("calico", "vpc", "hubble", "parquet")   # normalized CSV is left out to stay under 2 MB


def write_format(fmt: str, out_dir: str | Path, *, records: int, size: str | ClusterSize = "large", seed: int = 0,
                 cluster: Cluster | None = None, traffic: Traffic | None = None) -> tuple[Path, int]:
    """Write ``records`` records of ``fmt`` under ``out_dir``; returns (path, records written).
    The VPC format also writes ``inventory.json`` into ``out_dir``."""
    if fmt not in FORMATS:
        raise ValueError(f"unknown format {fmt!r}; choose one of {', '.join(FORMATS)}")
    cluster = cluster or build_cluster(seed, size)
    traffic = traffic or Traffic(cluster)
    name, writer = FORMATS[fmt]
    path = Path(out_dir) / name
    n = writer(cluster, path, records=records, traffic=traffic)
    if fmt == "vpc":   # VPC records only make sense with the pods behind the addresses
        write_inventory(cluster, Path(out_dir) / "inventory.json")
    return path, n


def write_demo(out_dir: str | Path, seed: int = DEMO_SEED) -> list[Path]:
    """Write every demo file under ``out_dir``; returns their paths, sorted."""
    out = Path(out_dir)
    cluster = build_cluster(seed, "small")
    traffic = Traffic(cluster, max_pairs_per_src=1)
    written: list[Path] = []
    for fmt in DEMO_FORMATS:
        name, writer = FORMATS[fmt]
        writer(cluster, out / name, windows=1, traffic=traffic)
        written.append(out / name)
    for name in ("inventory.yaml", "inventory.json"):
        written.append(write_inventory(cluster, out / name))
    written.append(write_expected(cluster, out / "expected-connections.csv"))
    return sorted(written)


def write_expected(cluster: Cluster, path: str | Path) -> Path:
    """The ground truth as CSV (``Cluster.expected_connections()``)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    cluster.expected_connections().to_csv(path, index=False, lineterminator="\n")
    return path
