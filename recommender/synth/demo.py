"""The bundled demo data set (``data/demo``) and its single seeded recipe.

The README's first commands run on these files, and a test regenerates them
and compares bytes, so ``data/`` can never drift from this generator. Keep
the total under 2 MB: one export window per format is enough to show every
connection of the small shop.
"""

from __future__ import annotations

from pathlib import Path

from recommender.synth.calico import write_calico
from recommender.synth.cluster import Cluster
from recommender.synth.inventory import write_inventory
from recommender.synth.topology import build_cluster
from recommender.synth.traffic import Traffic

DEMO_SEED = 7


def write_demo(out_dir: str | Path, seed: int = DEMO_SEED) -> list[Path]:
    """Write every demo file under ``out_dir``; returns their paths, sorted."""
    out = Path(out_dir)
    cluster = build_cluster(seed, "small")
    traffic = Traffic(cluster)
    written: list[Path] = []
    write_calico(cluster, out / "calico" / "flows.log", windows=1, traffic=traffic)
    written.append(out / "calico" / "flows.log")
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
