"""The SQL half of the VPC reader: stream, validate, orient, de-duplicate.

Why this exists: VPC flow logs are large (tens of millions of records) and
every record must be looked at, so the reader is set-based DuckDB SQL; this
module keeps those statements together, apart from the file handling in
``recommender.io.vpc``.

Pipeline (two statements over the data, temp tables dropped at the end):

1. ``pairs``: one streaming ``read_csv`` aggregated per undirected 5-tuple
   ("pair"), keeping for each direction the record count, packets and bytes
   of one interface that saw it (the smallest hash of the interface id, a
   deterministic choice). Grouping per interface first would hold one group
   per record (a view: interface × direction × 5-tuple) and spill, so the
   view of that interface is recovered from a few sums per direction instead
   (``_FAST_VIEW``); a pair it cannot recover exactly (three or more
   interfaces on one direction, a missing packet count) sends the whole file
   through the exact two-level aggregation (``_PAIRS_EXACT``). Lines DuckDB cannot parse
   (field count, a port above 65535, a protocol number above 255) land in
   DuckDB's reject table with their line number; records with a bad action,
   log-status or a missing required field are kept apart (``valid``); each
   distinct address is validated once afterwards.
2. Orientation, per pair (so every view of one connection — on every
   interface, in both directions — gets the same answer):

   a. TCP flags: a view whose OR-ed flags hold SYN without ACK (``flags & 18 =
      2``: 2 SYN, 3 SYN+FIN, 6 SYN+RST…) was sent by the initiator; SYN with
      ACK (``flags & 18 = 18``: 18, 19 with FIN…) is the server's reply. AWS
      reports ACK only together with SYN, so 0, 1 (FIN), 4 (RST) carry no
      direction. The majority of such evidence over the pair wins.
   b. otherwise ports: a port below 1024 facing one at or above 1024 is the
      server; then a port below 32768 facing an ephemeral one (32768 and
      above, Linux' default range) is the server — so a reply never becomes a
      connection to an ephemeral port, even when a client reused its source
      port towards several servers; then, with both ports in the same range,
      the endpoint (address, port) that talks to more distinct peers (at
      least 2) is the server; then the lower port. Equal ports and port-less protocols (ICMP…) keep
      each record's own direction (both directions become connections).
3. De-duplication: in the initiator's direction, the records of one interface
   (chosen as above) are *accepted*; the same direction on other interfaces is
   skipped as ``duplicate ENI``; the reply direction is skipped as ``reply``
   (packets and bytes of both directions are kept). When only replies were
   logged, they stand in for the initiator's view, flipped. A connection is
   ``deny`` when any interface rejected it (the server's security group
   rejects while the client's ENI still logs ACCEPT) — unless an accepted
   reply shows that it did get through (it was allowed at least once).
4. Aggregation to normalized rows keyed by (client address, server address,
   protocol, server port, action); ``flows`` counts distinct 5-tuples.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass, field

import duckdb

from recommender.io.lines import is_gzip
from recommender.io.readers import ReadStats

_IPV4_OCTET = r"(25[0-5]|2[0-4][0-9]|1[0-9][0-9]|[1-9]?[0-9])"
IPV4_RE = rf"{_IPV4_OCTET}(\.{_IPV4_OCTET}){{3}}"
ROW_VALID = ("(status IN ('OK', 'NODATA', 'SKIPDATA') AND coalesce(action IN ('ACCEPT', 'REJECT'), TRUE) "
             "AND (status <> 'OK' OR (src IS NOT NULL AND dst IS NOT NULL AND proto IS NOT NULL "
             "AND action IS NOT NULL)))")
PROTOCOL_NAME_SQL = ("CASE proto WHEN 6 THEN 'TCP' WHEN 17 THEN 'UDP' WHEN 1 THEN 'ICMP' "
                     "WHEN 58 THEN 'ICMPv6' WHEN 132 THEN 'SCTP' ELSE CAST(proto AS VARCHAR) END")
_counter = itertools.count()


@dataclass
class TempNames:
    """Unique temp-table names for one read (several reads may share a connection)."""

    n: int = field(default_factory=lambda: next(_counter))

    def __getattr__(self, item: str) -> str:
        return f"_vpc_{item}_{self.__dict__['n']}"

    def all(self) -> list[str]:
        return [getattr(self, t) for t in ("pairs", "conns", "rejk", "ipmap", "rejects", "scans")]


def _csv_sql(csv_path: str, fields: tuple[str, ...], header_lines: int, typed: dict[str, tuple[str, str]],
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


def _records_sql(csv_sql: str, fields: tuple[str, ...], *, offset: int = 0, limit: int | None = None) -> str:
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


def _all_records_sql(csv_path: str, fields: tuple[str, ...], header_lines: int, typed: dict[str, tuple[str, str]],
                     names: TempNames, split_at: int | None) -> str:
    """The records of the file, in one part or, from ``split_at`` on, two.

    Numbering rows (``row_number() OVER ()``) keeps a scan on one thread; two parts, each numbered on its own
    thread, halve the wall time. The head stops after ``split_at`` records and is strict: a malformed line in
    it fails the statement (a line it set aside would shift where the tail starts, which skips lines, not
    records), and the caller reads the file in one part instead. Blank lines shift it the same way; the caller
    checks for them afterwards.
    """
    if not split_at:
        return _records_sql(_csv_sql(csv_path, fields, header_lines, typed, names), fields)
    head = _records_sql(_csv_sql(csv_path, fields, header_lines, typed, None, strict=True), fields, limit=split_at)
    tail = _records_sql(_csv_sql(csv_path, fields, header_lines, typed, names, skip=split_at), fields,
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
       arg_min(bytes, iface) FILTER (WHERE a) AS by_a, arg_min(bytes, iface) FILTER (WHERE NOT a) AS by_b
FROM views GROUP BY lo_ip, lo_port, hi_ip, hi_port, proto, status, valid
"""

