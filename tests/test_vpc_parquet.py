"""VPC flow logs delivered to S3 in Parquet (the flow log's `file_format = parquet` destination option).

AWS documents a Parquet data type for every field; the columns are the field names with `_` for `-`
(`account_id`, `log_status`, `tcp_flags`, `pkt_srcaddr`, `end`), and a value that does not apply is NULL
where the text format writes `-`. Such a file was taken for normalized Parquet and refused ("missing required
columns src_kind, dst_kind"). It must give exactly what the same records in the text format give.
"""

from __future__ import annotations

from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from recommender import load_flows
from recommender.errors import InputError
from recommender.io import detect

FIELDS = ("version account-id interface-id srcaddr dstaddr srcport dstport protocol packets bytes start end action "
          "log-status tcp-flags pkt-srcaddr pkt-dstaddr flow-direction").split()
TYPES = {"version": pa.int32(), "srcport": pa.int32(), "dstport": pa.int32(), "protocol": pa.int64(),
         "packets": pa.int64(), "bytes": pa.int64(), "start": pa.int64(), "end": pa.int64(), "tcp-flags": pa.int32()}
ROWS = [
    "5 1 eni-c 10.0.1.5 10.0.2.9 43416 5001 6 10 1000 1700000000 1700000060 ACCEPT OK 2 10.0.1.5 10.0.2.9 egress",
    "5 1 eni-c 10.0.2.9 10.0.1.5 5001 43416 6 7 700 1700000000 1700000060 ACCEPT OK 18 10.0.2.9 10.0.1.5 ingress",
    "5 1 eni-s 10.0.1.5 10.0.2.9 43416 5001 6 10 1000 1700000000 1700000060 REJECT OK 2 10.0.1.5 10.0.2.9 ingress",
    "5 1 eni-n - - - - - - - 1700000000 1700000060 - NODATA - - - -",
    "5 1 eni-c 10.0.1.5 10.0.3.3 40000 53 17 1 80 1700000000 1700000060 ACCEPT OK 0 10.0.1.5 10.0.3.3 egress",
]
KEY = ["src_ip", "dst_ip", "protocol", "dst_port", "action", "flows", "packets", "bytes", "records", "line"]


def _parquet(path: Path, rows: list[str]) -> Path:
    cols: dict[str, list] = {f: [] for f in FIELDS}
    for row in rows:
        for f, v in zip(FIELDS, row.split(" ")):
            cols[f].append(None if v == "-" else (int(v) if f in TYPES else v))
    pq.write_table(pa.table({f.replace("-", "_"): pa.array(v, TYPES.get(f, pa.string())) for f, v in cols.items()}),
                   path)
    return path


def test_parquet_reads_like_the_text_format(tmp_path: Path) -> None:
    text = tmp_path / "flows.log"
    text.write_text("\n".join([" ".join(FIELDS), *ROWS]) + "\n")
    parquet = _parquet(tmp_path / "flows.parquet", ROWS)
    assert detect.detect_format(parquet) == "vpc"
    want = load_flows([text], db=":memory:")
    got = load_flows([parquet], db=":memory:")
    # line numbers: the text file's count its header line; a Parquet file's are row numbers
    expected = want.df()[KEY].assign(line=want.df()["line"] - 1)
    assert got.df()[KEY].sort_values(KEY).to_dict("records") == expected.sort_values(KEY).to_dict("records")
    [st] = got.summary.to_dict()["files"]
    assert (st["format"], st["records"], st["skipped"]) == ("vpc", 5, {"NODATA": 1, "duplicate ENI": 1, "reply": 1})


def test_a_bad_row_is_named_by_its_row_number(tmp_path: Path) -> None:
    bad = ROWS[:2] + [ROWS[4].replace("10.0.3.3", "10.0.3.300")]
    parquet = _parquet(tmp_path / "bad.parquet", bad)
    with pytest.raises(InputError, match=r"bad\.parquet:3: (srcaddr|dstaddr|pkt-dstaddr): invalid IP '10.0.3.300'"):
        load_flows([parquet], db=":memory:")


def test_normalized_parquet_is_still_normalized(tmp_path: Path) -> None:
    path = tmp_path / "n.parquet"
    pq.write_table(pa.table({"src_kind": ["network"], "dst_kind": ["network"], "protocol": ["TCP"],
                             "action": ["allow"], "src_ip": ["10.0.0.1"], "dst_ip": ["10.0.0.2"]}), path)
    assert detect.detect_format(path) == "normalized"
