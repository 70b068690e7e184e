"""What runs in the synthetic clusters and who talks to whom.

Two topologies share one set of system components (CoreDNS, kube-proxy,
metrics-server, a Prometheus stack scraping every namespace):

* ``small`` — a hand-written microservices shop (shop-frontend, shop-backend,
  payments): the bundled demo, small enough to read, with every traffic shape
  a recommender must handle (DNS over UDP and TCP, UDP port ranges, SCTP,
  hostNetwork peers, the API server, outside addresses within one /24 and
  scattered ones, a load-balancer network set, denied flows, a CronJob).
* ``medium``/``large``/``xlarge`` — procedurally generated tenants with the
  same kinds of workloads and a sparse random call graph, for benchmarks.
"""

from __future__ import annotations

from dataclasses import dataclass

from recommender.synth.builder import Builder
from recommender.synth.cluster import Cluster

HTTP = ("http", 8080, "TCP")
GRPC = ("grpc", 9090, "TCP")
METRICS = ("metrics", 9102, "TCP")
MEDIA = tuple((f"media-{i}", 10000 + i, "UDP") for i in range(4))


@dataclass(frozen=True)
class ClusterSize:
    """Parameters of a procedurally generated cluster."""

    tenants: int
    workloads_per_tenant: int
    nodes: int
    replicas_max: int = 6
    ipv6: bool = False
    labels: str = "helm"   # "helm": the recommended app.kubernetes.io/* set; "plain": app (and tier) only


SIZES: dict[str, ClusterSize | None] = {
    "small": None,   # the hand-written shop
    "medium": ClusterSize(tenants=20, workloads_per_tenant=12, nodes=16),
    "dualstack": ClusterSize(tenants=20, workloads_per_tenant=12, nodes=16, ipv6=True),
    "large": ClusterSize(tenants=250, workloads_per_tenant=14, nodes=160, replicas_max=8),
    "xlarge": ClusterSize(tenants=600, workloads_per_tenant=14, nodes=400, replicas_max=8),
    # ~2,000 workloads with short label sets: the cluster of the 10M Calico targets (~740-byte lines)
    "plain2k": ClusterSize(tenants=143, workloads_per_tenant=14, nodes=100, replicas_max=8, labels="plain"),
}


def build_cluster(seed: int = 0, size: str | ClusterSize = "small") -> Cluster:
    """The cluster for ``seed`` at ``size`` (a SIZES name or explicit parameters)."""
    if isinstance(size, str):
        if size not in SIZES:
            raise ValueError(f"unknown cluster size {size!r}; choose one of {', '.join(SIZES)}")
        params, name = SIZES[size], size
    else:
        params, name = size, "custom"
    if params is None:
        b = Builder(seed, name, nodes=4)
        sysk = _system(b)
        _shop(b, sysk)
    else:
        b = Builder(seed, name, nodes=params.nodes, ipv6=params.ipv6, labels=params.labels)
        sysk = _system(b)
        _tenants(b, sysk, params)
    _scrape_everything(b, sysk["prometheus"])
    return b.build()


def _system(b: Builder) -> dict[str, str]:
    b.namespace("kube-system")
    b.namespace("monitoring", team="observability")
    k = {
        "coredns": b.workload("kube-system", "coredns", "Deployment", 2,
                              [("dns", 53, "UDP"), ("dns-tcp", 53, "TCP"), ("metrics", 9153, "TCP")],
                              labels={"k8s-app": "kube-dns"}),
        "kube-proxy": b.workload("kube-system", "kube-proxy", "DaemonSet", labels={"k8s-app": "kube-proxy"},
                                 host_network=True),
        "metrics-server": b.workload("kube-system", "metrics-server", "Deployment", 1, [("https", 10250, "TCP")],
                                     labels={"k8s-app": "metrics-server"}),
        "prometheus": b.workload("monitoring", "prometheus", "StatefulSet", 1, [("web", 9090, "TCP")],
                                 part_of="kube-prometheus-stack", chart="kube-prometheus-stack", version="58.2.1"),
        "node-exporter": b.workload("monitoring", "node-exporter", "DaemonSet", ports=[("metrics", 9100, "TCP")],
                                    part_of="kube-prometheus-stack", component="metrics", host_network=True,
                                    chart="prometheus-node-exporter", version="4.34.0"),
        "grafana": b.workload("monitoring", "grafana", "Deployment", 1, [("http", 3000, "TCP")],
                              part_of="kube-prometheus-stack", chart="grafana", version="7.3.9"),
        "statsd": b.workload("monitoring", "statsd-exporter", "Deployment", 1,
                             [("statsd", 8125, "UDP"), METRICS], part_of="kube-prometheus-stack", version="0.26.1"),
    }
    resolver = b.external("vpc-resolver", "network", ["10.0.0.2"])
    b.call(k["coredns"], resolver, 53, "UDP", rate=2.0)
    for w in ("coredns", "kube-proxy", "metrics-server", "prometheus"):
        b.api_access(k[w])
    for w in ("metrics-server", "prometheus", "grafana", "statsd"):
        b.dns(k[w], k["coredns"])
    b.call(k["grafana"], k["prometheus"], "web")
    return k


