"""The real GCP VPC flow-log sample: recognized, every record skipped with a reason, and convertible.

GCP flow logs are not read natively (see recommender/io/gcp.py); the README
shows a DuckDB query that turns them into the normalized schema. Both halves
are checked here against ../shared/samples/gcp-vpc.
"""

from __future__ import annotations

import json
from pathlib import Path

import duckdb

from recommender import load_flows
from recommender.io import detect, gcp

CONVERT = """
COPY (
  SELECT 'network' AS src_kind, c.src_ip AS src_ip, 'network' AS dst_kind, c.dest_ip AS dst_ip,
         CASE c.protocol WHEN 6 THEN 'TCP' WHEN 17 THEN 'UDP' WHEN 132 THEN 'SCTP' WHEN 1 THEN 'ICMP'
              ELSE c.protocol::VARCHAR END AS protocol,
         c.dest_port AS dst_port, 'allow' AS action,
         p.packets_sent::BIGINT AS packets, p.bytes_sent::BIGINT AS bytes,
         p.start_time::TIMESTAMP AS first_seen, p.end_time::TIMESTAMP AS last_seen
  FROM (SELECT jsonPayload AS p, jsonPayload.connection AS c FROM read_json(?, format='newline_delimited'))
  WHERE c.dest_port < c.src_port
) TO '{out}' (HEADER)
"""


def test_gcp_sample_is_recognized_and_skipped_with_a_reason(samples: Path, cli) -> None:
    path = samples / "gcp-vpc" / "vpc-flow-log-managed-instance.ndjson"
    assert detect.detect_format(path) == "gcp"
    result = cli("ingest", path, "--db", ":memory:", "-o", "json")
    assert result.exit_code == 0, result.stderr
    summary = json.loads(result.stdout)
    (f,) = summary["files"]
    assert (f["format"], f["records"], f["accepted"], f["rejected"]) == ("gcp", 2, 0, 0)
    assert f["skipped"] == {gcp.SKIP_REASON: 2}
    assert "convert to the normalized schema" in result.stderr


def test_gcp_sample_converts_to_the_normalized_schema(samples: Path, tmp_path: Path) -> None:
    path = samples / "gcp-vpc" / "vpc-flow-log-managed-instance.ndjson"
    out = tmp_path / "gcp.csv"
    duckdb.connect().execute(CONVERT.format(out=out), [str(path)])
    rows = load_flows([out]).df().sort_values("dst_port")
    assert rows[["src_ip", "dst_ip", "protocol", "dst_port", "action"]].values.tolist() == [
        ["45.78.219.169", "10.10.0.2", "TCP", 22, "allow"],
        ["10.10.0.2", "173.194.193.95", "TCP", 443, "allow"],
    ]
    assert rows["bytes"].tolist() == [0, 312]


def test_a_calico_or_hubble_line_is_not_taken_for_gcp() -> None:
    assert not gcp.sniff(b'{"flow": {"IP": {"source": "10.0.0.1"}}}\n')
    assert not gcp.sniff(b'{"start_time": 1, "reporter": "src", "source_name_aggr": "a-*"}\n')