# Per direction (a: records written lo → hi, b: hi → lo), the sums that recover the view of the interface with
# the smallest hash without grouping by interface (see _FAST_VIEW). Products stay within UBIGINT (cheap);
# an overflow (a record with 2^40 packets or bytes) fails the statement, and the exact one runs instead.
_FAST_DIRECTION = """
       min(iface) FILTER (WHERE {w}) AS hmin_{d}, max(iface) FILTER (WHERE {w}) AS hmax_{d},
       sum(packets) FILTER (WHERE {w}) AS pk_{d}, sum(bytes) FILTER (WHERE {w}) AS by_{d},
       sum(g) FILTER (WHERE {w}) AS sg_{d}, sum(g * g) FILTER (WHERE {w}) AS sgg_{d},
       sum(f) FILTER (WHERE {w}) AS sf_{d}, sum(f * packets) FILTER (WHERE {w}) AS sfp_{d},
       sum(f * bytes) FILTER (WHERE {w}) AS sfb_{d}"""

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

_PAIRS_FAST = """
CREATE TEMP TABLE {pairs} AS
WITH agg AS (
  SELECT lo_ip, lo_port, hi_ip, hi_port, proto, status, valid,
         CAST(sum(CASE WHEN a THEN ev ELSE -ev END) AS BIGINT) AS e,
         bool_or(action = 'REJECT') AS rej, bool_or(action = 'ACCEPT' AND a) AS acc_a,
         bool_or(action = 'ACCEPT' AND NOT a) AS acc_b,
         count(*) AS n, min(t0) AS t0, max(t1) AS t1, min(rn) AS rn, count(*) FILTER (WHERE a) AS n_a,
         bool_and(packets IS NOT NULL AND bytes IS NOT NULL) AS nn,{dir_a},{dir_b}
  FROM (SELECT *, iface >> 32 AS g, iface & 16777215 AS f FROM ({records})) GROUP BY ALL
), bounds AS (
  SELECT *,{bounds_a},{bounds_b} FROM (SELECT *, n - n_a AS n_b FROM agg)
), split AS (
  SELECT *,{split_a},{split_b} FROM bounds
)
SELECT lo_ip, lo_port, hi_ip, hi_port, proto, status, valid, e, rej, acc_a, acc_b, n, t0, t1, rn, n_a, n_b,
       {view_a},{view_b}
FROM split
"""


def _fast_sql(pairs: str, records: str) -> str:
    return _PAIRS_FAST.format(
        pairs=pairs, records=records,
        **{f"{part}_{d}": template.format(d=d, w="a" if d == "a" else "NOT a")
           for d in "ab" for part, template in (("dir", _FAST_DIRECTION), ("bounds", _FAST_BOUNDS),
                                                ("split", _FAST_SPLIT), ("view", _FAST_VIEW))})


# Only these pairs become connections (their views matter); the others only count records.
_USED = "status = 'OK' AND valid"



