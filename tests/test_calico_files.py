"""Calico files of one ingest are read together: the reporter rule pairs records across files
(Felix writes one flows.log per node), and splitting a log into files changes nothing but provenance."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from recommender.errors import InputError
from recommender.io import calico_files
from recommender.io.store import load_flows
from tests.test_calico import CONFLICT, SKEWED, W2, _records, rec, write


def _by_file(store) -> dict[str, object]:  # type: ignore[no-untyped-def]
    return {s.file: s for s in store.summary.files}


def test_reports_of_one_connection_in_two_nodes_files_are_paired(tmp_path: Path) -> None:
    # node A logged the source's allow, node B the destination's deny, in the same window
    a = write(tmp_path / "node-a.log", [rec(), rec(dest_port=1)])
    b = write(tmp_path / "node-b.log", [rec(reporter="dst", action="deny", bytes_in=7, bytes_out=0)])
    store = load_flows([b, a])
    [row] = [r for r in store.df().to_dict("records") if r["dst_port"] == 5432]
    assert (row["action"], row["records"], row["bytes"], row["file"], row["line"]) == ("deny", 1, 7, str(b), 1)
    files = _by_file(store)
    assert files[str(a)].skipped == {CONFLICT: 1} and files[str(a)].accepted == 1
    assert files[str(b)].skipped == {} and files[str(b)].accepted == 1
    assert (files[str(a)].connections, files[str(b)].connections) == (1, 1)
    assert all(s.reconciles() for s in files.values())


def test_nodes_whose_windows_are_cut_at_different_times_are_paired(tmp_path: Path) -> None:
    # each Felix starts its windows when it starts: node B's window overlaps node A's without matching it
    a = write(tmp_path / "node-a.log", [rec(), rec(**W2)])
    b = write(tmp_path / "node-b.log", [rec(reporter="dst", action="deny", **SKEWED)])
    rows = load_flows([a, b]).df().to_dict("records")
    # the deny overlaps both of the source's windows, so neither allow stands on its own
    assert [(r["action"], r["records"], r["file"]) for r in rows] == [("deny", 1, str(b))]


def test_different_windows_in_different_files_stay_two_observations(tmp_path: Path) -> None:
    a = write(tmp_path / "a.log", [rec()])
    b = write(tmp_path / "b.log", [rec(reporter="dst", action="deny", **W2)])
    rows = load_flows([a, b]).df().to_dict("records")
    assert sorted((r["action"], r["file"]) for r in rows) == [("allow", str(a)), ("deny", str(b))]


def _key(store) -> list[str]:  # type: ignore[no-untyped-def]
    return sorted(map(str, store.df().drop(columns=["file", "line"]).to_dict("records")))


@settings(max_examples=10, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(records=_records, cuts=st.lists(st.integers(0, 12), max_size=3))
def test_splitting_a_log_into_files_changes_only_provenance(tmp_path_factory, records, cuts) -> None:
    d = tmp_path_factory.mktemp("split")
    whole = load_flows(write(d / "whole.log", records))
    bounds = sorted({0, len(records), *(c for c in cuts if c < len(records))})
    parts = [write(d / f"part{i}.log", records[lo:hi]) for i, (lo, hi) in enumerate(zip(bounds, bounds[1:]))]
    split = load_flows(list(reversed(parts)))
    assert _key(split) == _key(whole)
    w = whole.summary.files[0]
    got = split.summary
    assert (got.records, got.accepted) == (w.records, w.accepted)
    assert got.skipped == w.skipped
    assert all(s.reconciles() for s in got.files)
    # provenance: the first record that counts, by (file, line), as the store merges across ingests
    for r in split.df().to_dict("records"):
        assert r["file"] in {str(p) for p in parts} and r["line"] >= 1


def test_without_line_numbers_the_files_give_the_same_connections(tmp_path: Path,
                                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("RECOMMENDER_LINE_NUMBERS", raising=False)
    paths = [write(tmp_path / "a.log", [rec(), rec(dest_port=1)]), write(tmp_path / "b.log", [rec(reporter="dst")])]
    numbered = load_flows(paths)
    monkeypatch.setattr(calico_files, "LINE_NUMBERS_MAX_BYTES", 0)
    parallel = load_flows(paths)
    assert _key(parallel) == _key(numbered)
    assert parallel.df()["line"].isna().all()
    assert sorted(parallel.df()["file"]) == sorted(numbered.df()["file"])
    assert [n for n in parallel.summary.notes if "without line numbers" in n] == \
        [f"{paths[0]} and 1 more Calico files: read in parallel without line numbers (over 0 MB): connections "
         "name the file and first_seen; RECOMMENDER_LINE_NUMBERS=1 keeps lines"]
    # forced off, the note says so (not a size the files do not reach)
    monkeypatch.undo()
    monkeypatch.setenv("RECOMMENDER_LINE_NUMBERS", "0")
    forced = load_flows(paths)
    assert [n for n in forced.summary.notes if "without line numbers" in n] == \
        [f"{paths[0]} and 1 more Calico files: read in parallel without line numbers (RECOMMENDER_LINE_NUMBERS=0): "
         "connections name the file and first_seen; RECOMMENDER_LINE_NUMBERS=1 keeps lines"]


@pytest.mark.parametrize(("bad", "reason"), [
    (json.dumps(rec(dest_port=70000)), "invalid port 70000 for TCP"),   # validation: a numbered second pass
    ('{"start_time": 1', "invalid JSON"),                            # DuckDB refuses: Python scans the files
])
def test_a_bad_record_is_located_in_its_file(tmp_path: Path, bad: str, reason: str) -> None:
    good = write(tmp_path / "a.log", [rec(), rec(dest_port=1)])
    broken = write(tmp_path / "b.log", [rec(dest_port=2), "", bad])
    with pytest.raises(InputError) as ei:
        load_flows([good, broken])
    assert str(ei.value).startswith(f"{broken}:3: {reason}"), str(ei.value)
    store = load_flows([good, broken], skip_bad=True)
    assert store.con.execute("SELECT file, line FROM rejected").fetchall() == [(str(broken), 3)]
    files = _by_file(store)
    assert (files[str(good)].records, files[str(broken)].records, files[str(broken)].rejected) == (2, 2, 1)
    assert store.summary.connections == 3


def test_a_file_still_being_written_among_others(tmp_path: Path) -> None:
    done = write(tmp_path / "a.log", [rec()])
    writing = write(tmp_path / "b.log", [rec(dest_port=1), json.dumps(rec())[:40]], tail="")
    files = _by_file(load_flows([done, writing]))
    assert files[str(writing)].skipped == {"truncated last line": 1} and files[str(writing)].accepted == 1
    assert files[str(done)].accepted == 1


def test_the_same_file_twice_is_read_once(tmp_path: Path) -> None:
    a = write(tmp_path / "a.log", [rec()])
    store = load_flows([a, a, write(tmp_path / "b.log", [rec(dest_port=1)])])
    assert store.summary.records == 2 and store.summary.already_ingested == [str(a)]


@pytest.mark.parametrize("numbered", [True, False])
def test_plain_and_gzip_files_together(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, numbered: bool) -> None:
    monkeypatch.delenv("RECOMMENDER_LINE_NUMBERS", raising=False)
    if not numbered:
        monkeypatch.setattr(calico_files, "LINE_NUMBERS_MAX_BYTES", 0)
    # names interleave the compressions, so each file's index must survive the split into two scans
    paths = [write(tmp_path / "a.log.gz", [rec(dest_port=1)]), write(tmp_path / "b.log", [rec(dest_port=2), rec()]),
             write(tmp_path / "c.log.gz", [rec(reporter="dst", action="deny")])]
    store = load_flows(paths)
    rows = {r["dst_port"]: r for r in store.df().to_dict("records")}
    assert {p: rows[p]["file"] for p in (1, 2)} == {1: str(paths[0]), 2: str(paths[1])}
    assert (rows[5432]["action"], rows[5432]["file"]) == ("deny", str(paths[2]))   # paired across b and c
    assert [rows[p]["line"] for p in (1, 2, 5432)] == ([1, 1, 1] if numbered else [None, None, None])
    files = _by_file(store)
    assert files[str(paths[1])].skipped == {CONFLICT: 1} and all(s.reconciles() for s in files.values())
