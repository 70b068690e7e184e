"""Measure writing (and re-reading) N generated-looking policies as YAML.

Why: ``recommend generate`` writes thousands of policies; this compares our
emitter with PyYAML's pure-Python and libyaml dumpers on the same documents
and checks that all three read back identically.

    python benchmarks/bench_yaml.py [N]      # default N = 2000
"""

from __future__ import annotations

import sys
import tempfile
import time

from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:                      # measure this checkout, not an installed copy
    sys.path.insert(0, str(ROOT))

import yaml

from recommender.io.policies import load_policies
from recommender.io.yaml_out import dump_yaml, policy_to_dict
from recommender.model import IPBlock, LabelSelector, Labels, NetworkPolicy, Peer, PortSpec, Rule


def make_policy(i: int) -> NetworkPolicy:
    app = f"svc-{i}"
    peers = tuple(
        Peer(namespace_selector=LabelSelector.of({"kubernetes.io/metadata.name": f"ns-{(i + k) % 40}"}),
             pod_selector=LabelSelector.of({"app.kubernetes.io/name": f"svc-{(i * 7 + k) % 2000}", "tier": "yes"}))
        for k in range(4)
    ) + (Peer(ip_block=IPBlock(f"10.{i % 256}.0.0/16", (f"10.{i % 256}.1.0/24",))),)
    ports = (PortSpec("TCP", 8080), PortSpec("TCP", "http-metrics"), PortSpec("UDP", 5000, 5100))
    return NetworkPolicy(
        name=f"{app}-ingress",
        namespace=f"ns-{i % 40}",
        pod_selector=LabelSelector.of({"app.kubernetes.io/name": app, "version": "1.10"}),
        ingress=(Rule(peers=peers, ports=ports),),
        egress=(Rule(peers=peers[:2], ports=ports[:1]),),
        policy_types=("Ingress", "Egress"),
        labels=Labels.of({"generated-by": "recommender"}),
    )


def timed(label: str, fn, repeat: int = 1):
    """Run ``fn`` ``repeat`` times; print the best wall and CPU time (the CPU
    time is the stabler number on a shared machine)."""
    best_wall = best_cpu = float("inf")
    for _ in range(repeat):
        wall, cpu = time.perf_counter(), time.process_time()
        result = fn()
        best_wall = min(best_wall, time.perf_counter() - wall)
        best_cpu = min(best_cpu, time.process_time() - cpu)
    print(f"{label:<34} {best_wall:7.3f} s wall {best_cpu:7.3f} s cpu", file=sys.stderr)
    return result


def main(n: int = 2000) -> None:
    policies = [make_policy(i) for i in range(n)]
    docs = timed(f"policy_to_dict x{n}", lambda: [policy_to_dict(p) for p in policies], 3)
    ours = timed("dump_yaml (recommender)", lambda: dump_yaml(docs), 3)
    cdumper = getattr(yaml, "CSafeDumper", None)
    if cdumper is not None:
        timed("yaml.dump_all CSafeDumper", lambda: yaml.dump_all(docs, Dumper=cdumper, sort_keys=False))
    if n <= 2000:
        timed("yaml.dump_all SafeDumper (pure)", lambda: yaml.dump_all(docs, Dumper=yaml.SafeDumper, sort_keys=False))
    back = timed("yaml.load_all CSafeLoader", lambda: list(yaml.load_all(ours, Loader=getattr(yaml, "CSafeLoader", yaml.SafeLoader))))
    assert back == docs, "round trip through the C loader changed the documents"
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "policies.yaml"
        path.write_text(ours)
        loaded = timed("load_policies (validate + model)", lambda: load_policies([path]))
        assert sorted(policies, key=lambda p: (p.namespace, p.name)) == list(loaded.policies)
        path.write_text(dump_yaml([{"apiVersion": "v1", "kind": "List", "items": docs}]))
        loaded = timed("load_policies, one kind: List", lambda: load_policies([path]))
        assert sorted(policies, key=lambda p: (p.namespace, p.name)) == list(loaded.policies)
    print(f"{n} policies, {len(ours) / 1e6:.1f} MB of YAML, round trip exact", file=sys.stderr)


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 2000)