def load_pairs(con: duckdb.DuckDBPyConnection, names: TempNames, csv_path: str, fields: tuple[str, ...],
               header_lines: int, typed: dict[str, tuple[str, str]], *, fast: bool = True,
               split_at: int | None = None) -> str:
    """Step 1: the streaming pass over the file; returns how it ran: "fast", "fast-split" or "exact".

    The fast one-level aggregation falls back to the exact two-level one when any pair is not exactly
    recoverable (see ``_FAST_VIEW``) or the fast statement fails (an overflow, or bad input that the exact
    statement then reports in its own words). ``split_at`` reads the file in two parts (``_all_records_sql``);
    when that fails, the file is read in one.
    """
    attempts = [("fast", split_at)] if fast and split_at else []
    attempts += [("fast", None)] if fast else []
    attempts.append(("exact", None))
    while attempts:
        kind, at = attempts.pop(0)
        records = _RECORDS.format(records=_all_records_sql(csv_path, fields, header_lines, typed, names, at),
                                  valid=ROW_VALID)
        try:
            if kind == "exact":
                con.execute(_PAIRS_EXACT.format(pairs=names.pairs, records=records))
                return kind
            con.execute(_fast_sql(names.pairs, records))
            if not con.execute(f"SELECT count(*) FROM {names.pairs} WHERE {_USED} AND NOT (exact_a AND exact_b)"
                               ).fetchone()[0]:
                return "fast-split" if at else "fast"
            attempts = [a for a in attempts if a[0] == "exact"]  # not recoverable however the file is read
        except duckdb.Error:
            if not attempts:
                raise
        drop(con, names)
    raise AssertionError("unreachable: the exact attempt returns or raises")


def non_ipv4_sql(names: TempNames) -> str:
    return (f"SELECT ip FROM (SELECT DISTINCT ip FROM (SELECT lo_ip AS ip FROM {names.pairs} UNION ALL "
            f"SELECT hi_ip FROM {names.pairs}) WHERE ip IS NOT NULL) WHERE NOT regexp_full_match(ip, '{IPV4_RE}')"
            f" ORDER BY ip")


def rewrite_ips(con: duckdb.DuckDBPyConnection, names: TempNames, rewrites: list[tuple[str, str]]) -> None:
    """Canonical IPv6 spelling, so that enrichment joins on the same text as the inventory."""
    con.execute(f"CREATE TEMP TABLE {names.ipmap} (raw VARCHAR, norm VARCHAR)")
    con.executemany(f"INSERT INTO {names.ipmap} VALUES (?, ?)", rewrites)
    for side in ("lo_ip", "hi_ip"):
        con.execute(f"UPDATE {names.pairs} SET {side} = m.norm FROM {names.ipmap} m WHERE {side} = m.raw")


def _ip_list(ips: list[str]) -> str:
    return "[" + ", ".join("'" + ip.replace("'", "''") + "'" for ip in ips) + "]::VARCHAR[]"


@dataclass
class BadInput:
    """Malformed records found by the fast path: DuckDB parse rejects and invalid records."""

    reject_lines: dict[int, str]        # file line -> DuckDB's message (repeated headers included)
    invalid: int                        # records that parsed but are invalid
    bad_ips: list[str]
    header_lines: int
    names: TempNames
    headers: frozenset[int] = frozenset()   # lines repeating the header (files concatenated with `cat`)
    blank: frozenset[int] = frozenset()     # empty lines: DuckDB skips them, so they are not numbered either

    @property
    def count(self) -> int:
        return len(self.reject_lines) - len(self.headers) + self.invalid

    @property
    def bad_lines(self) -> list[int]:
        return sorted(set(self.reject_lines) - self.headers)

    def _skips(self) -> list[int]:
        # Record rn comes after unnumbered line j (a reject or a blank line) when rn > L_j - header - j
        # (j 1-based over the sorted unnumbered lines).
        unnumbered = sorted({*self.reject_lines, *self.blank})
        return [line - self.header_lines - j for j, line in enumerate(unnumbered, start=1)]

    def line_of(self, rn: int) -> int:
        return rn + self.header_lines + sum(1 for k in self._skips() if k < rn)

    def line_sql(self) -> str:
        """SQL turning column ``rn`` into a file line once parse rejects were set aside."""
        if not self.reject_lines and not self.blank:
            return f"rn + {self.header_lines}"
        return f"rn + {self.header_lines} + (SELECT count(*) FROM {self.names.rejk} k WHERE k.k < rn)"

    def invalid_lines(self, con: duckdb.DuckDBPyConnection, csv_path: str, fields: tuple[str, ...],
                      typed: dict[str, tuple[str, str]], first_only: bool) -> list[int]:
        """Lines of the records that parsed but are invalid (a second scan, on the error path only)."""
        if not self.invalid:
            return []
        records = _records_sql(_csv_sql(csv_path, fields, self.header_lines, typed, None), fields)  # one part
        ips = _ip_list(self.bad_ips)
        # Every typed column must be read (hash) so that DuckDB rejects exactly the lines of the first
        # pass: with projection pushdown, a cast error in an unread column does not drop the line.
        query = (f"SELECT {'min(rn)' if first_only else 'rn'} FROM ({records})"
                 f" WHERE hash(sport_raw, dport_raw, proto, flags, packets, bytes, t0, t1) IS NOT NULL"
                 f" AND (NOT {ROW_VALID} OR list_contains({ips}, src) OR list_contains({ips}, dst))")
        return [self.line_of(rn) for (rn,) in con.execute(query).fetchall() if rn is not None]


