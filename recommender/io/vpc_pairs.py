"""Step 1 of the VPC reader: the one streaming pass that turns records into one row per 5-tuple.

Why this exists apart from ``recommender.io.vpc_sql`` (the steps after it): this pass is where the time goes
on large files, and two things make it fast without changing a single result. First, it aggregates per
undirected 5-tuple ("pair") in one level; the per-direction view of the interface with the smallest hash,
which the exact definition gets from a per-interface level first (one group per record: it spilled), is
recovered from a few sums (``_FAST_VIEW``), and anything outside what sums can recover exactly sends the
file through the exact two-level aggregation (``_PAIRS_EXACT``). Second, records are numbered for their file
line with ``row_number() OVER ()``, which keeps a scan on one thread; a large plain file is read as two
parts, each numbered on its own thread (``all_records_sql``).
"""

from __future__ import annotations

import itertools
import os
import re
from dataclasses import dataclass, field

import duckdb

from recommender.io.lines import is_gzip, read_head

ROW_VALID = ("(status IN ('OK', 'NODATA', 'SKIPDATA') AND coalesce(action IN ('ACCEPT', 'REJECT'), TRUE) "
             "AND (status <> 'OK' OR (src IS NOT NULL AND dst IS NOT NULL AND proto IS NOT NULL "
             "AND action IS NOT NULL)))")
_counter = itertools.count()


@dataclass
class TempNames:
    """Unique temp-table names for one read (several reads may share a connection)."""

    n: int = field(default_factory=lambda: next(_counter))

    def __getattr__(self, item: str) -> str:
        return f"_vpc_{item}_{self.__dict__['n']}"

    def all(self) -> list[str]:
        return [getattr(self, t) for t in ("pairs", "conns", "rejk", "ipmap", "rejects", "scans")]


def csv_sql(csv_path: str, fields: tuple[str, ...], header_lines: int, typed: dict[str, tuple[str, str]],
             rejects: TempNames | None, *, skip: int = 0, strict: bool = False) -> str:
    """``read_csv`` of the records after the first ``skip`` ones. Malformed lines go to the reject table of
    ``rejects``, or, without one, are ignored — or fail the statement when ``strict``."""
    columns = ", ".join(f"'c{i}': '{typed.get(f, ('VARCHAR',))[0]}'" for i, f in enumerate(fields))
    reject_opts = ("" if strict else
                   f", store_rejects=true, rejects_table='{rejects.rejects}', rejects_scan='{rejects.scans}'"
                   if rejects else ", ignore_errors=true")
    path = csv_path.replace("'", "''")
    compression = "gzip" if is_gzip(csv_path) else "none"
    header = f"header=false, skip={header_lines + skip}" if skip else f"header={'true' if header_lines else 'false'}"
    return (f"read_csv('{path}', delim=' ', {header}, quote='', escape='',"
            f" compression='{compression}',"
            f" nullstr='-', strict_mode=true, null_padding=false, auto_detect=false,"
            f" columns={{{columns}}}{reject_opts})")


def records_sql(csv_sql: str, fields: tuple[str, ...], *, offset: int = 0, limit: int | None = None) -> str:
    """One row per record, numbered in file order (after ``offset`` records), with the fields the reader uses;
    only the first ``limit`` records when given."""
    col = {f: f"c{i}" for i, f in enumerate(fields)}

    def pick(*names: str) -> str:
        present = [col[n] for n in names if n in col]
        return f"coalesce({', '.join(present)})" if len(present) > 1 else (present[0] if present else "NULL")

    source = f"(SELECT * FROM {csv_sql} LIMIT {limit})" if limit is not None else csv_sql
    return f"""SELECT row_number() OVER () + {offset} AS rn,
        coalesce({pick('interface-id')}, '') AS iface,
        {pick('pkt-srcaddr', 'srcaddr')} AS src, {pick('pkt-dstaddr', 'dstaddr')} AS dst,
        CAST({pick('protocol')} AS INTEGER) AS proto,
        CAST(coalesce({pick('srcport')}, -1) AS INTEGER) AS sport_raw,
        CAST(coalesce({pick('dstport')}, -1) AS INTEGER) AS dport_raw,
        {pick('action')} AS action, coalesce({pick('log-status')}, 'OK') AS status,
        CAST({pick('tcp-flags')} AS INTEGER) AS flags,
        {pick('packets')} AS packets, {pick('bytes')} AS bytes, {pick('start')} AS t0, {pick('end')} AS t1
        FROM {source}"""


