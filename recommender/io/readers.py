"""The contract between flow readers and the store.

Each format lives in its own module (``calico``, ``vpc``, ``hubble``,
``normalized``) exposing:

* ``FORMAT: str`` — the format name used by ``--format`` and in provenance;
* ``sniff(head: bytes) -> bool`` — True when the first bytes (already
  decompressed, up to 64 KiB) look like this format;
* ``read(con, path, *, target, skip_bad, progress=None) -> ReadStats`` —
  stream ``path`` through DuckDB, aggregate to distinct connections and
  INSERT them into the staging table ``target`` (created by the caller with
  ``schema.connections_ddl(target)``); malformed records raise ``InputError``
  naming FILE:LINE, or with ``skip_bad`` go to the ``rejected`` table.

The store (``recommender.io.store``) detects the format, calls ``read``, then
enriches and merges the staging table into ``connections``.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

Progress = Callable[[int, int | None, str], None]
"""``progress(done, total, label)``: bytes done of total (total None when unknown)."""


@dataclass
class ReadStats:
    """What one file gave. Always reconciles: records = accepted + rejected + skipped."""

    file: str
    format: str
    records: int = 0            # input records read (lines, events, log events)
    accepted: int = 0           # records that became (part of) a connection
    rejected: int = 0           # malformed records kept in `rejected` (only with skip_bad)
    skipped: dict[str, int] = field(default_factory=dict)   # reason -> count (NODATA, reply, duplicate reporter…)
    connections: int = 0        # distinct connections this file contributed
    truncated_last_line: bool = False
    notes: list[str] = field(default_factory=list)

    @property
    def skipped_total(self) -> int:
        return sum(self.skipped.values())

    def reconciles(self) -> bool:
        return self.records == self.accepted + self.rejected + self.skipped_total

    def skip(self, reason: str, count: int) -> None:
        if count:
            self.skipped[reason] = self.skipped.get(reason, 0) + int(count)
