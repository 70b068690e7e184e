"""A VPC flow-log `.gz` cut short (a partial copy or download) is handled as the other readers handle one.

README (Bad input): a truncated `.gz` stops the ingest with `FILE:LINE: reason`, and with `--skip-bad` "the
readable part of a truncated .gz is ingested with a note". The VPC reader passed DuckDB's words through
("cannot read as a VPC flow log: IO Error: Unexpected end of GZIP stream") and refused the file even with
`--skip-bad`, so one damaged object of an S3 prefix stopped the whole ingest.
"""

from __future__ import annotations

import gzip
import zlib
from pathlib import Path

import pytest

from recommender import load_flows
from recommender.errors import InputError
from recommender.io import lines as L

HEADER = "version account-id interface-id srcaddr dstaddr srcport dstport protocol packets bytes start end action log-status"


def _records(n: int) -> list[str]:
    return [f"2 1 eni-{i % 7} 10.0.{i % 250}.{i % 199 + 1} 10.1.0.{i % 97 + 1} {40000 + i % 20000} {443 + i % 5} 6 "
            f"{i % 13 + 1} {i * 7 % 9000 + 40} 1700000000 1700000060 {'REJECT' if i % 11 == 0 else 'ACCEPT'} OK"
            for i in range(n)]


def _truncated(tmp_path: Path, n: int = 30000) -> tuple[Path, bytes]:
    text = ("\n".join([HEADER, *_records(n)]) + "\n").encode()
    data = gzip.compress(text)
    path = tmp_path / "cut.log.gz"
    path.write_bytes(data[: len(data) * 2 // 3])
    assert L.gzip_truncated(path)
    return path, text


def test_without_skip_bad_the_error_names_the_truncation(tmp_path: Path) -> None:
    path, _ = _truncated(tmp_path)
    with pytest.raises(InputError) as err:
        load_flows([path], db=":memory:")
    assert L.TRUNCATED_GZIP in str(err.value) and str(path) in str(err.value)
    assert err.value.line is not None and err.value.line > 1


def test_with_skip_bad_the_readable_part_is_ingested_with_a_note(tmp_path: Path) -> None:
    path, text = _truncated(tmp_path)
    store = load_flows([path], db=":memory:", skip_bad=True)
    [st] = store.summary.to_dict()["files"]
    assert st["records"] == st["accepted"] + st["rejected"] + sum(st["skipped"].values())
    assert any(L.TRUNCATED_GZIP in n for n in st["notes"])
    # the readable part's complete records are exactly what a plain file of them gives
    readable = b"".join(zlib.decompressobj(wbits=31).decompress(path.read_bytes()).splitlines(keepends=True)[:-1])
    plain = tmp_path / "readable.log"
    plain.write_bytes(readable)
    want = load_flows([plain], db=":memory:").df()
    cols = ["src_ip", "dst_ip", "dst_port", "action", "flows", "packets", "bytes", "records"]
    got = store.df()
    assert got[cols].sort_values(cols).to_dict("records") == want[cols].sort_values(cols).to_dict("records")
    assert 0 < st["records"] < len(text.splitlines()) - 1
