"""The flow store: one DuckDB database holding distinct connections and the inventory.

Why this exists: every later step (identities, synthesis, verification,
notebooks) works on the same few tables, so ingestion must be done once,
streamed, idempotent and explainable. ``load_flows`` creates the tables,
loads the inventory, detects each file's format, lets its reader aggregate the
file into a staging table, enriches it (IP → pod, when the enrich module is
there) and merges it into ``connections`` with a GROUP BY over
``schema.KEY_COLUMNS``. Files already ingested into this database (same size
and content fingerprint) are skipped, so re-running never double counts.
Bad flow input leaves the connections unchanged: files are read into temp tables and
merged in one transaction at the end (an inventory given with them is loaded first).
"""

from __future__ import annotations

import hashlib
import importlib
import json
import os
import tempfile
from collections.abc import Iterable
from dataclasses import asdict, is_dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import duckdb

if TYPE_CHECKING:   # only in annotations: `recommend ingest` should not import pandas at start-up
    import pandas as pd
    import pyarrow as pa

from recommender.errors import InputError, RecommenderError, UsageError
from recommender.io import calico_files, detect, hubble, schema, vpc_files
from recommender.io.readers import Progress, ReadStats
from recommender.io.sqlexpr import install_macros
from recommender.io.summary import IngestSummary, build_summary
from recommender.model import ContainerPort, Labels, Namespace, Pod

PathLike = str | os.PathLike[str]
MEMORY_LIMIT = os.environ.get("RECOMMENDER_DUCKDB_MEMORY", "640MB")

INGESTED_FILES_DDL = """CREATE TABLE IF NOT EXISTS ingested_files (
  fingerprint VARCHAR, path VARCHAR, size BIGINT, mtime DOUBLE, format VARCHAR, stats VARCHAR
)"""


def _optional(module: str, attr: str):  # type: ignore[no-untyped-def]
    try:
        return getattr(importlib.import_module(module), attr)
    except (ImportError, AttributeError):
        return None


def fingerprint(path: PathLike) -> tuple[str, int, float]:
    """(sha256 of size + first and last 64 KiB, size, mtime): the identity of an ingested file."""
    st = os.stat(path)
    h = hashlib.sha256(str(st.st_size).encode())
    with open(path, "rb") as f:
        h.update(f.read(65536))
        if st.st_size > 65536:
            f.seek(max(65536, st.st_size - 65536))
            h.update(f.read(65536))
    return h.hexdigest(), st.st_size, st.st_mtime


def connect(db: PathLike = ":memory:") -> duckdb.DuckDBPyConnection:
    """Open (or create) the database with the settings ingestion needs and the ``rec_*`` macros."""
    try:
        con = duckdb.connect(str(db))
    except duckdb.Error as e:
        raise InputError(f"cannot open database: {str(e).splitlines()[0]}", file=str(db),
                         hint="is another `recommend` process using it? pass another --db") from None
    spill = Path(tempfile.gettempdir()) / "recommender-duckdb"
    spill.mkdir(exist_ok=True)
    con.execute(f"SET memory_limit = '{MEMORY_LIMIT}'; SET preserve_insertion_order = false; SET TimeZone = 'UTC'; "
                f"SET temp_directory = '{spill}'")
    try:  # in Jupyter without ipywidgets DuckDB refuses to turn its progress bar on; progress is optional there
        con.execute("SET enable_progress_bar_print = false; SET enable_progress_bar = true")
    except duckdb.Error:
        pass
    install_macros(con)
    for ddl in (schema.connections_ddl(), schema.PODS_DDL, schema.NAMESPACES_DDL, schema.REJECTED_DDL,
                INGESTED_FILES_DDL):
        con.execute(ddl)
    return con


