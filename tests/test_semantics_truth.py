"""Truth tables of networking.k8s.io/v1 NetworkPolicy semantics.

The cluster mirrors the upstream e2e netpol suite: namespaces x, y, z (labelled
ns=<name>), pods a, b, c in each (labelled pod=<name>) serving 80 and 81 on TCP
and UDP and 80 on SCTP under named ports ``serve-<port>-<proto>``. Each case is
a set of policies written as YAML, like the Kubernetes docs, and the verdicts
of connections ``(from, to, port)``. Every case is checked twice: by the bulk
evaluator (all connections of the case in one call) and by the single-flow
explainer, which must agree with each other and with the table.
"""

from __future__ import annotations

import pytest
import yaml

from recommender.engine.evaluate import evaluate
from recommender.engine.explain import explain_flow
from recommender.io.policies import parse_policy
from recommender.model import ContainerPort, Endpoint, EndpointKind, Flow, Labels, Namespace, NetworkPolicy, Pod

NAMESPACES = [Namespace(n, Labels.of(ns=n)) for n in ("x", "y", "z")]
SERVE = tuple(ContainerPort(port, proto, f"serve-{port}-{proto.lower()}")
              for port, proto in ((80, "TCP"), (80, "UDP"), (81, "TCP"), (81, "UDP"), (80, "SCTP")))
PODS = [Pod(ns, p, Labels.of(pod=p), (f"10.0.{i + 1}.{j + 1}",), SERVE)
        for i, ns in enumerate("xyz") for j, p in enumerate("abc")]
PODS += [
    Pod("x", "h", Labels.of(pod="h"), ("172.16.0.9",), SERVE, host_network=True),   # hostNetwork pod on a node
    Pod("x", "v6", Labels.of(pod="v6"), ("fd00::1:6",), SERVE),                    # an IPv6 pod
]
BY_NAME = {f"{p.namespace}/{p.name}": p for p in PODS}


def policies(text: str) -> list[NetworkPolicy]:
    """YAML documents of NetworkPolicies; apiVersion/kind may be omitted for brevity."""
    docs = [d for d in yaml.safe_load_all(text) if d]
    return [parse_policy({"apiVersion": "networking.k8s.io/v1", "kind": "NetworkPolicy", **d}) for d in docs]


def endpoint(spec: str) -> Endpoint:
    """``ns/pod`` (labels from the inventory), an IP (an external network), ``host:IP``, or ``world:`` (no address)."""
    if spec in BY_NAME:
        pod = BY_NAME[spec]
        return Endpoint(EndpointKind.POD, pod.ips[0], pod.namespace, pod.name)
    kind, _, ip = spec.rpartition(":") if spec.startswith(("host:", "world:")) else ("network", "", spec)
    return Endpoint(EndpointKind(kind), ip or None)


def flow(src: str, dst: str, port: str) -> Flow:
    number, _, proto = port.partition("/") if "/" in port else ("", "", port)
    return Flow(endpoint(src), endpoint(dst), proto, int(number) if number else None)


DENY_INGRESS_X = """
metadata: {name: default-deny, namespace: x}
spec: {podSelector: {}}
"""

