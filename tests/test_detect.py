"""Format detection: what the user is told when no reader recognizes a file."""

from __future__ import annotations

import gzip
from pathlib import Path

import pytest

from recommender.errors import InputError
from recommender.io import detect, lines

DEMO = Path(__file__).resolve().parent.parent / "data" / "demo" / "calico" / "flows.log"


def test_a_gzip_cut_short_before_anything_is_recognizable_is_called_truncated(tmp_path: Path, cli) -> None:
    whole = gzip.compress(DEMO.read_bytes()[:4000])
    cut = tmp_path / "flows.log.gz"
    cut.write_bytes(whole[:40])                      # the header and a few bytes of deflate data
    assert lines.gzip_truncated(cut)
    with pytest.raises(InputError, match=r"flows\.log\.gz: truncated gzip stream"):
        detect.detect_format(cut)
    result = cli("ingest", cut, "--db", ":memory:")
    assert result.exit_code == 2
    assert result.stderr == (f"{cut}: truncated gzip stream: the file ends before its end-of-stream marker"
                             " (hint: re-copy the file; with --format FORMAT --skip-bad the readable part is kept)\n")


def test_a_complete_gzip_is_not_truncated(tmp_path: Path) -> None:
    whole = tmp_path / "flows.log.gz"
    whole.write_bytes(gzip.compress(DEMO.read_bytes()))
    assert not lines.gzip_truncated(whole)
    assert detect.detect_format(whole) == "calico"


def test_unrecognized_text_is_not_blamed_on_gzip(tmp_path: Path) -> None:
    odd = tmp_path / "notes.txt"
    odd.write_text("hello, these are not flows\n")
    with pytest.raises(InputError, match="unrecognized flow log format"):
        detect.detect_format(odd)
