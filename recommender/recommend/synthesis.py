"""Rules from observed traffic: who may talk to whom, on exactly which ports.

Connections are aggregated in DuckDB to *edges* — (source identity, destination
identity, protocol, port) with counters and provenance — so Python only ever
sees the distinct edges, never the raw flows. Each edge gives an egress item to
its source workload and an ingress item to its destination workload (when that
workload is covered). Items become rules: peers with the same port set share a
rule; ports are exact unless a bounded widening applies (``widen``).

Guards that keep the rules least-privilege: reply traffic to ephemeral ports
(≥ 32768) never becomes a rule, nor does traffic to a port no rule can name (0); DNS to kube-dns becomes the canonical kube-dns
rule (UDP and TCP 53); endpoints that no selector or ipBlock can express are
reported instead of being papered over with a wide rule.
"""

from __future__ import annotations

import difflib
from collections import defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

import duckdb
import pyarrow as pa

from recommender.engine.compile import own_node_sql
from recommender.recommend.identity import Identity, IdentityMap

EPHEMERAL_MIN = 32768
PORT_PROTOCOLS = ("TCP", "UDP", "SCTP")
NODELOCAL_DNS = "169.254.20.10"
KUBE_DNS_KEY = "dns:kube-dns"
NS_LABEL = "kubernetes.io/metadata.name"
SYSTEM_NAMESPACES = ("kube-system", "kube-public", "kube-node-lease")
SYSTEM_PREFIXES = ("calico-", "tigera-", "cilium")
INGRESS, EGRESS = "Ingress", "Egress"


def is_system_namespace(ns: str) -> bool:
    return ns in SYSTEM_NAMESPACES or ns.startswith(SYSTEM_PREFIXES)


def known_namespaces(ids: IdentityMap) -> set[str]:
    """Every namespace the flows or the inventory name (workloads and Namespace objects)."""
    return {wl.namespace for wl in ids.workloads.values()} | set(ids.namespace_labels)


def requested_namespaces(ids: IdentityMap, opts: Options) -> set[str]:
    """Namespaces named with --namespace that exist (inventory or flows) even without traffic."""
    known = {wl.namespace for wl in ids.workloads.values()}
    return {ns for ns in opts.namespaces if ns in known and opts.covers(ns)}


def unknown_namespace_warnings(ids: IdentityMap, opts: Options) -> list[str]:
    """A warning for each --namespace / --exclude-namespace the data does not know: a typo there
    would otherwise silently give no policies (or exclude nothing)."""
    known = known_namespaces(ids)
    out = []
    for option, names, effect in (("--namespace", opts.namespaces, "no policies for it"),
                                  ("--exclude-namespace", opts.exclude_namespaces, "nothing excluded")):
        for ns in sorted(set(names) - known):
            close = difflib.get_close_matches(ns, sorted(known), n=1)
            guess = f"; did you mean {close[0]!r}?" if close else ""
            out.append(f"{option} {ns!r}: no such namespace in the flows or the inventory ({effect}){guess}")
    return out


@dataclass(frozen=True)
class Options:
    namespaces: tuple[str, ...] = ()
    exclude_namespaces: tuple[str, ...] = ()
    include_system: bool = False
    default_deny: bool = True
    include_denied: bool = False
    port_range_slack: int = 0
    cidr_max_prefix: int | None = None
    cidr_min_addresses: int | None = None
    allow_any_external: bool = False
    cidr6_max_prefix: int | None = None

    def covers(self, ns: str) -> bool:
        if self.namespaces and ns not in self.namespaces:
            return False
        if ns in self.exclude_namespaces:
            return False
        return self.include_system or bool(self.namespaces and ns in self.namespaces) or not is_system_namespace(ns)


@dataclass
class Stats:
    """Provenance of an edge or a rule: what was observed, where, and when."""

    connections: int = 0
    flows: int = 0
    bytes: int = 0
    first_seen: Any = None
    last_seen: Any = None
    formats: set[str] = field(default_factory=set)
    samples: set[str] = field(default_factory=set)

    def add(self, other: "Stats") -> None:
        self.connections += other.connections
        self.flows += other.flows
        self.bytes += other.bytes
        if other.first_seen is not None and (self.first_seen is None or other.first_seen < self.first_seen):
            self.first_seen = other.first_seen
        if other.last_seen is not None and (self.last_seen is None or other.last_seen > self.last_seen):
            self.last_seen = other.last_seen
        self.formats |= other.formats
        if not other.samples <= self.samples:
            self.samples = set(sorted(self.samples | other.samples)[:3])

    def copy(self) -> "Stats":
        """``Stats()`` with ``self`` added (samples cut to the first three)."""
        samples = set(sorted(self.samples)[:3]) if len(self.samples) > 3 else set(self.samples)
        return Stats(self.connections, self.flows, self.bytes, self.first_seen, self.last_seen, set(self.formats), samples)