CASES: dict[str, tuple[str, list[tuple[str, str, str, str]]]] = {
    "no policies: nothing is isolated": ("", [
        ("x/a", "y/b", "80/TCP", "allowed"), ("8.8.8.8", "x/a", "9999/UDP", "allowed"), ("x/a", "8.8.8.8", "ICMP", "allowed")]),
    "default deny ingress (podSelector {}, no ingress, policyTypes defaulted to Ingress)": (DENY_INGRESS_X, [
        ("x/b", "x/a", "80/TCP", "denied"), ("y/a", "x/c", "80/TCP", "denied"), ("8.8.8.8", "x/a", "80/TCP", "denied"),
        ("x/a", "y/a", "80/TCP", "allowed"),   # egress is not isolated, y is not affected
        ("x/a", "8.8.8.8", "443/TCP", "allowed")]),
    "explicit empty ingress list is the same as absent": ("""
metadata: {name: deny, namespace: x}
spec: {podSelector: {}, ingress: []}
""", [("x/b", "x/a", "80/TCP", "denied")]),
    "allow all ingress: ingress [{}] admits every source, port and protocol": (DENY_INGRESS_X + """---
metadata: {name: allow-all, namespace: x}
spec: {podSelector: {}, ingress: [{}]}
""", [("y/a", "x/a", "80/TCP", "allowed"), ("8.8.8.8", "x/b", "5000/UDP", "allowed"), ("world:", "x/a", "ICMP", "allowed")]),
    "empty from and ports lists mean all peers and all ports, like absent ones": (DENY_INGRESS_X + """---
metadata: {name: empty-lists, namespace: x}
spec:
  podSelector: {matchLabels: {pod: a}}
  ingress: [{from: [], ports: []}]
""", [("y/b", "x/a", "81/UDP", "allowed"), ("8.8.8.8", "x/a", "ICMP", "allowed"), ("world:", "x/a", "80/SCTP", "allowed"),
      ("y/b", "x/b", "80/TCP", "denied")]),
    "default deny egress": ("""
metadata: {name: deny-egress, namespace: x}
spec: {podSelector: {}, policyTypes: [Egress]}
""", [("x/a", "y/b", "80/TCP", "denied"), ("x/a", "8.8.8.8", "53/UDP", "denied"),
      ("y/b", "x/a", "80/TCP", "allowed"), ("8.8.8.8", "x/a", "80/TCP", "allowed")]),
    "deny all both directions": ("""
metadata: {name: deny-all, namespace: x}
spec: {podSelector: {}, policyTypes: [Ingress, Egress]}
""", [("x/a", "x/b", "80/TCP", "denied"), ("x/a", "y/b", "80/TCP", "denied"), ("y/a", "x/b", "80/TCP", "denied"),
      ("y/a", "y/b", "80/TCP", "allowed")]),
    "a non-empty egress list without policyTypes isolates both directions": ("""
metadata: {name: egress-to-b, namespace: x}
spec:
  podSelector: {matchLabels: {pod: a}}
  egress: [{to: [{podSelector: {matchLabels: {pod: b}}}]}]
""", [("x/a", "x/b", "80/TCP", "allowed"), ("x/a", "x/c", "80/TCP", "denied"),
      ("y/a", "x/a", "80/TCP", "denied"),    # Ingress defaulted in, with no ingress rules
      ("x/b", "x/c", "80/TCP", "allowed")]),
    "an empty egress list without policyTypes isolates ingress only": ("""
metadata: {name: p, namespace: x}
spec: {podSelector: {}, egress: []}
""", [("x/a", "y/a", "80/TCP", "allowed"), ("y/a", "x/a", "80/TCP", "denied")]),
    "rules of a direction missing from policyTypes are ignored": ("""
metadata: {name: p, namespace: x}
spec:
  podSelector: {}
  policyTypes: [Ingress]
  ingress: [{}]
  egress: [{to: [{podSelector: {matchLabels: {pod: b}}}]}]
""", [("x/a", "y/c", "80/TCP", "allowed"), ("y/c", "x/a", "80/TCP", "allowed")]),
    "podSelector alone selects pods of the policy's namespace only": (DENY_INGRESS_X + """---
metadata: {name: from-b, namespace: x}
spec:
  podSelector: {matchLabels: {pod: a}}
  ingress: [{from: [{podSelector: {matchLabels: {pod: b}}}]}]
""", [("x/b", "x/a", "80/TCP", "allowed"), ("y/b", "x/a", "80/TCP", "denied"), ("x/c", "x/a", "80/TCP", "denied"),
      ("10.0.1.2", "x/a", "80/TCP", "denied")]),
    "namespaceSelector alone selects every pod of matching namespaces": (DENY_INGRESS_X + """---
metadata: {name: from-y, namespace: x}
spec:
  podSelector: {}
  ingress: [{from: [{namespaceSelector: {matchLabels: {ns: y}}}]}]
""", [("y/a", "x/a", "80/TCP", "allowed"), ("y/c", "x/b", "81/UDP", "allowed"), ("x/b", "x/a", "80/TCP", "denied"),
      ("z/a", "x/a", "80/TCP", "denied")]),
    "namespaceSelector {} selects all pods of all namespaces but no IPs": (DENY_INGRESS_X + """---
metadata: {name: from-pods, namespace: x}
spec:
  podSelector: {}
  ingress: [{from: [{namespaceSelector: {}}]}]
""", [("z/c", "x/a", "80/TCP", "allowed"), ("x/b", "x/a", "80/TCP", "allowed"), ("8.8.8.8", "x/a", "80/TCP", "denied"),
      ("host:172.16.0.9", "x/a", "80/TCP", "denied")]),
    "namespaceSelector and podSelector in ONE peer are ANDed": (DENY_INGRESS_X + """---
metadata: {name: and, namespace: x}
spec:
  podSelector: {}
  ingress:
  - from:
    - namespaceSelector: {matchLabels: {ns: y}}
      podSelector: {matchLabels: {pod: b}}
""", [("y/b", "x/a", "80/TCP", "allowed"), ("y/a", "x/a", "80/TCP", "denied"), ("x/b", "x/a", "80/TCP", "denied")]),
    "separate peers are ORed": (DENY_INGRESS_X + """---
metadata: {name: or, namespace: x}
spec:
  podSelector: {}
  ingress:
  - from:
    - namespaceSelector: {matchLabels: {ns: y}}
    - podSelector: {matchLabels: {pod: b}}
""", [("y/a", "x/a", "80/TCP", "allowed"), ("x/b", "x/a", "80/TCP", "allowed"), ("x/c", "x/a", "80/TCP", "denied"),
      ("z/b", "x/a", "80/TCP", "denied")]),
    "kubernetes.io/metadata.name is always a namespace label": (DENY_INGRESS_X + """---
metadata: {name: from-z, namespace: x}
spec:
  podSelector: {}
  ingress: [{from: [{namespaceSelector: {matchLabels: {kubernetes.io/metadata.name: z}}}]}]
""", [("z/a", "x/a", "80/TCP", "allowed"), ("y/a", "x/a", "80/TCP", "denied")]),
    "matchLabels and matchExpressions are ANDed; every operator": (DENY_INGRESS_X + """---
metadata: {name: in, namespace: x}
spec:
  podSelector: {matchLabels: {pod: a}}
  ingress:
  - from:
    - podSelector: {matchExpressions: [{key: pod, operator: In, values: [b, c]}]}
      namespaceSelector: {matchExpressions: [{key: ns, operator: NotIn, values: [z]}]}
---
metadata: {name: exists, namespace: x}
spec:
  podSelector: {matchLabels: {pod: b}}
  ingress:
  - from:
    - namespaceSelector: {matchLabels: {ns: z}, matchExpressions: [{key: ns, operator: Exists}]}
      podSelector: {matchExpressions: [{key: pod, operator: NotIn, values: [a]}, {key: tier, operator: DoesNotExist}]}
""", [("x/b", "x/a", "80/TCP", "allowed"), ("y/c", "x/a", "80/TCP", "allowed"), ("z/b", "x/a", "80/TCP", "denied"),
      ("y/a", "x/a", "80/TCP", "denied"), ("z/c", "x/b", "80/TCP", "allowed"), ("z/a", "x/b", "80/TCP", "denied"),
      ("y/c", "x/b", "80/TCP", "denied")]),
    "policies only select pods of their own namespace": ("""
metadata: {name: deny, namespace: y}
spec: {podSelector: {}}
""", [("x/a", "x/b", "80/TCP", "allowed"), ("x/a", "y/b", "80/TCP", "denied")]),
    "a policy selecting no pod changes nothing": ("""
metadata: {name: nobody, namespace: x}
spec: {podSelector: {matchLabels: {pod: nobody}}, policyTypes: [Ingress, Egress]}
""", [("x/a", "x/b", "80/TCP", "allowed")]),
    "numeric port: protocol defaults to TCP, other ports and protocols denied": (DENY_INGRESS_X + """---
metadata: {name: port-80, namespace: x}
spec:
  podSelector: {}
  ingress: [{ports: [{port: 80}]}]
""", [("y/a", "x/a", "80/TCP", "allowed"), ("y/a", "x/a", "81/TCP", "denied"), ("y/a", "x/a", "80/UDP", "denied"),
      ("y/a", "x/a", "80/SCTP", "denied"), ("y/a", "x/a", "ICMP", "denied")]),
    "protocol without port: every port of that protocol": (DENY_INGRESS_X + """---
metadata: {name: udp, namespace: x}
spec:
  podSelector: {}
  ingress: [{ports: [{protocol: UDP}]}]
""", [("y/a", "x/a", "53/UDP", "allowed"), ("y/a", "x/a", "81/UDP", "allowed"), ("y/a", "x/a", "53/TCP", "denied")]),
    "ports [{}] means every TCP port (protocol defaults to TCP)": (DENY_INGRESS_X + """---
metadata: {name: tcp, namespace: x}
spec:
  podSelector: {}
  ingress: [{ports: [{}]}]
""", [("y/a", "x/a", "8080/TCP", "allowed"), ("y/a", "x/a", "53/UDP", "denied"), ("y/a", "x/a", "ICMP", "denied")]),
    "endPort is inclusive on both bounds": (DENY_INGRESS_X + """---
metadata: {name: range, namespace: x}
spec:
  podSelector: {}
  ingress: [{ports: [{port: 80, endPort: 81}]}]
""", [("y/a", "x/a", "79/TCP", "denied"), ("y/a", "x/a", "80/TCP", "allowed"), ("y/a", "x/a", "81/TCP", "allowed"),
      ("y/a", "x/a", "82/TCP", "denied")]),
    "named ports resolve against the destination pod, name and protocol": (DENY_INGRESS_X + """---
metadata: {name: named, namespace: x}
spec:
  podSelector: {}
  ingress:
  - ports: [{port: serve-80-tcp}, {port: serve-81-udp, protocol: UDP}, {port: serve-80-udp}, {port: nope}]
""", [("y/a", "x/a", "80/TCP", "allowed"), ("y/a", "x/a", "81/TCP", "denied"), ("y/a", "x/a", "81/UDP", "allowed"),
      ("y/a", "x/a", "80/UDP", "denied"),     # serve-80-udp with the default TCP: protocol mismatch
      ("y/a", "x/a", "82/TCP", "denied")]),
    "egress named port: resolved on the destination pod; never matches an IP": ("""
metadata: {name: out, namespace: x}
spec:
  podSelector: {}
  policyTypes: [Egress]
  egress: [{ports: [{port: serve-81-tcp}]}]
""", [("x/a", "y/b", "81/TCP", "allowed"), ("x/a", "y/b", "80/TCP", "denied"), ("x/a", "8.8.8.8", "81/TCP", "denied"),
      ("x/a", "x/h", "81/TCP", "denied")]),   # hostNetwork destination: an address, no named ports
    "SCTP is distinct from TCP and UDP; ICMP needs a rule without ports": (DENY_INGRESS_X + """---
metadata: {name: sctp, namespace: x}
spec:
  podSelector: {matchLabels: {pod: a}}
  ingress: [{ports: [{port: 80, protocol: SCTP}]}]
---
metadata: {name: any, namespace: x}
spec:
  podSelector: {matchLabels: {pod: b}}
  ingress: [{from: [{namespaceSelector: {}}]}]
""", [("y/a", "x/a", "80/SCTP", "allowed"), ("y/a", "x/a", "80/TCP", "denied"), ("y/a", "x/a", "ICMP", "denied"),
      ("y/a", "x/b", "ICMP", "allowed"), ("y/a", "x/b", "80/SCTP", "allowed")]),
    "ipBlock with except": (DENY_INGRESS_X + """---
metadata: {name: cidr, namespace: x}
spec:
  podSelector: {}
  ingress: [{from: [{ipBlock: {cidr: 192.168.0.0/16, except: [192.168.1.0/24]}}]}]
""", [("192.168.2.5", "x/a", "80/TCP", "allowed"), ("192.168.1.10", "x/a", "80/TCP", "denied"),
      ("192.169.0.1", "x/a", "80/TCP", "denied"), ("world:", "x/a", "80/TCP", "denied")]),
    "IPv6 ipBlock; IPv4 and IPv6 never match each other": ("""
metadata: {name: out6, namespace: x}
spec:
  podSelector: {}
  policyTypes: [Egress]
  egress:
  - to: [{ipBlock: {cidr: "2001:db8::/32", except: ["2001:db8:1::/48"]}}]
  - to: [{ipBlock: {cidr: 0.0.0.0/0}}]
    ports: [{port: 443}]
""", [("x/a", "2001:db8::5", "80/TCP", "allowed"), ("x/a", "2001:db8:1::5", "80/TCP", "denied"),
      ("x/a", "2001:db9::5", "443/TCP", "denied"), ("x/a", "8.8.8.8", "443/TCP", "allowed"),
      ("x/v6", "fd00::9", "443/TCP", "denied")]),
    "ipBlock also matches a pod's IP (implementation-defined; our choice)": (DENY_INGRESS_X + """---
metadata: {name: from-y-subnet, namespace: x}
spec:
  podSelector: {}
  ingress: [{from: [{ipBlock: {cidr: 10.0.2.0/24}}]}]
""", [("y/a", "x/a", "80/TCP", "allowed"), ("z/a", "x/a", "80/TCP", "denied")]),
    "policies are additive": (DENY_INGRESS_X + """---
metadata: {name: from-b, namespace: x}
spec:
  podSelector: {matchLabels: {pod: a}}
  ingress: [{from: [{podSelector: {matchLabels: {pod: b}}}]}]
---
metadata: {name: from-c, namespace: x}
spec:
  podSelector: {matchLabels: {pod: a}}
  ingress: [{from: [{podSelector: {matchLabels: {pod: c}}}], ports: [{port: 81}]}]
""", [("x/b", "x/a", "80/TCP", "allowed"), ("x/c", "x/a", "81/TCP", "allowed"), ("x/c", "x/a", "80/TCP", "denied")]),
    "pod to pod needs the source's egress AND the destination's ingress": ("""
metadata: {name: deny-egress, namespace: x}
spec: {podSelector: {matchLabels: {pod: a}}, policyTypes: [Egress]}
---
metadata: {name: allow-in, namespace: y}
spec: {podSelector: {}, ingress: [{}]}
""", [("x/a", "y/b", "80/TCP", "denied"), ("x/b", "y/b", "80/TCP", "allowed")]),
    "egress to an IP needs egress only; DNS example": ("""
metadata: {name: dns-only, namespace: x}
spec:
  podSelector: {}
  policyTypes: [Egress]
  egress: [{to: [{ipBlock: {cidr: 10.96.0.10/32}}], ports: [{port: 53, protocol: UDP}, {port: 53, protocol: TCP}]}]
""", [("x/a", "10.96.0.10", "53/UDP", "allowed"), ("x/a", "10.96.0.10", "53/TCP", "allowed"),
      ("x/a", "10.96.0.11", "53/UDP", "denied"), ("x/a", "10.96.0.10", "80/TCP", "denied")]),
    "hostNetwork pods are addresses: not selectable, not isolated": (DENY_INGRESS_X + """---
metadata: {name: from-h, namespace: x}
spec:
  podSelector: {matchLabels: {pod: a}}
  ingress: [{from: [{podSelector: {matchLabels: {pod: h}}}]}]
---
metadata: {name: from-node, namespace: x}
spec:
  podSelector: {matchLabels: {pod: b}}
  ingress: [{from: [{ipBlock: {cidr: 172.16.0.0/24}}]}]
""", [("x/h", "x/a", "80/TCP", "denied"), ("x/h", "x/b", "80/TCP", "allowed"), ("x/a", "x/h", "80/TCP", "allowed")]),
    "a pod's traffic to itself is always allowed (implementation-defined; our choice)": ("""
metadata: {name: deny-all, namespace: x}
spec: {podSelector: {}, policyTypes: [Ingress, Egress]}
""", [("x/a", "x/a", "80/TCP", "allowed"), ("x/a", "x/b", "80/TCP", "denied")]),
}


