"""The public evaluation API: verdicts for many connections, as a DataFrame.

``evaluate`` accepts whatever a notebook or another command has at hand
(a ``FlowStore``, a DuckDB relation, a DataFrame in the ``connections`` schema,
or a list of ``model.Flow``) and policies as models, a ``PolicySet`` or a path,
normalizes them into one DuckDB table and hands it to the set-based evaluator
(``recommender.engine.bulk``). ``admitted_pairs`` answers "which of these
endpoint × port combinations would the policies admit?" for over-permission
measurements, with the same machinery.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import duckdb
import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from recommender.engine.bulk import drop_temp, evaluate_table, evaluate_table_with, labels_key
from recommender.engine.compile import CompiledPolicies, compile_policies, namespace_labels
from recommender.errors import InputError
from recommender.io.schema import KEY_COLUMNS
from recommender.model import Endpoint, Flow, Namespace, NetworkPolicy, Pod

VERDICT_COLUMNS = (
    "egress_applies", "egress_isolated", "egress_allowed", "egress_isolated_by", "egress_admitted_by",
    "ingress_applies", "ingress_isolated", "ingress_allowed", "ingress_isolated_by", "ingress_admitted_by",
    "allowed", "reason", "egress_reason", "ingress_reason",
)
_LIST_COLUMNS = ("egress_isolated_by", "egress_admitted_by", "ingress_isolated_by", "ingress_admitted_by")
_ENDPOINT = ("ip", "namespace", "pod", "workload", "kind")
_INPUT = tuple(f"{s}_{c}" for s in ("src", "dst") for c in _ENDPOINT) + ("protocol", "dst_port")

PolicyInput = Iterable[NetworkPolicy] | CompiledPolicies | Any  # Any: a PolicySet or a path


def load_policy_input(policies: PolicyInput) -> tuple[Sequence[NetworkPolicy] | CompiledPolicies, list[Pod], list[Namespace]]:
    """Policies (loaded from a path, taken from a PolicySet, or as given; not compiled) plus the
    pods/namespaces that came with them (a multi-document file)."""
    if isinstance(policies, (str, Path)):
        from recommender.io.policies import load_policies

        policies = load_policies(policies)
    if hasattr(policies, "policies") and hasattr(policies, "skipped"):  # a PolicySet
        return tuple(policies.policies), list(policies.pods), list(policies.namespaces)
    return policies if isinstance(policies, CompiledPolicies) else tuple(policies), [], []


def resolve_policies(policies: PolicyInput) -> tuple[CompiledPolicies, list[Pod], list[Namespace]]:
    """Compiled policies plus the pods/namespaces that came with them (a multi-document file)."""
    loaded, pods, namespaces = load_policy_input(policies)
    return compile_policies(loaded), pods, namespaces


def _merge_inventory(*groups: Iterable[Any], key) -> list[Any]:  # type: ignore[no-untyped-def]
    seen: dict[Any, Any] = {}
    for group in groups:
        for item in group:
            seen.setdefault(key(item), item)
    return list(seen.values())


def _labels_text(value: Any, column: str = "labels") -> str | None:
    """Canonical text of a row's labels; None (ask the inventory) when the row carries none: an
    empty map is "no labels recorded", as for a Flow, never "a pod without labels". Text is read
    as the normalized CSV writes it (a JSON object or ``k=v;k=v``), as ``pd.read_csv`` leaves it."""
    if value is None or (isinstance(value, float) and pd.isna(value)):
        return None
    try:
        labels = _parse_label_text(value) if isinstance(value, str) else (
            value if isinstance(value, Mapping) else dict(value))   # or a sequence of (key, value) pairs
    except (TypeError, ValueError) as exc:
        raise InputError(f"{column}: cannot read labels {value!r} ({exc})",
                         hint='labels are a mapping, (key, value) pairs, a JSON object or k=v;k=v') from None
    return labels_key({str(k): str(v) for k, v in labels.items()}) if len(labels) else None


def _parse_label_text(text: str) -> dict[str, str]:
    text = text.strip()
    if text.startswith("{"):
        found = json.loads(text)
        if not isinstance(found, dict) or not all(isinstance(v, str) for v in found.values()):
            raise ValueError("not a JSON object of strings")
        return found
    if text.startswith("["):
        raise ValueError("a JSON list is not a label map")
    pairs = [item.partition("=") for item in text.split(";") if item.strip()]
    if any(not sep or not k.strip() for k, sep, _ in pairs):
        raise ValueError("expected k=v;k=v")
    return {k.strip(): v.strip() for k, _, v in pairs}


def _frame_from_flows(flows: Sequence[Flow]) -> pd.DataFrame:
    """Flows as rows; an endpoint without labels takes its labels from the inventory pod."""
    rows: dict[str, list] = {c: [] for c in (*_INPUT, "src_lkey", "dst_lkey")}
    for f in flows:
        for side, ep in (("src", f.src), ("dst", f.dst)):
            for c in _ENDPOINT:
                v = getattr(ep, c)
                rows[f"{side}_{c}"].append(str(v.value if hasattr(v, "value") else v) if c == "kind" else v)
            rows[f"{side}_lkey"].append(labels_key(ep.labels) if len(ep.labels) else None)
        rows["protocol"].append(f.protocol)
        rows["dst_port"].append(f.port)
    df = pd.DataFrame(rows)
    df["dst_port"] = df["dst_port"].astype("Int32")
    return df


def _prepare(con: duckdb.DuckDBPyConnection, source: str, map_labels: bool, cid: str = "cid") -> str:
    """A temp view: ``cid`` (stable row number) + endpoint columns + canonical label text, plus the
    source's other key columns (for the output). Nothing is copied."""
    name = f"{source}_prepared"
    have = [r[0] for r in con.execute(f"DESCRIBE {source}").fetchall()]
    for required in ("src_kind", "dst_kind", "protocol"):
        if required not in have:
            raise InputError(f"flows lack the required column {required!r}", hint="see the connections schema in the README")
    exprs = [f"CAST({c if c in have else 'NULL'} AS {'INTEGER' if c == 'dst_port' else 'VARCHAR'}) AS {c}" for c in _INPUT]
    for side in ("src", "dst"):
        if not map_labels:
            exprs.append(f"CAST({side}_lkey AS VARCHAR) AS {side}_lkey")
        elif f"{side}_labels" in have:
            exprs.append(f"{side}_labels AS {side}_lkey")  # the MAP itself; bulk hashes it
        else:
            exprs.append(f"CAST(NULL AS VARCHAR) AS {side}_lkey")
    exprs += [c for c in have if c in KEY_COLUMNS and c not in _INPUT]
    con.execute(f"CREATE OR REPLACE TEMP VIEW {name} AS SELECT {cid} AS cid, {', '.join(exprs)} FROM {source}")
    return name


