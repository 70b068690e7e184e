"""Per-row hashes of Parquet ``MAP(VARCHAR, VARCHAR)`` label columns, without decoding the strings.

Why this exists: a normalized Parquet file with native MAP labels carries ~18 label entries per
row (10M rows: 178M key/value pairs, 356M strings). DuckDB's Parquet reader materializes every
one of them (10 CPU-s to hash both label columns of 10M rows, against 1.2 CPU-s for all the other
key columns), although the reader only needs to know which rows carry equal labels. Arrow C++
reads the key and value leaves as dictionary indices (no strings: 2.5-2.9 CPU-s), and a map's
hash is then a sum over its entries of a mix of its key's and value's string hashes, the strings
hashed once per row-group dictionary. The reader calls :data:`FUNCTION` (a DuckDB Arrow UDF) with
``file_row_number``; a row group is read and hashed on the first row asked for and kept in a small
cache while DuckDB's threads scan it.

The hash takes the place of DuckDB's ``hash(map)`` in the reader's first GROUP BY: like it, one
64-bit value per map. Empty and NULL maps hash alike (both canonicalize to NULL); entries are
summed, so their order does not matter (the canonical value sorts them anyway), while a repeated
or a NULL value changes the sum.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING

import duckdb
import numpy as np

if TYPE_CHECKING:   # imported where used: every reader module is imported to sniff inputs, pyarrow costs 0.2 s
    import pyarrow as pa

FUNCTION = "rec_parquet_labels_h"
_U = np.uint64
_SEED = (_U(0x9E3779B97F4A7C15), _U(0xBF58476D1CE4E5B9), _U(0x94D049BB133111EB))
_NULL_VALUE = _U(0x5851F42D4C957F2D)   # stands for a NULL map value (a string's hash equals it by a 2^-64 chance)
_MAX_PAIRS = 1 << 20                   # (key, value) pairs of one row group's dictionaries mixed up front
_CACHED_GROUPS = 4                      # row groups kept hashed per DuckDB thread (each scans one at a time)


def _mix(x: np.ndarray, s: tuple[np.uint64, np.uint64, np.uint64]) -> np.ndarray:
    x = x * s[1]
    x ^= x >> _U(31)
    x *= s[2]
    x ^= x >> _U(29)
    return x


def _strings(arr: pa.Array, s: tuple[np.uint64, np.uint64, np.uint64]) -> np.ndarray:
    """A 64-bit hash of each string of ``arr`` (string or large_string, no nulls expected)."""
    import pyarrow as pa
    n = len(arr)
    width = np.int64 if pa.types.is_large_string(arr.type) else np.int32
    off = np.frombuffer(arr.buffers()[1], dtype=width, count=n + 1, offset=arr.offset * np.dtype(width).itemsize).astype(np.int64)
    base = off[0]
    data = np.frombuffer(arr.buffers()[2], dtype=np.uint8)[base:off[-1]] if arr.buffers()[2] is not None else np.zeros(0, np.uint8)
    lens = np.diff(off)
    pos = np.arange(len(data), dtype=np.int64) - np.repeat(off[:-1] - base, lens)
    per_byte = _mix(((data.astype(_U) + _U(1)) | (pos.astype(_U) << _U(8))) ^ s[0], s)
    sums = np.concatenate(([_U(0)], np.cumsum(per_byte, dtype=_U)))
    return _mix(sums[off[1:] - base] - sums[off[:-1] - base] + lens.astype(_U) * s[0], s)


def _valid(arr: pa.Array) -> np.ndarray:
    """``arr``'s validity bitmap as booleans (``is_valid()`` converts through a slower path)."""
    bits = np.frombuffer(arr.buffers()[0], dtype=np.uint8)
    return np.unpackbits(bits, count=arr.offset + len(arr), bitorder="little")[arr.offset:].astype(bool)


def _leaf(arr: pa.Array) -> tuple[pa.Array, np.ndarray]:
    """A key or value leaf as (distinct strings, int32 index of each entry); NULL values index one past the end."""
    import pyarrow as pa
    if not pa.types.is_dictionary(arr.type):
        arr = arr.dictionary_encode()
    idx = arr.indices.to_numpy(zero_copy_only=False)
    if arr.null_count:
        idx = np.where(_valid(arr), idx, len(arr.dictionary)).astype(np.int32)
    return arr.dictionary, idx


def map_hashes(m: pa.MapArray) -> np.ndarray:
    """One uint64 per map of ``m``: the sum over its entries of a mix of the key's and the value's string
    hash. The mix is tabulated per (key, value) pair of the row group's dictionaries, so each entry costs
    one lookup and one addition."""
    s = _SEED
    off = np.frombuffer(m.buffers()[1], dtype=np.int32, count=len(m) + 1, offset=m.offset * 4).astype(np.int64)
    lo, hi = int(off[0]), int(off[-1])
    kd, ki = _leaf(m.keys.slice(lo, hi - lo))
    vd, vi = _leaf(m.items.slice(lo, hi - lo))
    hk = _strings(kd, s)
    hv = np.append(_strings(vd, s), _NULL_VALUE) ^ s[0]
    if hi == lo:
        return np.zeros(len(m), _U)
    if len(hk) * len(hv) <= _MAX_PAIRS:
        table = _mix(hk[:, None] * s[2] + hv[None, :], s).ravel()
        idx = ki.astype(np.intp)   # intp: numpy would convert any other index type on every take
        idx *= len(hv)
        idx += vi
        entries = np.take(table, idx)
        del idx
    else:   # too many distinct pairs to tabulate: mix per entry
        entries = _mix(np.take(hk, ki.astype(np.intp)) * s[2] + np.take(hv, vi.astype(np.intp)), s)
    np.add.accumulate(entries, out=entries)   # in place: entries[j] is now the sum of entries 0..j

    def before(ends: np.ndarray) -> np.ndarray:   # the sum of the entries before each end
        return np.where(ends > 0, entries[np.maximum(ends - 1, 0)], _U(0))
    h = before(off[1:] - lo) - before(off[:-1] - lo)
    if m.null_count:
        h[~_valid(m)] = _U(0)
    return h


