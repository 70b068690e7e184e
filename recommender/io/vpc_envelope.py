"""CloudWatch Logs subscription envelopes of VPC flow logs: recognized and unwrapped into plain records.

Why this exists apart from ``recommender.io.vpc``: a log group's subscription (to Kinesis, or Firehose and from
there to S3) delivers JSON envelopes ``{"messageType", "logEvents": [{"message"}, …]}``, concatenated with or
without newlines and often gzip-compressed. Their ``DATA_MESSAGE`` events are default-format flow records, which
the VPC reader reads like CloudWatch lines once they are written out one per line. AWS also sends
``CONTROL_MESSAGE`` envelopes, mainly to check that the destination is reachable: their events are a sentence,
not a record, so they are counted apart (skipped with a reason) instead of being read as malformed records.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path

import duckdb

from recommender.io import lines as L

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
