"""What an ingest did, in numbers that reconcile.

Why this exists: users must be able to trust that nothing was silently lost.
The summary lists every file read with its ``ReadStats`` (records = accepted +
rejected + skipped, with reasons), totals per format, and what the database
now holds (connections per format, namespaces, workloads, endpoint kinds).
``to_dict()`` is the JSON form printed by ``recommend ingest -o json``.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from os import PathLike
from typing import Any

import duckdb

from recommender.io.readers import ReadStats


@dataclass
class FormatTotals:
    files: int = 0
    records: int = 0
    accepted: int = 0
    rejected: int = 0
    skipped: int = 0
    connections: int = 0      # rows of `connections` whose first record came from this format


@dataclass
class IngestSummary:
    files: list[ReadStats] = field(default_factory=list)
    already_ingested: list[str] = field(default_factory=list)
    inventory_files: list[str] = field(default_factory=list)
    formats: dict[str, FormatTotals] = field(default_factory=dict)
    connections: int = 0
    namespaces: int = 0
    workloads: int = 0
    pods: int = 0
    endpoint_kinds: dict[str, int] = field(default_factory=dict)
    records: int = 0
    accepted: int = 0
    rejected: int = 0
    skipped: dict[str, int] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)
    inventory: dict[str, Any] | None = None       # what recommender.io.inventory loaded (this run)
    enrichment: dict[str, Any] | None = None      # what recommender.io.enrich resolved (this run)

    @property
    def skipped_total(self) -> int:
        return sum(self.skipped.values())

    def reconciles(self) -> bool:
        return self.records == self.accepted + self.rejected + self.skipped_total

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["skipped_total"] = self.skipped_total
        d["reconciles"] = self.reconciles()
        return d


_ENDPOINTS = """
  SELECT src_kind AS kind, src_namespace AS ns, src_pod AS pod, src_workload AS wl, src_ip AS ip FROM connections
  UNION SELECT dst_kind, dst_namespace, dst_pod, dst_workload, dst_ip FROM connections"""


def build_summary(con: duckdb.DuckDBPyConnection, files: Sequence[ReadStats], already: Sequence[str],
                  inventory_files: Sequence[str | PathLike[str]]) -> IngestSummary:
    s = IngestSummary(files=list(files), already_ingested=[str(p) for p in already],
                      inventory_files=[str(p) for p in inventory_files])
    for st in files:
        t = s.formats.setdefault(st.format, FormatTotals())
        t.files += 1
        t.records += st.records
        t.accepted += st.accepted
        t.rejected += st.rejected
        t.skipped += st.skipped_total
        for reason, n in st.skipped.items():
            s.skipped[reason] = s.skipped.get(reason, 0) + n
        s.notes.extend(st.notes)
    s.notes.extend(f"{p}: already ingested into this database, skipped" for p in s.already_ingested)
    s.records = sum(st.records for st in files)
    s.accepted = sum(st.accepted for st in files)
    s.rejected = sum(st.rejected for st in files)
    for fmt, n in con.execute("SELECT format, count(*) FROM connections GROUP BY format ORDER BY format").fetchall():
        s.formats.setdefault(fmt, FormatTotals()).connections = int(n)
    s.formats = dict(sorted(s.formats.items()))
    s.skipped = dict(sorted(s.skipped.items()))
    s.connections = int(con.execute("SELECT count(*) FROM connections").fetchone()[0])
    s.namespaces = int(con.execute("""SELECT count(DISTINCT n) FROM (
        SELECT src_namespace n FROM connections UNION ALL SELECT dst_namespace FROM connections
        UNION ALL SELECT name FROM namespaces UNION ALL SELECT namespace FROM pods)""").fetchone()[0])
    s.workloads = int(con.execute(f"""SELECT count(*) FROM (SELECT DISTINCT ns, wl FROM ({_ENDPOINTS})
        WHERE kind = 'pod' AND wl IS NOT NULL)""").fetchone()[0])
    s.pods = int(con.execute(f"""SELECT count(*) FROM (
        SELECT namespace, name FROM pods UNION SELECT ns, pod FROM ({_ENDPOINTS}) WHERE kind = 'pod' AND pod IS NOT NULL)""").fetchone()[0])
    s.endpoint_kinds = {k: int(n) for k, n in con.execute(
        f"SELECT kind, count(*) FROM ({_ENDPOINTS}) GROUP BY kind ORDER BY kind").fetchall()}
    return s
