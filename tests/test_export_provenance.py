"""An export re-ingests with its original provenance: a row that names its original file keeps that file's line,
and a line the original reader did not know (NULL: Hubble, Calico inputs over 256 MB) stays NULL.

The normalized reader filled a NULL `line` with the export's own row number while keeping the original `file`,
so a Hubble connection came back as `capture.json:7`, a line of the export presented as one of the capture.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from recommender import load_flows

FLOW = {"time": "2024-01-01T00:00:00Z", "verdict": "FORWARDED", "Type": "L3_L4",
        "IP": {"source": "10.0.0.1", "destination": "10.0.0.2", "ipVersion": "IPv4"},
        "l4": {"TCP": {"source_port": 40000, "destination_port": 80, "flags": {"SYN": True}}},
        "source": {"namespace": "ns", "pod_name": "a-1", "labels": ["k8s:app=a"]},
        "destination": {"namespace": "ns", "pod_name": "b-1", "labels": ["k8s:app=b"]}}
PROVENANCE = "SELECT format, file, line, records FROM connections ORDER BY ALL"


@pytest.mark.parametrize("fmt", ["parquet", "csv"])
def test_hubble_export_keeps_null_lines(tmp_path: Path, fmt: str) -> None:
    capture = tmp_path / "capture.json"
    other = dict(FLOW, l4={"UDP": {"source_port": 40000, "destination_port": 53}})
    capture.write_text("\n".join(json.dumps({"flow": f}) for f in (FLOW, other)) + "\n")
    store = load_flows([capture], db=":memory:")
    out = store.export(tmp_path / f"export.{fmt}", format=fmt)
    again = load_flows([out], db=":memory:")
    assert again.con.execute(PROVENANCE).fetchall() == store.con.execute(PROVENANCE).fetchall()
    assert {line for _, _, line, _ in store.con.execute(PROVENANCE).fetchall()} == {None}


def test_a_file_column_without_lines(tmp_path: Path) -> None:
    # Rows naming another file have no line of it; rows without a file are this file's, at their own line.
    path = tmp_path / "flows.csv"
    path.write_text("src_kind,dst_kind,protocol,dst_port,action,file\n"
                    "network,network,TCP,80,allow,original.log\n"
                    "network,network,TCP,81,allow,\n")
    store = load_flows([path], db=":memory:")
    assert store.con.execute("SELECT file, line FROM connections ORDER BY dst_port").fetchall() == [
        ("original.log", None), (str(path), 3)]