def all_records_sql(csv_path: str, fields: tuple[str, ...], header_lines: int, typed: dict[str, tuple[str, str]],
                     names: TempNames, split_at: int | None) -> str:
    """The records of the file, in one part or, from ``split_at`` on, two.

    Numbering rows (``row_number() OVER ()``) keeps a scan on one thread; two parts, each numbered on its own
    thread, halve the wall time. The head stops after ``split_at`` records and is strict: a malformed line in
    it fails the statement (a line it set aside would shift where the tail starts, which skips lines, not
    records), and the caller reads the file in one part instead. Blank lines shift it the same way; the caller
    checks for them afterwards.
    """
    if not split_at:
        return records_sql(csv_sql(csv_path, fields, header_lines, typed, names), fields)
    head = records_sql(csv_sql(csv_path, fields, header_lines, typed, None, strict=True), fields, limit=split_at)
    tail = records_sql(csv_sql(csv_path, fields, header_lines, typed, names, skip=split_at), fields,
                        offset=split_at)
    return f"({head}) UNION ALL ({tail})"


# One row per record: the pair key (lo/hi by a scalar comparison — a row comparison per record costs several
# times more), the direction, and the numbers each aggregation needs.
_RECORDS = """
WITH r AS ({records}),
p AS (
  SELECT *, {valid} AS valid,
         CASE WHEN proto IN (6, 17, 132) THEN sport_raw ELSE -1 END AS sp,
         CASE WHEN proto IN (6, 17, 132) THEN dport_raw ELSE -1 END AS dp,
         CASE WHEN proto = 6 AND flags & 18 = 2 THEN 1 WHEN proto = 6 AND flags & 18 = 18 THEN -1 ELSE 0 END AS ev
  FROM r
), d AS (
  SELECT *, src < dst OR (src = dst AND sp <= dp) AS a FROM p
)
SELECT CASE WHEN a THEN src ELSE dst END AS lo_ip, CASE WHEN a THEN sp ELSE dp END AS lo_port,
       CASE WHEN a THEN dst ELSE src END AS hi_ip, CASE WHEN a THEN dp ELSE sp END AS hi_port,
       proto, status, valid, hash(iface) AS iface, a, ev, action, packets, bytes, t0, t1, rn
FROM d
"""

# The exact two-level aggregation (per view, then per pair): the reference, and the fallback of the fast one.
_PAIRS_EXACT = """
CREATE TEMP TABLE {pairs} AS
WITH views AS (
  SELECT lo_ip, lo_port, hi_ip, hi_port, proto, status, valid, iface, a,
         count(*) FILTER (WHERE ev = 1) - count(*) FILTER (WHERE ev = -1) AS e, bool_or(action = 'REJECT') AS rej,
         bool_or(action = 'ACCEPT') AS acc, count(*) AS n, CAST(sum(packets) AS BIGINT) AS packets,
         CAST(sum(bytes) AS BIGINT) AS bytes, min(t0) AS t0, max(t1) AS t1, min(rn) AS rn
  FROM ({records}) GROUP BY ALL
)
-- narrow types: this table holds one row per 5-tuple and must stay within the memory limit
SELECT lo_ip, lo_port, hi_ip, hi_port, proto, status, valid, CAST(sum(CASE WHEN a THEN e ELSE -e END) AS BIGINT) AS e,
       bool_or(rej) AS rej, bool_or(acc AND a) AS acc_a, bool_or(acc AND NOT a) AS acc_b,
       CAST(sum(n) AS BIGINT) AS n, min(t0) AS t0, max(t1) AS t1, min(rn) AS rn,
       CAST(sum(CASE WHEN a THEN n ELSE 0 END) AS BIGINT) AS n_a,
       CAST(sum(CASE WHEN a THEN 0 ELSE n END) AS BIGINT) AS n_b,
       -- per direction, the view of one interface: the smallest hash of the interface id (an integer
       -- hash is cheaper to compare than the id; fixed-size arg_min states keep this aggregate in memory
       -- where a min() over structs spilled)
       arg_min(n, iface) FILTER (WHERE a) AS rn_a, arg_min(n, iface) FILTER (WHERE NOT a) AS rn_b,
       arg_min(packets, iface) FILTER (WHERE a) AS pk_a, arg_min(packets, iface) FILTER (WHERE NOT a) AS pk_b,
       arg_min(bytes, iface) FILTER (WHERE a) AS by_a, arg_min(bytes, iface) FILTER (WHERE NOT a) AS by_b{hmin}
FROM views GROUP BY lo_ip, lo_port, hi_ip, hi_port, proto, status, valid
"""
# Reading several files together (``vpc_files``) merges their pairs: each direction's view must then say
# which interface it is, the smallest hash of all files being the view of the whole.
_HMIN_EXACT = ", min(iface) FILTER (WHERE a) AS hmin_a, min(iface) FILTER (WHERE NOT a) AS hmin_b"
_HMIN_FAST = ", hmin_a, hmin_b"