class FlowStore:
    """Distinct connections, inventory and ingest bookkeeping in one DuckDB database."""

    def __init__(self, con: duckdb.DuckDBPyConnection, db: str = ":memory:") -> None:
        self.con = con
        self.db = db
        self.summary: IngestSummary = build_summary(con, self._recorded_stats(), [], [])

    # --- reading ---------------------------------------------------------------------------------
    def connections(self) -> duckdb.DuckDBPyRelation:
        return self.con.table("connections")

    def df(self) -> pd.DataFrame:
        return self.con.execute(f"SELECT * FROM connections ORDER BY {_ORDER}").df()

    def arrow(self) -> pa.Table:
        return self.con.sql(f"SELECT * FROM connections ORDER BY {_ORDER}").to_arrow_table()

    def pods(self) -> list[Pod]:
        """Inventory pods, plus pods seen only in flows (with their flow labels and IPs)."""
        out = [Pod(namespace=ns, name=name, labels=Labels.of(dict(labels or {})), ips=tuple(ips or ()),
                   ports=tuple(ContainerPort(p["port"], p["protocol"] or "TCP", p["name"]) for p in ports or ()),
                   host_network=bool(hn), node=node, owner_kind=ok, owner_name=on)
               for ns, name, labels, ips, ports, hn, node, ok, on in self.con.execute(
                   "SELECT namespace, name, labels, ips, ports, host_network, node, owner_kind, owner_name "
                   "FROM pods ORDER BY namespace, name").fetchall()]
        flow_only = self.con.execute("""
            WITH e AS (SELECT src_namespace ns, src_pod pod, src_labels labels, src_ip ip, line, file, first_seen t FROM connections WHERE src_kind = 'pod'
                       UNION ALL SELECT dst_namespace, dst_pod, dst_labels, dst_ip, line, file, first_seen FROM connections WHERE dst_kind = 'pod')
            SELECT ns, pod, arg_min(labels, struct_pack(l := labels IS NULL, f := file, n := line, t := t, v := labels::VARCHAR)),
                   list_sort(list_distinct(list(ip) FILTER (WHERE ip IS NOT NULL)))
            FROM e WHERE pod IS NOT NULL AND ns IS NOT NULL
              AND NOT EXISTS (SELECT 1 FROM pods p WHERE p.namespace = e.ns AND p.name = e.pod)
            GROUP BY ns, pod ORDER BY ns, pod""").fetchall()
        out += [Pod(namespace=ns, name=pod, labels=Labels.of(dict(labels or {})), ips=tuple(ips or ()))
                for ns, pod, labels, ips in flow_only]
        return sorted(out, key=lambda p: (p.namespace, p.name))

    def namespaces(self) -> list[Namespace]:
        """Inventory namespaces plus namespaces seen only in flows; labels include kubernetes.io/metadata.name."""
        rows = self.con.execute("""
            SELECT name, any_value(labels) FROM (
              SELECT name, labels FROM namespaces
              UNION ALL SELECT src_namespace, NULL FROM connections WHERE src_namespace IS NOT NULL
              UNION ALL SELECT dst_namespace, NULL FROM connections WHERE dst_namespace IS NOT NULL
              UNION ALL SELECT namespace, NULL FROM pods WHERE namespace IS NOT NULL)
            GROUP BY name ORDER BY name""").fetchall()
        out = []
        for name, labels in rows:
            ns = Namespace(name=name, labels=Labels.of(dict(labels or {})))
            out.append(Namespace(name=name, labels=ns.effective_labels()))
        return out

    def export(self, path: PathLike, format: str = "parquet") -> Path:
        """Write ``connections`` as normalized Parquet or CSV (labels/policies as JSON text in CSV)."""
        if format == "parquet":
            sql, opts = f"SELECT * FROM connections ORDER BY {_ORDER}", "FORMAT parquet"
        elif format == "csv":
            cols = ", ".join(f"to_json({c}) AS {c}" if c.endswith("_labels") or c == "policies" else c
                             for c in schema.COLUMN_NAMES)
            sql, opts = f"SELECT {cols} FROM connections ORDER BY {_ORDER}", "FORMAT csv, HEADER true"
        else:
            raise UsageError(f"cannot export as {format!r} (use parquet or csv)")
        self.con.execute(f"COPY ({sql}) TO '{str(path).replace(chr(39), chr(39) * 2)}' ({opts})")
        return Path(path)

    def rejected(self) -> pd.DataFrame:
        return self.con.execute("SELECT * FROM rejected ORDER BY file, line").df()

    def close(self) -> None:
        self.con.close()

    # --- writing ---------------------------------------------------------------------------------
    def ingest(self, paths: Iterable[PathLike] | PathLike = (), inventory: Iterable[PathLike] | PathLike = (), *,
               format: str | None = None, skip_bad: bool = False, progress: Progress | None = None) -> IngestSummary:
        """Ingest flow files (and inventory files) into this store; returns and keeps the summary."""
        flow_paths, inv_paths = _as_list(paths), _as_list(inventory)
        con = self.con
        extra: dict[str, dict] = {}
        if inv_paths:
            load_inventory = _optional("recommender.io.inventory", "load_inventory")
            if load_inventory is None:
                raise UsageError("--inventory is not supported yet: recommender.io.inventory is missing")
            inv_stats: list[object] = []
            _in_transaction(con, lambda: inv_stats.append(load_inventory(con, inv_paths)))
            extra["inventory"] = _as_dict(inv_stats[0])
        read: list[ReadStats] = []
        already: list[str] = []
        done: list[tuple] = []
        distinct: list[bool] = []   # per file that staged rows: does its reader promise distinct keys?
        main = con.execute("SELECT current_database()").fetchone()[0]
        # Readers write into temp tables (`rejected` shadows the persistent one) outside any
        # transaction, so that a DuckDB error on the fast path does not abort it.
        con.execute(schema.connections_ddl("_staging").replace("CREATE TABLE IF NOT EXISTS", "CREATE OR REPLACE TEMP TABLE"))
        con.execute(schema.REJECTED_DDL.replace("CREATE TABLE IF NOT EXISTS", "CREATE OR REPLACE TEMP TABLE"))
        try:
            seen: set[str] = set(r[0] for r in con.execute("SELECT fingerprint FROM ingested_files").fetchall())
            formats = [_format_of(p, format) for p in flow_paths]
            together: dict[str, dict[str, ReadStats]] = {}   # per format, its files read together at the first one
            for i, p in enumerate(flow_paths):
                fmt = formats[i]
                if fmt in _TOGETHER and fmt not in together:
                    group = [q for q, f in zip(flow_paths[i:], formats[i:], strict=True) if f == fmt]
                    together[fmt] = self._ingest_together(fmt, group, skip_bad, progress, seen, done, distinct)
                stats = together[fmt].pop(str(p), None) if fmt in together else None
                if stats is None:
                    stats = self._ingest_file(p, format, skip_bad, progress, seen, done, distinct)
                if stats is None:
                    already.append(str(p))
                else:
                    read.append(stats)

            def commit() -> None:
                enrich = _optional("recommender.io.enrich", "enrich")
                changed = False
                if enrich is not None:
                    extra["enrichment"] = _as_dict(enrich(con, "_staging"))
                    changed = any(extra["enrichment"].get(k) for k in ("pods", "hosts"))
                    if inv_paths:   # a new inventory also resolves connections ingested before it
                        extra["enrichment_existing"] = _as_dict(enrich(con, "connections"))
                _merge(con, staging_distinct=distinct == [True] and not changed)
                con.execute(f'INSERT INTO "{main}".main.rejected SELECT * FROM temp.main.rejected ORDER BY file, line')
                if done:
                    con.executemany("INSERT INTO ingested_files VALUES (?, ?, ?, ?, ?, ?)", done)

            _in_transaction(con, commit)
        finally:
            con.execute("DROP TABLE IF EXISTS temp.main._staging; DROP TABLE IF EXISTS temp.main.rejected")
        self.summary = build_summary(con, read, already, inv_paths)
        self.summary.inventory = extra.get("inventory")
        self.summary.enrichment = extra.get("enrichment")
        return self.summary

    def _ingest_together(self, fmt: str, paths: list[PathLike], skip_bad: bool, progress: Progress | None,
                         seen: set[str], done: list[tuple], distinct: list[bool]) -> dict[str, ReadStats]:
        """Read every new file of ``paths`` (all of format ``fmt``) together, so that the records of one
        connection pair up across files (``calico_files``, ``vpc_files``, ``hubble.read_files``); stats by path. A file given
        twice, or already in the store, is left to the one-by-one loop, which says so."""
        picked: dict[str, tuple[str, int, float]] = {}
        fps = set(seen)
        for p in paths:
            if str(p) not in picked:
                fp = fingerprint(p)
                if fp[0] not in fps:
                    fps.add(fp[0])
                    picked[str(p)] = fp
        if not picked:
            return {}
        reader = _TOGETHER[fmt]
        stats = reader.read_files(self.con, list(picked), target="_staging", skip_bad=skip_bad, progress=progress)
        for st in stats:
            if not st.reconciles():
                raise RuntimeError(f"reader {fmt} does not reconcile on {st.file}: {st}")
            fp, size, mtime = picked[st.file]
            seen.add(fp)
            done.append((fp, st.file, size, mtime, fmt, json.dumps(asdict(st), sort_keys=True)))
        if any(st.connections for st in stats):
            distinct.append(bool(getattr(reader, "DISTINCT_OUTPUT", False)))
        return {st.file: st for st in stats}

    def _ingest_file(self, path: PathLike, fmt: str | None, skip_bad: bool, progress: Progress | None,
                     seen: set[str], done: list[tuple], distinct: list[bool]) -> ReadStats | None:
        name = detect.detect_format(path, fmt)
        if name == detect.EMPTY:
            st = ReadStats(file=str(path), format=fmt or "unknown")
            st.notes.append(f"{path}: empty file, nothing to read")
            return st
        fp, size, mtime = fingerprint(path)
        if fp in seen:
            return None
        reader = detect.reader_for(name)
        stats: ReadStats = reader.read(self.con, str(path), target="_staging", skip_bad=skip_bad, progress=progress)
        if not stats.reconciles():
            raise RuntimeError(f"reader {name} does not reconcile on {path}: {stats}")
        seen.add(fp)
        if stats.connections:
            distinct.append(bool(getattr(reader, "DISTINCT_OUTPUT", False)))
        done.append((fp, str(path), size, mtime, name, json.dumps(asdict(stats), sort_keys=True)))
        return stats

    def _recorded_stats(self) -> list[ReadStats]:
        return [ReadStats(**json.loads(s)) for (s,) in
                self.con.execute("SELECT stats FROM ingested_files ORDER BY rowid").fetchall()]


