"""Normalized CSV/Parquet reader: defaults, label/policy text forms, validation, round trip."""

from __future__ import annotations

import gzip
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from recommender import load_flows
from recommender.errors import InputError
from recommender.io import normalized
from tests.test_calico import rec, write

HEADER = "src_kind,src_namespace,src_labels,dst_kind,dst_ip,protocol,dst_port,action,policies"


def csv_file(tmp_path: Path, *rows: str, header: str = HEADER, name: str = "n.csv") -> Path:
    p = tmp_path / name
    text = "\n".join([header, *rows]) + "\n"
    p.write_bytes(gzip.compress(text.encode()) if name.endswith(".gz") else text.encode())
    return p


def rows_of(store) -> list[tuple]:
    return store.con.execute("SELECT * FROM connections ORDER BY ALL").fetchall()


def test_sniff() -> None:
    assert normalized.sniff(b"src_kind,dst_kind,protocol,action\n")
    assert normalized.sniff(b"PAR1....")
    assert not normalized.sniff(b"src_kind,dst_kind\n")


def test_minimal_csv_defaults(tmp_path: Path) -> None:
    p = csv_file(tmp_path, "pod,network,tcp,Allow", header="src_kind,dst_kind,protocol,action")
    [row] = load_flows(p).df().to_dict("records")
    assert (row["src_kind"], row["dst_kind"], row["protocol"], row["action"]) == ("pod", "network", "TCP", "allow")
    assert (row["flows"], row["records"], row["format"], row["file"], row["line"]) == (1, 1, "normalized", str(p), 2)
    assert row["src_labels"] is None and row["policies"] is None


@pytest.mark.parametrize(
    ("labels", "policies"),
    [('"{""b"":""2"",""a"":""1""}"', '"[""ns/p2"",""ns/p1""]"'), ("b=2;a=1", "ns/p2;ns/p1")],
)
def test_csv_label_and_policy_text_forms_are_canonical(tmp_path: Path, labels: str, policies: str) -> None:
    p = csv_file(tmp_path, f"pod,shop,{labels},pod,10.0.0.2,6,8080,allow,{policies}")
    [row] = load_flows(p).df().to_dict("records")
    assert list(row["src_labels"].items()) == [("a", "1"), ("b", "2")]
    assert list(row["policies"]) == ["ns/p1", "ns/p2"] and row["dst_port"] == 8080


def test_equal_rows_merge(tmp_path: Path) -> None:
    p = csv_file(tmp_path, "pod,shop,a=1,pod,10.0.0.2,tcp,80,allow,", "pod,shop,a=1,pod,10.0.0.2,TCP,80,allow,")
    [row] = load_flows(p).df().to_dict("records")
    assert (row["records"], row["flows"], row["line"]) == (2, 2, 2)


@pytest.mark.parametrize(
    ("row", "reason"),
    [
        ("pod,shop,,pod,10.0.0.2,tcp,70000,allow,", "invalid port 70000 for TCP (expected 1-65535)"),
        ("pod,shop,,pod,10.0.0.2,tcp,0,allow,", "invalid port 0 for TCP"),
        ("pod,shop,,pod,10.0.0.2,tcp,http,allow,", 'dst_port: not an integer "http"'),
        ("pod,shop,,pod,10.0.0.2,gre2,80,allow,", 'unknown protocol "gre2"'),
        ("pod,shop,,pod,10.0.0.2,tcp,80,permit,", 'invalid action "permit"'),
        ("pod,shop,,pod,10.0.0.999,tcp,80,allow,", 'invalid IP address in dst_ip: "10.0.0.999"'),
        ("pod,shop,,planet,10.0.0.2,tcp,80,allow,", 'invalid dst_kind "planet"'),
        (",shop,,pod,10.0.0.2,tcp,80,allow,", "missing required field src_kind"),
        ("pod,shop,,pod,10.0.0.2,,80,allow,", "missing required field protocol"),
        ("pod,shop,novalue,pod,10.0.0.2,tcp,80,allow,", "invalid src_labels"),
        ("pod,shop,,pod,10.0.0.2,tcp,80,allow", "expected 9 fields, got 8"),
        ('pod,shop,,pod,10.0.0.2,tcp,80,allow,"[broken', "malformed CSV"),
    ],
)
def test_bad_csv_rows_are_located(tmp_path: Path, row: str, reason: str) -> None:
    p = csv_file(tmp_path, "pod,shop,,pod,10.0.0.2,tcp,80,allow,", row, "pod,shop,,pod,10.0.0.3,tcp,80,allow,")
    with pytest.raises(InputError) as ei:
        load_flows(p)
    assert str(ei.value).startswith(f"{p}:3: {reason}"), str(ei.value)


