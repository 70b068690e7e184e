"""Reject, with file, line and field path, every policy the API server rejects.

Why this exists: the evaluator's verdicts are only meaningful for policies a
cluster would accept, and ``recommend generate`` must never emit one it would
refuse. This module re-implements ``ValidateNetworkPolicy`` (k8s
pkg/apis/networking/validation) plus the apimachinery label-selector and
object-meta checks, and what the API server's strict decoder refuses (unknown
fields, a boolean where a string belongs), on the *plain document* — so a typo
such as ``form:`` instead of ``from:`` is an error, not a silently wider
policy. Syntax rules for names, labels, ports and CIDRs live in
``recommender.engine.k8s_names``.

``validate_policy`` lists every problem (errors and warnings);
``check_policy`` raises ``PolicyError`` for the first error and returns the
warnings.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from recommender.engine import k8s_names as names
from recommender.errors import PolicyError, location
from recommender.io.yamlloc import FieldPath, render_path
from recommender.model.policy import NetworkPolicy

NETWORK_POLICY = ("networking.k8s.io/v1", "NetworkPolicy")
STAGED_POLICY = ("projectcalico.org/v3", "StagedKubernetesNetworkPolicy")
POLICY_API_VERSIONS = dict((kind, api) for api, kind in (NETWORK_POLICY, STAGED_POLICY))
STAGED_ACTIONS = ("Set", "Delete", "Learn", "Ignore")
_TOP = {"apiVersion", "kind", "metadata", "spec", "status"}
_META = {
    "name", "generateName", "namespace", "selfLink", "uid", "resourceVersion", "generation",
    "creationTimestamp", "deletionTimestamp", "deletionGracePeriodSeconds", "labels", "annotations",
    "ownerReferences", "finalizers", "managedFields",
}
_SPEC = {"podSelector", "ingress", "egress", "policyTypes"}
_SELECTOR = {"matchLabels", "matchExpressions"}
_PEER = {"podSelector", "namespaceSelector", "ipBlock"}
_MAX_ANNOTATIONS_BYTES = 256 * 1024
_NULL_HINT = ("the API server accepts it and stores {}, but a null entry is usually a rule whose content was "
              "commented out: write {} if that is meant, else remove the entry")


@dataclass(frozen=True, slots=True)
class Problem:
    """One validation finding; ``str()`` is ``FILE:LINE path: reason``."""

    path: str
    reason: str
    file: str | None = None
    line: int | None = None
    severity: str = "error"  # "error" (the API server rejects it) or "warning" (it accepts it, but…)
    hint: str | None = None  # for an error the API server would not reject, what the user must know instead

    def __str__(self) -> str:
        suffix = " (warning)" if self.severity == "warning" else ""
        return f"{location(self.file, self.line, self.path or None)}: {self.reason}{suffix}"


def _describe(value: Any) -> str:
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, int | float):
        return "a number"
    if value is None:
        return "null"
    if isinstance(value, dict):
        return "a mapping"
    if isinstance(value, list):
        return "a list"
    return f"a {type(value).__name__}"


class _Walk:
    """Collects problems while walking one document."""

    def __init__(self, file: str | None, line: int | None, lines: Mapping[FieldPath, int] | None) -> None:
        self.file, self.line, self.lines = file, line, lines or {}
        self.problems: list[Problem] = []

    def line_of(self, path: FieldPath) -> int | None:
        for end in range(len(path), 0, -1):
            found = self.lines.get(path[:end])
            if found is not None:
                return found
        return self.line

    def add(self, path: FieldPath, reason: str, severity: str = "error", hint: str | None = None) -> None:
        self.problems.append(Problem(render_path(path), reason, self.file, self.line_of(path), severity, hint))

    def mapping(self, value: Any, path: FieldPath, fields: set[str] | None) -> dict[str, Any] | None:
        if not isinstance(value, dict):
            self.add(path, f"must be a mapping, not {_describe(value)}")
            return None
        for key in value:
            if not isinstance(key, str):
                self.add(path + (str(key),), f"keys must be strings, not {_describe(key)} (quote it in YAML)")
            elif fields is not None and key not in fields:
                self.add(path + (key,), f"unknown field {key!r} (expected one of: {', '.join(sorted(fields))})")
        return value

    def sequence(self, value: Any, path: FieldPath) -> list[Any]:
        """A list, or [] after reporting; ``None`` (absent/null) is an empty list."""
        if value is None:
            return []
        if not isinstance(value, list | tuple):  # tuples: documents built in Python
            self.add(path, f"must be a list, not {_describe(value)}")
            return []
        return list(value)

    def string(self, value: Any, path: FieldPath, check: Callable[[str], list[str]] | None = None) -> str | None:
        if not isinstance(value, str):
            quote = "" if value is None or isinstance(value, dict | list) else " (quote it in YAML)"
            self.add(path, f"must be a string, not {_describe(value)}{quote}")
            return None
        for reason in check(value) if check else ():
            self.add(path, reason)
        return value

    def label_map(self, value: Any, path: FieldPath, check_values: bool = True) -> None:
        """Labels (``check_values``) or annotations, whose keys the API server
        checks lower-cased and whose values may be any string."""
        if value is None:
            return
        m = self.mapping(value, path, None)
        for key, val in (m or {}).items():
            if not isinstance(key, str):
                continue  # reported by mapping()
            for reason in names.qualified_name(key if check_values else key.lower()):
                self.add(path + (key,), f"invalid key: {reason}")
            self.label_value(val, path + (key,), check_values)

    def label_value(self, value: Any, path: FieldPath, check: bool = True) -> None:
        """The API server decodes a null map/list entry as "" (Go's zero value)."""
        if value is None:
            self.add(path, 'null is read as the empty string ""', "warning")
        else:
            self.string(value, path, names.label_value if check else None)


def _metadata(w: _Walk, value: Any) -> None:
    meta = w.mapping(value, ("metadata",), _META)
    if meta is None:
        return
    if meta.get("name") in (None, ""):
        hint = " (generateName is not supported: give the policy a name)" if meta.get("generateName") else ""
        w.add(("metadata", "name"), f"required value{hint}")
    else:
        w.string(meta["name"], ("metadata", "name"), names.dns1123_subdomain)
    if meta.get("namespace") not in (None, ""):  # "" means the default namespace, as for kubectl
        w.string(meta["namespace"], ("metadata", "namespace"), names.dns1123_label)
    w.label_map(meta.get("labels"), ("metadata", "labels"))
    annotations = meta.get("annotations")
    if annotations is not None:
        w.label_map(annotations, ("metadata", "annotations"), check_values=False)
        if isinstance(annotations, dict):
            size = sum(len(str(k)) + len(str(v)) for k, v in annotations.items())
            if size > _MAX_ANNOTATIONS_BYTES:
                w.add(("metadata", "annotations"), f"may not have more than {_MAX_ANNOTATIONS_BYTES} bytes")


def _selector(w: _Walk, value: Any, path: FieldPath) -> None:
    sel = w.mapping(value, path, _SELECTOR)
    if sel is None:
        return
    w.label_map(sel.get("matchLabels"), path + ("matchLabels",))
    for i, expr in enumerate(w.sequence(sel.get("matchExpressions"), path + ("matchExpressions",))):
        _requirement(w, expr, path + ("matchExpressions", i))


def _requirement(w: _Walk, value: Any, path: FieldPath) -> None:
    req = w.mapping(value, path, {"key", "operator", "values"})
    if req is None:
        return
    if req.get("key") is None:
        w.add(path + ("key",), "required value")
    else:
        w.string(req["key"], path + ("key",), names.qualified_name)
    values = w.sequence(req.get("values"), path + ("values",))
    for j, v in enumerate(values):
        w.label_value(v, path + ("values", j))
    op = req.get("operator")
    if op is None:
        w.add(path + ("operator",), "required value")
    elif op in ("In", "NotIn"):
        if not values:
            w.add(path + ("values",), "must be specified when operator is 'In' or 'NotIn'")
    elif op in ("Exists", "DoesNotExist"):
        if values:
            w.add(path + ("values",), "may not be specified when operator is 'Exists' or 'DoesNotExist'")
    else:
        w.add(path + ("operator",), f"{op!r} is not a valid selector operator (In, NotIn, Exists, DoesNotExist)")


def _ip_block(w: _Walk, value: Any, path: FieldPath) -> None:
    block = w.mapping(value, path, {"cidr", "except"})
    if block is None:
        return
    cidr_text = block.get("cidr")
    network = None
    if cidr_text in (None, ""):
        w.add(path + ("cidr",), "required value")
    elif w.string(cidr_text, path + ("cidr",)) is not None:
        network, errors, warnings = names.parse_cidr(cidr_text)
        for reason in errors:
            w.add(path + ("cidr",), reason)
        for reason in warnings:
            w.add(path + ("cidr",), reason, "warning")
    for i, text in enumerate(w.sequence(block.get("except"), path + ("except",))):
        where = path + ("except", i)
        if w.string(text, where) is None:
            continue
        exc, errors, warnings = names.parse_cidr(text)
        for reason in errors:
            w.add(where, reason)
        for reason in warnings:
            w.add(where, reason, "warning")
        if exc is not None and network is not None:
            problem = names.except_problem(network, exc, cidr_text)
            if problem:
                w.add(where, problem)


def _peer(w: _Walk, value: Any, path: FieldPath) -> None:
    peer = w.mapping(value, path, _PEER)
    if peer is None:
        return
    present = [k for k in ("podSelector", "namespaceSelector", "ipBlock") if peer.get(k) is not None]
    for key in present:
        if key == "ipBlock":
            _ip_block(w, peer[key], path + (key,))
        else:
            _selector(w, peer[key], path + (key,))
    if not present:
        w.add(path, "must specify a peer (podSelector, namespaceSelector or ipBlock)")
    elif len(present) > 1 and "ipBlock" in present:
        w.add(path, "may not specify both ipBlock and another peer")


def _port(w: _Walk, value: Any, path: FieldPath) -> None:
    spec = w.mapping(value, path, {"protocol", "port", "endPort"})
    if spec is None:
        return
    protocol = spec.get("protocol")
    if protocol is not None and w.string(protocol, path + ("protocol",)) is not None and protocol not in names.PROTOCOLS:
        w.add(path + ("protocol",), f'unsupported value {protocol!r}: supported values: "TCP", "UDP", "SCTP"')
    port, end = spec.get("port"), spec.get("endPort")
    numeric = isinstance(port, int) and not isinstance(port, bool)
    if numeric:
        for reason in names.port_number(port):
            w.add(path + ("port",), reason)
    elif isinstance(port, str):
        for reason in names.port_name(port):
            quoted = " (a port number must not be quoted)" if port.isdigit() else ""
            w.add(path + ("port",), f"invalid port name: {reason}{quoted}")
    elif port is not None:
        w.add(path + ("port",), f"must be a port number or a port name, not {_describe(port)}")
    if end is None:
        return
    if not isinstance(end, int) or isinstance(end, bool):
        w.add(path + ("endPort",), f"must be an integer, not {_describe(end)}")
    elif port is None:
        w.add(path + ("endPort",), "may not be specified when port is not specified")
    elif not numeric:
        w.add(path + ("endPort",), "may not be specified when port is non-numeric")
    else:
        if end < port:
            w.add(path + ("endPort",), "must be greater than or equal to port")
        for reason in names.port_number(end):
            w.add(path + ("endPort",), reason)


def _rules(w: _Walk, spec: dict[str, Any], direction: str, peer_key: str) -> None:
    if spec.get(direction) is None:
        return
    for i, value in enumerate(w.sequence(spec[direction], ("spec", direction))):
        path: FieldPath = ("spec", direction, i)
        if value is None:   # Go decodes a null list entry as the zero value: {}, the widest rule there is
            peers = "source" if peer_key == "from" else "destination"
            w.add(path, f"null: the API server reads it as {{}}, a rule that admits every {peers} on every port",
                  hint=_NULL_HINT)
            continue
        rule = w.mapping(value, path, {peer_key, "ports"})
        if rule is None:
            continue
        for j, peer in enumerate(w.sequence(rule.get(peer_key), path + (peer_key,))):
            _peer(w, peer, path + (peer_key, j))
        for j, port in enumerate(w.sequence(rule.get("ports"), path + ("ports",))):
            if port is None:
                w.add(path + ("ports", j), "null: the API server reads it as {}, every TCP port", hint=_NULL_HINT)
                continue
            _port(w, port, path + ("ports", j))


def _spec(w: _Walk, value: Any, staged: bool) -> None:
    spec = w.mapping(value, ("spec",), _SPEC | {"stagedAction"} if staged else _SPEC)
    if spec is None:
        return
    if spec.get("podSelector") is None:
        w.add(("spec", "podSelector"), "absent: treated as {} which selects every pod in the namespace", "warning")
    else:
        _selector(w, spec["podSelector"], ("spec", "podSelector"))
    if staged and spec.get("stagedAction") is not None:
        action = w.string(spec["stagedAction"], ("spec", "stagedAction"))
        if action is not None and action not in STAGED_ACTIONS:
            w.add(("spec", "stagedAction"), f"unsupported value {action!r}: supported values: {', '.join(STAGED_ACTIONS)}")
    _rules(w, spec, "ingress", "from")
    _rules(w, spec, "egress", "to")
    types = w.sequence(spec.get("policyTypes"), ("spec", "policyTypes"))
    if len(types) > 2:
        w.add(("spec", "policyTypes"), "may not specify more than two policyTypes")
        return
    for i, t in enumerate(types):
        if w.string(t, ("spec", "policyTypes", i)) is not None and t not in names.POLICY_TYPES:
            w.add(("spec", "policyTypes", i), f'unsupported value {t!r}: supported values: "Ingress", "Egress"')


def validate_policy(
    doc_or_policy: Mapping[str, Any] | NetworkPolicy,
    *,
    file: str | None = None,
    line: int | None = None,
    lines: Mapping[FieldPath, int] | None = None,
) -> list[Problem]:
    """Every problem of one NetworkPolicy (or StagedKubernetesNetworkPolicy)
    document: errors first, then warnings, each by line.

    ``lines`` maps field paths to lines (``recommender.io.yamlloc.Located.lines``);
    without it every problem carries ``line``. A ``NetworkPolicy`` model object
    is validated through its ``policy_to_dict`` rendering."""
    if isinstance(doc_or_policy, NetworkPolicy):
        from recommender.io.yaml_out import policy_to_dict

        file = file or doc_or_policy.source.file
        line = line or doc_or_policy.source.line
        doc_or_policy = policy_to_dict(doc_or_policy)
    w = _Walk(file, line, lines)
    doc = w.mapping(dict(doc_or_policy) if isinstance(doc_or_policy, Mapping) else doc_or_policy, (), _TOP)
    if doc is not None:
        kind = doc.get("kind")
        if kind not in POLICY_API_VERSIONS:
            w.add(("kind",), f"unsupported kind {kind!r}: expected NetworkPolicy or StagedKubernetesNetworkPolicy")
        elif doc.get("apiVersion") != POLICY_API_VERSIONS[kind]:
            w.add(("apiVersion",), f"must be {POLICY_API_VERSIONS[kind]} for kind {kind}, not {doc.get('apiVersion')!r}")
        _metadata(w, doc.get("metadata"))
        if doc.get("spec") is None:
            w.add(("spec",), "absent: the policy selects every pod in the namespace and denies their ingress", "warning")
        else:
            _spec(w, doc["spec"], kind == STAGED_POLICY[1])
    return sorted(w.problems, key=lambda p: (p.severity != "error", p.line or 0))


def check_policy(
    doc_or_policy: Mapping[str, Any] | NetworkPolicy,
    *,
    file: str | None = None,
    line: int | None = None,
    lines: Mapping[FieldPath, int] | None = None,
) -> list[Problem]:
    """Raise ``PolicyError`` for the first error; return the warnings."""
    problems = validate_policy(doc_or_policy, file=file, line=line, lines=lines)
    errors = [p for p in problems if p.severity == "error"]
    if errors:
        first = errors[0]
        more = f"{len(errors) - 1} more problem(s) in this policy; " if len(errors) > 1 else ""
        raise PolicyError(
            first.reason,
            file=first.file,
            line=first.line,
            path=first.path or None,
            hint=f"{more}{first.hint or 'the Kubernetes API server would reject this policy'}",
        )
    return problems
