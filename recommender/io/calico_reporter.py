"""The Calico reporter rule: which records of a connection both ends reported are skipped.

Why this exists apart from ``calico``: it is the one step that needs time, not just values. Felix
writes a record per connection and export window at each end, and every Felix starts its windows
when it starts, so a cross-node connection's ``src`` and ``dst`` records carry windows that overlap
without matching. The rule (see the ``calico`` module docstring and the README) judges each record
against the connection's records whose windows overlap its own; this module turns that into set
operations over the per-record rows of ``calico._aggregate`` (``{t}_win``) and the per-group rows
(``{t}_l1``): per connection when both ends reported the same windows, record by record with
window functions otherwise.
"""

from __future__ import annotations

import duckdb

# Why a record of a connection both ends reported is skipped, from its ``code`` (2 * reported by dst
# + denied) and the mask ``m`` of the codes of the records whose windows overlap its own, its own
# included (bits 1 << code: 1 src allow, 2 src deny, 4 dst allow, 8 dst deny): 0 counts, 1 duplicate
# reporter, 2 allowed at source, denied at destination.
_WHY = """CASE WHEN m & 3 = 0 OR m & 12 = 0 THEN 0
    WHEN m & 10 <> 0 AND code IN (0, 2) THEN CASE WHEN code = 0 AND m & 8 <> 0 THEN 2 ELSE 1 END
    WHEN code >= 2 AND (m & 10 = 0 OR m & 2 <> 0) THEN 1 ELSE 0 END"""

_FRAMES = """WINDOW before AS (PARTITION BY h ORDER BY start_time ROWS BETWEEN UNBOUNDED PRECEDING AND 1 PRECEDING),
                  after AS (PARTITION BY h ORDER BY start_time ROWS BETWEEN 1 FOLLOWING AND UNBOUNDED FOLLOWING)"""


def _overlaps(which: str) -> str:
    """Whether a record of the connection that ``which`` selects has a window overlapping this
    record's. Felix starts its windows when it starts, so the two nodes of a connection cut time
    differently: windows [s, e) and [start, end) overlap when s < end and e > start. With the
    connection's records ordered by start, one ordered ``before`` this one starts no later, so it
    overlaps when it ends after this one starts (the largest ``end_time`` before); one ordered
    ``after`` starts no earlier, so it overlaps when it starts before this one ends (the smallest
    ``start_time`` after). Ties fall on either side and are caught by either test. An empty window
    (``end_time`` <= ``start_time``) overlaps nothing, so it is left out as the other record; the
    callers leave it out as this one."""
    other = f"{which} AND end_time > start_time"
    return (f"(max(CASE WHEN {other} THEN end_time END) OVER before > start_time"
            f" OR min(CASE WHEN {other} THEN start_time END) OVER after < end_time)")


# ``why`` for a connection whose records all allow, or all deny (the usual case): the source's records
# count, and the destination's are duplicates where a source record's window overlaps theirs (``_WHY``
# with one action reduces to this; two window aggregates instead of the eight of ``_OVERLAP_MASK``).
_DUPLICATE_DST = f"CASE WHEN code >= 2 AND end_time > start_time AND {_overlaps('code < 2')} THEN 1 ELSE 0 END"

# The codes (bits ``1 << code``) of the connection's records whose windows overlap this record's, its
# own included; an empty window's record sees only its own code.
_OVERLAP_MASK = ("(CASE WHEN end_time > start_time THEN "
                 + " | ".join(f"CASE WHEN {_overlaps(f'code = {c}')} THEN {1 << c} ELSE 0 END" for c in range(4))
                 + " ELSE 0 END | (1 << code))::UTINYINT")


