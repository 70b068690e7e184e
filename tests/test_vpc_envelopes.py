"""CloudWatch Logs subscription envelopes carrying VPC flow logs: control messages are not flow records.

AWS documents two `messageType`s for what a subscription delivers (to Kinesis, Firehose and from there to S3):
`DATA_MESSAGE`, whose `logEvents[].message` are the log group's events (here: default-format flow records),
and `CONTROL_MESSAGE`, which CloudWatch Logs sends mainly to check that the destination is reachable; its one
event's message is a sentence ("CWL CONTROL MESSAGE: Checking health of destination Firehose."). A Firehose
delivery to S3 therefore holds control envelopes among the data ones. They carry no traffic: each of their
events is counted as skipped with its reason, never as a malformed flow record.
"""

from __future__ import annotations

import gzip
import json
from pathlib import Path

import duckdb

from recommender.io import detect, schema, vpc, vpc_files

CONTROL = {"messageType": "CONTROL_MESSAGE", "owner": "CloudwatchLogs", "logGroup": "", "logStream": "",
           "subscriptionFilters": [], "logEvents": [
               {"id": "", "timestamp": 1432826855000,
                "message": "CWL CONTROL MESSAGE: Checking health of destination Firehose."}]}
REQUEST = "2 1 eni-a 10.0.0.1 10.0.0.2 40000 443 6 5 500 1418530010 1418530070 ACCEPT OK"
REPLY = "2 1 eni-a 10.0.0.2 10.0.0.1 443 40000 6 5 500 1418530010 1418530070 ACCEPT OK"


def data(*messages: str) -> dict:
    return {"messageType": "DATA_MESSAGE", "owner": "123456789010", "logGroup": "/aws/vpc/flowlogs",
            "logStream": "eni-a", "subscriptionFilters": ["f"],
            "logEvents": [{"id": str(i), "timestamp": 0, "message": m} for i, m in enumerate(messages)]}


def read(paths: list[Path], skip_bad: bool = False) -> tuple[list[vpc.ReadStats], list[tuple]]:
    con = duckdb.connect()
    con.execute(schema.connections_ddl("stage"))
    con.execute(schema.REJECTED_DDL)
    stats = vpc_files.read_files(con, paths, target="stage", skip_bad=skip_bad)
    for st in stats:
        assert st.reconciles(), st
    rows = con.execute("SELECT src_ip, dst_ip, protocol, dst_port, action, records FROM stage ORDER BY ALL").fetchall()
    return stats, rows


def test_control_envelope_after_data_is_skipped_not_malformed(tmp_path: Path) -> None:
    path = tmp_path / "firehose.json"
    path.write_text(json.dumps(data(REQUEST, REPLY)) + "\n" + json.dumps(CONTROL) + "\n")
    [st], rows = read([path])
    assert rows == [("10.0.0.1", "10.0.0.2", "TCP", 443, "allow", 1)]
    assert (st.records, st.accepted, st.rejected) == (3, 1, 0)
    assert st.skipped == {"reply": 1, vpc.CONTROL_MESSAGE: 1}


def test_control_envelope_first_is_still_detected(tmp_path: Path) -> None:
    # Firehose concatenates the envelopes without a separator; the health check comes first.
    path = tmp_path / "firehose.json.gz"
    path.write_bytes(gzip.compress((json.dumps(CONTROL) + json.dumps(data(REQUEST))).encode()))
    assert detect.detect_format(path) == "vpc"
    [st], rows = read([path])
    assert rows == [("10.0.0.1", "10.0.0.2", "TCP", 443, "allow", 1)]
    assert (st.records, st.accepted) == (2, 1) and st.skipped == {vpc.CONTROL_MESSAGE: 1}


def test_a_health_check_object_alone_contributes_nothing(tmp_path: Path) -> None:
    # One Firehose object may hold only the health check; it must not stop an ingest of the whole prefix.
    alone, other = tmp_path / "a.json", tmp_path / "b.json"
    alone.write_text(json.dumps(CONTROL))
    other.write_text(json.dumps(data(REQUEST)))
    assert detect.detect_format(alone) == "vpc"
    stats, rows = read([alone, other])
    assert rows == [("10.0.0.1", "10.0.0.2", "TCP", 443, "allow", 1)]
    assert (stats[0].records, stats[0].accepted, stats[0].skipped) == (1, 0, {vpc.CONTROL_MESSAGE: 1})


def test_a_data_event_that_is_not_a_record_is_still_malformed(tmp_path: Path) -> None:
    # Only messageType CONTROL_MESSAGE is skipped: a DATA_MESSAGE event that is not a flow record stays bad input.
    path = tmp_path / "cw.json"
    path.write_text(json.dumps(data(REQUEST, "hello world")))
    [st], rows = read([path], skip_bad=True)
    assert (st.records, st.accepted, st.rejected, st.skipped) == (2, 1, 1, {})
