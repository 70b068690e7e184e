"""`recommend ingest`: exit codes, one-line errors on stderr, summary on stdout."""

from __future__ import annotations

import json
from pathlib import Path

from tests.test_calico import rec, write


def test_ingest_table_summary(cli, tmp_path: Path) -> None:
    f = write(tmp_path / "f.log", [rec(), rec(reporter="dst")])
    r = cli("ingest", f, "--db", tmp_path / "x.duckdb")
    assert r.exit_code == 0, r.stderr
    assert "calico" in r.stdout and "duplicate reporter 1" in r.stdout
    assert (tmp_path / "x.duckdb").exists()


def test_ingest_json_and_default_db_in_cwd(cli, tmp_path: Path, monkeypatch) -> None:
    monkeypatch.chdir(tmp_path)
    f = write(tmp_path / "f.log", [rec()])
    r = cli("ingest", f, "-o", "json", "--quiet")
    assert r.exit_code == 0 and r.stderr == ""
    d = json.loads(r.stdout)
    assert (d["records"], d["connections"], d["formats"]["calico"]["connections"]) == (1, 1, 1)
    assert (tmp_path / "recommender.duckdb").exists()
    r2 = cli("ingest", f, "-o", "json")
    assert json.loads(r2.stdout)["already_ingested"] == [str(f)] and "already ingested" in r2.stderr


def test_bad_input_exit_2_one_line(cli, tmp_path: Path) -> None:
    f = write(tmp_path / "f.log", [rec(), rec(dest_port=70000)])
    r = cli("ingest", f, "--db", ":memory:")
    assert r.exit_code == 2 and r.stdout == ""
    assert r.stderr == (f"{f}:2: invalid port 70000 for TCP (expected 0-65535)"
                        " (hint: fix the record, or use --skip-bad to reject bad records and continue)\n")


def test_skip_bad_prints_counts(cli, tmp_path: Path) -> None:
    f = write(tmp_path / "f.log", [rec(), "{broken", rec(proto="bogus")])
    r = cli("ingest", f, "--db", ":memory:", "--skip-bad", "-o", "json")
    assert r.exit_code == 0, r.stderr
    d = json.loads(r.stdout)
    assert (d["records"], d["accepted"], d["rejected"]) == (3, 1, 2)


def test_missing_file_exit_2(cli, tmp_path: Path) -> None:
    r = cli("ingest", tmp_path / "nope.log", "--db", ":memory:")
    assert r.exit_code == 2 and r.stderr == f"{tmp_path / 'nope.log'}: no such file\n"


def test_help_has_examples(cli) -> None:
    r = cli("ingest", "--help")
    assert r.exit_code == 0 and "Examples" in r.stdout and "--skip-bad" in r.stdout


def test_csv_output_one_row_per_file(cli, tmp_path: Path) -> None:
    a, b = write(tmp_path / "a.log", [rec()]), write(tmp_path / "b.log", [rec(), rec(dest_port=1)])
    r = cli("ingest", a, b, "--db", ":memory:", "-o", "csv", "-q")
    assert r.exit_code == 0
    assert r.stdout.splitlines() == ["file,format,records,accepted,rejected,skipped,connections",
                                     f"{a},calico,1,1,0,0,1", f"{b},calico,2,2,0,0,2"]