def usable(path: str, columns: list[str]) -> list[str]:
    """The ``columns`` that the file stores as a Parquet map<string, string> (the rest keep DuckDB's hash)."""
    import pyarrow as pa
    import pyarrow.parquet as pq
    try:
        schema = pq.read_schema(path)
    except (OSError, pa.ArrowException):
        return []
    text = (pa.types.is_string, pa.types.is_large_string)
    ok = []
    for c in columns:
        i = next((j for j, f in enumerate(schema) if f.name.lower() == c), None)
        t = schema.field(i).type if i is not None else None
        if t is not None and pa.types.is_map(t) and any(f(t.key_type) for f in text) and any(f(t.item_type) for f in text):
            ok.append(schema.field(i).name)
    return ok


class _RowGroups:
    """Reads and hashes the label columns of one row group at a time, for the UDF."""

    def __init__(self, path: str, columns: list[str], threads: int = 2) -> None:
        import pyarrow.parquet as pq
        self.columns, self.keep = columns, _CACHED_GROUPS * max(threads, 1)
        self.plain = pq.ParquetFile(path, pre_buffer=False)
        paths = [self.plain.schema.column(i).path for i in range(len(self.plain.schema))]   # writers name the levels differently
        leaves = [p for p in paths if p.split(".", 1)[0] in columns]
        self.file = pq.ParquetFile(path, read_dictionary=leaves, pre_buffer=False)
        meta = self.file.metadata
        self.starts = np.cumsum([0] + [meta.row_group(i).num_rows for i in range(meta.num_row_groups)])
        self.cache: OrderedDict[int, np.ndarray] = OrderedDict()
        self.lock = threading.Lock()

    def _read(self, g: int) -> pa.Table:
        import pyarrow as pa
        try:   # dictionary indices: no strings are materialized
            return self.file.read_row_group(g, columns=self.columns, use_threads=False)
        except pa.ArrowNotImplementedError:   # a dictionary that changes inside the row group: read the strings
            return self.plain.read_row_group(g, columns=self.columns, use_threads=False)

    def group(self, g: int) -> np.ndarray:
        with self.lock:
            if g in self.cache:
                self.cache.move_to_end(g)
                return self.cache[g]
        table = self._read(g)
        h = np.empty((len(self.columns), table.num_rows), _U)
        for i, c in enumerate(self.columns):
            at = 0
            for chunk in table.column(c).chunks:
                h[i, at:at + len(chunk)] = map_hashes(chunk)
                at += len(chunk)
        with self.lock:
            self.cache[g] = h
            while len(self.cache) > self.keep:
                self.cache.popitem(last=False)
        return h

    def __call__(self, rows: pa.Array | pa.ChunkedArray) -> pa.StructArray:
        import pyarrow as pa
        r = _ints(rows, np.int64)
        lo, hi = (int(r.min()), int(r.max())) if len(r) else (0, -1)
        g = int(np.searchsorted(self.starts, lo, side="right")) - 1
        if hi < self.starts[g + 1]:   # one row group (the usual call: DuckDB scans a row group per thread)
            out = self.group(g)[:, r - self.starts[g]]
        else:
            out = np.empty((len(self.columns), len(r)), _U)
            groups = np.searchsorted(self.starts, r, side="right") - 1
            for g in np.unique(groups):
                sel = groups == g
                out[:, sel] = self.group(int(g))[:, r[sel] - self.starts[g]]
        return pa.StructArray.from_arrays([pa.array(h, type=pa.uint64()) for h in out], names=_fields(len(self.columns)))


def _fields(n: int) -> list[str]:
    return [f"h{i}" for i in range(n)]


def _ints(a: pa.Array | pa.ChunkedArray, dtype: type) -> np.ndarray:
    """The values of an integer Arrow array without NULLs (``file_row_number`` never is NULL)."""
    chunks = a.chunks if hasattr(a, "chunks") else [a]
    parts = [np.frombuffer(c.buffers()[1], dtype=dtype, count=len(c), offset=c.offset * np.dtype(dtype).itemsize) for c in chunks]
    return parts[0] if len(parts) == 1 else np.concatenate(parts)


_ROW = "__labels_h"


def call() -> str:
    """The SQL select item that hashes every registered label column of a row (one UDF call per chunk)."""
    return f"{FUNCTION}(file_row_number) AS {_ROW}"


def sql(column_index: int) -> str:
    """The hash of the ``column_index``-th registered label column, given :func:`call`'s select item."""
    return f"{_ROW}.h{column_index}"


@contextmanager
def registered(con: duckdb.DuckDBPyConnection, path: str, columns: list[str]) -> Iterator[None]:
    """Register :data:`FUNCTION` on ``con`` for ``path``'s ``columns`` while the block runs (none: nothing)."""
    if not columns:
        yield
        return
    row = ", ".join(f"{f} UBIGINT" for f in _fields(len(columns)))
    threads = int(con.execute("SELECT current_setting('threads')").fetchall()[0][0])
    groups = _RowGroups(path, columns, threads)   # called through a lambda: DuckDB evaluates the callable's annotations
    con.create_function(FUNCTION, lambda rows: groups(rows), ["BIGINT"], f"STRUCT({row})", type="arrow")
    try:
        yield
    finally:
        con.execute("SELECT 1").fetchall()   # ends any unfinished result, which would block remove_function
        con.remove_function(FUNCTION)
