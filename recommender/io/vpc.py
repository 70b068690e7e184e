"""AWS VPC flow logs → distinct connections, seen from the initiator.

Why this exists: a VPC flow log records one line per network interface, per
direction and per aggregation window, so one TCP connection between two pods
shows up as (up to) four records — the client's ENI sees the request and the
reply, the server's ENI sees both again. A policy must be derived from the
*initiator* only (a reply is never a connection to the client's ephemeral
port) and each connection must be counted once. Everything happens in DuckDB
SQL (``read_csv`` streamed into an aggregate, then set-based orientation and
de-duplication); Python only looks at the header and, when the fast path found
bad input, at the few offending lines to explain them.

Accepted inputs: S3 text files with a header line in any custom field order
(fields of versions 2–8 and the ``ecs-*`` fields; unknown lower-case field
names are tolerated and ignored), CloudWatch lines in the default version-2
format without a header, the CloudWatch Logs subscription JSON envelope
(``logEvents[].message``), each optionally gzip-compressed. See
``vpc_sql`` for the orientation rules.
"""

from __future__ import annotations

import ipaddress
import os
import re
import tempfile
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import duckdb

from recommender.errors import InputError
from recommender.io import lines as L
from recommender.io import vpc_delivery, vpc_pairs, vpc_sql
from recommender.io.vpc_delivery import CONTROL_MESSAGE
from recommender.io.pipeline import settings
from recommender.io.readers import Progress, ReadStats

FORMAT = "vpc"

V2_FIELDS: tuple[str, ...] = (
    "version", "account-id", "interface-id", "srcaddr", "dstaddr", "srcport", "dstport",
    "protocol", "packets", "bytes", "start", "end", "action", "log-status",
)
KNOWN_FIELDS: frozenset[str] = frozenset(V2_FIELDS) | {
    "vpc-id", "subnet-id", "instance-id", "tcp-flags", "type", "pkt-srcaddr", "pkt-dstaddr",  # v3
    "region", "az-id", "sublocation-type", "sublocation-id",  # v4
    "pkt-src-aws-service", "pkt-dst-aws-service", "flow-direction", "traffic-path",  # v5
    "ecs-cluster-arn", "ecs-cluster-name", "ecs-container-instance-arn", "ecs-container-instance-id",
    "ecs-container-id", "ecs-second-container-id", "ecs-service-name", "ecs-task-definition-arn",
    "ecs-task-arn", "ecs-task-id",  # v7
    "reject-reason", "resource-id",  # v8
}
STATUSES = ("OK", "NODATA", "SKIPDATA")
ACTIONS = ("ACCEPT", "REJECT")
# Field → (DuckDB type, validation kind). Every other field is read as text.
_TYPED: dict[str, tuple[str, str]] = {
    "srcport": ("USMALLINT", "port"), "dstport": ("USMALLINT", "port"),
    "protocol": ("UTINYINT", "protocol"), "tcp-flags": ("USMALLINT", "flags"),
    "packets": ("UBIGINT", "count"), "bytes": ("UBIGINT", "count"),
    "start": ("UBIGINT", "count"), "end": ("UBIGINT", "count"),
    "srcaddr": ("VARCHAR", "ip"), "dstaddr": ("VARCHAR", "ip"),
    "pkt-srcaddr": ("VARCHAR", "ip"), "pkt-dstaddr": ("VARCHAR", "ip"),
    "action": ("VARCHAR", "action"), "log-status": ("VARCHAR", "status"),
}
_LIMITS = {"port": 65535, "protocol": 255, "flags": 65535, "count": 2**64 - 1}
_FIELD_NAME = re.compile(r"[a-z][a-z0-9-]*")
_HINT = "fix or remove the record, or pass --skip-bad to set malformed records aside in the `rejected` table"


