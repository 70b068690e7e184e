"""The documented normalized format: CSV or Parquet in the ``connections`` schema.

Why this exists: it is how users bring anything we have no reader for (GCP or
Azure flow logs, Goldmane, their own exports) and how a store is exported and
re-imported losslessly. Columns are those of ``schema.NORMALIZED_COLUMNS``:
``src_kind``, ``dst_kind``, ``protocol`` and ``action`` are required, the rest
optional (absent or empty → NULL; ``flows`` and ``records`` default to 1 per
row; ``first_seen``/``last_seen`` default to the window; ``format``/``file``/
``line`` default to this file, so an exported store keeps its provenance).

CSV is read as text and checked here: labels are a JSON object (``{"app":"web"}``) or ``k=v;k=v``; policies
a JSON array (``["ns/a"]``) or ``a;b``; timestamps ISO 8601 (UTC); ``line`` numbers count the header as line 1.
Parquet may use native types (MAP labels, LIST policies, TIMESTAMP) or text. Values are validated (kind,
protocol, port, action, IP, numbers) and reported as ``FILE:LINE: reason``; IPv6 addresses are stored in
canonical form. Rows that are equal on the key columns are merged.
"""

from __future__ import annotations

import csv
import io
from pathlib import Path

import duckdb

from recommender.errors import InputError
from recommender.io import lines as L
from recommender.io import parquet_labels
from recommender.io.pipeline import LineFormat, read_line_file
from recommender.io.readers import Progress, ReadStats
from recommender.io.schema import COLUMN_NAMES, ENDPOINT_KINDS, KEY_COLUMNS, NORMALIZED_COLUMNS
from recommender.io.sqlexpr import canonical_ip, sql_str

FORMAT = "normalized"
DISTINCT_OUTPUT = True   # rows written to the target are distinct on schema.KEY_COLUMNS (the store relies on it)
REQUIRED = tuple(c.name for c in NORMALIZED_COLUMNS if c.required)
_TYPES = {c.name: c.type for c in NORMALIZED_COLUMNS}
_MARK = "__rejected__"
_T = "_norm"
_KINDS = ", ".join(sql_str(k) for k in ENDPOINT_KINDS)
_NUMERIC = ("flows", "packets", "bytes", "records", "line")
_TIMES = ("window_start", "window_end", "first_seen", "last_seen")
_GROUP_HASH = "hash"   # the SQL function that keys the first GROUP BY (tests swap in one that collides)
_ARROW_LABELS = True   # hash MAP(VARCHAR, VARCHAR) labels from Arrow dictionary indices (tests compare with False)


def sniff(head: bytes) -> bool:
    if head.startswith(L.PARQUET_MAGIC):
        return True
    first = head.split(b"\n", 1)[0].decode("utf-8", "replace").strip().lower()
    cols = {c.strip().strip('"') for c in first.split(",")}
    return set(REQUIRED) <= cols


def _is_text(t: str | None) -> bool:
    return t is not None and t.upper() in ("VARCHAR", "JSON")


def _conv(col: str, t: str | None, value: str | None = None) -> str:
    """SQL for column ``col`` (input type ``t``, None when absent) converted to its schema type.

    ``value``: the SQL of the value when it is not the column itself (labels, policies, format)."""
    want = _TYPES[col]
    v = value or col
    if t is None:
        return {"flows": "1", "records": "1"}.get(col, f"NULL::{want}")
    if col.endswith("_labels"):
        return f"rec_text_labels({v})" if _is_text(t) else f"rec_map_labels({v})"
    if col == "policies":
        src = (f"""(CASE WHEN starts_with(trim({v}), '[') THEN TRY_CAST(TRY_CAST({v} AS JSON) AS VARCHAR[])
                    ELSE list_filter(list_transform(string_split({v}, ';'), lambda s: trim(s)), lambda s: s <> '') END)"""
               if _is_text(t) else v)
        return f"(CASE WHEN len({src}) > 0 THEN list_sort(list_distinct({src})) END)"
    if col in _TIMES and _is_text(t):   # offsets are honoured; naive times are UTC (the store sets TimeZone)
        return f"timezone('UTC', TRY_CAST({col} AS TIMESTAMPTZ))"
    if col in _TIMES and "TIME ZONE" in t.upper():
        return f"timezone('UTC', {col})"
    if col in _TIMES and not _is_text(t) and "TIMESTAMP" not in t.upper():
        return f"make_timestamp(CAST({col} AS BIGINT) * 1000000)"
    if col.endswith("_kind"):
        return f"lower(trim({col}))"
    if col == "protocol":
        return f"rec_protocol({col})"
    if col == "action":
        return f"lower(trim({col}))"
    if col.endswith(("_ip", "_namespace", "_pod", "_workload")) or col in ("format", "file"):
        return f"NULLIF(trim({v}), '')"
    return f"TRY_CAST({col} AS {want})"


