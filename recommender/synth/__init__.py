"""Seeded synthetic clusters and their traffic in every supported input format.

Benchmarks and end-to-end tests need flow logs whose ground truth is known.
``build_cluster(seed, size)`` describes a cluster (workloads with realistic
stable and noisy labels, pods, nodes, outside peers, the service graph);
the ``write_*`` functions render the same seeded traffic as Calico
``flows.log``, AWS VPC flow logs plus a pod inventory, Hubble ``jsonpb``,
and normalized Parquet/CSV; ``Cluster.expected_connections()`` is the
truth an ingest must recover. Same seed and arguments → same bytes.
"""

from recommender.synth.calico import write_calico
from recommender.synth.cluster import Cluster, Conn, External, Port, SynthPod, Workload
from recommender.synth.demo import DEMO_SEED, write_demo, write_expected
from recommender.synth.inventory import inventory_objects, write_inventory
from recommender.synth.topology import SIZES, ClusterSize, build_cluster
from recommender.synth.traffic import Traffic

__all__ = [
    "DEMO_SEED",
    "SIZES",
    "Cluster",
    "ClusterSize",
    "Conn",
    "External",
    "Port",
    "SynthPod",
    "Traffic",
    "Workload",
    "build_cluster",
    "inventory_objects",
    "write_calico",
    "write_demo",
    "write_expected",
    "write_inventory",
]
