"""File-level helpers shared by the line-oriented readers (Calico, VPC, Hubble).

Why this exists: every reader streams its file through DuckDB on the fast
path, and only when DuckDB refuses the file does Python look at individual
lines to say *which* line is bad and why. The pieces that this needs are the
same for every format and live here:

* ``read_head`` — the first 64 KiB, transparently decompressed (format sniffing);
* ``is_gzip`` / ``looks_binary`` — classify a file before handing it to DuckDB;
* ``iter_lines`` — numbered lines, gzip-aware, reporting a truncated gzip stream;
* ``scan_lines`` — run a per-line checker; returns the bad lines, classifying an
  unparsable last line without a trailing newline as "truncated last line"
  (a file that is still being written) instead of as malformed input;
* ``write_clean_copy`` — the fallback for ``--skip-bad``: a copy of the file in
  which bad lines are replaced by a marker record, so DuckDB's record numbers
  still equal the file's non-blank line numbers;
* ``ends_with_newline`` / ``count_lines`` — cheap checks on plain files.
"""

from __future__ import annotations

import gzip
import os
import tempfile
import threading
import zlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import duckdb

from recommender.errors import InputError
from recommender.io.readers import Progress, ReadStats

HEAD_BYTES = 64 * 1024
GZIP_MAGIC = b"\x1f\x8b"
UTF8_BOM = b"\xef\xbb\xbf"
PARQUET_MAGIC = b"PAR1"
TRUNCATED_LAST_LINE = "truncated last line"
TRUNCATED_GZIP = "truncated gzip stream"
_CHUNK = 16 * 1024 * 1024


def is_gzip(path: str | Path) -> bool:
    with open(path, "rb") as f:
        return f.read(2) == GZIP_MAGIC


def gzip_truncated(path: str | Path, chunk: int = 1 << 20) -> bool:
    """True when a gzip file ends before its end-of-stream marker (a partial copy or download).

    Reads the whole file, so it is only called on the error path."""
    d = zlib.decompressobj(wbits=31)
    with open(path, "rb") as f:
        while block := f.read(chunk):
            try:
                d.decompress(block, 1)      # output is discarded; keep the buffer small
                while d.unconsumed_tail:
                    d.decompress(d.unconsumed_tail, chunk)
            except zlib.error:
                return True
            if d.eof:
                return False
    return not d.eof


def read_head(path: str | Path, size: int = HEAD_BYTES) -> bytes:
    """First ``size`` bytes of the (decompressed) content; a truncated gzip yields what it has."""
    with open(path, "rb") as f:
        raw = f.read(size if not _magic_gzip(f) else size * 4 + 1024)
    if raw[:2] != GZIP_MAGIC:
        return raw
    d = zlib.decompressobj(wbits=31)
    try:
        return d.decompress(raw, size)
    except zlib.error as e:
        raise InputError(f"corrupt gzip data ({e})", file=str(path)) from None


def _magic_gzip(f) -> bool:  # type: ignore[no-untyped-def]
    magic = f.read(2)
    f.seek(0)
    return magic == GZIP_MAGIC


def looks_binary(head: bytes) -> bool:
    """True for content that is not text: NUL bytes, or not decodable as UTF-8."""
    if not head:
        return False
    if b"\x00" in head:
        return True
    try:
        head.decode("utf-8")
    except UnicodeDecodeError as e:
        # a multi-byte character cut by the head boundary is still text
        return e.start < len(head) - 4
    return False


def ends_with_newline(path: str | Path) -> bool:
    """For plain (uncompressed) files: does the last byte end a line? Empty files count as yes."""
    with open(path, "rb") as f:
        f.seek(0, os.SEEK_END)
        if f.tell() == 0:
            return True
        f.seek(-1, os.SEEK_END)
        return f.read(1) == b"\n"


def count_lines(path: str | Path) -> int:
    """Lines of a plain file, blank ones included (fast: counts newlines in 16 MiB chunks)."""
    n = 0
    last = b"\n"
    with open(path, "rb") as f:
        while chunk := f.read(_CHUNK):
            n += chunk.count(b"\n")
            last = chunk[-1:]
    return n if last == b"\n" else n + 1


def open_text(path: str | Path):  # type: ignore[no-untyped-def]
    """Binary file object over the decompressed content."""
    return gzip.open(path, "rb") if is_gzip(path) else open(path, "rb")


def iter_lines(path: str | Path) -> Iterator[tuple[int, bytes, bool]]:
    """Yield ``(line_number, line_without_newline, had_newline)`` for every line.

    Raises ``InputError`` naming the last complete line when a gzip stream is
    truncated or corrupt.
    """
    n = 0
    try:
        with open_text(path) as f:
            for raw in f:
                n += 1
                if n == 1:   # DuckDB's readers ignore a byte order mark: so do the line checks
                    raw = raw.removeprefix(UTF8_BOM)
                nl = raw.endswith(b"\n")
                yield n, raw.rstrip(b"\r\n") if nl else raw, nl
    except (EOFError, gzip.BadGzipFile, zlib.error, OSError) as e:
        raise InputError(f"{TRUNCATED_GZIP} or corrupt compressed data after line {n} ({e})",
                         file=str(path), line=n + 1,
                         hint="re-copy the file, or use --skip-bad to keep the readable part") from None


@dataclass
class BadLine:
    line: int
    reason: str
    text: str


@dataclass
class ScanResult:
    records: int = 0                  # non-blank lines, including bad ones
    bad: list[BadLine] = field(default_factory=list)
    truncated_last_line: BadLine | None = None
    truncated_stream: BadLine | None = None


Checker = Callable[[bytes], str | None]
"""``check(line) -> reason`` for a bad line, ``None`` for a good one."""


