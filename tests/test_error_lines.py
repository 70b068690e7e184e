"""Errors are one line on stderr, `FILE:LINE: reason (hint: …)`, and a forced --format is refused
with a clear line when the content clearly is another format (no reader, no database error).

Issue 2 asks for "a clear, single-line error in the compiler form"; scripts and CI logs grep for it.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from recommender.cli import ingest as ingest_cli
from recommender.errors import InputError, PolicyError, RecommenderError, UsageError, render_line
from tests.conftest import DATA
from tests.test_calico import rec, write

DEMO = DATA / "demo"
FILES = {
    "calico": DEMO / "calico" / "flows.log",
    "hubble": DEMO / "hubble" / "flows.json",
    "vpc": DEMO / "vpc" / "flows.log",
    "normalized": DEMO / "normalized" / "flows.parquet",
}
DESCRIBED = {"calico": "a Calico flow log", "hubble": "a Hubble flow export", "vpc": "a VPC flow log",
             "gcp": "a GCP VPC flow log", "normalized": "normalized CSV/Parquet"}


@pytest.mark.parametrize(("message", "hint", "line"), [
    ("f.log:3: bad port", None, "f.log:3: bad port"),
    ("f.log:3: bad port", "", "f.log:3: bad port"),
    ("f.log:3: bad port", "fix it", "f.log:3: bad port (hint: fix it)"),
    ("f.log: no such file", "  ", "f.log: no such file"),
    ("Binder Error: x\n\nLINE 1: SELECT", None, "Binder Error: x; LINE 1: SELECT"),
    ("f.log: bad", "first\n  second", "f.log: bad (hint: first; second)"),
])
def test_render_line_truth_table(message: str, hint: str | None, line: str) -> None:
    assert render_line(message, hint) == line
    assert RecommenderError(message, hint).render() == line


@pytest.mark.parametrize(("error", "line"), [
    (InputError("no such file", file="f.log"), "f.log: no such file"),
    (InputError("invalid IP", file="f.log", line=7, hint="fix the record"), "f.log:7: invalid IP (hint: fix the record)"),
    (PolicyError("required value", file="p.yaml", line=3, path="metadata.name"), "p.yaml:3 metadata.name: required value"),
    (UsageError("no flows to read", hint="pass flow files"), "no flows to read (hint: pass flow files)"),
])
def test_each_error_type_renders_as_one_compiler_style_line(error: RecommenderError, line: str) -> None:
    assert error.render() == line and str(error) == error.message


def test_bad_record_is_exactly_one_line_with_its_hint(cli, tmp_path: Path) -> None:
    f = write(tmp_path / "f.log", [rec(), rec(proto="bogus")])
    r = cli("ingest", f, "--db", ":memory:")
    assert r.exit_code == 2 and r.stdout == ""
    assert len(r.stderr.splitlines()) == 1 and r.stderr.startswith(f"{f}:2: ") and " (hint: " in r.stderr


def test_invalid_policy_is_exactly_one_line(cli, tmp_path: Path) -> None:
    policy = tmp_path / "p.yaml"
    policy.write_text("apiVersion: networking.k8s.io/v1\nkind: NetworkPolicy\nmetadata: {namespace: shop}\n"
                      "spec: {podSelector: {}}\n")
    flows = write(tmp_path / "f.log", [rec()])
    r = cli("verify", "--policies", policy, flows)
    assert r.exit_code == 2
    assert r.stderr.splitlines() == [r.stderr.rstrip("\n")] and r.stderr.startswith(f"{policy}:")


def test_internal_error_is_one_line_too(cli, tmp_path: Path, monkeypatch) -> None:
    def broken(*args, **kwargs):
        raise ValueError("boom")

    monkeypatch.setattr(ingest_cli, "load_flows", broken)
    r = cli("ingest", write(tmp_path / "f.log", [rec()]), "--db", ":memory:")
    assert r.exit_code == 3
    assert r.stderr == ("recommend: internal error: ValueError: boom (hint: this is a bug; rerun with "
                        "RECOMMENDER_DEBUG=1 for a traceback and report it)\n")


@pytest.mark.parametrize("content", sorted(FILES))
@pytest.mark.parametrize("forced", ["calico", "hubble", "vpc", "gcp", "normalized"])
def test_forced_format_truth_table(cli, content: str, forced: str) -> None:
    """Content × --format: the right format ingests; any other is refused naming what the content is."""
    path = FILES[content]
    r = cli("ingest", path, "--format", forced, "--db", ":memory:", "--inventory", DEMO / "inventory.json",
            "-q", "-o", "json")
    if forced == content:
        assert r.exit_code == 0, r.stderr
        assert json.loads(r.stdout)["connections"] > 0
    else:
        assert (r.exit_code, r.stdout) == (2, "")
        assert r.stderr == (f"{path}: not {DESCRIBED[forced]}: the content looks like {DESCRIBED[content]}"
                            f" (hint: omit --format to detect the format, or use --format {content})\n")


def test_forced_vpc_on_json_that_is_no_cloudwatch_envelope(cli, tmp_path: Path) -> None:
    f = tmp_path / "x.json"
    f.write_text('{"a": 1}\n{"a": 2}\n')
    r = cli("ingest", f, "--format", "vpc", "--db", ":memory:")
    assert r.exit_code == 2
    assert r.stderr.startswith(f"{f}: not a VPC flow log: JSON, but not a CloudWatch Logs envelope with `logEvents`")
    assert len(r.stderr.splitlines()) == 1 and "Binder" not in r.stderr


def test_forced_format_on_unrecognized_content_still_reaches_the_reader(cli, tmp_path: Path) -> None:
    """Nothing recognizes it, so --format calico reads it and names the first bad record (no refusal)."""
    f = tmp_path / "x.log"
    f.write_text('{"start_time": 1}\n')
    r = cli("ingest", f, "--format", "calico", "--db", ":memory:")
    assert r.exit_code == 2 and r.stderr.startswith(f"{f}:1: ") and "not a Calico flow log" not in r.stderr
