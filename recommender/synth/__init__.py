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
from recommender.synth.hubble import write_hubble
from recommender.synth.inventory import inventory_objects, write_inventory
from recommender.synth.normalized import write_csv, write_parquet
from recommender.synth.topology import SIZES, ClusterSize, build_cluster
from recommender.synth.traffic import Traffic
from recommender.synth.vpc import write_vpc
from recommender.synth.writers import DEMO_SEED, FORMATS, write_demo, write_expected, write_format

__all__ = [
    "DEMO_SEED",
    "FORMATS",
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
    "write_csv",
    "write_demo",
    "write_expected",
    "write_format",
    "write_hubble",
    "write_inventory",
    "write_parquet",
    "write_vpc",
]