# Per direction (a: records written lo → hi, b: hi → lo), the sums that recover the view of the interface with
# the smallest hash without grouping by interface (see _FAST_VIEW). Products stay within UBIGINT (cheap);
# an overflow (a record with 2^40 packets or bytes) fails the statement, and the exact one runs instead.
_FAST_DIRECTION = """
       min(CASE WHEN {w} THEN iface END) AS hmin_{d}, max(CASE WHEN {w} THEN iface END) AS hmax_{d},
       sum(CASE WHEN {w} THEN packets END) AS pk_{d}, sum(CASE WHEN {w} THEN bytes END) AS by_{d},
       sum(CASE WHEN {w} THEN g END) AS sg_{d}, sum(CASE WHEN {w} THEN g * g END) AS sgg_{d},
       sum(CASE WHEN {w} THEN f END) AS sf_{d}, sum(CASE WHEN {w} THEN f * packets END) AS sfp_{d},
       sum(CASE WHEN {w} THEN f * bytes END) AS sfb_{d}"""

# The view of the smallest hash m among the interfaces of one direction, from sums over its records. With one
# interface (m = M, the largest hash) it is the whole direction. With exactly two, m and M, and f = the low 24
# bits of the hash: Σf = f(m)·n(m) + f(M)·n(M), so n(m) = (f(M)·n − Σf) / (f(M) − f(m)), and the same for
# packets and bytes (their quotients are verified by multiplying back: no slow 128-bit division). "Exactly
# two" is checked, not assumed, with g = the top 32 bits (monotone in the hash): Σg and Σg² must be what n(m)
# records at g(m) and the others at g(M) give. That is Σ(g − g(m))·(g(M) − g) = 0, which holds exactly when
# every g is g(m) or g(M), as each term is ≥ 0; and a third interface sharing g(m) would shift the count seen
# through g but not through f (or the other way round). Anything else — equal g or f for m and M, a missing
# packets/bytes value (the exact aggregate would skip that view), 2^24 records — leaves the pair inexact.
_FAST_BOUNDS = """
         CAST(hmin_{d} >> 32 AS BIGINT) AS glo_{d}, CAST(hmax_{d} >> 32 AS BIGINT) AS ghi_{d},
         CAST(hmin_{d} & 16777215 AS BIGINT) AS flo_{d}, CAST(hmax_{d} & 16777215 AS BIGINT) AS fhi_{d},
         n_{d} < 16777216 AND hmin_{d} <> hmax_{d} AS two_{d}"""

_FAST_SPLIT = """
         CASE WHEN two_{d} THEN (fhi_{d} * n_{d} - CAST(sf_{d} AS BIGINT)) // nullif(fhi_{d} - flo_{d}, 0) END AS nm_{d},
         CASE WHEN two_{d} THEN CAST(round(CAST(fhi_{d} * pk_{d} - sfp_{d} AS DOUBLE)
                                     / nullif(fhi_{d} - flo_{d}, 0)) AS BIGINT) END AS pm_{d},
         CASE WHEN two_{d} THEN CAST(round(CAST(fhi_{d} * by_{d} - sfb_{d} AS DOUBLE)
                                     / nullif(fhi_{d} - flo_{d}, 0)) AS BIGINT) END AS bm_{d}"""