def total(parts: Iterable[Stats]) -> Stats:
    """``Stats()`` with every part added, in one pass: a rule sums the stats of all its peers' ports
    (tens of thousands of adds per run). The same result: the sums, the earliest first and latest last
    seen, every format, and the first three samples of all."""
    connections = flows = nbytes = 0
    first = last = None
    formats: set[str] = set()
    samples: set[str] = set()
    for p in parts:
        connections += p.connections
        flows += p.flows
        nbytes += p.bytes
        if p.first_seen is not None and (first is None or p.first_seen < first):
            first = p.first_seen
        if p.last_seen is not None and (last is None or p.last_seen > last):
            last = p.last_seen
        formats |= p.formats
        samples |= p.samples
    return Stats(connections, flows, nbytes, first, last, formats,
                 set(sorted(samples)[:3]) if len(samples) > 3 else samples)


@dataclass(frozen=True)
class Edge:
    src: str
    dst: str
    protocol: str
    port: int | None


# A pod's connection to itself (hairpin through its own Service): Kubernetes never blocks a pod's access to
# itself (the evaluator's self_flow), so it needs no rule, and a rule from the workload to itself would also
# admit its other replicas to each other, which nobody observed.
SELF_SQL = ("coalesce(lower(c.src_kind) = 'pod' AND lower(c.dst_kind) = 'pod' AND c.src_pod IS NOT NULL "
            "AND c.src_namespace = c.dst_namespace AND c.src_pod = c.dst_pod, false)")
# Traffic between a pod and the node it runs on is always allowed (the Kubernetes docs; the evaluator's
# test, ``compile.own_node_sql``, on the same inventory facts): kubelet probes and node-local agents need no
# rule, and a rule for the node's address would also admit that node to the workload's replicas on other nodes
# (and change with every node replacement). The pod's node is its inventory ``spec.nodeName``; a host
# endpoint's node is the node whose hostNetwork pods hold its address, else the node the exporter named it by.
OWN_NODE_SQL = " OR ".join(
    own_node_sql(f"lower(c.{pod}_kind)", f"{p}n.node", f"lower(c.{host}_kind)", [f"{h}a.node", f"c.{host}_workload"])
    for pod, p, host, h in (("dst", "d", "src", "s"), ("src", "s", "dst", "d")))
_NODE_JOINS = """LEFT JOIN _rec_pod_node sn ON sn.ns = c.src_namespace AND sn.name = c.src_pod
            LEFT JOIN _rec_pod_node dn ON dn.ns = c.dst_namespace AND dn.name = c.dst_pod
            LEFT JOIN _rec_node_ip sa ON sa.ip = c.src_ip LEFT JOIN _rec_node_ip da ON da.ip = c.dst_ip"""


