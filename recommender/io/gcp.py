"""Google Cloud VPC flow logs (Cloud Logging ``LogEntry`` JSON lines): recognized, counted, skipped.

Why this exists: GCP VPC flow records describe VM interfaces, not pods — they
carry no pod labels, and GKE pod details only when the cluster exports them —
and each connection is sampled in both directions by both reporters. Reading
them natively is future work; until then users bring GCP data through the
normalized CSV/Parquet schema (the README shows a DuckDB query that converts
an export). What this module guarantees is that such a file is never
mistaken for another format and never dropped silently: ingest recognizes it,
counts every record as skipped with a reason that says what to do, and the
summary still reconciles (records = accepted + rejected + skipped).
"""

from __future__ import annotations

from pathlib import Path

import duckdb

from recommender.io import lines as L
from recommender.io.readers import Progress, ReadStats

FORMAT = "gcp"
SKIP_REASON = "GCP VPC flow log: not read natively; convert to the normalized schema (see README)"


def sniff(head: bytes) -> bool:
    """A Cloud Logging entry whose payload is a VPC flow (``jsonPayload.connection`` + ``reporter``)."""
    return (head.lstrip()[:1] == b"{" and b'"jsonPayload"' in head and b'"connection"' in head
            and (b"vpc_flows" in head or b'"reporter"' in head))


def read(con: duckdb.DuckDBPyConnection, path: str | Path, *, target: str, skip_bad: bool,
         progress: Progress | None = None) -> ReadStats:
    """Count the records (non-blank lines) and skip them all with ``SKIP_REASON``; nothing is inserted."""
    stats = ReadStats(file=str(path), format=FORMAT)
    records = sum(1 for _, text, _ in L.iter_lines(path) if text.strip())
    stats.records = records
    stats.skip(SKIP_REASON, records)
    if records:
        stats.notes.append(f"{path}: {records} GCP VPC flow record(s) skipped: {SKIP_REASON}")
    return stats