_ORDER = "file, line, src_kind, dst_kind, protocol, dst_port, action"
# Formats whose files are read together: the two ends' (or interfaces') records of a connection sit in
# different files (one per node, per interface), and only read together do they pair up.
_TOGETHER = {"calico": calico_files, "vpc": vpc_files, "hubble": hubble}   # each has read_files


def _format_of(path: PathLike, fmt: str | None) -> str | None:
    """The detected format, or None when detection fails (the one-by-one loop reports that, in order)."""
    try:
        return detect.detect_format(path, fmt)
    except RecommenderError:
        return None


def _in_transaction(con: duckdb.DuckDBPyConnection, fn) -> None:  # type: ignore[no-untyped-def]
    con.execute("BEGIN TRANSACTION")
    try:
        fn()
    except BaseException:
        con.execute("ROLLBACK")
        raise
    con.execute("COMMIT")


def _merge(con: duckdb.DuckDBPyConnection, staging_distinct: bool = False) -> None:
    """Fold ``_staging`` into ``connections``: one row per distinct key, counters summed.

    ``staging_distinct``: the staged rows are known to be distinct on the key (one file whose
    reader declares ``DISTINCT_OUTPUT``, untouched by enrichment); into an empty ``connections``
    they are then copied without aggregating them again."""
    if staging_distinct and con.execute("SELECT count(*) FROM (SELECT 1 FROM connections LIMIT 1)").fetchone()[0] == 0:
        con.execute(f"INSERT INTO connections SELECT * FROM _staging ORDER BY {_ORDER}")
        return
    keys = ", ".join(schema.KEY_COLUMNS)
    rows = ", ".join(c if c in schema.KEY_COLUMNS else _MERGE[c] + f" AS {c}" for c in schema.COLUMN_NAMES)
    con.execute(f"""CREATE OR REPLACE TEMP TABLE _merged AS
        SELECT {rows} FROM (
          SELECT {', '.join(schema.COLUMN_NAMES)}, struct_pack(file := file, line := line, format := format) AS prov
          FROM (SELECT * FROM connections UNION ALL SELECT * FROM _staging))
        GROUP BY {keys}""")
    con.execute("DELETE FROM connections")
    con.execute(f"INSERT INTO connections SELECT * FROM _merged ORDER BY {_ORDER}")
    con.execute("DROP TABLE _merged")