def find_bad(con: duckdb.DuckDBPyConnection, names: TempNames, bad_ips: list[str], header_lines: int,
             header: str | None, blank: frozenset[int]) -> BadInput:
    """Step 1b: collect parse rejects and invalid records; mark pairs with invalid addresses."""
    found = con.execute(f"SELECT line, first(error_message ORDER BY column_idx), first(trim(csv_line, ' \r\n'))"
                        f" FROM {names.rejects} GROUP BY line").fetchall()
    rejects = {line: message for line, message, _ in found}
    headers = frozenset(line for line, _, text in found if header is not None and text == header)
    if bad_ips:
        ips = _ip_list(bad_ips)
        con.execute(f"UPDATE {names.pairs} SET valid = FALSE WHERE list_contains({ips}, lo_ip)"
                    f" OR list_contains({ips}, hi_ip)")
    invalid = con.execute(f"SELECT coalesce(sum(n), 0) FROM {names.pairs} WHERE NOT valid").fetchone()[0]
    bad = BadInput(rejects, int(invalid), bad_ips, header_lines, names, headers, blank)
    if rejects or blank:
        con.execute(f"CREATE TEMP TABLE {names.rejk} (k BIGINT)")
        con.executemany(f"INSERT INTO {names.rejk} VALUES (?)", [(k,) for k in bad._skips()])
    return bad


def parsed_lines(con: duckdb.DuckDBPyConnection, names: TempNames) -> int:
    """Lines DuckDB numbered or rejected (every line but the header and blank ones)."""
    return int(con.execute(f"SELECT (SELECT coalesce(sum(n), 0) FROM {names.pairs})"
                           f" + (SELECT count(DISTINCT line) FROM {names.rejects})").fetchone()[0])


def insert_rejected(con: duckdb.DuckDBPyConnection, rows: list[tuple[str, int, str, str, str]]) -> None:
    if rows:
        con.executemany("INSERT INTO rejected (file, line, format, reason, text) VALUES (?, ?, ?, ?, ?)", rows)


