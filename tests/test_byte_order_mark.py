"""A UTF-8 byte order mark at the start of a file changes nothing.

Editors and Windows tools write one (Excel's "CSV UTF-8" always does). RFC 8259 §8.1 lets a JSON parser ignore
it, DuckDB's CSV and JSON readers do, and the VPC reader already did; detection and the normalized reader's
header, which look at the raw bytes, refused such files ("unrecognized flow log format", "missing required
column src_kind"), and the line-by-line fallback took the first JSON line for invalid JSON.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from recommender import load_flows
from recommender.io import detect

BOM = b"\xef\xbb\xbf"
CALICO = {"start_time": 1700000000, "end_time": 1700000300, "source_ip": "10.0.0.1", "source_name": "a-1",
          "source_name_aggr": "a-*", "source_namespace": "ns", "source_type": "wep",
          "source_labels": {"labels": ["app=a"]}, "dest_ip": "10.0.0.2", "dest_name": "b-1",
          "dest_name_aggr": "b-*", "dest_namespace": "ns", "dest_type": "wep", "dest_labels": {"labels": ["app=b"]},
          "dest_port": 80, "proto": "tcp", "action": "allow", "reporter": "src", "num_flows_started": 1,
          "bytes_in": 1, "bytes_out": 2, "packets_in": 1, "packets_out": 1}
HUBBLE = {"flow": {"time": "2024-01-01T00:00:00Z", "verdict": "FORWARDED", "Type": "L3_L4",
                   "IP": {"source": "10.0.0.1", "destination": "10.0.0.2", "ipVersion": "IPv4"},
                   "l4": {"TCP": {"source_port": 40000, "destination_port": 80, "flags": {"SYN": True}}},
                   "source": {"namespace": "ns", "pod_name": "a-1", "labels": ["k8s:app=a"]},
                   "destination": {"namespace": "ns", "pod_name": "b-1", "labels": ["k8s:app=b"]}},
          "node_name": "n1", "time": "2024-01-01T00:00:00Z"}
CSV = b"src_kind,src_ip,dst_kind,dst_ip,protocol,dst_port,action\r\nnetwork,10.0.0.1,network,10.0.0.2,TCP,80,allow\r\n"
CASES = {
    "calico": (json.dumps(CALICO) + "\n").encode(),
    "hubble": (json.dumps(HUBBLE) + "\n").encode(),
    "normalized": CSV,
}
COLUMNS = ["src_ip", "dst_ip", "protocol", "dst_port", "action", "records"]


@pytest.mark.parametrize("fmt", sorted(CASES))
def test_a_bom_is_ignored(tmp_path: Path, fmt: str) -> None:
    plain, marked = tmp_path / "plain.txt", tmp_path / "bom.txt"
    plain.write_bytes(CASES[fmt])
    marked.write_bytes(BOM + CASES[fmt])
    assert detect.detect_format(marked) == fmt
    want = load_flows([plain], db=":memory:").df()[COLUMNS].to_dict("records")
    store = load_flows([marked], db=":memory:")
    assert store.df()[COLUMNS].to_dict("records") == want
    assert store.summary.to_dict()["files"][0]["records"] == 1


@pytest.mark.parametrize("fmt", ["calico", "hubble"])
def test_a_bom_before_a_good_first_line_is_not_a_bad_record(tmp_path: Path, fmt: str) -> None:
    # A broken second line sends the file through the line-by-line scan, which must read line 1 as DuckDB does.
    path = tmp_path / "bom.json"
    path.write_bytes(BOM + CASES[fmt] + b'{"broken\n')
    store = load_flows([path], db=":memory:", skip_bad=True)
    assert store.con.execute("SELECT line FROM rejected").fetchall() == [(2,)]
    assert len(store.df()) == 1
