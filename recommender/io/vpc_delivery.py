"""VPC flow logs as AWS delivers them besides S3 text: recognized and turned into plain records.

Why this exists apart from ``recommender.io.vpc``: the reader's pipeline streams space-separated text, and
three deliveries need a step before it.

* CloudWatch Logs subscription envelopes (to Kinesis, or Firehose and from there to S3):
  ``{"messageType", "logEvents": [{"message"}, …]}``, concatenated with or without newlines, often gzip. Their
  ``DATA_MESSAGE`` events are default-format records, written out one per line. ``CONTROL_MESSAGE`` envelopes,
  which AWS sends mainly to check that the destination is reachable, hold a sentence, not a record: they are
  counted apart (skipped with a reason) instead of being read as malformed records.
* Parquet files (the S3 destination's ``file_format = parquet``): columns are the field names with ``_`` for
  ``-``, and a value that does not apply is NULL where text has ``-``. Rows are written out as text records.
* A ``.gz`` cut short: its complete lines, copied to a plain file, or the error that names the truncation.
"""

from __future__ import annotations

import os
import re
import tempfile
from collections.abc import Callable
from pathlib import Path

import duckdb
import pyarrow as pa
import pyarrow.parquet as pq

from recommender.errors import InputError
from recommender.io import lines as L
from recommender.io.readers import ReadStats

CONTROL_MESSAGE = "CloudWatch Logs control message"
_MESSAGE = re.compile(r'"message"\s*:\s*"([^"]*)"')
_CONTROL = re.compile(r'"messageType"\s*:\s*"CONTROL_MESSAGE"')
# Records are numbered by their place among the data events of the file, all envelopes together.
NUMBERING_NOTE = ("rejected records are numbered by log event (1-based, over the data messages of all the"
                  " file's envelopes; control messages are not counted) in the CloudWatch envelope")
_COLUMNS = "{'messageType': 'VARCHAR', 'logEvents': 'STRUCT(message VARCHAR)[]'}"


def sniff(text: str, is_record: Callable[[list[str]], bool]) -> bool:
    """An envelope whose first event message in ``text`` that is a flow record makes it VPC; an envelope of
    control messages only (a destination health check, which a Firehose prefix may hold alone) does too."""
    if not re.search(r'"logEvents"\s*:\s*\[', text):
        return False
    messages = [m.group(1) for m in _MESSAGE.finditer(text)]
    if any(is_record(m.split(" ")) for m in messages):
        return True
    return bool(_CONTROL.search(text)) and '"DATA_MESSAGE"' not in text


def unwrap(con: duckdb.DuckDBPyConnection, path: Path, out: str) -> int:
    """Write the data events' messages of ``path`` to ``out``, one per line, in file order; returns how many
    events the control envelopes held. Raises ``duckdb.Error`` when ``path`` is no such JSON."""
    source = (f"read_json(?, format='auto', compression=?, columns={_COLUMNS})")
    args = [str(path), "gzip" if L.is_gzip(path) else "none"]
    con.execute(
        f"COPY (SELECT e.message FROM (SELECT unnest(logEvents) AS e FROM {source}"
        f" WHERE messageType IS DISTINCT FROM 'CONTROL_MESSAGE')) TO ?"
        " (FORMAT csv, HEADER false, QUOTE '', ESCAPE '', DELIMITER '\x01')", [*args, out])
    return int(con.execute(f"SELECT coalesce(sum(len(logEvents)), 0) FROM {source}"
                           " WHERE messageType = 'CONTROL_MESSAGE'", args).fetchone()[0])


def parquet_columns(path: str | Path) -> list[str] | None:
    """The columns of a VPC flow-log Parquet file (its footer: no data is read), None for any other file."""
    try:
        names = pq.read_schema(path).names
    except (OSError, pa.ArrowException):
        return None
    fields = {n.replace("_", "-") for n in names}
    addresses = {"srcaddr", "dstaddr"} <= fields or {"pkt-srcaddr", "pkt-dstaddr"} <= fields
    return names if addresses and "action" in fields and "src-kind" not in fields else None


def parquet_to_text(con: duckdb.DuckDBPyConnection, path: Path, columns: list[str], out: str) -> tuple[str, ...]:
    """Write the rows of ``path`` to ``out`` as text records (NULL and empty → ``-``), in file order; returns
    the flow-log field names of the columns."""
    quoted = ['"' + c.replace('"', '""') + '"' for c in columns]
    values = ", ".join(f"coalesce(nullif(CAST({q} AS VARCHAR), ''), '-')" for q in quoted)
    con.execute(f"COPY (SELECT {values} FROM read_parquet(?)) TO ?"
                " (FORMAT csv, HEADER false, QUOTE '', ESCAPE '', DELIMITER ' ')", [str(path), out])
    return tuple(c.replace("_", "-") for c in columns)


class TruncatedGzip(Exception):
    """DuckDB stopped at the end of a gzip stream cut short."""


def readable_part(path: str, file: str, tmpdir: str, skip_bad: bool, stats: ReadStats) -> str:
    """A truncated ``.gz``: the error that names it, or (``skip_bad``) a plain copy of its complete lines to read
    instead, with a note (as ``lines.note_truncation`` words it for the other readers)."""
    copy = os.path.join(tmpdir or tempfile.gettempdir(), f"readable-{os.getpid()}-{id(stats)}.log")
    L.write_clean_copy(path, copy, set(), b"")
    last = L.count_lines(copy)
    if not skip_bad:
        os.remove(copy)
        raise InputError(f"{L.TRUNCATED_GZIP} or corrupt compressed data after line {last}", file=file,
                         line=last + 1, hint="re-copy the file, or use --skip-bad to keep the readable part")
    stats.notes.append(f"{file}:{last + 1}: {L.TRUNCATED_GZIP}; records after this point are lost")
    return copy