@dataclass
class Layout:
    """How to read one file: its fields in order and where records start."""

    fields: tuple[str, ...]
    csv_path: str
    header_lines: int          # 1 for S3 files with a header, 0 otherwise
    file: str                  # the user's file, for messages and provenance
    envelope: bool = False     # records came from a CloudWatch JSON envelope
    control: int = 0           # events of the envelopes' control messages (not flow records)
    tmpdir: str = ""           # scratch space of this read (the readable part of a truncated .gz)


def _first_line(text: str) -> str:
    return text.lstrip("\ufeff").split("\n", 1)[0].rstrip("\r")


def _is_record(tokens: list[str]) -> bool:
    return len(tokens) == len(V2_FIELDS) and tokens[0].isdigit() and tokens[-1] in STATUSES


def _is_header(tokens: list[str]) -> bool:
    names = set(tokens)
    has_addr = {"srcaddr", "dstaddr"} <= names or {"pkt-srcaddr", "pkt-dstaddr"} <= names
    return has_addr and all(_FIELD_NAME.fullmatch(t) for t in tokens)


def sniff(head: bytes) -> bool:
    """A VPC header line, a default-format record, or a CloudWatch envelope of them."""
    text = head.decode("utf-8", "replace").lstrip("\ufeff")
    stripped = text.lstrip()
    if stripped.startswith("{"):
        return vpc_delivery.sniff(stripped, _is_record)
    tokens = _first_line(text).split(" ")
    return _is_header(tokens) or _is_record(tokens)


def _check_header(tokens: list[str], file: str) -> tuple[str, ...]:
    def broken(reason: str) -> InputError:
        return InputError(f"broken header: {reason}", file=file, line=1,
                          hint="the first line must list the flow-log fields, e.g. `version account-id interface-id srcaddr …`")

    for t in tokens:
        if not _FIELD_NAME.fullmatch(t):
            raise broken(f"{t!r} is not a flow-log field name")
    dupes = sorted({t for t in tokens if tokens.count(t) > 1})
    if dupes:
        raise broken(f"duplicate field(s) {', '.join(dupes)}")
    names = set(tokens)
    missing = [f for f in ("srcport", "dstport", "protocol", "action") if f not in names]
    if not ({"srcaddr", "dstaddr"} <= names or {"pkt-srcaddr", "pkt-dstaddr"} <= names):
        missing.insert(0, "srcaddr/dstaddr")
    if missing:
        raise broken(f"missing field(s) {', '.join(missing)}")
    return tuple(tokens)


def layout_of(con: duckdb.DuckDBPyConnection, path: Path, tmpdir: str) -> Layout | None:
    """How to read ``path`` (None: an empty file); an envelope is unpacked into ``tmpdir``."""
    head = L.read_head(path).decode("utf-8", "replace")
    if not head.strip():
        return None
    if head.lstrip("\ufeff").lstrip().startswith("{"):
        return _envelope_layout(con, path, tmpdir)
    if head.startswith("PAR1") and (columns := vpc_delivery.parquet_columns(path)) is not None:
        out = os.path.join(tmpdir, "rows.txt")   # records numbered by row; file:row names a bad one
        fields = _check_header(list(vpc_delivery.parquet_to_text(con, path, columns, out)), str(path))
        return Layout(fields, out, 0, str(path), tmpdir=tmpdir)
    tokens = _first_line(head).split(" ")
    if tokens and tokens[0] and not tokens[0][0].isdigit() and tokens[0] != "-":
        return Layout(_check_header(tokens, str(path)), str(path), 1, str(path), tmpdir=tmpdir)
    return Layout(V2_FIELDS, str(path), 0, str(path), tmpdir=tmpdir)


def _envelope_layout(con: duckdb.DuckDBPyConnection, path: Path, tmpdir: str) -> Layout:
    """Unwrap the data events' ``logEvents[].message`` into a plain text file of default-format records."""
    out = os.path.join(tmpdir, "messages.txt")
    try:
        control = vpc_delivery.unwrap(con, path, out)
    except duckdb.Error as exc:
        raise InputError(f"not a CloudWatch Logs subscription envelope: {_first(exc)}", file=str(path),
                         hint="expected JSON objects with a `logEvents` list of `{message: …}`") from None
    return Layout(V2_FIELDS, out, 0, str(path), envelope=True, control=control)


