"""Shared fixtures: the CLI runner and the location of the shared real-data samples."""

from __future__ import annotations

import io
import sys
from contextlib import redirect_stderr, redirect_stdout
from dataclasses import dataclass
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
SAMPLES = ROOT.parent / "shared" / "samples"
DATA = ROOT / "data"


@dataclass
class CliResult:
    exit_code: int
    stdout: str
    stderr: str


@pytest.fixture
def cli():
    """Run ``recommend ARGS…`` in-process; returns exit code, stdout and stderr."""
    from recommender.cli import run

    def invoke(*args: str) -> CliResult:
        out, err = io.StringIO(), io.StringIO()
        with redirect_stdout(out), redirect_stderr(err):
            code = run([str(a) for a in args])
        return CliResult(code, out.getvalue(), err.getvalue())

    return invoke


@pytest.fixture
def samples() -> Path:
    """``../shared/samples``: real flow logs from other projects (see its SOURCES.md)."""
    if not SAMPLES.is_dir():
        pytest.skip(f"real-data samples not present at {SAMPLES} (CI and developers have ../shared beside the clone)")
    return SAMPLES
