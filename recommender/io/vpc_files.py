"""Several VPC flow-log files read as one: the records of one connection pair up across files.

Why this exists: AWS writes one log object per network interface and interval, so the client's and the
server's records of one connection are usually in different files. Read one by one, such a connection was
counted once per file, and a ``REJECT`` that the server's interface logged in one file did not turn the
client's ``ACCEPT`` in another into ``deny`` — a policy would then open what the cluster blocked.

Each file is read to its 5-tuple table exactly as on its own (``vpc.load_file``, bad input and all), keeping
each direction's smallest interface hash. The tables are merged per 5-tuple — counts summed, flags OR-ed, and
each direction's view is that of the interface with the smallest hash over all files, whose per-file views
add up (a file without that interface has a larger smallest hash) — and oriented once with the one-file
rules (``vpc_sql``): the result is what one file holding every record gives, but for provenance (a property
test checks this). Per-file counts come from joining each file's rows to the merged decisions.
"""

from __future__ import annotations

import tempfile
from contextlib import ExitStack
from pathlib import Path

import duckdb

from recommender.io import vpc, vpc_pairs, vpc_sql
from recommender.io.readers import Progress, ReadStats
from recommender.io.sqlexpr import sql_str

POS = 1 << 40   # a record's position in the merged table: file index * POS + its record number in the file
_KEY = "lo_ip, lo_port, hi_ip, hi_port, proto, status, valid"
_COLUMNS = (f"{_KEY}, e, rej, acc_a, acc_b, n, t0, t1, rn, n_a, n_b, rn_a, rn_b, pk_a, pk_b, by_a, by_b, "
            "hmin_a, hmin_b")
_VIEWS = ("rn_a", "rn_b", "pk_a", "pk_b", "by_a", "by_b")

# Per file and 5-tuple, whether its view of each direction is the whole's (its interface has the smallest hash).
_MINE = f"""SELECT *, hmin_a = min(hmin_a) OVER k AS mine_a, hmin_b = min(hmin_b) OVER k AS mine_b
FROM {{files}} WINDOW k AS (PARTITION BY {_KEY})"""

_MERGED = f"""CREATE TEMP TABLE {{pairs}} AS
SELECT {_KEY}, CAST(sum(e) AS BIGINT) AS e, bool_or(rej) AS rej, bool_or(acc_a) AS acc_a, bool_or(acc_b) AS acc_b,
       CAST(sum(n) AS BIGINT) AS n, min(t0) AS t0, max(t1) AS t1, min(fi * {POS} + rn) AS rn,
       CAST(sum(n_a) AS BIGINT) AS n_a, CAST(sum(n_b) AS BIGINT) AS n_b,
       {", ".join(f"CAST(sum({v}) FILTER (WHERE mine_{v[-1]}) AS BIGINT) AS {v}" for v in _VIEWS)}
FROM ({_MINE}) GROUP BY {_KEY}"""

# The merged orientation per used 5-tuple, made once: the connection rows (``vpc_sql.CONNS_SQL``) and the
# per-file counts are both read from it.
_DECISIONS = ("CREATE TEMP TABLE {dec} AS" + vpc_sql.ORIENT_SQL
              + " SELECT *, FALSE AS own_row FROM oriented UNION ALL BY NAME SELECT *, TRUE AS own_row FROM own")
_DECIDED = ("WITH oriented AS (SELECT * EXCLUDE (own_row) FROM {dec} WHERE NOT own_row), "
            "own AS (SELECT * EXCLUDE (own_row, lo_client, prim_a) FROM {dec} WHERE own_row)")

# The connection(s) a 5-tuple's records count in: the oriented one, or each direction's own.
_TO = ("{{'c': CASE WHEN d.lo_client THEN d.lo_ip ELSE d.hi_ip END, 's': CASE WHEN d.lo_client THEN d.hi_ip ELSE d.lo_ip END, "
       "'p': d.proto, 'o': CASE WHEN d.lo_client THEN d.hi_port ELSE d.lo_port END, "
       "'r': d.rej AND NOT (CASE WHEN d.prim_a THEN d.acc_b ELSE d.acc_a END)}}")
_OWN_A = "{{'c': d.lo_ip, 's': d.hi_ip, 'p': d.proto, 'o': d.hi_port, 'r': d.rej}}"
_OWN_B = "{{'c': d.hi_ip, 's': d.lo_ip, 'p': d.proto, 'o': d.lo_port, 'r': d.rej}}"

