"""The SQL half of the VPC reader: stream, validate, orient, de-duplicate.

Why this exists: VPC flow logs are large (tens of millions of records) and
every record must be looked at, so the reader is set-based DuckDB SQL; this
module keeps those statements together, apart from the file handling in
``recommender.io.vpc``.

Pipeline (two statements over the data, temp tables dropped at the end):

1. ``pairs`` (``recommender.io.vpc_pairs``): one streaming ``read_csv``
   aggregated per undirected 5-tuple ("pair"), keeping for each direction
   the record count, packets and bytes of one interface that saw it (the
   smallest hash of the interface id, a deterministic choice). Lines DuckDB
   cannot parse (field count, a port above 65535, a protocol number above
   255) land in DuckDB's reject table with their line number; records with a
   bad action, log-status or a missing required field are kept apart
   (``valid``); each distinct address is validated once afterwards.
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
      the endpoint (address, port, protocol) an inventory pod declares as a
      container port; then the endpoint that talks to more distinct peers (at
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

from dataclasses import dataclass

import duckdb

from recommender.io.readers import ReadStats
from recommender.io.schema import table_exists
from recommender.io.vpc_pairs import ROW_VALID, USED, TempNames, csv_sql, records_sql

_IPV4_OCTET = r"(25[0-5]|2[0-4][0-9]|1[0-9][0-9]|[1-9]?[0-9])"
IPV4_RE = rf"{_IPV4_OCTET}(\.{_IPV4_OCTET}){{3}}"
PROTOCOL_NAME_SQL = ("CASE proto WHEN 6 THEN 'TCP' WHEN 17 THEN 'UDP' WHEN 1 THEN 'ICMP' "
                     "WHEN 58 THEN 'ICMPv6' WHEN 132 THEN 'SCTP' ELSE CAST(proto AS VARCHAR) END")


def non_ipv4_sql(names: TempNames) -> str:
    # each column grouped on its own, then united: a third of the CPU of one DISTINCT over both (10M records)
    return (f"SELECT ip FROM (SELECT lo_ip AS ip FROM {names.pairs} GROUP BY lo_ip UNION "
            f"SELECT hi_ip FROM {names.pairs} GROUP BY hi_ip) WHERE ip IS NOT NULL"
            f" AND NOT regexp_full_match(ip, '{IPV4_RE}') ORDER BY ip")


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

    def line_sql(self, rn: str = "rn") -> str:
        """SQL turning the record number ``rn`` into a file line once parse rejects were set aside."""
        if not self.reject_lines and not self.blank:
            return f"{rn} + {self.header_lines}"
        return f"{rn} + {self.header_lines} + (SELECT count(*) FROM {self.names.rejk} k WHERE k.k < {rn})"

    def invalid_lines(self, con: duckdb.DuckDBPyConnection, csv_path: str, fields: tuple[str, ...],
                      typed: dict[str, tuple[str, str]], first_only: bool) -> list[int]:
        """Lines of the records that parsed but are invalid (a second scan, on the error path only)."""
        if not self.invalid:
            return []
        records = records_sql(csv_sql(csv_path, fields, self.header_lines, typed, None), fields)  # one part
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


# Orientation and de-duplication per pair, aggregated at once into one row per output connection (plus the
# reply and duplicate counts), so that the 5-tuple level is never stored a second time. `decided` is read once:
# pairs that keep each record's direction (no flag evidence, and equal ports or no ports) are taken from `ok`.
ORIENT_SQL = """
WITH ok AS NOT MATERIALIZED (
  SELECT * FROM {pairs} WHERE {used}
),
undecided AS (  -- pairs neither flags nor port classes orient: both ports in the same range
  SELECT * FROM ok WHERE e = 0 AND lo_port >= 1024 AND hi_port >= 1024 AND lo_port <> hi_port
                     AND (lo_port < 32768) = (hi_port < 32768)
), ends AS MATERIALIZED (  -- the undecided pairs' ends, which the peer count and the inventory look at
  SELECT lo_ip AS ip, lo_port AS port, proto FROM undecided UNION SELECT hi_ip, hi_port, proto FROM undecided
), peers AS (
  SELECT ip, port, proto, count(DISTINCT (pip, pport)) AS peers FROM (
    SELECT lo_ip AS ip, lo_port AS port, proto, hi_ip AS pip, hi_port AS pport FROM ok
    UNION ALL SELECT hi_ip, hi_port, proto, lo_ip, lo_port FROM ok) x
  SEMI JOIN ends USING (ip, port, proto)
  GROUP BY ip, port, proto
), listen AS MATERIALIZED (  -- the ends an inventory pod declares as a container port
  SELECT * FROM {listen} l SEMI JOIN ends USING (ip, port, proto)
), own AS NOT MATERIALIZED (  -- no direction to decide: every record keeps its own
  SELECT * FROM ok WHERE e = 0 AND (lo_port < 0 OR hi_port < 0 OR lo_port = hi_port)
), decided AS (
  SELECT o.*, CASE
      WHEN e > 0 THEN TRUE WHEN e < 0 THEN FALSE
      WHEN o.lo_port < 1024 AND o.hi_port >= 1024 THEN FALSE
      WHEN o.hi_port < 1024 AND o.lo_port >= 1024 THEN TRUE
      WHEN (o.lo_port < 32768) <> (o.hi_port < 32768) THEN o.hi_port < 32768
      WHEN ll.ip IS NOT NULL AND lh.ip IS NULL THEN FALSE       -- an inventory pod declares it listens there
      WHEN lh.ip IS NOT NULL AND ll.ip IS NULL THEN TRUE
      WHEN pl.peers > ph.peers AND pl.peers >= 2 THEN FALSE
      WHEN ph.peers > pl.peers AND ph.peers >= 2 THEN TRUE
      ELSE o.lo_port > o.hi_port END AS lo_client
  FROM ok o
  LEFT JOIN peers pl ON pl.ip = o.lo_ip AND pl.port = o.lo_port AND pl.proto = o.proto
  LEFT JOIN peers ph ON ph.ip = o.hi_ip AND ph.port = o.hi_port AND ph.proto = o.proto
  LEFT JOIN listen ll ON ll.ip = o.lo_ip AND ll.port = o.lo_port AND ll.proto = o.proto
  LEFT JOIN listen lh ON lh.ip = o.hi_ip AND lh.port = o.hi_port AND lh.proto = o.proto
  WHERE NOT (e = 0 AND (o.lo_port < 0 OR o.hi_port < 0 OR o.lo_port = o.hi_port))
), oriented AS (
  -- prim: the direction whose records are the initiator's view (the reply direction when only it was seen)
  SELECT *, CASE WHEN lo_client THEN n_a > 0 OR n_b = 0 ELSE n_b = 0 END AS prim_a FROM decided
)"""
# From the `oriented` and `own` pairs to connection rows; ``vpc_files`` feeds it the decisions it keeps.
CONNS_SQL = """, conns AS (
  SELECT CASE WHEN lo_client THEN lo_ip ELSE hi_ip END AS cip, CASE WHEN lo_client THEN hi_ip ELSE lo_ip END AS sip,
         CASE WHEN lo_client THEN hi_port ELSE lo_port END AS sport, proto,
         rej AND NOT (CASE WHEN prim_a THEN acc_b ELSE acc_a END) AS rej, t0, t1, rn,
         CASE WHEN prim_a THEN rn_a ELSE rn_b END AS accepted,
         CASE WHEN prim_a THEN n_b ELSE n_a END AS replies,
         CASE WHEN prim_a THEN n_a - rn_a ELSE n_b - rn_b END AS dups,
         coalesce(pk_a + pk_b, pk_a, pk_b) AS packets, coalesce(by_a + by_b, by_a, by_b) AS bytes
  FROM oriented
  UNION ALL
  SELECT lo_ip, hi_ip, hi_port, proto, rej, t0, t1, rn, rn_a, 0, n_a - rn_a, pk_a, by_a FROM own WHERE n_a > 0
  UNION ALL
  SELECT hi_ip, lo_ip, lo_port, proto, rej, t0, t1, rn, rn_b, 0, n_b - rn_b, pk_b, by_b FROM own WHERE n_b > 0
)
SELECT cip, sip, proto, sport, rej, min(t0) AS t0, max(t1) AS t1, count(*) AS flows, sum(packets) AS packets,
       sum(bytes) AS bytes, min(rn) AS rn, sum(accepted) AS accepted, sum(replies) AS replies, sum(dups) AS dups