def _first(exc: BaseException) -> str:
    return str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__


def check_tokens(tokens: list[str], fields: tuple[str, ...]) -> str | None:
    """Why one record is malformed (None when it is fine) — the same rules the SQL applies."""
    if len(tokens) != len(fields):
        return f"wrong field count: expected {len(fields)}, found {len(tokens)}"
    values = dict(zip(fields, tokens))
    for name, tok in values.items():
        kind = _TYPED.get(name, ("", ""))[1]
        if tok == "-" or not kind:
            continue
        if kind in _LIMITS:
            if not (tok.isascii() and tok.isdigit()) or int(tok) > _LIMITS[kind]:
                what = {"port": "invalid port", "protocol": "unknown protocol number",
                        "flags": "invalid TCP flags", "count": "invalid number"}[kind]
                return f"{name}: {what} {tok!r}"
        elif kind == "ip":
            try:
                ipaddress.ip_address(tok)
            except ValueError:
                return f"{name}: invalid IP {tok!r}"
        elif kind == "action" and tok not in ACTIONS:
            return f"action: expected ACCEPT or REJECT, found {tok!r}"
        elif kind == "status" and tok not in STATUSES:
            return f"log-status: expected OK, NODATA or SKIPDATA, found {tok!r}"
    if values.get("log-status", "-") in ("OK", "-"):
        for need in ("protocol", "action"):
            if values.get(need, "-") == "-":
                return f"{need}: missing ('-') in a record with log-status OK"
        for side in ("src", "dst"):
            if values.get(f"pkt-{side}addr", "-") == "-" and values.get(f"{side}addr", "-") == "-":
                return f"{side}addr: missing ('-') in a record with log-status OK"
    return None


def _lines_text(layout: Layout, wanted: set[int]) -> dict[int, str]:
    """The text of the wanted (1-based) lines of the record file, in one pass."""
    found: dict[int, str] = {}
    last = max(wanted, default=0)
    for number, raw, _ in L.iter_lines(layout.csv_path) if wanted else ():
        if number in wanted:
            found[number] = raw[:2000].decode("utf-8", "replace")
        if number >= last:
            break
    return found


def _truncated_last(layout: Layout, bad_lines: list[int]) -> int | None:
    """The bad last line of a plain file without a trailing newline, when it looks cut short (too few
    fields, or only its last field wrong): a file still being written, not malformed input."""
    if not bad_lines or layout.envelope or L.is_gzip(layout.csv_path) or L.ends_with_newline(layout.csv_path):
        return None
    last = L.count_lines(layout.csv_path)
    if bad_lines[-1] != last:
        return None
    tokens = _lines_text(layout, {last}).get(last, "").split(" ")
    reason = check_tokens(tokens, layout.fields) or ""
    cut = len(tokens) < len(layout.fields) or reason.startswith(f"{layout.fields[-1]}:")
    return last if cut else None


def _located(layout: Layout, line: int) -> dict[str, object]:
    """InputError location keywords for record file line ``line``."""
    if layout.envelope:
        return {"file": layout.file, "path": f"logEvents[{line - 1}].message"}
    return {"file": layout.file, "line": line}


def read(
    con: duckdb.DuckDBPyConnection,
    path: str | Path,
    *,
    target: str,
    skip_bad: bool,
    progress: Progress | None = None,
) -> ReadStats:
    """Read one VPC flow-log file into the staging table ``target``."""
    path = Path(path)
    stats = ReadStats(file=str(path), format=FORMAT)
    with tempfile.TemporaryDirectory(prefix="recommender-vpc-") as tmpdir:
        layout = layout_of(con, path, tmpdir)
        if layout is not None:
            _read_layout(con, layout, target=target, skip_bad=skip_bad, stats=stats, progress=progress)
    return stats


