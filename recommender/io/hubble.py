"""Cilium Hubble flow exports (``hubble observe -o json`` / ``-o jsonpb``, optionally gzip).

Why this exists: Hubble is the only source that sees Cilium's identities and
policy verdicts, but it reports one event per packet and observation point,
both directions, plus L7 records. This reader collapses those events into
distinct connections seen from the initiator (the rules are in
``hubble_sql`` and the README section "Hubble"):

* lines are ``GetFlowsResponse`` wrappers (``{"flow": …, "node_name", "time"}``)
  or bare ``Flow`` objects; ``node_status`` / ``lost_events`` lines and flows
  with verdicts other than FORWARDED/DROPPED/AUDIT are skipped with a reason;
* replies (``is_reply``, deprecated ``reply``, SYN+ACK, ICMP echo replies,
  or inferred from the conversation/ports) never create connections; they are
  counted in the packets of their connection, or skipped when their request
  was not captured;
* L7 records are folded into the L3/L4 connection they duplicate, and create
  the connection only when no L3/L4 event of it was captured (DNS seen only
  by the proxy must still yield a connection to port 53);
* reserved identities become endpoint kinds (world, host, health,
  kube-apiserver, unknown) and workloads ``reserved:<name>``.

All the files of one ingest are one scan (``read_files``): per-node captures
hold the two ends of a connection in different files.

Fast path: one parallel ``read_json`` scan with explicit column types and no
record numbers (connections have no ``line``). The file is read again with
record numbers only when a record failed validation, and Python reads lines
only after DuckDB refused the file (to name the bad line) or to fetch a
rejected record's line number and text.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import duckdb

from recommender.errors import InputError
from recommender.io import hubble_sql as Q
from recommender.io import lines as L
from recommender.io.hubble_endpoints import endpoints_sql
from recommender.io.pipeline import HINT, FileSet
from recommender.io.readers import Progress, ReadStats
from recommender.io.sqlexpr import install_macros

FORMAT = "hubble"
DISTINCT_OUTPUT = True   # insert_sql groups all files' rows on schema.KEY_COLUMNS: the store relies on it
REPLY_WITHOUT_REQUEST = "reply without its request"
L7_DUPLICATE = "L7 record (its L3/L4 flow is present)"
DENIED_AT_DESTINATION = "allowed at source, denied at destination"   # the words of the Calico reader's rule
_T = "_hubble"


def sniff(head: bytes) -> bool:
    """A JSON line with a Hubble ``flow`` wrapper, node status, or a bare flow's typical keys."""
    text = head.lstrip()
    if text[:1] != b"{":
        return False
    if any(k in text for k in (b'"flow":{', b'"flow": {', b'"node_status":', b'"lost_events":')):
        return True
    return b'"verdict":' in text and any(k in text for k in (b'"l4":', b'"IP":', b'"event_type":', b'"Type":'))


def read(con: duckdb.DuckDBPyConnection, path: str | Path, *, target: str, skip_bad: bool,
         progress: Progress | None = None) -> ReadStats:
    return read_files(con, [path], target=target, skip_bad=skip_bad, progress=progress)[0]


def read_files(con: duckdb.DuckDBPyConnection, paths: list[str | Path], *, target: str, skip_bad: bool,
               progress: Progress | None = None) -> list[ReadStats]:
    """Read Hubble ``paths`` together into ``target``; one ``ReadStats`` per path, in order.

    Per-node captures put the two ends of a connection in different files: the source node's
    egress and the destination node's ingress, a request in one and its reply in another. Read
    together, replies find their requests, L7 records their L3/L4 flows, a drop at the destination
    decides for the source's forwarded events, and a connection is counted once. Files are read in
    name order; a connection names the first file its events count in."""
    install_macros(con)
    files = sorted(str(p) for p in paths)
    inp = FileSet(files, FORMAT, _check_line, json.dumps({Q.MARK: True}).encode(), ".json")
    bad_rows: list[tuple[int, int, str]] = []
    try:
        inp.drop_truncated_last_lines()
        inp.scan(con, lambda data: _classify(con, data, f"{_T}_l1"), skip_bad, progress)
        first = con.execute(f"SELECT fi, first, err FROM {_T}_l1 WHERE err IS NOT NULL ORDER BY fi, first LIMIT 1"
                            ).fetchone()
        if first is not None:
            if not skip_bad:
                fi, o, reason = int(first[0]), int(first[1]), str(first[2])
                line = L.nonblank_line_numbers(files[fi], {o}).get(o, (o, ""))[0]
                raise InputError(reason, file=files[fi], line=line, hint=HINT)
            bad_rows = _value_errors(con, inp.data)
        valid = dict(con.execute(f"SELECT fi, sum(n) FROM {_T}_l1 WHERE err IS NULL GROUP BY fi").fetchall())
        results = [(int(valid.get(i, 0)), *r) for i, r in enumerate(_finish(con, target, files))]
    finally:   # also after bad input: a notebook session should not keep the files' worth of groups
        con.execute("; ".join(f"DROP TABLE IF EXISTS {_T}_{x}" for x in ("l1", "l1_ept", "out", "eps")))
        inp.remove_temps()
    return inp.stats(con, results, bad_rows, [str(p) for p in paths])


