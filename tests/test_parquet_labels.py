"""MAP labels in normalized Parquet are hashed from Arrow (recommender.io.parquet_labels): same connections.

The reader groups MAP(VARCHAR, VARCHAR) label columns on a hash computed from the Parquet dictionary
indices instead of DuckDB's ``hash(map)``. Whatever the spelling (MAP in any entry order, or JSON
text), and whichever path hashes the labels, the stored connections must be the same; every fallback
(strings instead of dictionaries, too many pairs to tabulate, a call spanning row groups, Arrow failing,
a map of non-strings) must give the answer of the plain DuckDB path.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from recommender import load_flows
from recommender.io import normalized, parquet_labels

MAP = pa.map_(pa.string(), pa.string())
TEXT = st.sampled_from(["app", "web", "k8s.io/name", "", "é", "a=b", "v1", "tier"])
LABELS = st.one_of(st.none(), st.dictionaries(TEXT, TEXT, max_size=4))
ROW = st.tuples(LABELS, LABELS, st.sampled_from([80, 443]), st.sampled_from(["tcp", "udp"]))


def write(path: Path, rows: list[tuple], *, as_json: bool = False, reverse: bool = False) -> Path:
    """Rows of (src_labels, dst_labels, dst_port, protocol); labels as MAP entries (optionally in reverse
    insertion order) or as JSON text. Row groups of 3, so a file has several."""
    def enc(d: dict | None) -> object:
        if d is None:
            return None
        return json.dumps(d) if as_json else list(reversed(d.items()) if reverse else d.items())
    n = len(rows)
    labels = pa.string() if as_json else MAP
    table = pa.table({"src_kind": ["pod"] * n, "src_labels": pa.array([enc(r[0]) for r in rows], labels),
                      "dst_kind": ["pod"] * n, "dst_labels": pa.array([enc(r[1]) for r in rows], labels),
                      "protocol": [r[3] for r in rows], "dst_port": pa.array([r[2] for r in rows], pa.int32()),
                      "action": ["allow"] * n})
    pq.write_table(table, path, row_group_size=3)
    return path


def connections(path: Path) -> list[tuple]:
    con = load_flows(path).con
    return con.execute("SELECT * EXCLUDE (file) FROM connections ORDER BY ALL").fetchall()


@settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(rows=st.lists(ROW, min_size=1, max_size=12))
def test_map_and_json_text_labels_give_the_same_connections(tmp_path: Path, rows: list[tuple]) -> None:
    """MAP labels (either entry order), JSON-text labels, and MAP labels hashed by DuckDB: one answer."""
    groups: list[int] = []
    hashed = parquet_labels._RowGroups.group
    with pytest.MonkeyPatch.context() as mp:   # per example: Hypothesis reuses the function's fixtures
        mp.setattr(parquet_labels._RowGroups, "group", lambda self, g: groups.append(g) or hashed(self, g))
        as_map = connections(write(tmp_path / "map.parquet", rows))
        assert groups   # the Arrow path ran (a silent fallback would hide it)
        assert connections(write(tmp_path / "rev.parquet", rows, reverse=True)) == as_map
        assert connections(write(tmp_path / "json.parquet", rows, as_json=True)) == as_map
        mp.setattr(normalized, "_ARROW_LABELS", False)
        assert connections(tmp_path / "map.parquet") == as_map
    distinct = {(json.dumps(r[0] or None, sort_keys=True), json.dumps(r[1] or None, sort_keys=True), r[2], r[3]) for r in rows}
    assert len(as_map) == len(distinct)   # {} and no labels are the same (NULL)


def test_null_and_empty_map_values_stay_distinct(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A NULL value, an empty value and a missing key are three label sets; repeated rows merge."""
    labels = [[("a", None)], [("a", "")], [("b", "")], [("a", None)], [], None]
    p = tmp_path / "n.parquet"
    pq.write_table(pa.table({"src_kind": ["pod"] * 6, "src_labels": pa.array(labels, MAP), "dst_kind": ["pod"] * 6,
                             "protocol": ["tcp"] * 6, "action": ["allow"] * 6}), p, row_group_size=2)
    rows = connections(p)
    assert sorted(((r[-1], r[7] and sorted(r[7].items(), key=str)) for r in rows), key=str) == \
        [(1, [("a", "")]), (1, [("b", "")]), (2, None), (2, [("a", None)])]
    monkeypatch.setattr(normalized, "_ARROW_LABELS", False)
    assert connections(p) == rows


