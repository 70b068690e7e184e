"""Policy objects, names, rendering and safe writing of recommended policies.

Names must be stable (same input → same name), valid DNS-1123 and unique per
namespace; file names must never leave the output directory whatever a
namespace or label says. Annotations carry provenance derived from the data
(counts), never from the clock, so the same flows always give the same bytes.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from recommender import __version__
from recommender.errors import UsageError
from recommender.model import LabelSelector, Labels, NetworkPolicy, PortSpec, Rule
from recommender.recommend.synthesis import EGRESS, INGRESS, Stats

if TYPE_CHECKING:
    from recommender.recommend.generate import Recommendation
    from recommender.recommend.merge import Group

DEFAULT_DENY = "default-deny"
MANAGED_BY = {"app.kubernetes.io/managed-by": "recommender"}
ANNOTATION = "recommender.io"
_INVALID = re.compile(r"[^a-z0-9-]+")
_DNS_LABEL = re.compile(r"[a-z0-9]([-a-z0-9]*[a-z0-9])?")
MAX_NAME = 63


def short_hash(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()[:8]


def is_dns_label(value: str) -> bool:
    return len(value) <= MAX_NAME and bool(_DNS_LABEL.fullmatch(value))


def safe_name(raw: str) -> str:
    """A DNS-1123 label for ``raw``: itself when already valid, else sanitized + a stable hash."""
    if is_dns_label(raw):
        return raw
    base = _INVALID.sub("-", raw.lower()).strip("-")[: MAX_NAME - 9].strip("-") or "workload"
    return f"{base}-{short_hash(raw)}"


def unique_name(raw: str, taken: set[str]) -> str:
    name = safe_name(raw)
    if name in taken:
        name = f"{name[: MAX_NAME - 9]}-{short_hash('dup:' + raw)}"
    taken.add(name)
    return name


def default_deny(namespace: str, name: str = DEFAULT_DENY) -> NetworkPolicy:
    return NetworkPolicy(
        name=name, namespace=namespace, pod_selector=LabelSelector(), ingress=None, egress=None,
        policy_types=(INGRESS, EGRESS), labels=Labels.of(MANAGED_BY),
        annotations=Labels.of({f"{ANNOTATION}/generated-by": f"recommender {__version__}"}),
    )


def is_default_deny(p: NetworkPolicy) -> bool:
    """Our default deny: selects every pod, no rules (workload policies always carry rule lists)."""
    return p.pod_selector.is_empty and p.ingress is None and p.egress is None


def workload_policy(name: str, group: "Group", ingress: tuple[Rule, ...], egress: tuple[Rule, ...],
                    stats: Stats) -> NetworkPolicy:
    workloads = ",".join(k.split("/", 1)[1] for k in group.members)
    annotations = {
        f"{ANNOTATION}/generated-by": f"recommender {__version__}",
        f"{ANNOTATION}/workloads": workloads,
        f"{ANNOTATION}/observed-connections": str(stats.connections),
        f"{ANNOTATION}/observed-flows": str(stats.flows),
    }
    return NetworkPolicy(
        name=name, namespace=group.namespace, pod_selector=group.selector, ingress=ingress, egress=egress,
        policy_types=(INGRESS, EGRESS), labels=Labels.of(MANAGED_BY), annotations=Labels.of(annotations),
    )


def ports_text(ports: tuple[PortSpec, ...] | None) -> str:
    if ports is None:
        return "all"
    return ",".join(   # a protocol without a port: every port of it ("TCP/all"), never "TCP/None"
        f"{p.protocol or 'TCP'}/{'all' if p.port is None else p.port}" + (f"-{p.end_port}" if p.end_port else "")
        for p in ports
    )


def render(policy: NetworkPolicy, kind: str, tier: str = "default") -> dict[str, Any]:
    """The document for ``policy`` in the requested output kind."""
    from recommender.io.yaml_out import policy_to_dict, staged_policy_to_dict

    if kind == "k8s":
        return policy_to_dict(policy)
    if kind == "calico-staged":
        return staged_policy_to_dict(policy)
    from recommender.recommend import calico

    return calico.staged_native(policy, tier)


def texts(policies: Sequence[NetworkPolicy], kind: str, tier: str,
          documents: Callable[[], list[dict[str, Any]]]) -> list[str]:
    """Each policy's YAML document (``dump([render(p, kind, tier)])``). Kubernetes and staged Kubernetes
    policies are written from cached fragments without building dicts; ``documents`` gives the
    rendered documents of the other kinds."""
    if kind in ("k8s", "calico-staged"):
        from recommender.io.yaml_out import policy_yaml

        staged = kind == "calico-staged"
        return [policy_yaml(p, staged=staged) for p in policies]
    return [dump([doc]) for doc in documents()]


def dump(docs: list[dict[str, Any]]) -> str:
    from recommender.io.yaml_out import dump_yaml

    return dump_yaml(docs) if docs else ""


def file_name(namespace: str) -> str:
    """A file name for a namespace that cannot escape the output directory."""
    return f"{safe_name(namespace)}.yaml"


def write(rec: "Recommendation", target: str | Path) -> list[Path]:
    """``-o DIR`` (one file per namespace), ``-o FILE.yaml`` or a device/pipe such as ``/dev/null``
    (multi-document). Returns written paths."""
    target = Path(target)
    stream = target.exists() and (target.is_char_device() or target.is_fifo())   # /dev/null, /dev/stdout, a pipe
    if stream or (target.suffix.lower() in (".yaml", ".yml") and not target.is_dir()):
        if target.parent and not target.parent.exists():
            raise UsageError(f"{target.parent}: directory does not exist", hint="create it or choose another -o path")
        target.write_text(rec.yaml(), encoding="utf-8")
        return [target]
    if target.exists() and not target.is_dir():
        raise UsageError(f"{target}: exists and is not a directory", hint="use -o FILE.yaml for one file")
    target.mkdir(parents=True, exist_ok=True)
    root = target.resolve()
    written: list[Path] = []
    for ns, text in rec.by_namespace().items():
        path = (root / file_name(ns)).resolve()
        if path.parent != root:   # defence in depth: file_name() already makes this impossible
            raise UsageError(f"namespace {ns!r} would be written outside {target}")
        path.write_text(text, encoding="utf-8")
        written.append(path)
    return written