_FAST_VIEW = """
       CASE WHEN n_{d} = 0 THEN NULL WHEN hmin_{d} = hmax_{d} THEN n_{d} ELSE nm_{d} END AS rn_{d},
       CAST(CASE WHEN n_{d} = 0 OR hmin_{d} = hmax_{d} THEN pk_{d} ELSE pm_{d} END AS BIGINT) AS pk_{d},
       CAST(CASE WHEN n_{d} = 0 OR hmin_{d} = hmax_{d} THEN by_{d} ELSE bm_{d} END AS BIGINT) AS by_{d},
       coalesce(n_{d} = 0 OR hmin_{d} = hmax_{d} OR (
         two_{d} AND glo_{d} < ghi_{d} AND nn AND nm_{d} > 0 AND nm_{d} < n_{d}
         -- the exact aggregate casts every view's sums to BIGINT: the direction's totals bound them
         AND CAST(pk_{d} AS BIGINT) IS NOT NULL AND CAST(by_{d} AS BIGINT) IS NOT NULL
         AND nm_{d} * (fhi_{d} - flo_{d}) = fhi_{d} * n_{d} - CAST(sf_{d} AS BIGINT)
         AND glo_{d} * nm_{d} + ghi_{d} * (n_{d} - nm_{d}) = CAST(sg_{d} AS BIGINT)
         AND CAST(glo_{d} AS HUGEINT) * glo_{d} * nm_{d} + CAST(ghi_{d} AS HUGEINT) * ghi_{d} * (n_{d} - nm_{d}) = sgg_{d}
         AND CAST(pm_{d} AS HUGEINT) * (fhi_{d} - flo_{d}) = fhi_{d} * pk_{d} - sfp_{d}
         AND CAST(bm_{d} AS HUGEINT) * (fhi_{d} - flo_{d}) = fhi_{d} * by_{d} - sfb_{d}), FALSE)
       AS exact_{d}"""

# The 5-tuple, status and validity packed into one integer key (ports + 1 in 17 bits each, the protocol in 9
# with 511 for none, the status in 2, validity in 1), and the flags of a record in bits: a narrow group key and
# few aggregate states keep the 5-tuple table of a 10M-record file small.
_KEY = ("(CAST(lo_port + 1 AS BIGINT) << 30) | (CAST(hi_port + 1 AS BIGINT) << 13) | (coalesce(proto, 511) << 4)"
        " | (CASE status WHEN 'OK' THEN 0 WHEN 'NODATA' THEN 1 WHEN 'SKIPDATA' THEN 2 ELSE 3 END << 1)"
        " | CAST(valid AS INTEGER)")
_FLAGS = ("CAST(coalesce(action = 'REJECT', FALSE) AS INTEGER) | (CAST(coalesce(action = 'ACCEPT' AND a, FALSE)"
          " AS INTEGER) << 1) | (CAST(coalesce(action = 'ACCEPT' AND NOT a, FALSE) AS INTEGER) << 2)"
          " | (CAST(packets IS NULL OR bytes IS NULL AS INTEGER) << 3)")

_PAIRS_FAST = """
CREATE TEMP TABLE {pairs} AS
WITH agg AS (
  SELECT lo_ip, hi_ip, k, bit_or(fl) AS fl,
         -- the TCP-flag evidence (each record's −1, 0 or 1 plus 1) in the high half, records written lo → hi
         -- in the low one
         sum((CAST(CASE WHEN a THEN ev ELSE -ev END + 1 AS BIGINT) << 32) | CAST(coalesce(a, FALSE) AS BIGINT)) AS ev_a,
         count(*) AS n, min(t0) AS t0, max(t1) AS t1, min(rn) AS rn,{dir_a},{dir_b}
  FROM (SELECT *, iface >> 32 AS g, iface & 16777215 AS f, {key} AS k, {flags} AS fl FROM ({records}))
  GROUP BY lo_ip, hi_ip, k
), bounds AS (
  SELECT *,{bounds_a},{bounds_b} FROM (
    SELECT *, CAST(ev_a & 4294967295 AS BIGINT) AS n_a, n - CAST(ev_a & 4294967295 AS BIGINT) AS n_b,
           fl & 8 = 0 AS nn FROM agg)
), split AS (
  SELECT *,{split_a},{split_b} FROM bounds
)
SELECT lo_ip, CAST((k >> 30) - 1 AS INTEGER) AS lo_port, hi_ip, CAST(((k >> 13) & 131071) - 1 AS INTEGER) AS hi_port,
       CAST(nullif((k >> 4) & 511, 511) AS INTEGER) AS proto,
       CASE (k >> 1) & 3 WHEN 0 THEN 'OK' WHEN 1 THEN 'NODATA' WHEN 2 THEN 'SKIPDATA' END AS status,
       k & 1 = 1 AS valid, CAST((ev_a >> 32) - n AS BIGINT) AS e,
       fl & 1 <> 0 AS rej, fl & 2 <> 0 AS acc_a, fl & 4 <> 0 AS acc_b, n, t0, t1, rn, n_a, n_b,
       {view_a},{view_b}{hmin}
FROM split
"""