def hashes(path: Path, columns: list[str]) -> np.ndarray:
    rg = parquet_labels._RowGroups(str(path), columns)
    return np.concatenate([rg.group(g) for g in range(len(rg.starts) - 1)], axis=1)


SAMPLE = [({"app": "web", "tier": "1"}, None, 80, "tcp"), ({"tier": "1", "app": "web"}, {"a": "b"}, 80, "tcp"),
          (None, {}, 443, "udp"), ({"app": "api"}, {"a": "b", "c": ""}, 80, "tcp"), ({"": "é"}, None, 80, "tcp")]


def test_hashes_ignore_entry_order_and_separate_different_maps(tmp_path: Path) -> None:
    h = hashes(write(tmp_path / "s.parquet", SAMPLE), ["src_labels", "dst_labels"])
    assert h[0, 0] == h[0, 1] and h[0, 2] == 0 and h[1, 2] == 0   # order; NULL and {} hash alike
    assert len({h[0, 0], h[0, 3], h[0, 4], h[1, 1], h[1, 3]}) == 5
    assert (hashes(write(tmp_path / "r.parquet", SAMPLE, reverse=True), ["src_labels", "dst_labels"]) == h).all()


def test_fallbacks_give_the_same_hashes(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Strings read when the dictionaries cannot be; per-entry mixing when the pairs are too many to
    tabulate; one call asking for rows of several row groups."""
    p = write(tmp_path / "s.parquet", SAMPLE)
    expected = hashes(p, ["src_labels", "dst_labels"])

    class NoDictionaries:
        def read_row_group(self, *args: object, **kwargs: object) -> None:
            raise pa.ArrowNotImplementedError("Nested data conversions not implemented for chunked array outputs")

    rg = parquet_labels._RowGroups(str(p), ["src_labels", "dst_labels"])
    rg.file = NoDictionaries()   # type: ignore[assignment]
    assert (np.concatenate([rg.group(g) for g in range(len(rg.starts) - 1)], axis=1) == expected).all()
    monkeypatch.setattr(parquet_labels, "_MAX_PAIRS", 0)
    assert (hashes(p, ["src_labels", "dst_labels"]) == expected).all()
    rows = [4, 0, 3, 1]   # row groups of 3: rows 0, 1 in the first, 3, 4 in the second
    out = parquet_labels._RowGroups(str(p), ["src_labels", "dst_labels"])(pa.chunked_array([pa.array(rows, pa.int64())]))
    assert [out.field(0).to_pylist(), out.field(1).to_pylist()] == expected[:, rows].tolist()


def test_reader_falls_back_to_duckdb_when_arrow_fails(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    p = write(tmp_path / "s.parquet", SAMPLE)
    expected = connections(p)
    planned: list[list[str]] = []
    aggregate = normalized._Plan.aggregate
    monkeypatch.setattr(normalized._Plan, "aggregate", lambda self, con, data: planned.append(list(self.fast)) or aggregate(self, con, data))

    def broken(self: object, g: int) -> None:
        raise OSError("unreadable row group")

    monkeypatch.setattr(parquet_labels._RowGroups, "group", broken)
    assert connections(p) == expected
    assert planned == [["src_labels", "dst_labels"], []]   # tried with Arrow, then read by DuckDB alone


def test_only_string_maps_are_hashed_from_arrow(tmp_path: Path) -> None:
    """A map of integers (DuckDB hashes it, canonical values cast to text) and a missing file are not usable."""
    p = tmp_path / "i.parquet"
    pq.write_table(pa.table({"src_kind": ["pod"] * 2, "src_labels": pa.array([[("a", 1)], [("a", 1)]], pa.map_(pa.string(), pa.int32())),
                             "dst_kind": ["pod"] * 2, "dst_labels": pa.array([[("b", "2")], None], MAP),
                             "protocol": ["tcp"] * 2, "action": ["allow"] * 2}), p)
    assert parquet_labels.usable(str(p), ["src_labels", "dst_labels"]) == ["dst_labels"]
    assert parquet_labels.usable(str(tmp_path / "missing.parquet"), ["src_labels"]) == []
    rows = connections(p)
    assert [(dict(r[7]), r[13] and dict(r[13]), r[-1]) for r in rows] in ([({"a": "1"}, {"b": "2"}, 1), ({"a": "1"}, None, 1)],
                                                                          [({"a": "1"}, None, 1), ({"a": "1"}, {"b": "2"}, 1)])
