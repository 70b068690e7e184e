"""Immutable, hashable label sets.

Kubernetes labels are a string→string map. Selectors, pods and namespaces all
need them hashable (to intern identical label sets once and match each
selector against each distinct set only once), so they are stored as a sorted
tuple of pairs.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Labels(Mapping[str, str]):
    """A frozen label map; iteration order is sorted by key."""

    pairs: tuple[tuple[str, str], ...] = ()

    @classmethod
    def of(cls, mapping: Mapping[str, str] | None = None, **kwargs: str) -> "Labels":
        merged: dict[str, str] = dict(mapping or {})
        merged.update(kwargs)
        return cls(tuple(sorted((str(k), str(v)) for k, v in merged.items())))

    def __getitem__(self, key: str) -> str:
        for k, v in self.pairs:
            if k == key:
                return v
        raise KeyError(key)

    def __iter__(self) -> Iterator[str]:
        return (k for k, _ in self.pairs)

    def __len__(self) -> int:
        return len(self.pairs)

    def __contains__(self, key: object) -> bool:
        return any(k == key for k, _ in self.pairs)

    def as_dict(self) -> dict[str, str]:
        return dict(self.pairs)

    def with_label(self, key: str, value: str) -> "Labels":
        d = self.as_dict()
        d[key] = value
        return Labels.of(d)

    def __repr__(self) -> str:
        return f"Labels({self.as_dict()!r})"