_MERGE = {
    "window_start": "min(window_start)", "window_end": "max(window_end)",
    "flows": "sum(flows)::BIGINT", "packets": "sum(packets)::BIGINT", "bytes": "sum(bytes)::BIGINT",
    "first_seen": "min(first_seen)", "last_seen": "max(last_seen)",
    "format": "min(prov).format", "file": "min(prov).file", "line": "min(prov).line",
    "records": "sum(records)::BIGINT",
}


def _as_dict(stats: object) -> dict:
    if is_dataclass(stats) and not isinstance(stats, type):
        return asdict(stats)
    return dict(stats) if isinstance(stats, dict) else {"value": str(stats)}


def _as_list(x: Iterable[PathLike] | PathLike) -> list[PathLike]:
    if isinstance(x, str | os.PathLike):
        return [x]
    return list(x)


def open_store(db: PathLike = ":memory:") -> FlowStore:
    """Reopen an existing database (or a fresh in-memory one) without ingesting anything."""
    if str(db) != ":memory:" and not Path(db).exists():
        raise InputError("no such database", file=str(db), hint="create it with `recommend ingest FLOWS --db PATH`")
    return FlowStore(connect(db), str(db))


def load_flows(paths: Iterable[PathLike] | PathLike | FlowStore, inventory: Iterable[PathLike] | PathLike = (),
               db: PathLike | FlowStore = ":memory:", format: str | None = None, skip_bad: bool = False,
               progress: Progress | None = None) -> FlowStore:
    """Ingest flow files (and an inventory) into a DuckDB database and return the store.

    ``paths`` may already be a ``FlowStore`` (returned as is); ``db`` may be a
    ``FlowStore`` to ingest into. Raises ``InputError`` for bad input.
    """
    if isinstance(paths, FlowStore):
        return paths
    store = db if isinstance(db, FlowStore) else FlowStore(connect(db), str(db))
    store.ingest(paths, inventory, format=format, skip_bad=skip_bad, progress=progress)
    return store