def collect_edges(
    con: duckdb.DuckDBPyConnection, source: str, ep_map: dict[str, str], keys: list[tuple[int, str]] | None = None,
    pod_nodes: Mapping[tuple[str, str], str] | None = None, node_ips: Mapping[str, str] | None = None,
) -> tuple[dict[Edge, Stats], int, set[str]]:
    """Aggregate the ``source`` table (connections schema plus the endpoint keys ``_sk``/``_dk``: the text
    keys of ``identity.endpoint_key_sql``, or the hashes ``keys`` maps to them) to identity edges; and the
    connections that make none because Kubernetes always allows them (``SELF_SQL``, ``OWN_NODE_SQL``): how
    many, and their ends' identities (still workloads to isolate). ``pod_nodes`` (namespace, pod) → node
    and ``node_ips`` address → node are the inventory facts ``OWN_NODE_SQL`` needs."""
    if keys is None:
        frame = pa.table({"ekey": pa.array(list(ep_map.keys()), pa.string()),
                          "ident": pa.array(list(ep_map.values()), pa.string())})
    else:
        frame = pa.table({"ekey": pa.array([h for h, _ in keys], pa.uint64()),
                          "ident": pa.array([ep_map[k] for _, k in keys], pa.string())})
    con.register("_rec_ep", frame)
    pods = list((pod_nodes or {}).items())
    con.register("_rec_pod_node", pa.table({"ns": pa.array([k[0] for k, _ in pods], pa.string()),
                                            "name": pa.array([k[1] for k, _ in pods], pa.string()),
                                            "node": pa.array([v for _, v in pods], pa.string())}))
    ips = list((node_ips or {}).items())
    con.register("_rec_node_ip", pa.table({"ip": pa.array([k for k, _ in ips], pa.string()),
                                           "node": pa.array([v for _, v in ips], pa.string())}))
    try:
        rows = con.execute(
            f"""
            WITH c AS (SELECT *, _sk AS sk, _dk AS dk FROM {source})
            SELECT {SELF_SQL} OR {OWN_NODE_SQL} AS free, s.ident, d.ident, upper(coalesce(c.protocol, 'TCP')), c.dst_port,
                   count(*), coalesce(sum(c.flows), 0), coalesce(sum(c.bytes), 0),
                   min(c.first_seen), max(c.last_seen), list(DISTINCT c.format),
                   min(coalesce(c.file, '?') || CASE WHEN c.line IS NOT NULL THEN ':' || CAST(c.line AS VARCHAR)
                            WHEN c.first_seen IS NOT NULL THEN ' @ ' || strftime(c.first_seen, '%Y-%m-%dT%H:%M:%S.%fZ')
                            ELSE ':?' END, 3)
            FROM c JOIN _rec_ep s ON c.sk = s.ekey JOIN _rec_ep d ON c.dk = d.ekey
            {_NODE_JOINS}
            GROUP BY ALL
            """
        ).fetchall()
    finally:
        for view in ("_rec_ep", "_rec_pod_node", "_rec_node_ip"):
            con.unregister(view)
    edges: dict[Edge, Stats] = {}
    free, quiet = 0, set()
    for always, src, dst, proto, port, n, flows, nbytes, first, last, formats, samples in rows:
        if always:
            free += int(n)
            quiet.update((src, dst))
            continue
        edges[Edge(src, dst, proto, None if port is None else int(port))] = Stats(
            int(n), int(flows), int(nbytes), first, last,
            {f for f in formats or () if f}, set(samples or ()),
        )
    return edges, free, quiet


# Readers that make every connection the initiator's (replies fold into their connection: Calico reports
# connections, Hubble orients events by is_reply/SYN, VPC by flags then ports): no edge of theirs is a reply.
ORIENTED_FORMATS = frozenset({"calico", "hubble", "vpc"})


def reply_edges(edges: dict[Edge, Stats]) -> set[Edge]:
    """Edges to an ephemeral port whose reverse direction talks to a service port: replies, unless every
    record of the edge comes from a reader that oriented it (then it is a listener on a high port)."""
    service = {(e.src, e.dst) for e in edges if e.port is not None and e.port < EPHEMERAL_MIN}
    return {e for e in edges if e.port is not None and e.port >= EPHEMERAL_MIN and (e.dst, e.src) in service
            and not (edges[e].formats and edges[e].formats <= ORIENTED_FORMATS)}


def unnamed_port_edges(edges: dict[Edge, Stats]) -> set[Edge]:
    """Edges of a port protocol to a port no NetworkPolicy can name (a rule's port is 1-65535): Hubble
    and VPC logs record TCP/UDP to port 0 (scans, malformed packets); they are reported, never admitted."""
    return {e for e in edges if e.protocol in PORT_PROTOCOLS and e.port is not None and not 1 <= e.port <= 65535}


def unnamed_port_warnings(unnamed: dict[Edge, Stats]) -> list[str]:
    return [f"not admitted: {st.connections} connection(s) {e.src} → {e.dst} {e.protocol}/{e.port} "
            f"(e.g. {min(st.samples, default='?')}): a NetworkPolicy port must be 1-65535, so the default "
            "deny blocks them" for e, st in unnamed.items()]


PortKey = tuple[str, int | None]     # (protocol, port); port None = every port of a port-less protocol