def _read_layout(con: duckdb.DuckDBPyConnection, layout: Layout, *, target: str, skip_bad: bool,
                 stats: ReadStats, progress: Progress | None) -> None:
    # Record numbers come from row_number() OVER () in file order: keep insertion order during the read.
    # DuckDB's own progress bar would print on stdout, which carries data.
    with settings(con, preserve_insertion_order=True, enable_progress_bar_print=False):
        _read_records(con, layout, target=target, skip_bad=skip_bad, stats=stats, progress=progress)


def _read_records(con: duckdb.DuckDBPyConnection, layout: Layout, *, target: str, skip_bad: bool,
                  stats: ReadStats, progress: Progress | None) -> None:
    names, bad = load_file(con, layout, skip_bad=skip_bad, stats=stats, progress=progress)
    try:
        vpc_sql.orient_and_insert(con, names, target=target, file=layout.file, stats=stats, line_sql=bad.line_sql())
    finally:
        vpc_pairs.drop(con, names)


def load_file(con: duckdb.DuckDBPyConnection, layout: Layout, *, skip_bad: bool, stats: ReadStats,
              progress: Progress | None, hmin: bool = False) -> tuple[vpc_pairs.TempNames, vpc_sql.BadInput]:
    """Step 1 for one file: its 5-tuple table (``names.pairs``), bad input handled; the caller orients and
    drops the tables (``vpc_files`` merges the tables of several files first, ``hmin`` for that)."""
    if layout.control:
        stats.records += layout.control
        stats.skip(CONTROL_MESSAGE, layout.control)
    unknown = [f for f in layout.fields if f not in KNOWN_FIELDS]
    if unknown:
        stats.notes.append(f"{layout.file}: ignored unknown field(s) {', '.join(unknown)}")
    names = vpc_pairs.TempNames()
    try:
        split_at = (None if layout.envelope or int(con.execute("SELECT current_setting('threads')").fetchone()[0]) < 2
                    else vpc_pairs.split_point(layout.csv_path, layout.header_lines))
        load = _loader(con, layout, names, progress, hmin)
        plain = not (layout.envelope or L.is_gzip(layout.csv_path))
        with ThreadPoolExecutor(1) as pool:   # look at the lines in Python while DuckDB reads (it releases the GIL)
            blank_scan = pool.submit(vpc_pairs.has_blank_line, layout.csv_path) if plain and split_at else None
            count_scan = pool.submit(L.count_lines, layout.csv_path) if plain and not split_at else None
            try:
                how = load(split_at)
            except vpc_delivery.TruncatedGzip:   # a .gz cut short (split_at is None): its complete lines, or the error
                layout.csv_path = vpc_delivery.readable_part(layout.csv_path, layout.file, layout.tmpdir, skip_bad, stats)
                how = load(None)
            blank_seen = bool(blank_scan and blank_scan.result())
            lines = count_scan.result() if count_scan else 0
        if blank_seen:   # rare: blank lines shift the tail part, so read the file in one part, and count them
            lines = L.count_lines(layout.csv_path)
            if how == "fast-split":
                vpc_pairs.drop(con, names)
                load(None)
        header = " ".join(layout.fields) if layout.header_lines else None
        blank = _blank_lines(layout, lines, vpc_sql.parsed_lines(con, names))
        bad = vpc_sql.find_bad(con, names, _invalid_ips(con, names), layout.header_lines, header, blank)
        if bad.headers:
            stats.records += len(bad.headers)
            stats.skip("repeated header", len(bad.headers))
        if bad.count:
            _handle_bad(con, layout, bad, skip_bad, stats)
    except BaseException:
        vpc_pairs.drop(con, names)
        raise
    return names, bad