def scan_lines(path: str | Path, check: Checker, *, stop_at_first: bool, tolerate_gzip_eof: bool = False,
               skip_first: int = 0) -> ScanResult:
    """Check every non-blank line (after ``skip_first`` header lines); the unparsable
    unterminated last line is classified separately."""
    res = ScanResult()
    pending: BadLine | None = None   # a bad line that may turn out to be the (truncated) last one
    try:
        for n, line, had_nl in iter_lines(path):
            if n <= skip_first or not line.strip():
                continue
            if pending is not None:
                res.bad.append(pending)
                pending = None
                if stop_at_first:
                    return res
            res.records += 1
            reason = check(line)
            if reason is None:
                continue
            bad = BadLine(n, reason, line[:2000].decode("utf-8", "replace"))
            if not had_nl:
                bad.reason = TRUNCATED_LAST_LINE
                res.truncated_last_line = bad
            elif stop_at_first:
                res.bad.append(bad)
                return res
            else:
                pending = bad
    except InputError as e:
        if not tolerate_gzip_eof:
            raise
        res.truncated_stream = BadLine(e.line or 0, TRUNCATED_GZIP, "")
    if pending is not None:
        res.bad.append(pending)
    return res


def write_clean_copy(path: str | Path, dest: str | Path, drop: set[int], marker: bytes) -> None:
    """Copy ``path`` (decompressed) to ``dest`` replacing lines in ``drop`` by ``marker``.

    Blank lines are kept, so non-blank record numbers stay aligned with the original.
    A truncated gzip stream ends the copy at the last complete line.
    """
    with open(dest, "wb") as out:
        try:
            for n, line, _ in iter_lines(path):
                out.write((marker if n in drop else line) + b"\n")
        except InputError:
            pass


def nonblank_line_numbers(path: str | Path, ordinals: set[int]) -> dict[int, tuple[int, str]]:
    """Map record ordinals (1-based count of non-blank lines) to (line number, text)."""
    out: dict[int, tuple[int, str]] = {}
    if not ordinals:
        return out
    k = 0
    last = max(ordinals)
    for n, line, _ in iter_lines(path):
        if not line.strip():
            continue
        k += 1
        if k in ordinals:
            out[k] = (n, line[:2000].decode("utf-8", "replace"))
        if k >= last:
            break
    return out


def last_line(path: str | Path) -> tuple[int, bytes]:
    """(line number, text) of the last line of a plain file that does not end with a newline."""
    with open(path, "rb") as f:
        f.seek(0, os.SEEK_END)
        size = f.tell()
        back = min(size, 1024 * 1024)
        f.seek(size - back)
        tail = f.read(back)
    return count_lines(path), tail.rsplit(b"\n", 1)[-1]


def copy_without_last_line(path: str | Path, dest: str | Path) -> None:
    """Copy a plain file up to (and including) its last newline."""
    with open(path, "rb") as f:
        f.seek(0, os.SEEK_END)
        size = f.tell()
        back = min(size, 1024 * 1024)
        f.seek(size - back)
        keep = size - back + f.read(back).rfind(b"\n") + 1
        f.seek(0)
        with open(dest, "wb") as out:
            while keep > 0:
                chunk = f.read(min(_CHUNK, keep))
                if not chunk:
                    break
                out.write(chunk)
                keep -= len(chunk)


def temp_path(suffix: str) -> str:
    """A fresh temporary file name (the caller deletes it)."""
    fd, name = tempfile.mkstemp(suffix=suffix, prefix="recommender-")
    os.close(fd)
    return name


def run_query(con: duckdb.DuckDBPyConnection, fn: Callable[[], None], progress: Progress | None,
              path: str | Path | list[str]) -> None:
    """Run ``fn`` (one long DuckDB statement); report DuckDB's own progress as bytes of ``path``
    (or of several files read together)."""
    if progress is None:
        fn()
        return
    paths = path if isinstance(path, list) else [path]
    total = sum(Path(p).stat().st_size for p in paths)
    label = Path(paths[0]).name + (f" and {len(paths) - 1} more" if len(paths) > 1 else "")
    stop = threading.Event()

    def poll() -> None:
        while not stop.wait(0.2):
            try:
                pct = con.query_progress()
            except Exception:  # noqa: BLE001 - progress is best effort
                return
            if pct >= 0:
                progress(int(total * min(pct, 100.0) / 100.0), total, label)

    th = threading.Thread(target=poll, daemon=True)
    th.start()
    try:
        fn()
    finally:
        stop.set()
        th.join()
        progress(total, total, label)


def insert_rejected(con: duckdb.DuckDBPyConnection, fmt: str, file: str, bad: list[BadLine]) -> None:
    """Keep rejected lines in the ``rejected`` table (file, line, format, reason, text)."""
    if bad:
        con.executemany("INSERT INTO rejected VALUES (?, ?, ?, ?, ?)",
                        [(file, b.line, fmt, b.reason, b.text) for b in bad])


def note_truncation(stats: ReadStats, scan: ScanResult | None) -> None:
    """Record a truncated last line (skipped) or gzip stream (note) in ``stats``."""
    if scan is None:
        return
    if scan.truncated_last_line:
        stats.truncated_last_line = True
        stats.skip(TRUNCATED_LAST_LINE, 1)
        stats.notes.append(f"{stats.file}:{scan.truncated_last_line.line}: {TRUNCATED_LAST_LINE} skipped "
                           "(no trailing newline; the file is probably still being written)")
    if scan.truncated_stream:
        stats.notes.append(f"{stats.file}:{scan.truncated_stream.line}: {TRUNCATED_GZIP}; "
                           "records after this point are lost")