def _row_errors(types: dict[str, str | None], nonneg: frozenset[str] = frozenset()) -> str:
    """Per-record validation for the non-key columns (numbers, timestamps) that are aggregated away.

    ``nonneg``: native numeric columns whose Parquet statistics already prove them non-negative."""
    checks = [f"WHEN {c} IS NOT NULL AND {_conv(c, types[c])} IS NULL THEN "
              f"{sql_str(c + ': not ' + ('an integer' if c in _NUMERIC else 'a timestamp'))} || ' ' || to_json({c}::VARCHAR)"
              for c in (*_NUMERIC, *_TIMES) if types.get(c) is not None and _is_text(types[c])]
    checks += [f"WHEN {c} < 0 THEN {sql_str(c + ': negative')}" for c in _NUMERIC
               if types.get(c) is not None and not _is_text(types[c]) and c not in nonneg]
    return f"CASE {' '.join(checks)} END" if checks else "NULL::VARCHAR"


def _text_bad(col: str, value: str | None = None) -> str:
    """True when the text ``value`` (default: the column) of a labels column or ``policies`` does not parse."""
    v = value or col
    if col == "policies":
        return f"starts_with(trim({v}), '[') AND TRY_CAST(TRY_CAST({v} AS JSON) AS VARCHAR[]) IS NULL"
    return f"rec_text_labels_bad({v})"


def _key_errors(types: dict[str, str | None], bad: dict[str, str] | None = None) -> str:
    """Validation of the key columns, evaluated on grouped raw values."""
    w = []
    for side in ("src", "dst"):
        w.append(f"WHEN {side}_kind IS NULL OR trim({side}_kind) = '' THEN 'missing required field {side}_kind'")
        w.append(f"WHEN lower(trim({side}_kind)) NOT IN ({_KINDS}) THEN 'invalid {side}_kind ' || to_json({side}_kind) "
                 f"|| ' (expected one of {', '.join(ENDPOINT_KINDS)})'")
        if types.get(f"{side}_ip") is not None:
            w.append(f"WHEN NOT rec_ip_ok(NULLIF(trim({side}_ip), '')) THEN 'invalid IP address in {side}_ip: ' || to_json({side}_ip)")
        if _is_text(types.get(f"{side}_labels")):
            w.append(f"WHEN {(bad or {}).get(f'{side}_labels', _text_bad(f'{side}_labels'))} THEN 'invalid {side}_labels ' || to_json({side}_labels) "
                     "|| ' (expected a JSON object or k=v;k=v)'")
    w.append("WHEN protocol IS NULL OR trim(protocol::VARCHAR) = '' THEN 'missing required field protocol'")
    w.append("WHEN rec_protocol(protocol) IS NULL THEN 'unknown protocol ' || to_json(protocol::VARCHAR)")
    w.append("WHEN action IS NULL OR trim(action) = '' THEN 'missing required field action'")
    w.append("WHEN lower(trim(action)) NOT IN ('allow', 'deny') THEN 'invalid action ' || to_json(action) || ' (expected allow or deny)'")
    if types.get("dst_port") is not None:
        port = _conv("dst_port", types["dst_port"]).replace("INTEGER", "BIGINT")
        w.append(f"WHEN dst_port IS NOT NULL AND {port} IS NULL THEN 'dst_port: not an integer ' || to_json(dst_port::VARCHAR)")
        w.append(f"ELSE rec_port_error(rec_protocol(protocol), {port})")
    if _is_text(types.get("policies")):
        w.insert(0, f"WHEN {(bad or {}).get('policies', _text_bad('policies'))} THEN 'policies: invalid JSON array ' || to_json(policies)")
    return f"CASE {' '.join(w)} END"