def _loader(con: duckdb.DuckDBPyConnection, layout: Layout, names: vpc_pairs.TempNames,
            progress: Progress | None, hmin: bool = False) -> Callable[[int | None], str]:
    """Step 1 of the SQL pipeline with DuckDB errors turned into an InputError; returns how it ran."""
    def load(split_at: int | None) -> str:
        how: list[str] = []
        try:
            L.run_query(con, lambda: how.append(vpc_pairs.load_pairs(
                con, names, layout.csv_path, layout.fields, layout.header_lines, _TYPED, split_at=split_at,
                hmin=hmin)),
                progress, layout.csv_path)
        except duckdb.Error as exc:
            if L.is_gzip(layout.csv_path) and L.gzip_truncated(layout.csv_path):
                raise vpc_delivery.TruncatedGzip() from None
            raise InputError(f"cannot read as a VPC flow log: {_first(exc)}", file=layout.file, hint=_HINT) from None
        return how[0]
    return load


def _blank_lines(layout: Layout, lines: int, parsed: int) -> frozenset[int]:
    """Empty lines of a plain file (DuckDB skips them), so that record numbers map to file lines.

    Counting newlines is cheap; only when the count shows unnumbered lines are they located.
    """
    if layout.envelope or L.is_gzip(layout.csv_path) or lines <= parsed + layout.header_lines:
        return frozenset()
    return frozenset(n for n, line, _ in L.iter_lines(layout.csv_path) if not line.strip(b"\r"))


def _invalid_ips(con: duckdb.DuckDBPyConnection, names: vpc_pairs.TempNames) -> list[str]:
    """Validate each distinct address once; IPv6 addresses are rewritten to canonical form."""
    invalid: list[str] = []
    rewrites: list[tuple[str, str]] = []
    for (raw,) in con.execute(vpc_sql.non_ipv4_sql(names)).fetchall():
        try:
            canonical = ipaddress.ip_address(raw).compressed
        except ValueError:
            invalid.append(raw)
            continue
        if canonical != raw:
            rewrites.append((raw, canonical))
    if rewrites:
        vpc_sql.rewrite_ips(con, names, rewrites)
    return invalid


def _reason(layout: Layout, bad: vpc_sql.BadInput, line: int, text: str) -> str:
    tokens = text.split(" ")
    if _is_header(tokens):
        return "a header with other fields than line 1 (split the file: one flow-log format per file)"
    return check_tokens(tokens, layout.fields) or bad.reject_lines.get(line) or "malformed record"


def _handle_bad(con: duckdb.DuckDBPyConnection, layout: Layout, bad: vpc_sql.BadInput, skip_bad: bool,
                stats: ReadStats) -> None:
    invalid = bad.invalid_lines(con, layout.csv_path, layout.fields, _TYPED, first_only=not skip_bad)
    lines = sorted({*bad.bad_lines, *invalid})
    truncated = _truncated_last(layout, lines)
    if truncated is not None:
        lines.remove(truncated)
        stats.records += 1
        stats.truncated_last_line = True
        stats.skip(L.TRUNCATED_LAST_LINE, 1)
        stats.notes.append(f"{layout.file}:{truncated}: {L.TRUNCATED_LAST_LINE} skipped "
                           "(no trailing newline; the file is probably still being written)")
    if not lines:
        return
    if not skip_bad:
        line = lines[0]
        text = _lines_text(layout, {line}).get(line, "")
        raise InputError(_reason(layout, bad, line, text), **_located(layout, line), hint=_HINT)  # type: ignore[arg-type]
    texts = _lines_text(layout, set(lines))
    rows = [(layout.file, line, FORMAT, _reason(layout, bad, line, texts.get(line, "")), texts.get(line, ""))
            for line in lines]
    vpc_sql.insert_rejected(con, rows)
    stats.rejected += len(rows)
    stats.records += len(rows)
    if layout.envelope:
        stats.notes.append(vpc_delivery.NUMBERING_NOTE)


