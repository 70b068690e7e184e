"""TCP/UDP/SCTP to port 0 is an observation every reader keeps, and an export of it re-ingests.

Port 0 is reserved, but packets to it exist (scans, malformed packets) and AWS VPC flow logs and Hubble
record them; those readers keep such connections (ports 0–65535), and `generate` reports them as not
admissible by any rule. The normalized reader refused port 0 for TCP ("expected 1-65535"), so
`FlowStore.export` of such a store could not be read back (README: "re-ingests to the same rows"), and a
Calico record of it stopped the whole ingest.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from recommender import load_flows
from recommender.errors import InputError

VPC = ("version account-id interface-id srcaddr dstaddr srcport dstport protocol packets bytes start end action log-status\n"
       "2 1 eni-1 203.0.113.5 10.0.0.9 40000 0 6 1 40 1700000000 1700000060 REJECT OK\n"
       "2 1 eni-1 10.0.0.1 10.0.0.9 40000 443 6 1 40 1700000000 1700000060 ACCEPT OK\n")
KEY = ["src_ip", "dst_ip", "protocol", "dst_port", "action", "flows", "packets", "bytes", "records"]


def _rows(store) -> list[dict]:  # type: ignore[no-untyped-def]
    return store.df()[KEY].sort_values(KEY[:5]).to_dict("records")


@pytest.mark.parametrize("fmt", ["parquet", "csv"])
def test_export_of_a_port_zero_connection_reingests(tmp_path: Path, fmt: str) -> None:
    src = tmp_path / "vpc.log"
    src.write_text(VPC)
    store = load_flows([src], db=":memory:")
    assert 0 in set(store.df()["dst_port"])
    out = store.export(tmp_path / f"out.{fmt}", format=fmt)
    assert _rows(load_flows([out], db=":memory:")) == _rows(store)


def test_calico_record_to_port_zero_is_kept(tmp_path: Path) -> None:
    rec = {"start_time": 1700000000, "end_time": 1700000300, "source_ip": "203.0.113.5", "source_name": "-",
           "source_name_aggr": "pub", "source_namespace": "-", "source_type": "net", "dest_ip": "10.0.0.9",
           "dest_name": "b-1", "dest_name_aggr": "b-*", "dest_namespace": "ns", "dest_type": "wep",
           "dest_port": 0, "proto": "tcp", "action": "deny", "reporter": "dst", "num_flows_started": 1}
    path = tmp_path / "flows.log"
    path.write_text(json.dumps(rec) + "\n")
    rows = _rows(load_flows([path], db=":memory:"))
    assert [(r["protocol"], r["dst_port"], r["action"]) for r in rows] == [("TCP", 0, "deny")]


@pytest.mark.parametrize("port", ["70000", "-1"])
def test_ports_outside_0_65535_are_still_refused(tmp_path: Path, port: str) -> None:
    path = tmp_path / "n.csv"
    path.write_text(f"src_kind,dst_kind,protocol,dst_port,action\nnetwork,network,TCP,{port},allow\n")
    with pytest.raises(InputError, match=f"invalid port {port} for TCP"):
        load_flows([path], db=":memory:")