_CONNECTIONS = """
CREATE TEMP TABLE {conns} AS
WITH ok AS (
  SELECT * FROM {pairs} WHERE {used}
),
undecided AS (  -- pairs only the peer count can orient: no flags, both ports in the same range
  SELECT * FROM ok WHERE e = 0 AND lo_port >= 1024 AND hi_port >= 1024 AND lo_port <> hi_port
                     AND (lo_port < 32768) = (hi_port < 32768)
), peers AS (
  SELECT ip, port, proto, count(DISTINCT (pip, pport)) AS peers FROM (
    SELECT lo_ip AS ip, lo_port AS port, proto, hi_ip AS pip, hi_port AS pport FROM ok
    UNION ALL SELECT hi_ip, hi_port, proto, lo_ip, lo_port FROM ok) x
  SEMI JOIN (SELECT lo_ip AS ip, lo_port AS port, proto FROM undecided
             UNION SELECT hi_ip, hi_port, proto FROM undecided) w USING (ip, port, proto)
  GROUP BY ip, port, proto
), decided AS (
  SELECT o.*, CASE
      WHEN e > 0 THEN TRUE WHEN e < 0 THEN FALSE
      WHEN o.lo_port < 0 OR o.hi_port < 0 OR o.lo_port = o.hi_port THEN NULL
      WHEN o.lo_port < 1024 AND o.hi_port >= 1024 THEN FALSE
      WHEN o.hi_port < 1024 AND o.lo_port >= 1024 THEN TRUE
      WHEN (o.lo_port < 32768) <> (o.hi_port < 32768) THEN o.hi_port < 32768
      WHEN pl.peers > ph.peers AND pl.peers >= 2 THEN FALSE
      WHEN ph.peers > pl.peers AND ph.peers >= 2 THEN TRUE
      ELSE o.lo_port > o.hi_port END AS lo_client
  FROM ok o
  LEFT JOIN peers pl ON pl.ip = o.lo_ip AND pl.port = o.lo_port AND pl.proto = o.proto
  LEFT JOIN peers ph ON ph.ip = o.hi_ip AND ph.port = o.hi_port AND ph.proto = o.proto
), oriented AS (
  -- prim: the direction whose records are the initiator's view (the reply direction when only it was seen)
  SELECT *, CASE WHEN lo_client THEN n_a > 0 OR n_b = 0 ELSE n_b = 0 END AS prim_a FROM decided
  WHERE lo_client IS NOT NULL
), conns AS (
  SELECT CASE WHEN lo_client THEN lo_ip ELSE hi_ip END AS cip, CASE WHEN lo_client THEN hi_ip ELSE lo_ip END AS sip,
         CASE WHEN lo_client THEN hi_port ELSE lo_port END AS sport, proto,
         rej AND NOT (CASE WHEN prim_a THEN acc_b ELSE acc_a END) AS rej, t0, t1, rn,
         CASE WHEN prim_a THEN rn_a ELSE rn_b END AS accepted,
         CASE WHEN prim_a THEN n_b ELSE n_a END AS replies,
         CASE WHEN prim_a THEN n_a - rn_a ELSE n_b - rn_b END AS dups,
         coalesce(pk_a + pk_b, pk_a, pk_b) AS packets, coalesce(by_a + by_b, by_a, by_b) AS bytes
  FROM oriented
  UNION ALL
  SELECT lo_ip, hi_ip, hi_port, proto, rej, t0, t1, rn, rn_a, 0, n_a - rn_a, pk_a, by_a
  FROM decided WHERE lo_client IS NULL AND n_a > 0
  UNION ALL
  SELECT hi_ip, lo_ip, lo_port, proto, rej, t0, t1, rn, rn_b, 0, n_b - rn_b, pk_b, by_b
  FROM decided WHERE lo_client IS NULL AND n_b > 0
)
SELECT * FROM conns
"""

_INSERT = """
INSERT INTO {target} (window_start, window_end, src_ip, src_kind, dst_ip, dst_kind, protocol, dst_port, action,
                      flows, packets, bytes, first_seen, last_seen, format, file, line, records)
SELECT make_timestamp(CAST(min(t0) AS BIGINT) * 1000000), make_timestamp(CAST(max(t1) AS BIGINT) * 1000000),
       cip, 'network', sip, 'network', {proto_name}, CASE WHEN sport < 0 THEN NULL ELSE sport END,
       CASE WHEN rej THEN 'deny' ELSE 'allow' END,
       count(*), sum(packets), sum(bytes),
       make_timestamp(CAST(min(t0) AS BIGINT) * 1000000), make_timestamp(CAST(max(t1) AS BIGINT) * 1000000),
       'vpc', ?, min({line_sql}), sum(accepted)
FROM {conns} GROUP BY cip, sip, proto, sport, rej
ORDER BY cip, sip, proto, sport, rej
"""

_COUNTS = "SELECT coalesce(sum(accepted), 0), coalesce(sum(replies), 0), coalesce(sum(dups), 0) FROM {conns}"


def orient_and_insert(con: duckdb.DuckDBPyConnection, names: TempNames, *, target: str, file: str,
                      stats: ReadStats, line_sql: str) -> None:
    """Steps 2–4: orientation, de-duplication, aggregation into ``target``; fills ``stats``."""
    for status, count in con.execute(
            f"SELECT status, sum(n) FROM {names.pairs} WHERE valid GROUP BY status ORDER BY status").fetchall():
        stats.records += int(count)
        if status != "OK":
            stats.skip(status, int(count))
    con.execute(_CONNECTIONS.format(pairs=names.pairs, conns=names.conns, used=_USED))
    before = con.execute(f"SELECT count(*) FROM {target}").fetchone()[0]
    con.execute(_INSERT.format(target=target, conns=names.conns, proto_name=PROTOCOL_NAME_SQL,
                               line_sql=line_sql), [file])
    stats.connections += con.execute(f"SELECT count(*) FROM {target}").fetchone()[0] - before
    accepted, replies, dups = con.execute(_COUNTS.format(conns=names.conns)).fetchone()
    stats.accepted += int(accepted)
    stats.skip("reply", int(replies))
    stats.skip("duplicate ENI", int(dups))


def drop(con: duckdb.DuckDBPyConnection, names: TempNames) -> None:
    for table in names.all():
        con.execute(f"DROP TABLE IF EXISTS {table}")