def reporter_rule(con: duckdb.DuckDBPyConnection, t: str) -> None:
    """``{t}_dropped``: per raw group ``hr`` and file ``fi``, the records (and their counters) the
    reporter rule skips, and what is left of the group's first record and time span.

    Only connections both ends reported, in windows with known times, take part (a record
    without a window matches no other). When every code of such a connection was reported in
    the same multiset of windows (equal fingerprints: sums of the two 32-bit halves of a window
    hash, and counts), every window holds all of its codes, so the verdict is the same in every
    window and is taken per group (unless one is empty: see ``_overlaps``). That is the usual
    case when both ends run on one node, and it spares ordering each window row; the other
    connections are resolved record by record against the records whose windows overlap
    (``_OVERLAP_MASK``; ``_DUPLICATE_DST`` when all their records have one action). A fingerprint
    collision needs two 64-bit hash sums to agree by chance, the same trust ``hr`` already needs."""
    con.execute(f"""CREATE OR REPLACE TEMP TABLE {t}_ends AS
WITH e AS (
  SELECT hr, h, (CASE WHEN reporter = 'dst' THEN 2 ELSE 0 END + CASE WHEN act = 'deny' THEN 1 ELSE 0 END)::UTINYINT AS code
  FROM {t}_l1 WHERE err IS NULL AND start_time IS NOT NULL AND end_time IS NOT NULL),
both_ends AS (SELECT h FROM e GROUP BY h HAVING bool_or(code < 2) AND bool_or(code >= 2)),
fp AS (
  SELECT hr, sum((hash(start_time, end_time) & 4294967295)::BIGINT) AS f1,
    sum((hash(start_time, end_time) >> 32)::BIGINT) AS f2, count(*) AS nw,
    count(*) FILTER (WHERE end_time <= start_time) AS empty
  FROM {t}_win WHERE hr IN (SELECT hr FROM e WHERE h IN (SELECT h FROM both_ends)) GROUP BY hr),
per_code AS (SELECT e.h, e.code, sum(f1) AS f1, sum(f2) AS f2, sum(nw) AS nw, sum(empty) AS empty
             FROM e JOIN fp USING (hr) GROUP BY e.h, e.code),
conn AS (SELECT h, bit_or((1 << code)::UTINYINT) AS m,
           min(f1) = max(f1) AND min(f2) = max(f2) AND min(nw) = max(nw) AND max(empty) = 0 AS uniform
         FROM per_code GROUP BY h)
SELECT e.*, conn.m, conn.uniform FROM e JOIN conn USING (h)""")
    cols = "w.hr, w.fi, w.start_time, w.end_time, w.n, w.first, w.bytes, w.packets, w.flows"
    con.execute(f"""CREATE OR REPLACE TEMP TABLE {t}_dropped AS
WITH vw AS (SELECT w.*, e.h, e.code, e.m & 10 = 0 OR e.m & 5 = 0 AS one_action
           FROM {t}_win w JOIN {t}_ends e ON e.hr = w.hr AND NOT e.uniform),
one_action AS (SELECT {cols}, {_DUPLICATE_DST} AS why FROM vw w WHERE one_action {_FRAMES}),
masks AS (SELECT *, {_OVERLAP_MASK} AS m FROM vw WHERE NOT one_action {_FRAMES}),
whole AS (SELECT hr, {_WHY} AS why FROM {t}_ends WHERE uniform),
marked AS (
  SELECT * FROM one_action
  UNION ALL
  SELECT {cols}, {_WHY} AS why FROM masks w
  UNION ALL
  SELECT {cols}, x.why FROM {t}_win w JOIN whole x ON x.hr = w.hr AND x.why > 0)
SELECT hr, fi, coalesce(sum(n) FILTER (WHERE why = 1), 0) AS dup, coalesce(sum(n) FILTER (WHERE why = 2), 0) AS conflict,
  coalesce(sum(n) FILTER (WHERE why > 0), 0) AS n, coalesce(sum(bytes) FILTER (WHERE why > 0), 0) AS bytes,
  coalesce(sum(packets) FILTER (WHERE why > 0), 0) AS packets,
  coalesce(sum(flows) FILTER (WHERE why > 0), 0) AS flows, min(first) FILTER (WHERE why = 0) AS first,
  min(start_time) FILTER (WHERE why = 0) AS ws, max(end_time) FILTER (WHERE why = 0) AS we
FROM marked GROUP BY hr, fi""")