@dataclass
class TargetItems:
    """Everything one workload must be allowed: peer identity → ports → provenance, per direction."""

    ingress: dict[str, dict[PortKey, Stats]] = field(default_factory=lambda: defaultdict(dict))
    egress: dict[str, dict[PortKey, Stats]] = field(default_factory=lambda: defaultdict(dict))

    def profile(self) -> frozenset[tuple[str, str, str, int | None]]:
        out = {(INGRESS, p, k[0], k[1]) for p, ports in self.ingress.items() for k in ports}
        out |= {(EGRESS, p, k[0], k[1]) for p, ports in self.egress.items() for k in ports}
        return frozenset(out)


def _is_kube_dns(ids: IdentityMap, ident: Identity, edge: Edge) -> bool:
    if edge.port != 53 or edge.protocol not in ("UDP", "TCP"):
        return False
    if ident.kind == "address":
        return ident.ip == NODELOCAL_DNS
    wl = ids.workloads.get(ident.key)
    return (
        wl is not None and wl.namespace == "kube-system" and bool(wl.label_sets)
        and all(ls.get("k8s-app") == "kube-dns" for ls in wl.label_sets)
    )


def gather_items(
    ids: IdentityMap, edges: dict[Edge, Stats], opts: Options, skip: set[tuple[str, Edge]] = frozenset(),
    quiet: set[str] = frozenset(),
) -> tuple[dict[str, TargetItems], list[str]]:
    """Per covered workload, the peers and ports it needs. ``skip`` holds (direction, edge)
    pairs that existing policies already admit; ``quiet`` identities were seen only in traffic that
    needs no rule (``collect_edges``): covered ones still get a policy, without rules, to isolate them."""
    targets: dict[str, TargetItems] = {}
    notes: list[str] = []
    cover: dict[str, bool] = {}       # per identity: thousands of edges share a few thousand ends

    def covered(ident: Identity) -> bool:
        hit = cover.get(ident.key)
        if hit is None:
            hit = cover[ident.key] = ident.kind == "workload" and opts.covers(ident.namespace or "")
        return hit

    def items_of(key: str) -> TargetItems:
        found = targets.get(key)
        if found is None:
            found = targets[key] = TargetItems()
        return found

    for edge in sorted(edges, key=lambda e: (e.src, e.dst, e.protocol, e.port or -1)):
        stats = edges[edge]
        src, dst = ids.identities[edge.src], ids.identities[edge.dst]
        own: PortKey = (edge.protocol, edge.port if edge.protocol in PORT_PROTOCOLS else None)
        ports: list[PortKey] = [own]
        if covered(src) and (not skip or (EGRESS, edge) not in skip):
            peer = dst.key
            if _is_kube_dns(ids, dst, edge):
                peer = KUBE_DNS_KEY if dst.kind == "workload" else dst.key
                ports = [own, ("UDP", 53), ("TCP", 53)]   # own is one of them
            bucket = items_of(src.key).egress[peer]
            for pk in ports[1:]:
                bucket.setdefault(pk, Stats())
            _add(bucket, own, stats)
            ports = [own]
        if covered(dst) and (not skip or (INGRESS, edge) not in skip):
            _add(items_of(dst.key).ingress[src.key], ports[0], stats)
    for key in sorted(quiet):
        if covered(ids.identities[key]):
            items_of(key)
    for edge in edges:
        for ident in (ids.identities[edge.src], ids.identities[edge.dst]):
            if ident.endpoint_kind == "kube-apiserver" and ident.ip in ids.apiserver_services:
                notes.append(f"kube-apiserver Service address {ident.ip} allowed as an ipBlock together with the API "
                             f"servers {', '.join(sorted(ids.apiserver_endpoints)) or '(none in the inventory)'}: "
                             "policies apply after DNAT, and API server addresses can change")
            elif ident.endpoint_kind == "kube-apiserver" and ident.ip:
                notes.append(f"kube-apiserver endpoint {ident.ip} allowed as an ipBlock: API server addresses can change")
            elif ident.endpoint_kind == "service" and ident.ip:
                notes.append(f"unresolved Service address {ident.ip} allowed as an ipBlock: "
                             "policies apply after DNAT, give --inventory so it resolves to pods")
    return targets, sorted(set(notes))


def _add(bucket: dict[PortKey, Stats], port: PortKey, stats: Stats) -> None:
    mine = bucket.get(port)
    if mine is None:
        bucket[port] = stats.copy()
    else:
        mine.add(stats)
