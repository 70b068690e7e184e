"""The read pipeline every line-oriented reader shares: fast path first, Python only on failure.

Why this exists: line-oriented readers (normalized CSV here; ``calico_files``
and ``hubble.read_files`` follow the same steps over several files with
``FileSet`` and ``union_scan`` below) need the
same control flow, and getting it right once matters more than getting it fast
several times:

1. a plain file whose unterminated last line does not parse is being written:
   read a copy without that line and count it as skipped "truncated last line";
2. DuckDB aggregates the file into ``{table}_l1`` (one row per distinct raw
   value set, with ``n`` records, ``first`` record ordinal and ``err``, the
   validation error of the group or NULL);
3. if DuckDB refuses the file, Python scans its lines with ``check_line`` to
   name the first bad one (``FILE:LINE: reason``) or, with ``skip_bad``, writes
   a copy in which bad lines are replaced by a marker record, and DuckDB reads
   that;
4. groups with a validation error stop the ingest at the first bad record, or
   with ``skip_bad`` are listed per record (a second DuckDB pass, only then);
5. ``finish`` normalizes the valid groups into the staging table.

Record ordinals count non-blank lines (after ``header_lines``); they are mapped
back to exact file lines only for records that are reported.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import duckdb

from recommender.errors import InputError
from recommender.io import lines as L
from recommender.io.readers import Progress, ReadStats

Con = duckdb.DuckDBPyConnection
HINT = "fix the record, or use --skip-bad to reject bad records and continue"


@dataclass
class LineFormat:
    name: str                                                   # the FORMAT name
    table: str                                                  # prefix of the reader's temp tables
    check_line: L.Checker                                       # why DuckDB would refuse a line (None: fine)
    marker: bytes                                               # stands in for a bad line; aggregate drops it
    aggregate: Callable[[Con, str], None]                       # data path -> creates {table}_l1
    value_errors: Callable[[Con, str], list[tuple[int, str]]]   # data path -> [(ordinal, reason)]
    finish: Callable[[Con, str, str], tuple[int, dict[str, int], int]]  # (target, file) -> accepted, skipped, conns
    header_lines: int = 0
    suffix: str = ".txt"


def read_line_file(con: Con, path: str | Path, fmt: LineFormat, *, target: str, skip_bad: bool,
                   progress: Progress | None = None) -> ReadStats:
    file = str(path)
    stats = ReadStats(file=file, format=fmt.name)
    scan: L.ScanResult | None = None
    temps: list[str] = []
    data_path = file
    bad_rows: list[tuple[int, str]] = []
    try:
        scan = unfinished_last_line(file, fmt.check_line, fmt.header_lines)
        if scan is not None:
            data_path = L.temp_path(fmt.suffix)
            temps.append(data_path)
            L.copy_without_last_line(file, data_path)
        try:
            L.run_query(con, lambda: fmt.aggregate(con, data_path), progress, file)
        except duckdb.Error as err:
            scan, data_path = _slow_path(con, file, fmt, skip_bad, err)
            temps.append(data_path)
        first, reason = con.execute(f"SELECT min(first), arg_min(err, first) FROM {fmt.table}_l1 "
                                    "WHERE err IS NOT NULL").fetchone()
        if first is not None:
            if not skip_bad:
                o = int(first) + fmt.header_lines
                line = L.nonblank_line_numbers(file, {o}).get(o, (o, ""))[0]
                raise InputError(reason, file=file, line=line, hint=HINT)
            bad_rows = fmt.value_errors(con, data_path)
        valid = con.execute(f"SELECT coalesce(sum(n), 0) FROM {fmt.table}_l1 WHERE err IS NULL").fetchone()[0]
        accepted, skipped, conns = fmt.finish(con, target, file)
    finally:
        con.execute(f"DROP TABLE IF EXISTS {fmt.table}_l1; DROP TABLE IF EXISTS {fmt.table}_out")
        for tmp in temps:
            Path(tmp).unlink(missing_ok=True)
    rejected = rejections(file, scan, bad_rows, fmt.header_lines)
    L.insert_rejected(con, fmt.name, file, rejected)
    stats.records = int(valid) + len(rejected) + (1 if scan and scan.truncated_last_line else 0)
    stats.accepted, stats.rejected, stats.connections = accepted, len(rejected), conns
    for why, count in skipped.items():
        stats.skip(why, count)
    L.note_truncation(stats, scan)
    return stats


def _text(b: bytes) -> str:
    return b[:2000].decode("utf-8", "replace")


def unfinished_last_line(file: str, check_line: L.Checker, header_lines: int = 0) -> L.ScanResult | None:
    """Step 1: a plain file whose last line has no newline and does not parse is still being written."""
    if L.is_gzip(file) or L.ends_with_newline(file):
        return None
    n, text = L.last_line(file)
    if n > header_lines and check_line(text) is not None:
        return L.ScanResult(truncated_last_line=L.BadLine(n, L.TRUNCATED_LAST_LINE, _text(text)))
    return None


def bad_lines(file: str, check_line: L.Checker, skip_bad: bool, header_lines: int = 0) -> tuple[L.ScanResult, set[int]]:
    """Step 3, after DuckDB refused the file: Python names the first bad line (``InputError``) or,
    with ``skip_bad``, returns the scan and the lines a clean copy must mask (none: nothing found)."""
    scan = L.scan_lines(file, check_line, stop_at_first=not skip_bad, tolerate_gzip_eof=skip_bad,
                        skip_first=header_lines)
    if scan.bad and not skip_bad:
        raise InputError(scan.bad[0].reason, file=file, line=scan.bad[0].line, hint=HINT)
    drop = {b.line for b in scan.bad}
    if scan.truncated_last_line:
        drop.add(scan.truncated_last_line.line)
    return scan, drop


def rejections(file: str, scan: L.ScanResult | None, bad_rows: list[tuple[int, str]],
                header_lines: int) -> list[L.BadLine]:
    out = list(scan.bad) if scan else []
    where = L.nonblank_line_numbers(file, {int(o) + header_lines for o, _ in bad_rows})
    for o, r in bad_rows:
        line, text = where.get(int(o) + header_lines, (int(o) + header_lines, ""))
        out.append(L.BadLine(line, r, text))
    return sorted(out, key=lambda b: b.line)


def _slow_path(con: Con, file: str, fmt: LineFormat, skip_bad: bool, err: duckdb.Error) -> tuple[L.ScanResult, str]:
    """DuckDB refused the file: find the bad lines in Python, then read a copy with them masked."""
    scan, drop = bad_lines(file, fmt.check_line, skip_bad, fmt.header_lines)
    if not drop and not scan.truncated_stream:
        raise InputError(f"cannot read as {fmt.name}: {first_error_line(err)}", file=file)
    clean = L.temp_path(fmt.suffix)
    L.write_clean_copy(file, clean, drop, fmt.marker)
    try:
        fmt.aggregate(con, clean)
    except duckdb.Error as e2:
        Path(clean).unlink(missing_ok=True)
        raise InputError(f"cannot read as {fmt.name}: {first_error_line(e2)}", file=file) from None
    return scan, clean


class FileSet:
    """Several files read in one DuckDB scan (``calico_files``, ``hubble.read_files``): what DuckDB reads
    for each (the file, or a cleaned copy) and what Python found in it. Steps 1 and 3 above, per file."""

    def __init__(self, files: list[str], fmt: str, check_line: L.Checker, marker: bytes, suffix: str) -> None:
        self.files, self.fmt, self.check_line, self.marker, self.suffix = files, fmt, check_line, marker, suffix
        self.data = list(files)
        self.scans: list[L.ScanResult | None] = [None] * len(files)
        self.temps: list[str] = []

    def replace(self, i: int, scan: L.ScanResult, write: Callable[[str, str], object]) -> None:
        dest = L.temp_path(self.suffix)
        self.temps.append(dest)
        write(self.files[i], dest)
        self.data[i], self.scans[i] = dest, scan

    def drop_truncated_last_lines(self) -> None:
        for i, f in enumerate(self.files):
            if (scan := unfinished_last_line(f, self.check_line)) is not None:
                self.replace(i, scan, L.copy_without_last_line)

    def mask_bad_lines(self, skip_bad: bool, err: duckdb.Error) -> None:
        """DuckDB refused the input: find the bad lines in Python; mask them (``skip_bad``) or stop."""
        found = False
        for i, f in enumerate(self.files):
            scan, drop = bad_lines(f, self.check_line, skip_bad)
            if drop or scan.truncated_stream:
                found = True
                self.replace(i, scan, lambda src, dest, d=drop: L.write_clean_copy(src, dest, d, self.marker))
        if not found:
            raise InputError(f"cannot read as {self.fmt}: {first_error_line(err)}", file=named(self.files, err))

    def scan(self, con: Con, run: Callable[[list[str]], None], skip_bad: bool, progress: Progress | None) -> None:
        """Run the reader's statement over the files (``run(self.data)``); when DuckDB refuses the input,
        the bad lines are named (or, with ``skip_bad``, masked in copies) and it runs again (step 3)."""
        try:
            L.run_query(con, lambda: run(self.data), progress, self.files)
        except duckdb.Error as err:
            self.mask_bad_lines(skip_bad, err)
            try:
                run(self.data)
            except duckdb.Error as e2:
                raise InputError(f"cannot read as {self.fmt}: {first_error_line(e2)}",
                                 file=named(self.files, e2)) from None

    def stats(self, con: Con, results: list[tuple[int, int, dict[str, int], int]],
              bad_rows: list[tuple[int, int, str]], given: list[str]) -> list[ReadStats]:
        """One ``ReadStats`` per file, in the order of ``given``. ``results`` holds per file (valid records,
        accepted, skipped by reason, connections); ``bad_rows`` (file index, record ordinal, reason) are
        the records that failed validation, kept in ``rejected`` with what Python's scans found."""
        out = []
        for i, (f, (valid, accepted, skipped, conns)) in enumerate(zip(self.files, results, strict=True)):
            scan = self.scans[i]
            rejected = rejections(f, scan, [(o, r) for fi, o, r in bad_rows if fi == i], 0)
            L.insert_rejected(con, self.fmt, f, rejected)
            truncated = 1 if scan and scan.truncated_last_line else 0
            st = ReadStats(file=f, format=self.fmt, records=valid + len(rejected) + truncated, accepted=accepted,
                           rejected=len(rejected), connections=conns)
            for why, count in skipped.items():
                st.skip(why, count)
            L.note_truncation(st, scan)
            out.append(st)
        order = {p: i for i, p in enumerate(given)}
        return sorted(out, key=lambda st: order[st.file])

    def remove_temps(self) -> None:
        for tmp in self.temps:
            Path(tmp).unlink(missing_ok=True)