def _fast_sql(pairs: str, records: str, hmin: bool) -> str:
    return _PAIRS_FAST.format(
        pairs=pairs, records=records, key=_KEY, flags=_FLAGS, hmin=_HMIN_FAST if hmin else "",
        **{f"{part}_{d}": template.format(d=d, w="a" if d == "a" else "NOT a")
           for d in "ab" for part, template in (("dir", _FAST_DIRECTION), ("bounds", _FAST_BOUNDS),
                                                ("split", _FAST_SPLIT), ("view", _FAST_VIEW))})


# Only these pairs become connections (their views matter); the others only count records.
USED = "status = 'OK' AND valid"



def load_pairs(con: duckdb.DuckDBPyConnection, names: TempNames, csv_path: str, fields: tuple[str, ...],
               header_lines: int, typed: dict[str, tuple[str, str]], *, fast: bool = True,
               split_at: int | None = None, hmin: bool = False) -> str:
    """Step 1: the streaming pass over the file; returns how it ran: "fast", "fast-split" or "exact".

    The fast one-level aggregation falls back to the exact two-level one when any pair is not exactly
    recoverable (see ``_FAST_VIEW``) or the fast statement fails (an overflow, or bad input that the exact
    statement then reports in its own words). ``split_at`` reads the file in two parts (``all_records_sql``);
    when that fails, the file is read in one. ``hmin`` keeps each direction's smallest interface hash
    (``hmin_a``/``hmin_b``), which merging the pairs of several files needs.
    """
    attempts = (([split_at] if split_at else []) + [None]) if fast else []   # split_at: two parts; None: one
    for at in attempts:
        records = _RECORDS.format(records=all_records_sql(csv_path, fields, header_lines, typed, names, at),
                                  valid=ROW_VALID)
        try:
            con.execute(_fast_sql(names.pairs, records, hmin))
            inexact = con.execute(f"SELECT count(*) FROM {names.pairs} WHERE {USED} AND NOT (exact_a AND exact_b)"
                                  ).fetchone()[0]
        except duckdb.Error:
            inexact = None      # the next attempt (at last the exact one) reads the file again
        if inexact == 0:
            return "fast-split" if at else "fast"
        drop(con, names)
        if inexact:
            break               # not recoverable however the file is read
    records = _RECORDS.format(records=all_records_sql(csv_path, fields, header_lines, typed, names, None),
                              valid=ROW_VALID)
    con.execute(_PAIRS_EXACT.format(pairs=names.pairs, records=records, hmin=_HMIN_EXACT if hmin else ""))
    return "exact"


def drop(con: duckdb.DuckDBPyConnection, names: TempNames) -> None:
    for table in names.all():
        con.execute(f"DROP TABLE IF EXISTS {table}")


# Files with at least this many records (estimated from the size) are read in two parts, one per thread.
SPLIT_MIN_RECORDS = 400_000
_SPLIT_SHARE = 0.53     # the tail part also skips the head's lines, so the head takes a bit more than half
_BLANK = re.compile(rb"\n\r?\n")


def split_point(csv_path: str, header_lines: int) -> int | None:
    """Where to split a large plain file in two parts, in records (None: one part)."""
    if is_gzip(csv_path):
        return None
    head = read_head(csv_path)
    line_bytes = len(head) / max(head.count(b"\n"), 1)
    records = os.path.getsize(csv_path) / line_bytes - header_lines
    return int(records * _SPLIT_SHARE) if records >= SPLIT_MIN_RECORDS else None


def has_blank_line(csv_path: str) -> bool:
    """Whether a plain file has an empty line (DuckDB skips those without numbering them), in one pass over
    16 MiB chunks. A blank line in the head part shifts where the tail starts: such a file is read again in
    one part. Lines are not counted here: without a blank line every line but the header is numbered or
    rejected, so the count is only needed when this says yes."""
    tail = b"\n"      # a blank first line counts, as if after a newline
    with open(csv_path, "rb") as f:
        while chunk := f.read(16 * 1024 * 1024):
            if _BLANK.search(tail + chunk[:2]) or _BLANK.search(chunk):
                return True
            tail = chunk[-2:]
    return False