def _key_query(table: str, keys: Sequence[str], ordered: bool = False) -> str:
    return f"SELECT cid{''.join(f', {k}' for k in keys)} FROM {table}" + (" ORDER BY cid" if ordered else "")


def _verdict_frame(con: duckdb.DuckDBPyConnection, table: str, verdicts: str, keys: Sequence[str],
                   rows: pa.Table | None = None) -> pd.DataFrame:
    """The key columns (``rows``: the result of ``_key_query``, read here when not given) beside the verdicts."""
    if rows is None:
        rows = con.sql(_key_query(table, keys)).to_arrow_table()
    # The key columns are read in scan order (the input's row order) and the verdicts in whatever
    # order DuckDB produces them (parallel joins do not keep the endpoint table in cid order at
    # scale). Each row is paired with its verdict by cid with an integer argsort/search in NumPy:
    # no hash join on the key columns, no sort of the wide verdict rows in DuckDB.
    verdict = con.sql(f"SELECT cid, {', '.join(VERDICT_COLUMNS)} FROM {verdicts}").to_arrow_table()
    tcid = rows.column("cid").to_numpy()
    vcid = verdict.column("cid").to_numpy()
    if len(tcid) == len(vcid) and not np.array_equal(tcid, vcid):
        order = np.argsort(vcid, kind="stable")
        pos = np.searchsorted(vcid[order], tcid).clip(0, max(len(vcid) - 1, 0))
        # cids are unique per row (positions or rowids), so equal lengths + every cid found = a permutation
        if len(vcid) and np.array_equal(vcid[order][pos], tcid):
            verdict = _take(verdict, pa.array(order[pos]))
            vcid = tcid
    if len(tcid) != len(vcid) or not np.array_equal(tcid, vcid):  # not one verdict per row: join by cid
        cols = [f"t.{k}" for k in keys] + [f"v.{c}" for c in VERDICT_COLUMNS]
        out = con.sql(f"SELECT {', '.join(cols)} FROM {table} t JOIN {verdicts} v USING (cid) ORDER BY cid").to_arrow_table()
    else:
        out = pa.Table.from_arrays([*rows.drop_columns(["cid"]).columns, *verdict.drop_columns(["cid"]).columns],
                                   names=[*keys, *VERDICT_COLUMNS])
    # List and MAP columns stay Arrow-backed (pd.ArrowDtype): no Python object per cell, and a
    # cell still reads back as a Python list (labels: a list of (key, value) pairs).
    return out.to_pandas(types_mapper=_arrow_nested)