_PER_FILE = f"""WITH v AS (
  SELECT m.fi, m.n_a, m.n_b, d.prim_a, d.own_row AS own,
         CASE WHEN d.own_row THEN {_OWN_A} ELSE {_TO} END AS ka, CASE WHEN d.own_row THEN {_OWN_B} END AS kb,
         coalesce(CASE WHEN m.mine_a THEN m.rn_a END, 0) AS va, coalesce(CASE WHEN m.mine_b THEN m.rn_b END, 0) AS vb
  FROM ({_MINE}) m JOIN {{dec}} d USING ({_KEY})
), counts AS (
  SELECT fi, sum(CASE WHEN own THEN va + vb WHEN prim_a THEN va ELSE vb END) AS accepted,
         sum(CASE WHEN own THEN 0 WHEN prim_a THEN n_b ELSE n_a END) AS replies,
         sum(CASE WHEN own THEN n_a + n_b - va - vb WHEN prim_a THEN n_a - va ELSE n_b - vb END) AS dups
  FROM v GROUP BY fi
), conns AS (
  SELECT fi, count(DISTINCT k) AS connections FROM (
    SELECT fi, ka AS k FROM v WHERE CASE WHEN own THEN va > 0 WHEN prim_a THEN va > 0 ELSE vb > 0 END
    UNION ALL SELECT fi, kb FROM v WHERE own AND vb > 0) GROUP BY fi
)
SELECT fi, accepted, replies, dups, coalesce(connections, 0) FROM counts LEFT JOIN conns USING (fi) ORDER BY fi"""


def read_files(con: duckdb.DuckDBPyConnection, paths: list[str | Path], *, target: str, skip_bad: bool,
               progress: Progress | None = None) -> list[ReadStats]:
    """Read the VPC files ``paths`` into ``target`` together; one ``ReadStats`` per file, in order."""
    if len(paths) == 1:
        return [vpc.read(con, paths[0], target=target, skip_bad=skip_bad, progress=progress)]
    stats = [ReadStats(file=str(p), format=vpc.FORMAT) for p in paths]
    loaded: list[tuple[int, vpc_pairs.TempNames, vpc_sql.BadInput]] = []
    with ExitStack() as stack:
        try:
            for i, path in enumerate(paths):
                tmpdir = stack.enter_context(tempfile.TemporaryDirectory(prefix="recommender-vpc-"))
                layout = vpc.layout_of(con, Path(path), tmpdir)
                if layout is None:
                    continue
                with vpc.settings(con, preserve_insertion_order=True, enable_progress_bar_print=False):
                    names, bad = vpc.load_file(con, layout, skip_bad=skip_bad, stats=stats[i], progress=progress,
                                               hmin=True)
                loaded.append((i, names, bad))
            if loaded:
                _orient(con, loaded, stats, target)
        finally:
            for _, names, _ in loaded:
                vpc_pairs.drop(con, names)
    return stats


def _orient(con: duckdb.DuckDBPyConnection, loaded: list[tuple[int, vpc_pairs.TempNames, vpc_sql.BadInput]],
            stats: list[ReadStats], target: str) -> None:
    """Merge the files' 5-tuple tables, orient once, insert; fill each file's counts."""
    merged = vpc_pairs.TempNames()
    files, dec = f"_vpc_files_{merged.n}", f"_vpc_dec_{merged.n}"
    try:
        con.execute(f"CREATE TEMP TABLE {files} AS " + " UNION ALL ".join(
            f"SELECT {_COLUMNS}, {i} AS fi FROM {names.pairs}" for i, names, _ in loaded))
        for i, names, _ in loaded:
            vpc_sql.count_statuses(con, names.pairs, stats[i])
            con.execute(f"DROP TABLE {names.pairs}")   # copied into `files`: hold the 5-tuples once
        con.execute(_MERGED.format(pairs=merged.pairs, files=files))
        line_sql = "CASE rn // {pos} {whens} END".format(pos=POS, whens=" ".join(
            f"WHEN {i} THEN {bad.line_sql(f'(rn % {POS})')}" for i, _, bad in loaded))
        file_sql = f"[{', '.join(sql_str(s.file) for s in stats)}][rn // {POS} + 1]"
        con.execute(_DECISIONS.format(dec=dec, pairs=merged.pairs, used=vpc_pairs.USED, listen=vpc_sql.listen_sql(con)))
        total = ReadStats(file="", format=vpc.FORMAT)
        vpc_sql.orient_and_insert(con, merged, target=target, file=None, stats=total, line_sql=line_sql,
                                  file_sql=file_sql, decided=_DECIDED.format(dec=dec))
        for fi, accepted, replies, dups, connections in con.execute(_PER_FILE.format(files=files, dec=dec)).fetchall():
            st = stats[fi]
            st.accepted += int(accepted)
            st.skip("reply", int(replies))
            st.skip("duplicate ENI", int(dups))
            st.connections += int(connections)
        if sum(s.accepted for s in stats) != total.accepted:   # every accepted record is some file's
            raise RuntimeError(f"vpc: the files accepted {sum(s.accepted for s in stats)} records, "
                               f"the connections hold {total.accepted}")
    finally:
        vpc_pairs.drop(con, merged)
        con.execute(f"DROP TABLE IF EXISTS {files}; DROP TABLE IF EXISTS {dec}")