class _Plan:
    """The SQL for one file, derived from the columns it has.

    ``aggregate`` is the only statement that touches every record: a GROUP BY on
    the raw key values (native MAP/LIST columns by hash, string MAPs by parquet_labels':
    decoding, carrying or grouping nested values per record costs several times the scan), with the cheapest
    provenance that is exact for the file. Validation, canonical labels and
    policies are computed per group or per distinct nested value afterwards.
    """

    def __init__(self, path: str, types: dict[str, str | None], parquet: bool, header: int,
                 nonneg: frozenset[str] = frozenset()) -> None:
        self.path, self.types, self.parquet, self.header, self.nonneg = path, types, parquet, header, nonneg
        self.keys = [c for c in KEY_COLUMNS if types.get(c) is not None]
        self.valued = [c for c in self.keys if c.endswith("_labels") or c == "policies"]   # canonicalized per value
        self.nested = [c for c in self.valued if parquet and not _is_text(types[c])]
        maps = [c for c in self.nested if c.endswith("_labels") and types[c] == "MAP(VARCHAR, VARCHAR)"]
        self.arrow = parquet_labels.usable(path, maps) if maps and _ARROW_LABELS else []   # hashed from Arrow
        self.fast = [c.lower() for c in self.arrow]

    def source(self, data: str) -> str:
        if self.parquet:
            return f"(SELECT *, file_row_number + 1 AS ordinality FROM read_parquet({sql_str(data)}, file_row_number = true))"
        comp = "gzip" if L.is_gzip(data) else "none"
        return (f"read_csv({sql_str(data)}, header = true, all_varchar = true, delim = ',', quote = '\"', "
                f"escape = '\"', compression = '{comp}', strict_mode = true) WITH ORDINALITY")

    def where(self) -> str:
        return "TRUE" if self.parquet else f"src_kind IS DISTINCT FROM '{_MARK}'"

    def _simple_prov(self) -> bool:
        """Provenance is (this file, the first record's row, its format): no file or line values."""
        return self.types.get("file") is None and self.types.get("line") is None

    def _prov(self) -> str:
        """min(file, line, format) of the group; per record when the file carries file or line values (see README)."""
        t = self.types
        if self._simple_prov():
            fmt = (f"coalesce({_conv('format', t.get('format'), 'arg_min_null(format, ordinality)')}, '{FORMAT}')"
                   if t.get("format") is not None else f"'{FORMAT}'")
            return f"struct_pack(file := {sql_str(self.path)}, line := min(ordinality) + {self.header}, format := {fmt})"
        fmt, file, line = f"coalesce({_conv('format', t.get('format'))}, '{FORMAT}')", _conv("file", t.get("file")), _conv("line", t.get("line"))
        return (f"min(struct_pack(file := coalesce({file}, {sql_str(self.path)}), line := CASE WHEN {file} IS NULL "   # a line of that file, or none
                f"THEN coalesce({line}, ordinality + {self.header}) ELSE {line} END, format := {fmt}))")

    def aggregate(self, con: duckdb.DuckDBPyConnection, data: str) -> None:
        """One scan, grouped on a hash of the raw key values; key validation runs on the groups (label
        and policy texts, the costly checks, once per distinct text).

        Grouping on one 64-bit hash of the key columns costs a fraction of grouping on the values
        (10M Parquet rows with text labels: 2.7 vs 5.8 CPU-s). The values of a group are read back
        from its first record (Parquet: a second, selective read by row number, which skips the row
        groups that hold no first record; nested values keep their hash) or carried by ``any_value`` (CSV). Two
        different keys with the same hash would be merged, so every group also keeps the range of an
        independent second hash (the columns in reverse order); a range that is not a single value
        means a collision, and the file is then aggregated again on the exact values."""
        self._aggregate(con, data, hashed=True)
        if con.execute(f"SELECT count(*) FROM {_T}_l1 WHERE k2_lo <> k2_hi").fetchone()[0]:
            self._aggregate(con, data, hashed=False)
        if self.nested:   # the first row of every distinct nested value: DuckDB reads each value at least once
            rows = " UNION ".join(f"SELECT f FROM {self._firsts(c)}" for c in self.nested)
            con.execute(f"""CREATE OR REPLACE TEMP TABLE {_T}_rows AS SELECT file_row_number AS f, {', '.join(self.nested)}
                FROM read_parquet({sql_str(self.path)}, file_row_number = true) WHERE file_row_number IN ({rows})""")

    def _firsts(self, c: str) -> str:
        return f"(SELECT {c}__h AS k, min(first) - 1 AS f FROM {_T}_l1 GROUP BY 1)"

    def _aggregate(self, con: duckdb.DuckDBPyConnection, data: str, *, hashed: bool) -> None:
        t = self.types
        source = self.source(data)
        keys = ", ".join(self.keys)
        aggs = (f"count(*) AS n, min(ordinality) AS first, "
                f"min({_conv('window_start', t.get('window_start'))}) AS window_start, max({_conv('window_end', t.get('window_end'))}) AS window_end, "
                f"min({_conv('first_seen', t.get('first_seen'))}) AS first_seen, max({_conv('last_seen', t.get('last_seen'))}) AS last_seen, "
                f"sum({_conv('flows', t.get('flows'))}) AS flows, sum({_conv('packets', t.get('packets'))}) AS packets, "
                f"sum({_conv('bytes', t.get('bytes'))}) AS bytes, sum({_conv('records', t.get('records'))}) AS records")
        row_err = f"{_row_errors(t, self.nonneg)} AS row_err"
        if hashed and self.parquet:   # group on hashes, then read each group's values from its first row
            # nested values are replaced by their hash: DuckDB's, or parquet_labels' for MAP labels
            repl = [f"{parquet_labels.sql(i)} AS {c}" for i, c in enumerate(self.fast)]
            repl += [f"hash({c}) AS {c}" for c in self.nested if c not in self.fast]
            rows = f"(SELECT *, {parquet_labels.call()} FROM {source})" if self.fast else source
            hashes = f"(SELECT * REPLACE ({', '.join(repl)}) FROM {rows})" if self.nested else source
            rev, flat = ", ".join(reversed(self.keys)), [c for c in self.keys if c not in self.nested]
            late = self._simple_prov() and t.get("format") is not None
            prov = (f"struct_pack(file := {sql_str(self.path)}, line := first + {self.header}, "
                    f"format := coalesce({_conv('format', t['format'], 'r_format')}, '{FORMAT}'))")
            grouped = f"""k AS MATERIALIZED (
  SELECT {_GROUP_HASH}({keys}) AS k1, {row_err}, min(hash({rev})) AS k2_lo, max(hash({rev})) AS k2_hi,
    {''.join(f'min({c}) AS {c}__h, ' for c in self.nested)}{aggs}{'' if late else f', {self._prov()} AS prov'}
  FROM {hashes} WHERE {self.where()} GROUP BY ALL),
r AS (SELECT ordinality AS r_first, {', '.join(flat)}{', format AS r_format' if late else ''} FROM {source}
      WHERE file_row_number IN (SELECT first - 1 FROM k)),
g AS MATERIALIZED (
  SELECT {', '.join(f'r.{c}' for c in flat)}, k.* EXCLUDE (k1){f', {prov} AS prov' if late else ''}
  FROM k JOIN r ON r_first = first)"""
        elif hashed:   # CSV: one pass, values carried per group
            rev = ", ".join(reversed(self.keys))
            grouped = f"""g AS MATERIALIZED (
  SELECT {', '.join(f'any_value({c}) AS {c}' for c in self.keys)}, min(hash({rev})) AS k2_lo, max(hash({rev})) AS k2_hi,
    {row_err}, {aggs}, {self._prov()} AS prov
  FROM {source} WHERE {self.where()} GROUP BY {_GROUP_HASH}({keys}), row_err)"""
        else:
            group = ", ".join(f"hash({c}) AS {c}__h" if c in self.nested else c for c in self.keys)
            grouped = f"""g AS MATERIALIZED (
  SELECT {group}, {row_err}, {aggs}, {self._prov()} AS prov
  FROM {source} WHERE {self.where()} GROUP BY ALL)"""
        texts = [c for c in self.valued if c not in self.nested]
        checked = " ".join(f"LEFT JOIN (SELECT x AS {c}__t, {_text_bad(c, 'x')} AS {c}__bad "
                           f"FROM (SELECT DISTINCT {c} AS x FROM g)) ON {c}__t IS NOT DISTINCT FROM g.{c}" for c in texts)
        errors = _key_errors(t, {c: f"{c}__bad" for c in texts})
        con.execute(f"""CREATE OR REPLACE TEMP TABLE {_T}_l1 AS
WITH {grouped}
SELECT g.*, coalesce({errors}, row_err) AS err FROM g {checked}""")

    def value_errors(self, con: duckdb.DuckDBPyConnection, data: str) -> list[tuple[int, str]]:
        return con.execute(f"SELECT ordinality, e FROM (SELECT ordinality, coalesce({_key_errors(self.types)}, "
                           f"{_row_errors(self.types, self.nonneg)}) AS e FROM {self.source(data)} WHERE {self.where()}) "
                           "WHERE e IS NOT NULL ORDER BY 1").fetchall()

    def _nested_values(self, con: duckdb.DuckDBPyConnection, conv: dict[str, str]) -> tuple[str, str]:
        """Canonical labels and policies, computed once per distinct raw value.

        Native MAP/LIST values are grouped by hash: the records to read back are one
        per distinct hash (the first of its group), so the Parquet reader skips every
        row group that holds none of them. Text values (CSV, text Parquet) are parsed
        once per distinct text. Returns the JOINs that give each group the hash of its
        canonical value (what the final GROUP BY uses: grouping or copying nested
        values costs far more), and the JOINs that give each final row the value."""
        texts = [c for c in self.valued if c not in self.nested]
        joins, values = [], []
        for c in (*self.nested, *texts):
            canon = _conv(c, self.types[c], "m")
            raw = (f"SELECT k, {c} AS m FROM {self._firsts(c)} JOIN {_T}_rows USING (f)" if c in self.nested
                   else f"SELECT DISTINCT {c} AS k, {c} AS m FROM {_T}_l1 WHERE err IS NULL")
            con.execute(f"""CREATE OR REPLACE TEMP TABLE {_T}_{c} AS SELECT {c}__k, {c}__v, hash({c}__v) AS {c}__c
                FROM (SELECT k AS {c}__k, {canon} AS {c}__v FROM ({raw}))""")
            joins.append(f"LEFT JOIN {_T}_{c} ON {c}__k IS NOT DISTINCT FROM {c + '__h' if c in self.nested else _T + '_l1.' + c}")
            values.append(f"LEFT JOIN (SELECT {c}__c AS {c}__cc, any_value({c}__v) AS {c}__val FROM {_T}_{c} GROUP BY 1) "
                          f"ON {c}__cc = g.{c}")
            conv[c] = f"{c}__c"
        return " ".join(joins), " ".join(values)

    def finish(self, con: duckdb.DuckDBPyConnection, target: str, file: str) -> tuple[int, dict[str, int], int]:
        t = self.types
        conv = {c: _conv(c, t.get(c)) for c in KEY_COLUMNS}
        joins, values = self._nested_values(con, conv)
        conv["dst_port"] = f"rec_port(rec_protocol(protocol), {conv['dst_port']})"
        conv.update({c: canonical_ip(con, f"{_T}_l1", c, conv[c]) for c in ("src_ip", "dst_ip") if t.get(c) is not None})
        normalized = ", ".join(f"{conv[c]} AS {c}" for c in KEY_COLUMNS)
        agg = {"window_start": "min(window_start)", "window_end": "max(window_end)",
               "first_seen": "coalesce(min(first_seen), min(window_start))",
               "last_seen": "coalesce(max(last_seen), max(window_end))",
               "flows": "sum(flows)::BIGINT", "packets": "sum(packets)::BIGINT", "bytes": "sum(bytes)::BIGINT",
               "format": "min(prov).format", "file": "min(prov).file", "line": "min(prov).line::BIGINT",
               "records": "sum(records)::BIGINT"}
        cols = ", ".join(c if c in KEY_COLUMNS else f"{agg[c]} AS {c}" for c in COLUMN_NAMES)
        final = ", ".join(f"{c}__val AS {c}" if c in self.valued else f"g.{c}" for c in COLUMN_NAMES)
        conns = con.execute(f"""INSERT INTO {target} ({', '.join(COLUMN_NAMES)}) SELECT {final} FROM (
  SELECT {cols} FROM (
    SELECT {normalized}, window_start, window_end, first_seen, last_seen, flows, packets, bytes, prov, records
    FROM {_T}_l1 {joins} WHERE err IS NULL) GROUP BY {', '.join(KEY_COLUMNS)}) g {values}""").fetchone()[0]
        acc = con.execute(f"SELECT coalesce(sum(n), 0) FROM {_T}_l1 WHERE err IS NULL").fetchone()[0]
        con.execute(f"DROP TABLE IF EXISTS {_T}_rows; " + " ".join(f"DROP TABLE IF EXISTS {_T}_{c};" for c in self.valued))
        return int(acc), {}, int(conns)