FROM conns GROUP BY cip, sip, proto, sport, rej
"""
_CONNECTIONS = "CREATE TEMP TABLE {conns} AS" + ORIENT_SQL + CONNS_SQL

# A record's file line grows with its number (``line_sql``), so the first line of a row is that of its min(rn).
_INSERT = """
INSERT INTO {target} (window_start, window_end, src_ip, src_kind, dst_ip, dst_kind, protocol, dst_port, action,
                      flows, packets, bytes, first_seen, last_seen, format, file, line, records)
SELECT make_timestamp(CAST(t0 AS BIGINT) * 1000000), make_timestamp(CAST(t1 AS BIGINT) * 1000000),
       cip, 'network', sip, 'network', {proto_name}, CASE WHEN sport < 0 THEN NULL ELSE sport END,
       CASE WHEN rej THEN 'deny' ELSE 'allow' END, flows, packets, bytes,
       make_timestamp(CAST(t0 AS BIGINT) * 1000000), make_timestamp(CAST(t1 AS BIGINT) * 1000000),
       'vpc', {file_sql}, {line_sql}, accepted
FROM {conns}
ORDER BY cip, sip, proto, sport, rej
"""

_COUNTS = ("SELECT count(*), coalesce(sum(accepted), 0), coalesce(sum(replies), 0), coalesce(sum(dups), 0)"
           " FROM {conns}")


def listen_sql(con: duckdb.DuckDBPyConnection) -> str:
    """The (address, port, protocol number) the inventory's pods declare as container ports, as a subquery:
    in a pair no flag or port class orients, that end is the server."""
    if not table_exists(con, "pods"):
        return "(SELECT NULL::VARCHAR AS ip, NULL::INTEGER AS port, NULL::INTEGER AS proto WHERE FALSE)"
    return ("(SELECT DISTINCT ip, p.port AS port, CASE upper(p.protocol) WHEN 'UDP' THEN 17 WHEN 'SCTP' THEN 132 "
            "ELSE 6 END AS proto FROM (SELECT ip, unnest(ports) AS p FROM (SELECT unnest(ips) AS ip, ports FROM pods "
            "WHERE NOT coalesce(host_network, FALSE))) WHERE p.port IS NOT NULL)")


def count_statuses(con: duckdb.DuckDBPyConnection, pairs: str, stats: ReadStats) -> None:
    """The valid records of a 5-tuple table, and those skipped for their log-status (NODATA, SKIPDATA)."""
    for status, count in con.execute(
            f"SELECT status, sum(n) FROM {pairs} WHERE valid GROUP BY status ORDER BY status").fetchall():
        stats.records += int(count)
        if status != "OK":
            stats.skip(status, int(count))


def orient_and_insert(con: duckdb.DuckDBPyConnection, names: TempNames, *, target: str, file: str | None,
                      stats: ReadStats, line_sql: str, file_sql: str = "?", decided: str | None = None) -> None:
    """Steps 2–4: orientation, de-duplication, aggregation into ``target``; fills ``stats``. ``file`` names
    the rows' file; several files read together (``vpc_files``) give ``file_sql`` instead, and the
    orientation they already decided: ``decided``, a CTE prefix defining ``oriented`` and ``own``."""
    count_statuses(con, names.pairs, stats)
    if decided is None:
        con.execute(_CONNECTIONS.format(pairs=names.pairs, conns=names.conns, used=USED, listen=listen_sql(con)))
    else:
        con.execute(f"CREATE TEMP TABLE {names.conns} AS {decided}{CONNS_SQL}")
    con.execute(_INSERT.format(target=target, conns=names.conns, proto_name=PROTOCOL_NAME_SQL,
                               line_sql=line_sql, file_sql=file_sql), [file] if file_sql == "?" else [])
    rows, accepted, replies, dups = con.execute(_COUNTS.format(conns=names.conns)).fetchone()
    stats.connections += int(rows)
    stats.accepted += int(accepted)
    stats.skip("reply", int(replies))
    stats.skip("duplicate ENI", int(dups))