@pytest.mark.parametrize("name", list(CASES))
def test_truth_table(name: str) -> None:
    text, rows = CASES[name]
    pols = policies(text)
    flows = [flow(*row[:3]) for row in rows]
    bulk = evaluate(pols, flows, pods=PODS, namespaces=NAMESPACES)
    for row, f, (_, got) in zip(rows, flows, bulk.iterrows()):
        single = explain_flow(pols, f, pods=PODS, namespaces=NAMESPACES)
        expected = row[3]
        assert single.word == expected, f"{row}: explain says {single.word}: {single.egress.reason} / {single.ingress.reason}"
        assert ("allowed" if got["allowed"] else "denied") == expected, f"{row}: bulk says {got['reason']}"
        assert got["reason"] == " | ".join(
            [d.reason for d in (single.egress, single.ingress) if not d.allowed] or [single.egress.reason, single.ingress.reason])


def _one(text: str, src: str, dst: str, port: str):  # type: ignore[no-untyped-def]
    return evaluate(policies(text), [flow(src, dst, port)], pods=PODS, namespaces=NAMESPACES).iloc[0]


def test_reason_names_isolating_policies_and_the_port() -> None:
    row = _one(DENY_INGRESS_X + """---
metadata: {name: backend, namespace: x}
spec:
  podSelector: {matchLabels: {pod: a}}
  ingress: [{from: [{podSelector: {matchLabels: {pod: b}}}], ports: [{port: 81}]}]
""", "x/b", "x/a", "5432/TCP")
    assert row["reason"] == "isolated for ingress by backend, default-deny; no rule matches port 5432/TCP for source x/b"
    assert row["ingress_isolated_by"] == ["x/backend", "x/default-deny"]
    assert row["egress_applies"] and not row["egress_isolated"] and row["egress_allowed"]


def test_admitted_by_lists_every_admitting_rule_in_order() -> None:
    row = _one("""
metadata: {name: p, namespace: x}
spec:
  podSelector: {}
  ingress: [{ports: [{port: 81}]}, {from: [{namespaceSelector: {}}]}, {}]
""", "y/a", "x/a", "80/TCP")
    assert row["ingress_admitted_by"] == ["x/p ingress[1]", "x/p ingress[2]"]
    assert row["allowed"] and row["reason"].endswith("ingress allowed by x/p ingress[1], x/p ingress[2]")


def test_unknown_address_explains_that_it_matches_no_ipblock() -> None:
    row = _one(DENY_INGRESS_X, "world:", "x/a", "80/TCP")
    assert row["reason"] == ("isolated for ingress by default-deny; they have no ingress rules")
    row = _one(DENY_INGRESS_X + """---
metadata: {name: cidr, namespace: x}
spec: {podSelector: {}, ingress: [{from: [{ipBlock: {cidr: 0.0.0.0/0}}]}]}
""", "world:", "x/a", "80/TCP")
    assert "world endpoint with unknown address (matches no ipBlock)" in row["reason"]
    assert row["egress_reason"] == "egress not enforced: source is a world endpoint, not a pod"