def _columns(con: duckdb.DuckDBPyConnection, path: str, parquet: bool) -> dict[str, str]:
    try:
        if parquet:
            rows = con.execute(f"DESCRIBE SELECT * FROM read_parquet({sql_str(path)})").fetchall()
            return {r[0].lower(): r[1] for r in rows}
        header = next(iter(L.iter_lines(path)))[1].decode("utf-8", "replace")
    except (duckdb.Error, StopIteration) as e:
        raise InputError(f"cannot read as {FORMAT} {'Parquet' if parquet else 'CSV'}: {str(e).splitlines()[0] if str(e) else 'empty'}",
                         file=path) from None
    return {c.strip().lower(): "VARCHAR" for c in next(csv.reader([header]))}


def read(con: duckdb.DuckDBPyConnection, path: str | Path, *, target: str, skip_bad: bool,
         progress: Progress | None = None) -> ReadStats:
    file = str(path)
    parquet = L.read_head(file, 4).startswith(L.PARQUET_MAGIC)
    cols = _columns(con, file, parquet)
    missing = [c for c in REQUIRED if c not in cols]
    if missing:
        raise InputError(f"missing required column{'s' if len(missing) > 1 else ''} {', '.join(missing)}",
                         file=file, line=None if parquet else 1,
                         hint=f"the normalized format needs at least {', '.join(REQUIRED)} (see the README)")
    unknown = sorted(set(cols) - set(COLUMN_NAMES))
    types: dict[str, str | None] = {c: cols.get(c) for c in COLUMN_NAMES}
    nonneg: frozenset[str] = frozenset()
    if parquet:
        empty, nonneg = _parquet_facts(con, file, types)
        types.update({c: None for c in empty})   # an all-NULL provenance column means the defaults
    plan = _Plan(file, types, parquet, 0 if parquet else 1, nonneg)
    if parquet:
        stats = _read_parquet(con, file, plan, target=target, skip_bad=skip_bad, progress=progress)
    else:
        header = list(cols)
        marker = ",".join(_MARK if c == "src_kind" else "" for c in header).encode()
        fmt = LineFormat(name=FORMAT, table=_T, check_line=_csv_checker(len(header)), marker=marker,
                         aggregate=plan.aggregate, value_errors=plan.value_errors, finish=plan.finish,
                         header_lines=1, suffix=".csv")
        stats = read_line_file(con, file, fmt, target=target, skip_bad=skip_bad, progress=progress)
    if unknown:
        stats.notes.append(f"{file}: ignored unknown column{'s' if len(unknown) > 1 else ''} {', '.join(unknown)}")
    return stats