def _scrape_everything(b: Builder, prometheus: str) -> None:
    """Prometheus scrapes every pod of every workload with a ``metrics`` port."""
    for key, w in list(b.workloads.items()):
        if any(p.name == "metrics" for p in w.ports):
            b.call(prometheus, key, "metrics", rate=0.3, all_dst_pods=True)


def _shop(b: Builder, k: dict[str, str]) -> None:
    fe = b.namespace("shop-frontend", tenant="shop", tier="frontend")
    be = b.namespace("shop-backend", tenant="shop", tier="backend")
    pay = b.namespace("payments", tenant="shop", compliance="pci")
    shop = {"part_of": "shop"}
    web = b.workload(fe, "web", "Deployment", 4, [HTTP, METRICS], component="frontend", tier="frontend", **shop)
    bff = b.workload(fe, "bff", "Deployment", 3, [HTTP, METRICS], component="api", tier="frontend", **shop)
    media = b.workload(fe, "media-relay", "Deployment", 2, [*MEDIA, METRICS], component="media", tier="frontend",
                       **shop)
    catalog = b.workload(be, "catalog", "Deployment", 4, [GRPC, METRICS], component="api", tier="backend", **shop)
    cart = b.workload(be, "cart", "Deployment", 3, [GRPC, METRICS], component="api", tier="backend", **shop)
    checkout = b.workload(be, "checkout", "Deployment", 3, [GRPC, METRICS], component="api", tier="backend", **shop)
    search = b.workload(be, "search", "Deployment", 2, [HTTP, METRICS], component="api", tier="backend", **shop)
    recs = b.workload(be, "recommendations", "Deployment", 3, [GRPC, METRICS], component="api", tier="backend", **shop)
    inventory = b.workload(be, "inventory", "Deployment", 2, [GRPC, METRICS], component="api", tier="backend", **shop)
    redis = b.workload(be, "redis", "StatefulSet", 3, [("redis", 6379, "TCP")], component="cache", tier="data",
                       chart="redis", version="7.2.4", **shop)
    kafka = b.workload(be, "kafka", "StatefulSet", 3, [("kafka", 9092, "TCP"), METRICS], component="broker",
                       tier="data", chart="kafka", version="3.7.0", **shop)
    orders_db = b.workload(be, "orders-db", "StatefulSet", 2, [("postgres", 5432, "TCP")], component="database",
                           tier="data", chart="postgresql", version="16.2.0", **shop)
    email = b.workload(be, "email-worker", "Deployment", 1, [METRICS], component="worker", tier="backend", **shop)
    cleanup = b.workload(be, "cart-cleanup", "CronJob", 1, component="batch", tier="backend", **shop)
    pay_api = b.workload(pay, "payments-api", "Deployment", 3, [GRPC, METRICS], component="api", tier="backend",
                         part_of="payments")
    pay_db = b.workload(pay, "payments-db", "StatefulSet", 1, [("postgres", 5432, "TCP")], component="database",
                        tier="data", chart="postgresql", version="16.2.0", part_of="payments")
    card_gw = b.workload(pay, "card-gateway", "Deployment", 1, [("diameter", 3868, "SCTP"), METRICS],
                         component="gateway", tier="backend", part_of="payments")
    reconcile = b.workload(pay, "reconcile", "CronJob", 1, component="batch", tier="backend", part_of="payments")

    lb = b.external("load-balancers", "network", ["10.0.250.4", "10.0.250.5", "10.0.250.6"],
                    network_set="load-balancers", labels={"role": "load-balancer"})
    clients = b.external("media-clients", "network", ["192.0.2.10", "192.0.2.11"])
    scanner = b.external("scanner", "network", ["198.51.100.200"])
    psp = b.external("payment-provider", "network", [f"203.0.113.{i}" for i in (10, 11, 12, 13)])
    saas = b.external("saas-apis", "network", ["198.51.100.23", "192.0.2.77"])
    smtp = b.external("smtp-relay", "network", ["172.20.5.10"])

    b.call(lb, web, "http", rate=5.0)
    for p in ("media-0", "media-1", "media-2", "media-3"):
        b.call(clients, media, p, rate=0.5)
    b.call(scanner, web, 22, "TCP", action="deny", deny_at="dst", rate=0.1)
    b.call(web, bff, "http", rate=4.0)
    b.call(web, search, "http")
    for dst in (catalog, cart, checkout, recs):
        b.call(bff, dst, "grpc", rate=2.0)
    b.call(cart, redis, "redis", rate=3.0)
    for dst in (cart, catalog, inventory, pay_api):
        b.call(checkout, dst, "grpc")
    b.call(checkout, kafka, "kafka")
    b.call(checkout, orders_db, "postgres")
    b.call(search, catalog, "grpc")
    b.call(recs, catalog, "grpc")
    b.call(recs, redis, "redis")
    b.call(inventory, orders_db, "postgres")
    b.call(kafka, kafka, "kafka")
    b.call(email, kafka, "kafka")
    b.call(email, smtp, 587, "TCP", rate=0.2)
    b.call(cleanup, orders_db, "postgres", rate=0.1)
    b.api_access(cleanup)
    b.call(pay_api, pay_db, "postgres")
    b.call(pay_api, card_gw, "diameter")
    b.call(pay_api, psp, 443, "TCP")
    b.call(card_gw, saas, 443, "TCP", rate=0.3)
    b.call(reconcile, pay_db, "postgres", rate=0.1)
    b.call(reconcile, psp, 443, "TCP", rate=0.1)
    for src in (web, media, pay_api):
        b.call(src, k["statsd"], "statsd", rate=2.0)
    # Denied: a frontend probing the payments database, and an API pod trying the API server.
    b.call(web, pay_db, "postgres", action="deny", deny_at="dst", rate=0.05)
    b.call(catalog, b.api, 443, "TCP", action="deny", deny_at="src", rate=0.05)
    for w in (web, bff, media, catalog, cart, checkout, search, recs, inventory, email, cleanup,
              pay_api, card_gw, reconcile):
        b.dns(w, k["coredns"], tcp=w in (checkout, email))


