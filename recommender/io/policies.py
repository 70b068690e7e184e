"""Load NetworkPolicies (and the Pods/Namespaces beside them) from YAML or JSON.

Why this exists: ``recommend verify`` and the evaluator must see exactly the
policies a cluster would hold, so every document is validated like the API
server does (``recommender.engine.validate``) and every error names
``FILE:LINE field.path``. Nothing is dropped silently: documents of other kinds
end up in ``PolicySet.skipped`` with a reason.

Accepted input: files and directories (recursively, ``*.yaml``, ``*.yml``,
``*.json``, in sorted order), multi-document streams, ``kind: List`` (what
``kubectl get networkpolicies -A -o yaml`` prints), JSON, and Calico
``StagedKubernetesNetworkPolicy`` (``stagedAction: Set`` or absent is read as
the NetworkPolicy it would create; ``Delete``/``Learn``/``Ignore`` are
skipped). A staged policy and a NetworkPolicy of one name read as the state after
promotion: a staged ``Set`` supersedes the NetworkPolicy, a staged ``Delete``
deletes it. A policy without ``metadata.namespace`` lands in ``default``, as
``kubectl apply`` would put it there.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, NamedTuple

from recommender.engine.validate import STAGED_POLICY, Problem, check_policy
from recommender.errors import PolicyError, location
from recommender.io.k8s_objects import parse_namespace, parse_pod
from recommender.io.yamlloc import FieldPath, Located, load_file, no_gc
from recommender.model import (
    IPBlock,
    LabelSelector,
    Labels,
    Namespace,
    NetworkPolicy,
    Peer,
    Pod,
    PortSpec,
    Requirement,
    Rule,
    SourceRef,
)

SUFFIXES = (".yaml", ".yml", ".json")
DEFAULT_NAMESPACE = "default"


class Skipped(NamedTuple):
    """A document that is not a policy to evaluate, and why."""

    file: str | None
    line: int | None
    kind: str
    name: str
    reason: str


@dataclass
class PolicySet:
    """Everything ``load_policies`` found, policies sorted by (namespace, name)."""

    policies: tuple[NetworkPolicy, ...] = ()
    skipped: list[Skipped] = field(default_factory=list)
    pods: tuple[Pod, ...] = ()
    namespaces: tuple[Namespace, ...] = ()
    warnings: list[Problem] = field(default_factory=list)

    def __len__(self) -> int:
        return len(self.policies)


def _strings(mapping: Mapping[str, Any] | None) -> dict[str, str]:
    """A validated label map; a null value is "" as the API server decodes it."""
    return {k: "" if v is None else v for k, v in (mapping or {}).items()}


def _selector(doc: Mapping[str, Any]) -> LabelSelector:
    return LabelSelector.of(
        _strings(doc.get("matchLabels")),
        tuple(
            Requirement(e["key"], e["operator"], tuple("" if v is None else v for v in e.get("values") or ()))
            for e in doc.get("matchExpressions") or ()
        ),
    )


def _optional_selector(doc: Mapping[str, Any] | None) -> LabelSelector | None:
    return None if doc is None else _selector(doc)


def _peer(doc: Mapping[str, Any]) -> Peer:
    block = doc.get("ipBlock")
    return Peer(
        pod_selector=_optional_selector(doc.get("podSelector")),
        namespace_selector=_optional_selector(doc.get("namespaceSelector")),
        ip_block=None if block is None else IPBlock(block["cidr"], tuple(block.get("except") or ())),
    )


def _rules(rules: list[Mapping[str, Any]] | None, peer_key: str) -> tuple[Rule, ...] | None:
    if rules is None:
        return None
    out = []
    for rule in rules:
        peers, ports = rule.get(peer_key), rule.get("ports")
        out.append(
            Rule(
                peers=None if peers is None else tuple(_peer(p) for p in peers),
                ports=None if ports is None else tuple(
                    PortSpec(p.get("protocol"), p.get("port"), p.get("endPort")) for p in ports
                ),
            )
        )
    return tuple(out)


def parse_policy(
    doc: Mapping[str, Any],
    *,
    file: str | None = None,
    line: int | None = None,
    lines: Mapping[FieldPath, int] | None = None,
) -> NetworkPolicy:
    """Validate one NetworkPolicy / StagedKubernetesNetworkPolicy document and
    build the model. Raises ``PolicyError`` (``FILE:LINE path: reason``).

    ``lines`` (field path → line, from ``yamlloc``) sharpens error locations;
    without it errors carry ``line``. The ``stagedAction`` of a staged policy
    is not looked at here (``load_policies`` decides what to do with it)."""
    check_policy(doc, file=file, line=line, lines=lines)
    return _build(doc, SourceRef(file, line))


def _build(doc: Mapping[str, Any], source: SourceRef) -> NetworkPolicy:
    """The model of a document that ``check_policy`` accepted."""
    meta = doc["metadata"]
    spec = doc.get("spec") or {}
    types = spec.get("policyTypes")
    return NetworkPolicy(
        name=meta["name"],
        namespace=meta.get("namespace") or DEFAULT_NAMESPACE,
        pod_selector=_selector(spec.get("podSelector") or {}),
        ingress=_rules(spec.get("ingress"), "from"),
        egress=_rules(spec.get("egress"), "to"),
        policy_types=None if types is None else tuple(types),
        labels=Labels.of(_strings(meta.get("labels"))),
        annotations=Labels.of(_strings(meta.get("annotations"))),
        source=source,
    )


def policy_files(paths: Iterable[str | Path] | str | Path) -> list[Path]:
    """Expand files and directories (recursively, by suffix) into a sorted,
    de-duplicated file list; a named file is read whatever its suffix."""
    if isinstance(paths, str | Path):
        paths = [paths]
    found: dict[Path, Path] = {}  # resolved → as named (messages show the path the user gave)
    for raw in paths:
        path = Path(raw)
        if path.is_dir():
            for child in sorted(path.rglob("*")):
                if child.is_file() and child.suffix.lower() in SUFFIXES:
                    found.setdefault(child.resolve(), child)
        elif path.exists():
            found.setdefault(path.resolve(), path)
        else:
            raise PolicyError("no such file or directory", file=str(path), hint="check the --policies path")
    return list(found.values())


def _list_items(doc: Located, items: list[Any]) -> list[Located]:
    """The items of a ``kind: List`` as documents of their own, with their field
    lines re-rooted (one pass over the line map, not one per item)."""
    lines: list[dict[FieldPath, int]] = [{} for _ in items]
    for path, line in doc.lines.items():
        if len(path) > 2 and path[0] == "items" and isinstance(path[1], int):
            lines[path[1]][path[2:]] = line
    return [Located(item, doc.file, doc.lines.get(("items", i), doc.line), lines[i]) for i, item in enumerate(items)]


def _name_of(value: Mapping[str, Any]) -> str:
    meta = value.get("metadata")
    if isinstance(meta, dict):
        ns, name = meta.get("namespace"), meta.get("name")
        return f"{ns}/{name}" if ns else str(name)
    return ""


class _Loader:
    def __init__(self) -> None:
        self.policies: dict[tuple[str, str], NetworkPolicy] = {}
        self.result = PolicySet()
        self.pods: list[Pod] = []
        self.namespaces: list[Namespace] = []
        # A StagedKubernetesNetworkPolicy previews the NetworkPolicy of its namespace and name: promoting
        # `Set` creates or updates it, `Delete` deletes it. The result is the state after promotion.
        self.kinds: dict[tuple[str, str], str] = {}           # the kind of the policy kept per name
        self.superseded: set[tuple[str, str]] = set()         # names whose NetworkPolicy a staged Set replaced
        self.deleted: dict[tuple[str, str], SourceRef] = {}   # names a staged Delete deletes

    def document(self, doc: Located) -> None:
        value = doc.value
        if not isinstance(value, dict):
            raise PolicyError("a document must be a mapping with apiVersion and kind", file=doc.file, line=doc.line)
        kind = value.get("kind")
        if not isinstance(kind, str) or not kind:
            raise PolicyError("document has no kind", file=doc.file, line=doc.line,
                              hint="every Kubernetes object needs apiVersion and kind")
        if kind == "List" or (kind.endswith("List") and "items" in value):
            items = value.get("items")
            items = [] if items is None else items
            if not isinstance(items, list):
                raise PolicyError("must be a list", file=doc.file, line=doc.line_of(("items",)), path="items")
            for item in _list_items(doc, items):
                self.document(item)
        elif kind == "NetworkPolicy" and "projectcalico.org/" in str(value.get("apiVersion")):
            self.skip(doc, kind, f"{value.get('apiVersion')} NetworkPolicy is Calico's own kind, not evaluated")
        elif kind in ("NetworkPolicy", STAGED_POLICY[1]):
            self.policy(doc, kind)
        elif kind == "Pod":
            self.pods.append(parse_pod(value, doc))
        elif kind == "Namespace":
            self.namespaces.append(parse_namespace(value, doc))
        else:
            self.skip(doc, kind, f"kind {kind} is not a NetworkPolicy")

    def skip(self, doc: Located, kind: str, reason: str) -> None:
        self.result.skipped.append(Skipped(doc.file, doc.line, kind, _name_of(doc.value), reason))

    def policy(self, doc: Located, kind: str) -> None:
        self.result.warnings.extend(check_policy(doc.value, file=doc.file, line=doc.line, lines=doc.lines))
        policy = _build(doc.value, SourceRef(doc.file, doc.line))
        key = (policy.namespace, policy.name)
        if kind == STAGED_POLICY[1]:
            action = (doc.value.get("spec") or {}).get("stagedAction") or "Set"
            if action != "Set":
                self.skip(doc, kind, f"stagedAction {action}: it creates no policy to evaluate")
                if action == "Delete":
                    self.deleted.setdefault(key, policy.source)
                return
        first = self.policies.get(key)
        if first is not None and self.kinds[key] != kind and key not in self.superseded:
            enforced, staged = (first, policy) if kind == STAGED_POLICY[1] else (policy, first)
            where = location(staged.source.file, staged.source.line)
            self.result.skipped.append(Skipped(enforced.source.file, enforced.source.line, "NetworkPolicy", policy.key,
                                               f"superseded by the StagedKubernetesNetworkPolicy at {where} (stagedAction Set)"))
            self.policies[key], self.kinds[key] = staged, STAGED_POLICY[1]
            self.superseded.add(key)
            return
        if first is not None:
            raise PolicyError(
                f"duplicate policy {policy.key} (also defined at {location(first.source.file, first.source.line)})",
                file=doc.file,
                line=doc.line,
                hint="a namespace holds one policy per name: remove or rename one of them",
            )
        self.policies[key], self.kinds[key] = policy, kind

    def apply_deletes(self) -> None:
        """Drop each NetworkPolicy a staged Delete of its name deletes (listed in ``skipped``)."""
        for key, source in sorted(self.deleted.items()):
            policy = self.policies.get(key)
            if policy is not None and self.kinds[key] != STAGED_POLICY[1]:
                del self.policies[key]
                self.result.skipped.append(Skipped(
                    policy.source.file, policy.source.line, "NetworkPolicy", policy.key,
                    f"deleted by the StagedKubernetesNetworkPolicy at {location(source.file, source.line)} (stagedAction Delete)"))


def load_policies(paths: Iterable[str | Path] | str | Path) -> PolicySet:
    """Load, validate and sort every policy under ``paths``.

    Raises ``PolicyError`` (exit code 2) naming ``FILE:LINE path`` for the first
    invalid document, unreadable file or YAML syntax error."""
    loader = _Loader()
    with no_gc():
        for path in policy_files(paths):
            for doc in load_file(path):
                loader.document(doc)
    loader.apply_deletes()
    result = loader.result
    result.policies = tuple(loader.policies[k] for k in sorted(loader.policies))
    result.pods = tuple(sorted(loader.pods, key=lambda p: (p.namespace, p.name)))
    result.namespaces = tuple(sorted(loader.namespaces, key=lambda n: n.name))
    return result