def _parquet_facts(con: duckdb.DuckDBPyConnection, file: str,
                   types: dict[str, str | None]) -> tuple[set[str], frozenset[str]]:
    """From the footer statistics: provenance columns that are NULL in every row, and native
    numeric columns whose minimum is >= 0 in every row group (their per-record check is moot)."""
    try:
        rows = con.execute(f"""SELECT lower(path_in_schema), sum(num_values) = sum(stats_null_count),
              bool_and(coalesce(stats_null_count = num_values OR TRY_CAST(stats_min_value AS HUGEINT) >= 0, FALSE))
            FROM parquet_metadata({sql_str(file)}) GROUP BY 1""").fetchall()
    except duckdb.Error:
        return set(), frozenset()
    empty = {c for c, all_null, _ in rows if c in ("file", "line", "format") and all_null}
    nonneg = frozenset(c for c, _, ok in rows if c in _NUMERIC and ok and not _is_text(types.get(c)))
    return empty, nonneg


def _csv_checker(width: int) -> L.Checker:
    def check(line: bytes) -> str | None:
        try:
            rows = list(csv.reader(io.StringIO(line.decode("utf-8")), strict=True))
        except (csv.Error, UnicodeDecodeError) as e:
            return f"malformed CSV ({e})"
        if len(rows) != 1 or len(rows[0]) != width:
            return f"expected {width} fields, got {len(rows[0]) if rows else 0}"
        return None
    return check