def _take(table: pa.Table, indices: pa.Array) -> pa.Table:
    """``table.take(indices)``, one column per thread (Arrow releases the GIL): the verdict text is
    hundreds of MB at a million rows, and a single-threaded take (or first combining the chunks DuckDB
    returned) cost about a second."""
    with ThreadPoolExecutor(max_workers=2) as pool:
        columns = list(pool.map(lambda column: column.take(indices), table.columns))
    return pa.Table.from_arrays(columns, names=table.column_names)


def _arrow_nested(t: pa.DataType) -> pd.ArrowDtype | None:
    return pd.ArrowDtype(t) if pa.types.is_list(t) or pa.types.is_map(t) else None


def _empty_maps_null(schema: pa.Schema) -> str:
    """A ``REPLACE`` clause that reads an empty label MAP as NULL (no labels recorded, so the inventory
    pod's labels apply), as ``_labels_text`` does for a DataFrame; the store's ingest already does so."""
    maps = [c for c in ("src_labels", "dst_labels") if c in schema.names and pa.types.is_map(schema.field(c).type)]
    cases = [f"CASE WHEN cardinality({c}) > 0 THEN {c} END AS {c}" for c in maps]
    return f" REPLACE ({', '.join(cases)})" if cases else ""


def _flow_frames(flows: Any) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(input columns + canonical label text, key columns for the output) of a DataFrame or Flow list."""
    if isinstance(flows, pd.DataFrame):
        frame = flows.reset_index(drop=True)
        src = frame[[c for c in _INPUT if c in frame.columns]].copy()
        for side in ("src", "dst"):
            col = f"{side}_labels"
            src[f"{side}_lkey"] = frame[col].map(lambda v, c=col: _labels_text(v, c)) if col in frame.columns else None
        return src, frame[[c for c in KEY_COLUMNS if c in frame.columns]]
    items = list(flows)
    if items and not isinstance(items[0], Flow):
        raise InputError(f"cannot evaluate flows given as {type(items[0]).__name__}",
                         hint="pass a FlowStore, a DuckDB relation, a DataFrame or a list of Flow")
    src = _frame_from_flows(items)
    frame = src[list(_INPUT)].copy()
    for side in ("src", "dst"):
        frame[f"{side}_labels"] = [getattr(f, side).labels.as_dict() for f in items]
    return src, frame


def evaluate(policies: PolicyInput, flows: Any, *, pods: Iterable[Pod] | None = None,
             namespaces: Iterable[Namespace] | None = None) -> pd.DataFrame:
    """One row per connection: its key columns plus, per direction, whether it applies, whether the pod
    is isolated and by which policies, which rules admit it, and ``allowed`` with a ``reason``.

    ``flows``: a FlowStore, a DuckDB relation, a DataFrame in the connections schema, or a list of Flow.
    ``pods``/``namespaces`` default to the store's inventory plus those loaded with the policies.
    List columns (``*_by``) and label MAPs are Arrow-backed; a cell reads back as a Python list."""
    # Not compiled here: evaluate_table compiles while DuckDB reads the connections.
    compiled, ppods, pnss = load_policy_input(policies)
    store = flows if hasattr(flows, "con") and hasattr(flows, "pods") else None
    # Pods/namespaces loaded beside the policies come first: the store also lists pods seen only in
    # flows (labels, no container ports), which must not shadow a full inventory object.
    if pods is None:
        pods = _merge_inventory(ppods, store.pods() if store else (), key=lambda p: (p.namespace, p.name))
    if namespaces is None:
        namespaces = _merge_inventory(pnss, store.namespaces() if store else (), key=lambda n: n.name)
    ns_labels = namespace_labels(list(namespaces))
    if store is not None:  # evaluated inside the store's database: no copy; rowid numbers the rows
        con = store.con
        table = _prepare(con, "connections", map_labels=True, cid="rowid")
        have = {r[0] for r in con.execute("DESCRIBE connections").fetchall()}
        keys = [c for c in KEY_COLUMNS if c in have]
        try:
            return _run(con, table, compiled, pods, ns_labels, keys)
        finally:
            con.execute(f"DROP VIEW IF EXISTS {table}")
    if isinstance(flows, duckdb.DuckDBPyRelation):
        flows = flows.to_arrow_table()
    frame = None if isinstance(flows, pa.Table) else _flow_frames(flows)
    con = duckdb.connect()
    try:
        if frame is None:  # read into DuckDB once: it is scanned three times, and Arrow MAPs convert per scan
            con.register("_evarrow", flows.append_column("cid", pa.array(np.arange(flows.num_rows))))
            con.execute(f"CREATE TEMP TABLE _evsrc AS SELECT *{_empty_maps_null(flows.schema)} FROM _evarrow")
            con.unregister("_evarrow")
            keys = [c for c in KEY_COLUMNS if c in flows.column_names]
        else:
            con.register("_evsrc", frame[0].assign(cid=np.arange(len(frame[0]))))
            keys = []
        table = _prepare(con, "_evsrc", map_labels=frame is None)
        out = _run(con, table, compiled, pods, ns_labels, keys)
    finally:
        con.close()
    if frame is not None:
        out = pd.concat([frame[1].reset_index(drop=True), out.reset_index(drop=True)], axis=1)
    return out


def evaluate_in(con: duckdb.DuckDBPyConnection, source: str, policies: PolicyInput, *, pods: Iterable[Pod],
                namespaces: Iterable[Namespace], cid: str, rows: pa.Table | None = None) -> pd.DataFrame:
    """``evaluate`` of a table or view of ``con`` (connections schema) in place, with no copy of its rows;
    one row per source row, in the order of its unique integer column ``cid`` (not in the output).
    ``rows``: the source's ``key_rows``, when the caller read them already (they are not read again)."""
    compiled, _, _ = load_policy_input(policies)
    table = _prepare(con, source, map_labels=True, cid=cid)
    if rows is not None:
        keys = rows.column_names[1:]
    else:   # described once: a DESCRIBE per key column (16) of a view over joins cost ~0.25 s
        have = {r[0] for r in con.execute(f"DESCRIBE {source}").fetchall()}
        keys = [c for c in KEY_COLUMNS if c in have]
    try:
        return _run(con, table, compiled, pods, namespace_labels(list(namespaces)), keys, ordered=True, rows=rows)
    finally:
        con.execute(f"DROP VIEW IF EXISTS {table}")