def union_scan(files: list[str], scan: Callable[[list[str], str], str], numbered: bool) -> str:
    """One relation over ``files`` (``scan(paths, compression)`` is the reader call) with ``fi``, each
    record's index into ``files``, and ``ordinality``, its record number in its file (NULL unless
    ``numbered``). Numbering keeps DuckDB's scan on one thread, so numbered files are scanned one after
    the other; without numbers, one scan per compression reads all its files in parallel."""
    comps = ["gzip" if L.is_gzip(f) else "none" for f in files]
    if numbered:
        parts = [f"SELECT *, {i} AS fi FROM {scan([f], c)} WITH ORDINALITY"
                 for i, (f, c) in enumerate(zip(files, comps, strict=True))]
    else:
        parts = []
        for c in sorted(set(comps)):
            idx = [i for i, x in enumerate(comps) if x == c]
            fi = ("file_index::INTEGER" if idx == list(range(len(files)))
                  else "[" + ", ".join(map(str, idx)) + "][(file_index + 1)::BIGINT]::INTEGER")
            parts.append(f"SELECT *, {fi} AS fi, NULL::BIGINT AS ordinality FROM {scan([files[i] for i in idx], c)}")
    return "(" + " UNION ALL ".join(parts) + ")"


def named(files: list[str], err: Exception) -> str:
    """The file a DuckDB error message names, else the first one."""
    return next((f for f in files if f in str(err)), files[0])


def first_error_line(err: Exception) -> str:
    return str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__


@contextmanager
def settings(con: duckdb.DuckDBPyConnection, **wanted: bool) -> Iterator[None]:
    """Temporarily change connection settings, restoring the caller's values afterwards.

    A setting DuckDB refuses to change (in Jupyter without ipywidgets, the progress bar ones) is left alone.
    """
    saved: dict[str, object] = {}
    for key, value in wanted.items():
        before = con.execute(f"SELECT current_setting('{key}')").fetchone()[0]
        try:
            con.execute(f"SET {key} = {str(value).lower()}")
        except duckdb.Error:
            continue
        saved[key] = before
    try:
        yield
    finally:
        for key, value in saved.items():
            con.execute(f"SET {key} = {str(value).lower()}")
