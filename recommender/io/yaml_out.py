"""Policies out as deterministic, YAML-safe, fast multi-document YAML.

Why this exists: generated policies go into git and CI, so the same input must
give the same bytes, and a label value such as ``yes``, ``1.10``, ``0x1F`` or
``2001-01-01`` must come back as the *string* it was — not a boolean, a float,
an int or a date — in every YAML reader (PyYAML, libyaml, and the YAML 1.1
reader kubectl uses). PyYAML's emitter is also slow for thousands of policies
(about 11 s pure Python, 2.7 s with libyaml for 2,000 policies), so this module
writes the restricted shape of Kubernetes objects itself: block mappings and
indentless sequences (kubectl style), flow ``{}``/``[]`` for empty
collections, and a conservative scalar quoter (``quote_scalar``): a string
stays plain only if it starts with a letter, uses ``[A-Za-z0-9._/-]`` and is
no YAML keyword, or is a CIDR (no resolver reads a ``/`` as a number or a
date); otherwise it is single-quoted, or double-quoted with escapes
when it holds control or line-break characters.

Key order is canonical, not alphabetical: ``apiVersion, kind, metadata,
spec``; metadata ``name, namespace, labels, annotations``; spec
``podSelector, policyTypes, ingress, egress``; rules ``from``/``to`` then
``ports``; peers ``ipBlock, namespaceSelector, podSelector``; ports
``protocol, port, endPort``. Label maps are sorted by key.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable
from functools import lru_cache
from typing import Any

from recommender.model import LabelSelector, NetworkPolicy, Peer, PortSpec, Rule

_PLAIN = re.compile(r"[A-Za-z][A-Za-z0-9._/-]*|[0-9A-Fa-f][0-9A-Fa-f.:]*/[0-9]+")  # names | CIDRs
# Words some YAML reader (1.1: PyYAML, go-yaml v2 in kubectl; 1.2) resolves to a non-string.
_KEYWORDS = frozenset("y n yes no on off true false null ~".split())
# Characters that need a double-quoted escape: C0/C1 controls, DEL, line and
# paragraph separators (YAML 1.1 line breaks), BOM, non-characters, surrogates.
_NEEDS_ESCAPE = re.compile("[\x00-\x1f\x7f-\x9f\u2028\u2029\ufeff\ufffe\uffff\ud800-\udfff]")
_MAX_SIMPLE_KEY = 1000  # YAML readers refuse implicit keys longer than 1024 characters
_ESCAPES = {"\\": "\\\\", '"': '\\"', "\n": "\\n", "\t": "\\t", "\r": "\\r", "\x00": "\\0"}


def _escape(char: str) -> str:
    known = _ESCAPES.get(char)
    if known is not None:
        return known
    code = ord(char)
    return f"\\x{code:02X}" if code <= 0xFF else f"\\u{code:04X}"


@lru_cache(maxsize=65536)
def quote_scalar(text: str) -> str:
    """``text`` as a YAML scalar that every YAML reader reads back as this string."""
    if _PLAIN.fullmatch(text) and text.lower() not in _KEYWORDS:
        return text
    if _NEEDS_ESCAPE.search(text) is None:
        return "'" + text.replace("'", "''") + "'"
    return '"' + re.sub(r'[\\"]|' + _NEEDS_ESCAPE.pattern, lambda m: _escape(m.group()), text) + '"'


def _scalar(value: Any) -> str:
    if isinstance(value, str):
        return quote_scalar(value)
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(int(value))
    if isinstance(value, float):
        if math.isnan(value):
            return ".nan"
        if math.isinf(value):
            return ".inf" if value > 0 else "-.inf"
        text = repr(float(value))  # float(): numpy.float64 is a float whose repr is "np.float64(…)"
        return text if "." in text else text.replace("e", ".0e")  # YAML 1.1 floats need a dot
    if isinstance(value, dict):
        return "{}"
    if isinstance(value, list | tuple):
        return "[]"
    if hasattr(value, "item"):  # a numpy/pandas scalar (numpy.int64 from a DataFrame)
        return _scalar(value.item())
    raise TypeError(f"cannot write {type(value).__name__} as YAML")


def _block(value: Any, pad: str, out: list[str]) -> None:
    """Append the block-style lines of a non-empty mapping or sequence."""
    if isinstance(value, dict):
        for key, item in value.items():
            if not isinstance(key, str):
                raise TypeError(f"mapping keys must be strings, got {type(key).__name__}")
            text = quote_scalar(key)
            if len(text) > _MAX_SIMPLE_KEY:  # YAML limits implicit keys: use "? key" / ": value"
                out.append(f"{pad}? {text}\n")
                if isinstance(item, dict | list | tuple) and item:
                    out.append(f"{pad}:\n")
                    _block(item, pad + "  ", out)
                else:
                    out.append(f"{pad}: {_scalar(item)}\n")
            elif isinstance(item, dict) and item:
                out.append(f"{pad}{text}:\n")
                _block(item, pad + "  ", out)
            elif isinstance(item, list | tuple) and item:
                out.append(f"{pad}{text}:\n")
                _block(item, pad, out)  # kubectl-style indentless sequence
            else:
                out.append(f"{pad}{text}: {_scalar(item)}\n")
        return
    for item in value:
        if isinstance(item, dict | list | tuple) and item:
            start = len(out)
            _block(item, pad + "  ", out)
            out[start] = f"{pad}- {out[start][len(pad) + 2:]}"
        else:
            out.append(f"{pad}- {_scalar(item)}\n")


def dump_yaml(docs: Iterable[Any]) -> str:
    """A multi-document YAML stream (``---`` between documents), deterministic
    for the same input; dict key order is kept as given."""
    parts = []
    for doc in docs:
        out: list[str] = []
        if isinstance(doc, dict | list | tuple) and doc:
            _block(doc, "", out)
        else:
            out.append(_scalar(doc) + "\n")
        parts.append("".join(out))
    return "---\n".join(parts)


def selector_to_dict(selector: LabelSelector) -> dict[str, Any]:
    d: dict[str, Any] = {}
    if selector.match_labels:
        d["matchLabels"] = dict(sorted(selector.match_labels))
    if selector.match_expressions:
        exprs = []
        for req in selector.match_expressions:
            e: dict[str, Any] = {"key": req.key, "operator": req.operator}
            if req.values:
                e["values"] = list(req.values)
            exprs.append(e)
        d["matchExpressions"] = exprs
    return d


def _peer(peer: Peer) -> dict[str, Any]:
    d: dict[str, Any] = {}
    if peer.ip_block is not None:
        block: dict[str, Any] = {"cidr": peer.ip_block.cidr}
        if peer.ip_block.except_:
            block["except"] = list(peer.ip_block.except_)
        d["ipBlock"] = block
    if peer.namespace_selector is not None:
        d["namespaceSelector"] = selector_to_dict(peer.namespace_selector)
    if peer.pod_selector is not None:
        d["podSelector"] = selector_to_dict(peer.pod_selector)
    return d


def _port(port: PortSpec) -> dict[str, Any]:
    d: dict[str, Any] = {}
    if port.protocol is not None:
        d["protocol"] = port.protocol
    if port.port is not None:
        d["port"] = port.port if isinstance(port.port, str) else int(port.port)
    if port.end_port is not None:
        d["endPort"] = int(port.end_port)
    return d


def _rules(rules: tuple[Rule, ...], peer_key: str) -> list[dict[str, Any]]:
    out = []
    for rule in rules:
        d: dict[str, Any] = {}
        if rule.peers is not None:
            d[peer_key] = [_peer(p) for p in rule.peers]
        if rule.ports is not None:
            d["ports"] = [_port(p) for p in rule.ports]
        out.append(d)
    return out


def _metadata(p: NetworkPolicy) -> dict[str, Any]:
    meta: dict[str, Any] = {"name": p.name, "namespace": p.namespace}
    if p.labels:
        meta["labels"] = p.labels.as_dict()
    if p.annotations:
        meta["annotations"] = p.annotations.as_dict()
    return meta


def policy_to_dict(
    p: NetworkPolicy,
    *,
    api_version: str = "networking.k8s.io/v1",
    kind: str = "NetworkPolicy",
    spec_extra: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """The ``networking.k8s.io/v1`` document of ``p`` in canonical key order;
    absent fields (``None``) are omitted, empty ones (``()``) written as ``[]``."""
    meta = _metadata(p)
    spec: dict[str, Any] = dict(spec_extra or {})
    spec["podSelector"] = selector_to_dict(p.pod_selector)
    if p.policy_types is not None:
        spec["policyTypes"] = list(p.policy_types)
    if p.ingress is not None:
        spec["ingress"] = _rules(p.ingress, "from")
    if p.egress is not None:
        spec["egress"] = _rules(p.egress, "to")
    return {"apiVersion": api_version, "kind": kind, "metadata": meta, "spec": spec}


def staged_policy_to_dict(p: NetworkPolicy, *, staged_action: str = "Set") -> dict[str, Any]:
    """The Calico ``projectcalico.org/v3 StagedKubernetesNetworkPolicy`` of ``p``:
    the same spec preceded by ``stagedAction``."""
    return policy_to_dict(p, api_version=_STAGED[0], kind=_STAGED[1], spec_extra={"stagedAction": staged_action})


_STAGED = ("projectcalico.org/v3", "StagedKubernetesNetworkPolicy")


# Fragments of ``policy_yaml``: generated policies repeat the same peers (a popular workload is a peer
# in thousands of rules), port lists and selectors, so each is rendered once. Keys are frozen model
# objects and values immutable text, so sharing them across calls is safe.
_RULE_PAD = "    "   # spec -> ingress/egress (indentless) -> rule mapping


@lru_cache(maxsize=65536)
def _peer_item(peer: Peer) -> str:
    out: list[str] = []
    _block([_peer(peer)], _RULE_PAD, out)
    return "".join(out)


@lru_cache(maxsize=65536)
def _ports_item(ports: tuple[PortSpec, ...]) -> str:
    out: list[str] = []
    _block([_port(p) for p in ports], _RULE_PAD, out)
    return "".join(out)


@lru_cache(maxsize=65536)
def _pod_selector_entry(selector: LabelSelector) -> str:
    out: list[str] = []
    _block({"podSelector": selector_to_dict(selector)}, "  ", out)
    return "".join(out)


def _rule_item(rule: Rule, peer_key: str) -> str:
    """One rule as an item of the indentless ``ingress``/``egress`` sequence (``_block``'s layout)."""
    parts: list[str] = []
    if rule.peers is not None:
        parts.append(f"{_RULE_PAD}{peer_key}:\n" + "".join(_peer_item(p) for p in rule.peers) if rule.peers
                     else f"{_RULE_PAD}{peer_key}: []\n")
    if rule.ports is not None:
        parts.append(f"{_RULE_PAD}ports:\n" + _ports_item(rule.ports) if rule.ports else f"{_RULE_PAD}ports: []\n")
    if not parts:
        return "  - {}\n"
    return "  - " + "".join(parts)[len(_RULE_PAD):]


def policy_yaml(p: NetworkPolicy, *, staged: bool = False) -> str:
    """``dump_yaml([policy_to_dict(p)])`` (``staged_policy_to_dict`` when ``staged``), byte for byte, built
    from cached fragments: rendering thousands of generated policies is dominated by their repeated peers."""
    head = {"apiVersion": _STAGED[0] if staged else "networking.k8s.io/v1",
            "kind": _STAGED[1] if staged else "NetworkPolicy", "metadata": _metadata(p)}
    out: list[str] = []
    _block(head, "", out)
    out.append("spec:\n")
    if staged:
        out.append("  stagedAction: Set\n")
    out.append(_pod_selector_entry(p.pod_selector))
    if p.policy_types is not None:
        _block({"policyTypes": list(p.policy_types)}, "  ", out)
    for key, rules, peer_key in (("ingress", p.ingress, "from"), ("egress", p.egress, "to")):
        if rules is None:
            continue
        if not rules:
            out.append(f"  {key}: []\n")
            continue
        out.append(f"  {key}:\n")
        out.extend(_rule_item(r, peer_key) for r in rules)
    return "".join(out)


def dump_policies(policies: Iterable[NetworkPolicy], *, staged: bool = False) -> str:
    """YAML of ``policies`` in the given order (sort them first for stable output)."""
    convert = staged_policy_to_dict if staged else policy_to_dict
    return dump_yaml(convert(p) for p in policies)
