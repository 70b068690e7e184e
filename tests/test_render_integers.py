"""Integer columns print as integers, nulls as empty/null: `81`, never `81.0`, beside an ICMP (null-port) row.

pandas turns an integer column with a null into float64; the CLI and the verify report put it back.
"""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest

from recommender.cli.common import OutputFormat, integers_as_integers, render_frame
from recommender.engine.verify import verify

DENY_ALL = """\
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {name: default-deny, namespace: shop}
spec: {podSelector: {}}
"""
HEADER = "src_kind,src_namespace,src_pod,src_ip,src_labels,dst_kind,dst_namespace,dst_pod,dst_ip,dst_labels,protocol,dst_port,action\n"
WEB_DB = "pod,shop,web-0,10.0.0.1,app=web,pod,shop,db-0,10.0.0.2,app=db,"
REASON = "isolated for ingress by default-deny; they have no ingress rules"


@pytest.fixture
def tcp_and_icmp(tmp_path: Path) -> tuple[Path, Path]:
    flows, policies = tmp_path / "flows.csv", tmp_path / "p.yaml"
    flows.write_text(HEADER + WEB_DB + "TCP,81,allow\n" + WEB_DB + "ICMP,,allow\n")
    policies.write_text(DENY_ALL)
    return flows, policies


@pytest.mark.parametrize(("column", "values", "dtype"), [
    ("dst_port", [81.0, None], "Int64"),        # a schema integer with a null: back to integers
    ("flows", [1.0, 2.0], "Int64"),
    ("bytes", [float("nan"), float("nan")], "Int64"),
    ("dst_port", [81.5, None], "float64"),      # not whole: left alone rather than rounded
    ("ratio", [1.0, None], "float64"),          # not an integer column of the schema
    ("dst_port", [81, 443], "int64"),           # already integers
    ("protocol", ["TCP", None], "str"),
])
def test_integers_as_integers_truth_table(column: str, values: list, dtype: str) -> None:
    out = integers_as_integers(pd.DataFrame({column: values}))
    assert str(out[column].dtype) == dtype
    assert out[column].isna().tolist() == pd.Series(values).isna().tolist()


def _rendered(capsys, df: pd.DataFrame, fmt: OutputFormat) -> str:
    render_frame(df, fmt)
    return capsys.readouterr().out


@pytest.mark.parametrize(("fmt", "expected"), [
    (OutputFormat.csv, "protocol,dst_port\nTCP,81\nICMP,\n"),
    (OutputFormat.json, [{"dst_port": 81, "protocol": "TCP"}, {"dst_port": None, "protocol": "ICMP"}]),
])
def test_render_frame_prints_a_null_port_beside_an_integer(capsys, fmt: OutputFormat, expected) -> None:
    df = pd.DataFrame({"protocol": ["TCP", "ICMP"], "dst_port": [81.0, float("nan")]})
    out = _rendered(capsys, df, fmt)
    assert (json.loads(out) if fmt is OutputFormat.json else out) == expected and "81.0" not in out


def test_render_frame_table_shows_integers_and_blank_nulls(capsys) -> None:
    df = pd.DataFrame({"protocol": ["TCP", "ICMP"], "dst_port": pd.array([81, None], dtype="Int64")})
    out = _rendered(capsys, df, OutputFormat.table)
    assert "81" in out and "81.0" not in out and "<NA>" not in out and "nan" not in out


def test_verify_report_denied_ports_are_nullable_integers(tcp_and_icmp: tuple[Path, Path]) -> None:
    flows, policies = tcp_and_icmp
    denied = verify(policies, [flows]).denied
    assert str(denied["dst_port"].dtype) == "Int64"
    assert denied["dst_port"].tolist()[1] == 81 and pd.isna(denied["dst_port"].tolist()[0])


def test_verify_csv_json_and_table_print_81_not_81_0(cli, tcp_and_icmp: tuple[Path, Path]) -> None:
    flows, policies = tcp_and_icmp
    csv = cli("verify", "--policies", policies, flows, "-o", "csv")
    assert csv.exit_code == 1
    assert csv.stdout.splitlines() == ["source,destination,protocol,dst_port,action,reason",
                                       f"shop/web-0,shop/db-0,ICMP,,allow,{REASON}",
                                       f"shop/web-0,shop/db-0,TCP,81,allow,{REASON}"]
    js = cli("verify", "--policies", policies, flows, "-o", "json")
    assert [d["dst_port"] for d in json.loads(js.stdout)["denied"]] == [None, 81] and "81.0" not in js.stdout
    table = cli("verify", "--policies", policies, flows)
    assert "81.0" not in table.stdout and "<NA>" not in table.stdout and " 81 " in table.stdout