def _classify(con: duckdb.DuckDBPyConnection, data: list[str], table: str, per_record: bool = False) -> None:
    """Group the events of the files ``data`` into ``table`` with ``status`` and ``err`` (the
    validation error).

    The first scan is parallel and numbers no records. It is repeated only when needed: with
    the ``mixed`` shape when a line of the other shape turned up (or the files differ); with
    record ordinals (one thread per file) when a record is malformed, to name its line; keyed on
    endpoint texts when two texts share a hash."""
    shapes = {Q.shape_of(L.read_head(d)) for d in data}
    shape = shapes.pop() if len(shapes) == 1 else "mixed"

    def run(attempt: str, ordinal: bool = per_record, exact: bool = False) -> None:
        con.execute(Q.classify_sql(Q.source_sql(data, attempt, ordinal=ordinal), table, attempt,
                                   per_record=per_record, exact_endpoints=exact))

    def found(sql: str) -> bool:
        return con.execute(sql).fetchone() is not None

    run(shape)
    if shape != "mixed" and found(f"SELECT 1 FROM {table} WHERE status = 'mixed' LIMIT 1"):
        shape = "mixed"
        run(shape)
    if per_record:
        return
    ordinal = found(f"SELECT 1 FROM {table} WHERE err IS NOT NULL LIMIT 1")
    exact = found(Q.endpoint_collision_sql(table))
    if ordinal or exact:
        run(shape, ordinal, exact)


def _value_errors(con: duckdb.DuckDBPyConnection, data: list[str]) -> list[tuple[int, int, str]]:
    """Every (file index, record ordinal, reason) that fails validation; only called with skip_bad
    when some did."""
    _classify(con, data, f"{_T}_bad", per_record=True)
    rows = con.execute(f"SELECT fi, ord, err FROM {_T}_bad WHERE err IS NOT NULL ORDER BY fi, ord").fetchall()
    con.execute(f"DROP TABLE {_T}_bad; DROP TABLE IF EXISTS {_T}_bad_ept")
    return [(int(f), int(o), str(r)) for f, o, r in rows]


def _finish(con: duckdb.DuckDBPyConnection, target: str, files: list[str]) -> list[tuple[int, dict[str, int], int]]:
    """Orient and insert the usable events; per file (accepted, skipped by reason, connections)."""
    con.execute(endpoints_sql(f"{_T}_l1", f"{_T}_eps"))
    con.execute(Q.oriented_sql(f"{_T}_l1", f"{_T}_eps", f"{_T}_out"))
    conns = Q.connections_sql(f"{_T}_out", f"{_T}_eps", files)
    inserted = con.execute(Q.insert_sql(conns, f"{_T}_eps", f"{_T}_l1", target, FORMAT)).fetchone()
    per_file = (dict(con.execute(Q.per_file_connections_sql(conns)).fetchall()) if len(files) > 1
                else {0: int(inserted[0]) if inserted else 0})
    skipped: list[dict[str, int]] = [{} for _ in files]
    for fi, status, n in con.execute(f"SELECT fi, status, sum(n) FROM {_T}_l1 WHERE starts_with(status, 'skip:') "
                                     "GROUP BY ALL ORDER BY ALL").fetchall():
        skipped[fi][str(status)[5:]] = int(n)
    sums = {int(fi): (int(a), int(o), int(d), int(x)) for fi, a, o, d, x in con.execute(
        f"SELECT fi, sum(accepted), sum(orphan), sum(l7_dup), sum(denied_dst) FROM {_T}_out GROUP BY fi").fetchall()}
    out = []
    for i in range(len(files)):
        acc, orphan, dup, lost = sums.get(i, (0, 0, 0, 0))
        for why, n in ((REPLY_WITHOUT_REQUEST, orphan), (L7_DUPLICATE, dup), (DENIED_AT_DESTINATION, lost)):
            if n:
                skipped[i][why] = skipped[i].get(why, 0) + n
        out.append((acc, skipped[i], int(per_file.get(i, 0))))
    return out


def _check_line(line: bytes) -> str | None:
    """Why DuckDB's JSON reader would refuse this line: invalid JSON, or a field of the wrong type."""
    try:
        rec = json.loads(line)
    except (json.JSONDecodeError, UnicodeDecodeError) as e:
        if isinstance(e, json.JSONDecodeError):
            return f"invalid JSON ({e.msg} at column {e.colno})"
        return f"invalid UTF-8 ({e.reason})"
    if not isinstance(rec, dict):
        return f"expected a JSON object, got {type(rec).__name__}"
    return _type_error(rec, Q.COLUMNS, "")


def _type_error(value: Any, spec: Any, path: str) -> str | None:
    """First field of ``value`` that does not fit ``spec`` (a ``hubble_sql.COLUMNS`` shape), as a reason."""
    if value is None or spec == "JSON":
        return None
    where = path or "record"
    if isinstance(spec, dict):
        if not isinstance(value, dict):
            return f"{where}: expected an object, got {json.dumps(value)[:60]}"
        for k, sub in spec.items():
            err = _type_error(value.get(k), sub, f"{path}.{k}" if path else k)
            if err:
                return err
        return None
    if isinstance(spec, list):
        if not isinstance(value, list):
            return f"{where}: expected a list, got {json.dumps(value)[:60]}"
        return next((e for i, v in enumerate(value) if (e := _type_error(v, spec[0], f"{where}[{i}]"))), None)
    if spec == "BIGINT":
        ok = (isinstance(value, int) and not isinstance(value, bool) and -2**63 <= value < 2**63) or (
            isinstance(value, str) and value.strip().lstrip("-").isdigit())
        return None if ok else f"{where}: expected an integer, got {json.dumps(value)[:60]}"
    if spec == "BOOLEAN":
        return None if isinstance(value, bool) else f"{where}: expected true or false, got {json.dumps(value)[:60]}"
    return None   # VARCHAR and JSON: DuckDB takes any JSON value (objects as their JSON text)