def key_rows(con: duckdb.DuckDBPyConnection, source: str, *, cid: str) -> pa.Table:
    """``cid`` and the key columns of the rows of ``source`` (those it has), in ``cid`` order: what
    ``evaluate_in`` puts beside the verdicts. Read ahead, they can be passed to it as ``rows``."""
    table = _prepare(con, source, map_labels=True, cid=cid)
    try:
        have = {r[0] for r in con.execute(f"DESCRIBE {source}").fetchall()}
        return con.sql(_key_query(table, [c for c in KEY_COLUMNS if c in have], ordered=True)).to_arrow_table()
    finally:
        con.execute(f"DROP VIEW IF EXISTS {table}")


def _run(con: duckdb.DuckDBPyConnection, table: str, compiled: Sequence[NetworkPolicy] | CompiledPolicies, pods: Iterable[Pod],
         ns_labels: Mapping[str, Any], keys: Sequence[str], ordered: bool = False, rows: pa.Table | None = None,
         ) -> pd.DataFrame:
    # The key columns (``_key_query``) are read while the evaluator builds its selection tables in Python.
    side = None if rows is not None else _key_query(table, keys, ordered)
    verdicts, read = evaluate_table_with(con, table, compiled, list(pods), ns_labels, side)
    rows = read if rows is None else rows
    try:
        return _verdict_frame(con, table, verdicts, keys, rows)
    finally:
        drop_temp(con, verdicts)


