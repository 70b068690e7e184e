"""Kubernetes label selectors (``matchLabels`` + ``matchExpressions``).

Semantics (k8s.io/apimachinery ``LabelSelectorAsSelector``):

* ``matchLabels`` and every ``matchExpressions`` entry are ANDed.
* An empty selector (``{}``) matches everything; a *missing* selector is
  handled by the caller, because its meaning depends on where it appears.
* ``In``: the key exists and its value is in the set.
* ``NotIn``: the key is absent, or its value is not in the set.
* ``Exists`` / ``DoesNotExist``: presence of the key only.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

OPERATORS = ("In", "NotIn", "Exists", "DoesNotExist")


@dataclass(frozen=True, slots=True)
class Requirement:
    """One ``matchExpressions`` entry."""

    key: str
    operator: str
    values: tuple[str, ...] = ()

    def matches(self, labels: Mapping[str, str]) -> bool:
        op = self.operator
        if op == "In":
            return key_in(labels, self.key) and labels[self.key] in self.values
        if op == "NotIn":
            return not key_in(labels, self.key) or labels[self.key] not in self.values
        if op == "Exists":
            return key_in(labels, self.key)
        if op == "DoesNotExist":
            return not key_in(labels, self.key)
        # The validator rejects unknown operators before evaluation; an unknown
        # operator that slips through matches nothing, which is the safe side.
        return False


def key_in(labels: Mapping[str, str], key: str) -> bool:
    return key in labels


@dataclass(frozen=True, slots=True)
class LabelSelector:
    """``matchLabels`` as sorted pairs plus ``matchExpressions`` in source order."""

    match_labels: tuple[tuple[str, str], ...] = ()
    match_expressions: tuple[Requirement, ...] = ()

    @classmethod
    def of(
        cls,
        match_labels: Mapping[str, str] | None = None,
        match_expressions: tuple[Requirement, ...] | list[Requirement] = (),
    ) -> "LabelSelector":
        pairs = tuple(sorted((str(k), str(v)) for k, v in (match_labels or {}).items()))
        return cls(pairs, tuple(match_expressions))

    @property
    def is_empty(self) -> bool:
        """An empty selector selects everything."""
        return not self.match_labels and not self.match_expressions

    def matches(self, labels: Mapping[str, str]) -> bool:
        for k, v in self.match_labels:
            if labels.get(k) != v:
                return False
        return all(r.matches(labels) for r in self.match_expressions)

    def match_labels_dict(self) -> dict[str, str]:
        return dict(self.match_labels)