def test_bad_timestamp_and_counter(tmp_path: Path) -> None:
    p = csv_file(tmp_path, "pod,network,tcp,allow,yesterday,3", header="src_kind,dst_kind,protocol,action,window_start,bytes")
    with pytest.raises(InputError, match=r":2: window_start: not a timestamp \"yesterday\""):
        load_flows(p)
    q = csv_file(tmp_path, "pod,network,tcp,allow,2024-01-01T00:00:00+02:00,lots", header="src_kind,dst_kind,protocol,action,window_start,bytes", name="q.csv")
    with pytest.raises(InputError, match=r":2: bytes: not an integer \"lots\""):
        load_flows(q)


def test_timestamp_offsets_are_converted_to_utc(tmp_path: Path) -> None:
    p = csv_file(tmp_path, "pod,network,tcp,allow,2024-01-01T02:00:00+02:00", header="src_kind,dst_kind,protocol,action,window_start")
    [row] = load_flows(p).df().to_dict("records")
    assert str(row["window_start"]) == "2024-01-01 00:00:00" and str(row["first_seen"]) == "2024-01-01 00:00:00"


def test_missing_required_column(tmp_path: Path) -> None:
    p = csv_file(tmp_path, "pod,network,tcp", header="src_kind,dst_kind,protocol")
    with pytest.raises(InputError, match=r":1: missing required column action"):
        load_flows(p, format="normalized")


def test_skip_bad_csv(tmp_path: Path) -> None:
    p = csv_file(tmp_path, "pod,shop,,pod,10.0.0.2,tcp,80,allow,", "pod,shop,,pod,10.0.0.2,tcp,99999,allow,",
                 "only,three,fields", "pod,shop,,pod,10.0.0.3,tcp,80,allow,", name="n.csv.gz")
    store = load_flows(p, skip_bad=True)
    st = store.summary.files[0]
    assert (st.records, st.accepted, st.rejected, st.connections) == (4, 2, 2, 2)
    assert [r[1] for r in store.con.execute("SELECT * FROM rejected ORDER BY line").fetchall()] == [3, 4]


def test_truncated_last_csv_line(tmp_path: Path) -> None:
    p = tmp_path / "t.csv"
    p.write_text(HEADER + "\npod,shop,,pod,10.0.0.2,tcp,80,allow,\npod,shop,,po")
    st = load_flows(p).summary.files[0]
    assert (st.records, st.accepted, st.skipped) == (2, 1, {"truncated last line": 1})


def test_parquet_native_types_and_row_errors(tmp_path: Path) -> None:
    labels = pa.map_(pa.string(), pa.string())
    t = pa.table({"src_kind": ["pod", "pod"], "src_labels": pa.array([[("b", "2"), ("a", "1")], None], labels),
                  "dst_kind": ["pod", "pod"], "protocol": ["udp", "udp"], "dst_port": pa.array([53, 70000], pa.int32()),
                  "action": ["allow", "allow"], "policies": pa.array([["x", "a"], None], pa.list_(pa.string()))})
    pq.write_table(t, tmp_path / "p.parquet")
    with pytest.raises(InputError, match=r"p.parquet:2: invalid port 70000 for UDP"):
        load_flows(tmp_path / "p.parquet")
    store = load_flows(tmp_path / "p.parquet", skip_bad=True)
    [row] = store.df().to_dict("records")
    assert list(row["src_labels"].keys()) == ["a", "b"] and list(row["policies"]) == ["a", "x"]
    assert store.summary.rejected == 1


def test_not_really_parquet(tmp_path: Path) -> None:
    p = tmp_path / "x.parquet"
    p.write_bytes(b"PAR1 this is not parquet at all")
    with pytest.raises(InputError, match="cannot read as normalized Parquet"):
        load_flows(p)


@pytest.mark.parametrize("fmt", ["parquet", "csv"])
def test_round_trip_store_export_store(tmp_path: Path, samples: Path, fmt: str) -> None:
    calico = write(tmp_path / "c.log", [rec(), rec(reporter="dst"), rec(dest_port=1, source_labels=None),
                                        rec(proto="icmp", dest_port=None, action="deny", policies=None)])
    first = load_flows([calico, samples / "calico" / "flows.log"])
    out = first.export(tmp_path / f"export.{fmt}", fmt)
    second = load_flows(out)
    assert rows_of(second) == rows_of(first)
    third = load_flows(second.export(tmp_path / f"again.{fmt}", fmt))
    assert rows_of(third) == rows_of(first)


def test_readme_documents_the_schema_exactly() -> None:
    from recommender.io.schema import schema_markdown
    readme = (Path(__file__).resolve().parent.parent / "README.md").read_text()
    section = readme[readme.index("<!-- BEGIN ingest -->"):readme.index("<!-- END ingest -->")]
    assert schema_markdown() in section
    assert all(f"`{c}`" in section for c in normalized.REQUIRED)