ROLES: tuple[tuple[str, str, tuple, float], ...] = (
    ("api", "Deployment", (HTTP, METRICS), 0.30),
    ("grpc", "Deployment", (GRPC, METRICS), 0.24),
    ("worker", "Deployment", (METRICS,), 0.10),
    ("postgres", "StatefulSet", (("postgres", 5432, "TCP"),), 0.08),
    ("redis", "StatefulSet", (("redis", 6379, "TCP"),), 0.08),
    ("kafka", "StatefulSet", (("kafka", 9092, "TCP"),), 0.04),
    ("batch", "CronJob", (), 0.06),
    ("statsd", "Deployment", (("statsd", 8125, "UDP"),), 0.04),
    ("media", "Deployment", MEDIA, 0.03),
    ("signal", "Deployment", (("diameter", 3868, "SCTP"),), 0.03),
)
TEAMS = ("orders", "billing", "search", "identity", "catalog", "ads", "maps", "chat", "media", "risk",
         "ledger", "growth", "mail", "ml", "data", "edge", "notify", "reviews", "loyalty", "shipping")


def _tenants(b: Builder, k: dict[str, str], p: ClusterSize) -> None:
    lb = b.external("load-balancers", "network", [f"10.0.250.{i}" for i in range(4, 10)],
                    network_set="load-balancers", labels={"role": "load-balancer"})
    outside = [b.external("payment-provider", "network", [f"203.0.113.{i}" for i in (10, 11, 12, 13)]),
               b.external("saas-apis", "network", ["198.51.100.23", "192.0.2.77"]),
               b.external("smtp-relay", "network", ["172.20.5.10"])]
    weights = [r[3] for r in ROLES]
    total = sum(weights)
    servers: list[tuple[str, str]] = []              # (workload key, port name) callable across tenants
    for t in range(p.tenants):
        ns = b.namespace(f"{TEAMS[t % len(TEAMS)]}-{t:04d}", tenant=f"t{t:04d}")
        keys: list[tuple[str, str]] = []
        gateway = b.workload(ns, "gateway", "Deployment", 2, [HTTP, METRICS], component="gateway", tier="frontend")
        b.call(lb, gateway, "http", rate=3.0)
        keys.append((gateway, "api"))
        for i in range(p.workloads_per_tenant - 1):
            role, kind, ports, _ = ROLES[int(b.rng.choice(len(ROLES), p=[w / total for w in weights]))]
            replicas = 3 if kind == "StatefulSet" and role != "postgres" else (
                1 if kind != "Deployment" else int(b.rng.integers(1, p.replicas_max + 1)))
            key = b.workload(ns, f"{role}-{i}", kind, replicas, ports, component=role,
                             tier="data" if kind == "StatefulSet" else "backend")
            keys.append((key, role))
        targets = [(key, role) for key, role in keys if b.workloads[key].ports and role not in ("worker",)]
        for key, role in keys:
            b.dns(key, k["coredns"], tcp=b.rng.random() < 0.1)
            if role in ("postgres", "redis", "statsd", "media", "signal"):
                continue
            for dst, drole in b.pick(targets, int(b.rng.integers(1, 4))):
                if dst == key and drole != "kafka":
                    continue
                port = b.workloads[dst].ports[0].name
                deny = b.rng.random() < 0.02
                b.call(key, dst, port, action="deny" if deny else "allow",
                       rate=float(b.rng.uniform(0.2, 3.0)))
            if servers and b.rng.random() < 0.1:
                dst, port = b.pick(servers)
                b.call(key, dst, port)
            if b.rng.random() < 0.15:
                ext = b.pick(outside)
                b.call(key, ext, 587 if ext.endswith("smtp-relay") else 443, "TCP", rate=0.5)
            if b.rng.random() < 0.05:
                b.api_access(key)
        servers.extend((key, b.workloads[key].ports[0].name) for key, role in keys if role in ("api", "grpc"))
