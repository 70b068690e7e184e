"""Measure bulk evaluation: distinct connections × policies, after loading.

Why: ``verify`` and ``generate`` evaluate every observed connection against
thousands of policies; the set-based design (selectors matched once per
distinct label set, matchers joined in DuckDB) must stay within 1 s for 200k
connections × 2,000 policies and 5 s for 1M × 20,000 on 2 cores. Each timed
run is ``evaluate(policies, store)`` from the policy models: it compiles them
afresh and ends with the verdict DataFrame. Building the models and the
connections table (the loading) is not timed. The rule-by-rule walk
(``explain_compiled``) is timed on a sample for comparison.

    python benchmarks/bench_evaluate.py                      # both targets
    python benchmarks/bench_evaluate.py --connections 200000 --policies 2000 [--seed 7] [--repeat 3]

The synthetic cluster is seeded: namespaces of 49 apps (2 pods each, label sets
app/version/tier, a named port ``http``), one default-deny plus one policy per
app in every namespace (podSelector, namespaceSelector+podSelector, ipBlock with
except, numeric, named and ranged ports, DNS egress to kube-system). Connections
mix same-namespace calls that the policies admit, random pod pairs, cross-
namespace calls and external traffic in both directions.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:                      # measure this checkout, not an installed copy
    sys.path.insert(0, str(ROOT))

import duckdb  # noqa: E402
import numpy as np
import pyarrow as pa

from recommender.engine.compile import compile_policies, namespace_labels
from recommender.engine.evaluate import evaluate
from recommender.engine.explain import explain_compiled
from recommender.model import (
    ContainerPort, Endpoint, EndpointKind, Flow, IPBlock, LabelSelector, Labels, Namespace, NetworkPolicy, Peer, Pod,
    PortSpec, Rule,
)

APPS = 49
PRIVATE = ("10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16")


def sel(**labels: str) -> LabelSelector:
    return LabelSelector.of(labels)


def cluster(n_policies: int) -> tuple[list[NetworkPolicy], list[Pod], list[Namespace]]:
    n_ns = max(1, n_policies // (APPS + 1))
    namespaces = [Namespace(f"ns{i}", Labels.of(team=f"t{i % 50}")) for i in range(n_ns)]
    namespaces.append(Namespace("kube-system"))
    pods, policies = [], []
    dns = Peer(pod_selector=sel(**{"k8s-app": "kube-dns"}), namespace_selector=sel(**{"kubernetes.io/metadata.name": "kube-system"}))
    for i in range(n_ns):
        ns = f"ns{i}"
        policies.append(NetworkPolicy("default-deny", ns, LabelSelector(), policy_types=("Ingress", "Egress")))
        for k in range(APPS):
            for v in range(2):
                ip = f"10.{i // 250}.{i % 250}.{k * 2 + v + 1}"
                labels = Labels.of(app=f"a{k}", version=f"v{v}", tier="web" if k % 2 else "db")
                pods.append(Pod(ns, f"a{k}-{v}", labels, (ip,), (ContainerPort(8080, "TCP", "http"),)))
            ingress = [
                Rule((Peer(pod_selector=sel(app=f"a{(k - 1) % APPS}")),), (PortSpec(None, 8080), PortSpec("TCP", 9000, 9100))),
                Rule((Peer(pod_selector=sel(app=f"a{k}"), namespace_selector=sel(team=f"t{(i + 1) % 50}")),), (PortSpec(None, "http"),)),
            ]
            if k % 5 == 0:
                ingress.append(Rule((Peer(ip_block=IPBlock("0.0.0.0/0", PRIVATE)),), (PortSpec(None, 443),)))
            egress = [
                Rule((Peer(pod_selector=sel(app=f"a{(k + 1) % APPS}")),), (PortSpec(None, "http"), PortSpec(None, 9000, 9100))),
                Rule((dns,), (PortSpec("UDP", 53), PortSpec("TCP", 53))),
                Rule((Peer(ip_block=IPBlock("0.0.0.0/0", PRIVATE)),), (PortSpec(None, 443),)),
            ]
            policies.append(NetworkPolicy(f"a{k}", ns, sel(app=f"a{k}"), tuple(ingress), tuple(egress), ("Ingress", "Egress")))
    pods.append(Pod("kube-system", "coredns", Labels.of({"k8s-app": "kube-dns"}), ("10.255.0.10",)))
    return policies, pods, namespaces


def _endpoints(pods: list[Pod]) -> pa.Table:
    labels = pa.array([list(p.labels.pairs) for p in pods], type=pa.map_(pa.string(), pa.string()))
    return pa.table({"ip": [p.ips[0] for p in pods], "namespace": [p.namespace for p in pods],
                     "pod": [p.name for p in pods], "kind": ["pod"] * len(pods), "labels": labels})


def connections(pods: list[Pod], n: int, seed: int) -> pa.Table:
    """``n`` distinct connections in the connections schema (key columns), seeded."""
    rng = np.random.default_rng(seed)
    ends = _endpoints(pods)
    k = len(pods)
    externals = 5000
    ext = pa.table({"ip": [f"{(i % 200) + 20}.{i // 200}.{i % 7}.{i % 250 + 1}" for i in range(externals)],
                    "namespace": pa.nulls(externals, pa.string()), "pod": pa.nulls(externals, pa.string()),
                    "kind": ["network"] * externals, "labels": pa.nulls(externals, pa.map_(pa.string(), pa.string()))})
    allends = pa.concat_tables([ends, ext])
    m = int(n * 2.5)
    src = rng.integers(0, k, m)
    kind = rng.random(m)
    # 50%: the next app in the same namespace on 8080 or 9000-9100 (admitted); 20%: any pod; 15%: external out; 15%: external in.
    nxt = np.minimum(src + 2 - (src % 2) + rng.integers(0, 2, m), k - 1)
    dst = np.where(kind < 0.5, nxt, rng.integers(0, k, m))
    dst = np.where((kind >= 0.7) & (kind < 0.85), k + rng.integers(0, externals, m), dst)
    src = np.where(kind >= 0.85, k + rng.integers(0, externals, m), src)
    port = np.where(kind < 0.5, rng.choice([8080, *range(9000, 9101)], m), rng.choice([80, 443, 8080, 9050, 5432, 53], m))
    proto = np.where(rng.random(m) < 0.05, "UDP", "TCP")
    key = np.unique(np.stack([src, dst, port, (proto == "UDP").astype(np.int64)], axis=1), axis=0)
    key = key[rng.permutation(len(key))[:n]]
    s, d = allends.take(pa.array(key[:, 0])), allends.take(pa.array(key[:, 1]))
    cols = {f"src_{c}": s.column(c) for c in s.column_names} | {f"dst_{c}": d.column(c) for c in d.column_names}
    cols |= {"protocol": pa.array(np.where(key[:, 3] == 1, "UDP", "TCP")), "dst_port": pa.array(key[:, 2].astype(np.int32)),
             "action": pa.array(["allow"] * len(key))}
    return pa.table(cols)


@dataclass
class Store:
    """The smallest FlowStore look-alike: a DuckDB connection with a ``connections`` table and the inventory."""

    con: duckdb.DuckDBPyConnection
    inventory: tuple[list[Pod], list[Namespace]]

    def pods(self) -> list[Pod]:
        return self.inventory[0]

    def namespaces(self) -> list[Namespace]:
        return self.inventory[1]


def run(n_conn: int, n_pol: int, seed: int, repeat: int) -> None:
    t0 = time.perf_counter()
    policies, pods, namespaces = cluster(n_pol)
    table = connections(pods, n_conn, seed)
    con = duckdb.connect()
    con.register("_gen", table)
    con.execute("CREATE TABLE connections AS SELECT * FROM _gen")
    store = Store(con, (pods, namespaces))
    print(f"{len(table):,} connections, {len(policies):,} policies, {len(pods):,} pods in {len(namespaces)} namespaces "
          f"(generated in {time.perf_counter() - t0:.1f} s)")
    # Timed: evaluate(policies, store) from the policy models, as `verify` calls it after loading the YAML:
    # it compiles them (in a worker thread, while DuckDB reads the connections) and returns the verdict
    # DataFrame. Every run compiles afresh: nothing derived from the policies is reused between runs.
    # Not timed: generating the cluster and the connections table (the "loading").
    runs = []
    for _ in range(repeat):
        t, c = time.perf_counter(), time.process_time()
        result = evaluate(policies, store)
        runs.append((time.perf_counter() - t, time.process_time() - c))
    wall, cpu = min(runs)
    t, c = time.perf_counter(), time.process_time()
    compiled = compile_policies(policies)
    print(f"  evaluate (compile included): best {wall:.2f} s wall, {cpu:.2f} s CPU (all threads) over {repeat} runs; "
          f"all runs: {', '.join(f'{w:.2f} s/{c:.2f} CPU' for w, c in runs)}")
    print(f"  compile_policies alone: {time.perf_counter() - t:.2f} s wall, {time.process_time() - c:.2f} s CPU")
    print(f"  {result['allowed'].mean():.0%} allowed, {result['egress_isolated'].mean():.0%} egress-isolated; "
          f"load average {' '.join(f'{x:.1f}' for x in os.getloadavg())} on {os.cpu_count()} cores")
    sample = con.sql("SELECT * FROM connections USING SAMPLE 300 ROWS (reservoir, 1)").to_arrow_table().to_pylist()
    flows = [Flow(*(Endpoint(EndpointKind(r[f"{s}_kind"]), r[f"{s}_ip"], r[f"{s}_namespace"], r[f"{s}_pod"],
                             labels=Labels.of(dict(r[f"{s}_labels"] or {}))) for s in ("src", "dst")),
                  r["protocol"], r["dst_port"]) for r in sample]
    by_key, ns_labels = {(p.namespace, p.name): p for p in pods}, namespace_labels(namespaces)
    c = time.process_time()
    for f in flows:
        explain_compiled(compiled, f, by_key, ns_labels)
    per = (time.process_time() - c) / len(flows)
    print(f"  rule-by-rule walk (explain_compiled, compiled once): {per * 1000:.2f} ms CPU per flow -> "
          f"{per * len(table):,.0f} s CPU extrapolated for all connections")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--connections", type=int)
    ap.add_argument("--policies", type=int)
    ap.add_argument("--seed", type=int, default=7)
    ap.add_argument("--repeat", type=int, default=3)
    args = ap.parse_args()
    configs = [(args.connections, args.policies)] if args.connections else [(200_000, 2_000), (1_000_000, 20_000)]
    for n_conn, n_pol in configs:
        run(n_conn, n_pol or 2_000, args.seed, args.repeat)


if __name__ == "__main__":
    main()