def admitted_pairs(policies: PolicyInput, sources: Sequence[Endpoint], destinations: Sequence[Endpoint],
                   ports: Sequence[tuple[str, int | None]], *, pods: Iterable[Pod] | None = None,
                   namespaces: Iterable[Namespace] | None = None) -> pd.DataFrame:
    """Evaluate every source × destination × (protocol, port) combination, set-based.

    Returns one row per combination, ordered by (src, dst, protocol, dst_port): ``src`` and ``dst``
    (indexes into the given sequences), ``protocol``, ``dst_port``, ``egress_allowed``,
    ``ingress_allowed``, ``allowed`` and the admitting rules (``*_admitted_by``). Pairs of a pod with
    itself are included and always allowed. ``pods`` supply labels and named ports of pod endpoints
    given without labels."""
    compiled, ppods, pnss = load_policy_input(policies)
    src_df = _frame_from_flows([Flow(e, Endpoint()) for e in sources])[[f"src_{c}" for c in (*_ENDPOINT, "lkey")]]
    dst_df = _frame_from_flows([Flow(Endpoint(), e) for e in destinations])[[f"dst_{c}" for c in (*_ENDPOINT, "lkey")]]
    src_df.insert(0, "src", np.arange(len(src_df)))
    dst_df.insert(0, "dst", np.arange(len(dst_df)))
    port_df = pd.DataFrame({"protocol": pd.array([p for p, _ in ports], dtype="string"),
                            "dst_port": pd.array([n for _, n in ports], dtype="Int32")})
    con = duckdb.connect()
    try:
        con.register("_ap_src", src_df)
        con.register("_ap_dst", dst_df)
        con.register("_ap_port", port_df)
        con.execute("""CREATE TEMP TABLE _ap AS SELECT row_number() OVER (ORDER BY src, dst, protocol, dst_port) - 1 AS cid, *
            FROM _ap_src CROSS JOIN _ap_dst CROSS JOIN _ap_port""")
        table = _prepare(con, "_ap", map_labels=False)
        verdicts = evaluate_table(con, table, compiled, list(pods) if pods is not None else ppods,
                                  namespace_labels(list(namespaces) if namespaces is not None else pnss))
        out = con.sql(f"""SELECT t.src, t.dst, t.protocol, t.dst_port, v.egress_allowed, v.ingress_allowed, v.allowed,
            v.egress_admitted_by, v.ingress_admitted_by FROM _ap t JOIN {verdicts} v USING (cid) ORDER BY cid""").to_arrow_table()
    finally:
        con.close()
    return out.to_pandas(types_mapper=_arrow_nested)