def _read_parquet(con: duckdb.DuckDBPyConnection, file: str, plan: _Plan, *, target: str, skip_bad: bool,
                  progress: Progress | None) -> ReadStats:
    """Parquet has no lines: a file DuckDB cannot read is one error; bad values are located by row."""
    stats = ReadStats(file=file, format=FORMAT)
    try:
        try:
            with parquet_labels.registered(con, file, plan.arrow):
                L.run_query(con, lambda: plan.aggregate(con, file), progress, file)
        except duckdb.Error:
            if not plan.arrow:
                raise
            plan.arrow = plan.fast = []   # Arrow did not read the labels: DuckDB does (and says what is wrong)
            L.run_query(con, lambda: plan.aggregate(con, file), progress, file)
        first, reason = con.execute(f"SELECT min(first), arg_min(err, first) FROM {_T}_l1 WHERE err IS NOT NULL").fetchone()
        bad: list[L.BadLine] = []
        if first is not None:
            if not skip_bad:
                raise InputError(reason, file=file, line=int(first), hint="row numbers count from 1")
            bad = [L.BadLine(int(o), r, "") for o, r in plan.value_errors(con, file)]
        valid = con.execute(f"SELECT coalesce(sum(n), 0) FROM {_T}_l1 WHERE err IS NULL").fetchone()[0]
        stats.accepted, _, stats.connections = plan.finish(con, target, file)
    except duckdb.Error as e:
        raise InputError(f"cannot read as {FORMAT} Parquet: {str(e).strip().splitlines()[0]}", file=file) from None
    finally:
        con.execute(f"DROP TABLE IF EXISTS {_T}_l1")
    L.insert_rejected(con, FORMAT, file, bad)
    stats.records, stats.rejected = int(valid) + len(bad), len(bad)
    return stats
