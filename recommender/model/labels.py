"""Immutable, hashable label sets.

Kubernetes labels are a string→string map. Selectors, pods and namespaces all
need them hashable (to intern identical label sets once and match each
selector against each distinct set only once), so they are stored as a sorted
tuple of pairs.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field


@dataclass(frozen=True, slots=True)
class Labels(Mapping[str, str]):
    """A frozen label map; iteration order is sorted by key."""

    pairs: tuple[tuple[str, str], ...] = ()
    # key -> value, for lookups: selectors probe label sets hundreds of thousands of times
    _index: dict[str, str] = field(init=False, repr=False, compare=False, hash=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "_index", dict(self.pairs))

    @classmethod
    def of(cls, mapping: Mapping[str, str] | None = None, **kwargs: str) -> "Labels":
        merged: dict[str, str] = dict(mapping or {})
        merged.update(kwargs)
        return cls(tuple(sorted((str(k), str(v)) for k, v in merged.items())))

    def __getitem__(self, key: str) -> str:
        return self._index[key]

    def get(self, key: str, default: str | None = None) -> str | None:   # type: ignore[override]
        return self._index.get(key, default)

    def __iter__(self) -> Iterator[str]:
        return (k for k, _ in self.pairs)

    def __len__(self) -> int:
        return len(self.pairs)

    def __contains__(self, key: object) -> bool:
        return key in self._index

    def as_dict(self) -> dict[str, str]:
        return dict(self._index)

    def with_label(self, key: str, value: str) -> "Labels":
        d = self.as_dict()
        d[key] = value
        return Labels.of(d)

    def __repr__(self) -> str:
        return f"Labels({self.as_dict()!r})"
