"""The flow store: tables, idempotent re-ingest, merging, model objects, reopening."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from recommender import FlowStore, load_flows, open_store
from recommender.errors import InputError, UsageError
from recommender.io import detect
from recommender.model import Labels
from tests.test_calico import rec, write


def test_tables_exist_and_schema_matches(tmp_path: Path) -> None:
    store = load_flows(write(tmp_path / "f.log", [rec()]))
    tables = {r[0] for r in store.con.execute("SELECT table_name FROM duckdb_tables() WHERE NOT temporary").fetchall()}
    assert {"connections", "pods", "namespaces", "rejected", "ingested_files"} <= tables
    from recommender.io.schema import COLUMN_NAMES
    assert tuple(store.df().columns) == COLUMN_NAMES
    assert store.arrow().num_rows == 1 and store.connections().shape[0] == 1


def test_reingest_same_file_is_skipped_not_double_counted(tmp_path: Path) -> None:
    db = tmp_path / "r.duckdb"
    f = write(tmp_path / "f.log", [rec(), rec()])
    load_flows(f, db=db).close()
    store = load_flows(f, db=db)
    assert store.summary.already_ingested == [str(f)] and store.summary.files == []
    assert store.df()["records"].tolist() == [2]
    assert any("already ingested" in n for n in store.summary.notes)


def test_two_files_merge_into_one_connection_with_first_provenance(tmp_path: Path) -> None:
    a = write(tmp_path / "a.log", [rec(dest_port=1), rec()])
    b = write(tmp_path / "b.log", [rec(bytes_in=1000)])
    store = load_flows([b, a])
    rows = {r["dst_port"]: r for r in store.df().to_dict("records")}
    assert rows[5432]["records"] == 2 and rows[5432]["bytes"] == 150 + 1050
    assert (rows[5432]["file"], rows[5432]["line"]) == (str(a), 2)   # min by (file, line)


def test_ingest_into_existing_store_and_open_store(tmp_path: Path) -> None:
    db = tmp_path / "s.duckdb"
    store = load_flows(write(tmp_path / "a.log", [rec()]), db=db)
    load_flows(write(tmp_path / "b.log", [rec(dest_port=1)]), db=store)
    assert store.summary.connections == 2
    store.close()
    again = open_store(db)
    assert again.summary.connections == 2 and len(again.summary.files) == 2 and again.summary.records == 2
    assert load_flows(again) is again


def test_open_store_missing_db(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="no such database"):
        open_store(tmp_path / "nope.duckdb")


def test_bad_input_leaves_database_unchanged(tmp_path: Path) -> None:
    db = tmp_path / "u.duckdb"
    load_flows(write(tmp_path / "a.log", [rec()]), db=db).close()
    with pytest.raises(InputError):
        load_flows([write(tmp_path / "b.log", [rec(dest_port=1)]), write(tmp_path / "c.log", ["{oops"])], db=db)
    store = open_store(db)
    assert store.summary.connections == 1 and len(store.summary.files) == 1
    assert store.con.execute("SELECT count(*) FROM rejected").fetchone()[0] == 0


def test_pods_and_namespaces_from_flows(tmp_path: Path) -> None:
    store = load_flows(write(tmp_path / "a.log", [rec(), rec(source_name="-", source_ip=None)]))
    [db_pod, web_pod] = store.pods()
    assert (web_pod.namespace, web_pod.name, web_pod.ips) == ("shop", "web-7d4b9-abcde", ("10.0.0.1",))
    assert web_pod.labels == Labels.of({"app": "web", "tier": "front"})
    assert (db_pod.namespace, db_pod.name) == ("data", "db-0")
    nss = store.namespaces()
    assert [n.name for n in nss] == ["data", "shop"]
    assert all(n.labels["kubernetes.io/metadata.name"] == n.name for n in nss)


def test_inventory_pods_come_first(tmp_path: Path) -> None:
    store = load_flows(write(tmp_path / "a.log", [rec()]))
    store.con.execute("INSERT INTO pods (namespace, name, labels, ips, host_network) VALUES "
                      "('data', 'db-0', MAP {'app': 'db', 'role': 'primary'}, ['10.0.0.2'], false)")
    store.con.execute("INSERT INTO namespaces VALUES ('data', MAP {'team': 'x'}, 'inv.yaml', 1)")
    pods = {p.name: p for p in store.pods()}
    assert pods["db-0"].labels == Labels.of({"app": "db", "role": "primary"})
    [data, _] = store.namespaces()
    assert data.labels == Labels.of({"team": "x", "kubernetes.io/metadata.name": "data"})


def test_inventory_without_module_is_a_clear_error(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import recommender.io.store as st
    monkeypatch.setattr(st, "_optional", lambda m, a: None)
    with pytest.raises(UsageError, match="--inventory"):
        load_flows(write(tmp_path / "a.log", [rec()]), inventory=[tmp_path / "inv.yaml"])


def test_summary_to_dict_is_json(tmp_path: Path) -> None:
    d = load_flows(write(tmp_path / "a.log", [rec(), rec(reporter="dst")])).summary.to_dict()
    assert json.loads(json.dumps(d))["skipped"] == {"duplicate reporter": 1}
    assert d["reconciles"] and d["records"] == 2 and d["endpoint_kinds"] == {"pod": 2}


@pytest.mark.parametrize(
    ("content", "reason"),
    [(b"\x00\x01\x02binary\xff\xfe", "binary file"), (b"hello world\nthis is not a flow log\n", "unrecognized flow log format")],
)
def test_undetectable_files(tmp_path: Path, content: bytes, reason: str) -> None:
    p = tmp_path / "x.bin"
    p.write_bytes(content)
    with pytest.raises(InputError, match=reason):
        load_flows(p)


def test_binary_file_with_forced_format(tmp_path: Path) -> None:
    p = tmp_path / "x.bin"
    p.write_bytes(bytes(range(256)) * 100)
    with pytest.raises(InputError, match="binary file, not calico input"):
        load_flows(p, format="calico")


def test_empty_file_is_a_note_not_an_error(tmp_path: Path) -> None:
    p = tmp_path / "empty.log"
    p.write_text("")
    s = load_flows(p).summary
    assert s.records == 0 and s.reconciles() and any("empty file" in n for n in s.notes)


def test_missing_file_and_unknown_format(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="no such file"):
        load_flows(tmp_path / "missing.log")
    with pytest.raises(UsageError, match="unknown or unavailable format"):
        load_flows(write(tmp_path / "a.log", [rec()]), format="nope")


def test_readers_missing_modules_are_tolerated() -> None:
    assert "calico" in detect.available_readers()
    assert set(detect.available_readers()) <= set(detect.READER_MODULES)


def test_flowstore_type() -> None:
    assert isinstance(load_flows([]), FlowStore)


def test_progress_callback_reports_bytes_per_file(tmp_path: Path) -> None:
    f = write(tmp_path / "a.log", [rec(dest_port=i) for i in range(1, 50)])
    calls: list[tuple[int, int | None, str]] = []
    load_flows(f, progress=lambda done, total, label: calls.append((done, total, label)))
    size = f.stat().st_size
    assert calls and calls[-1] == (size, size, "a.log")
    assert all(0 <= done <= size for done, _, _ in calls)
