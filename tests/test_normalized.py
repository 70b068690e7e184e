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
        ("pod,shop,,pod,10.0.0.2,tcp,70000,allow,", "invalid port 70000 for TCP (expected 0-65535)"),
        ("pod,shop,,pod,10.0.0.2,tcp,-1,allow,", "invalid port -1 for TCP"),   # 0 is kept: VPC and Hubble record it
        ("pod,shop,,pod,10.0.0.2,tcp,http,allow,", 'dst_port: not an integer "http"'),
        ("pod,shop,,pod,10.0.0.2,gre2,80,allow,", 'unknown protocol "gre2"'),
        ("pod,shop,,pod,10.0.0.2,tcp,80,permit,", 'invalid action "permit"'),
        ("pod,shop,,pod,10.0.0.999,tcp,80,allow,", 'invalid IP address in dst_ip: "10.0.0.999"'),
        ("pod,shop,,planet,10.0.0.2,tcp,80,allow,", 'invalid dst_kind "planet"'),
        (",shop,,pod,10.0.0.2,tcp,80,allow,", "missing required field src_kind"),
        ("pod,shop,,pod,10.0.0.2,,80,allow,", "missing required field protocol"),
        ("pod,shop,novalue,pod,10.0.0.2,tcp,80,allow,", "invalid src_labels"),
        ("pod,shop,,pod,10.0.0.2,tcp,80,allow,[ns/p", 'policies: invalid JSON array "[ns/p"'),
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


LABELS = pa.map_(pa.string(), pa.string())


def parquet_file(tmp_path: Path, name: str = "p.parquet", **columns: object) -> Path:
    """A Parquet file from column lists; ``src_labels``/``dst_labels`` as MAP, ``policies`` as LIST."""
    types = {"src_labels": LABELS, "dst_labels": LABELS, "policies": pa.list_(pa.string()), "dst_port": pa.int32(),
             "flows": pa.int64(), "bytes": pa.int64(), "line": pa.int64()}
    p = tmp_path / name
    pq.write_table(pa.table({k: pa.array(v, types.get(k)) for k, v in columns.items()}), p, row_group_size=2)
    return p


def test_parquet_groups_merge_by_canonical_value_not_raw_spelling(tmp_path: Path) -> None:
    """Raw key values are grouped first (maps by hash); label order, protocol spelling and policy order
    differ between rows 1, 3 and 4 of the same connection, so they merge after canonicalization."""
    p = parquet_file(tmp_path, src_kind=["pod", "pod", "Pod ", "pod", "pod"],
                     src_labels=[[("b", "2"), ("a", "1")], [("a", "1")], [("a", "1"), ("b", "2")], [("b", "2"), ("a", "1")], None],
                     dst_kind=["pod"] * 5, protocol=["tcp", "udp", "6", "TCP", "tcp"], dst_port=[80, 53, 80, 80, 80],
                     action=["allow", "allow", "ALLOW", "allow", "allow"],
                     policies=[["x", "a"], None, ["a", "x", "a"], ["a", "x"], []], flows=[1, 2, 3, 4, 5])
    rows = sorted(load_flows(p).df().to_dict("records"), key=lambda r: r["line"])
    assert [(r["line"], r["protocol"], r["records"], r["flows"]) for r in rows] == [(1, "TCP", 3, 8), (2, "UDP", 1, 2), (5, "TCP", 1, 5)]
    assert list(rows[0]["src_labels"].items()) == [("a", "1"), ("b", "2")] and list(rows[0]["policies"]) == ["a", "x"]
    assert list(rows[1]["src_labels"].items()) == [("a", "1")] and rows[1]["policies"] is None
    assert rows[2]["src_labels"] is None and rows[2]["policies"] is None


@pytest.mark.parametrize(
    ("column", "values", "reason"),
    [("dst_port", [80, 80, 80, 70000, 80, 70000], ":4: invalid port 70000 for TCP"),
     ("flows", [1, 1, 1, 1, -3, 1], ":5: flows: negative"),
     ("bytes", [1, -1, 1, 1, -3, 1], ":2: bytes: negative")],
)
def test_parquet_bad_value_is_located_at_its_first_row(tmp_path: Path, column: str, values: list, reason: str) -> None:
    """Checks run on grouped rows; the error still names the first bad record (row groups of 2)."""
    cols: dict = {"src_kind": ["pod"] * 6, "dst_kind": ["pod"] * 6, "protocol": ["tcp"] * 6, "action": ["allow"] * 6,
                  "dst_port": [80] * 6, "flows": [1] * 6}
    cols[column] = values
    p = parquet_file(tmp_path, **cols)
    with pytest.raises(InputError) as ei:
        load_flows(p)
    assert str(ei.value).startswith(f"{p}{reason}"), str(ei.value)
    st = load_flows(p, skip_bad=True).summary.files[0]
    assert (st.records, st.rejected) == (6, sum(1 for v in values if v in (70000, -1, -3)))


def test_parquet_all_null_provenance_columns_mean_the_defaults(tmp_path: Path) -> None:
    """An exporter that writes empty file/line columns gets this file and row; format is the first row's."""
    p = parquet_file(tmp_path, src_kind=["pod"] * 3, dst_kind=["pod"] * 3, protocol=["tcp"] * 3, action=["allow"] * 3,
                     dst_port=[443, 80, 80], file=pa.array([None] * 3, pa.string()), line=[None] * 3,
                     format=["hubble", "calico", None])
    rows = {r["dst_port"]: r for r in load_flows(p).df().to_dict("records")}
    assert (rows[443]["file"], rows[443]["line"], rows[443]["format"]) == (str(p), 1, "hubble")
    assert (rows[80]["file"], rows[80]["line"], rows[80]["format"]) == (str(p), 2, "calico")


def test_single_file_fast_merge_equals_the_full_merge(tmp_path: Path) -> None:
    """Into an empty store one normalized file is copied without re-aggregation; the result equals a
    merge into a non-empty store (minus the other connection), and two files still merge."""
    p = parquet_file(tmp_path, src_kind=["pod"] * 4, dst_kind=["pod"] * 4, protocol=["tcp", "tcp", "udp", "TCP"],
                     dst_port=[80, 80, 53, 80], action=["allow"] * 4, src_labels=[[("b", "2"), ("a", "1")], None, None, [("a", "1"), ("b", "2")]])
    other = csv_file(tmp_path, "world,world,icmp,deny", header="src_kind,dst_kind,protocol,action")
    fast = rows_of(load_flows(p))
    assert len(fast) == 3
    full = load_flows(other)
    load_flows(p, db=full)
    assert [r for r in rows_of(full) if r[6] != "world"] == fast
    twice = load_flows([p, csv_file(tmp_path, "pod,pod,tcp,80,allow", header="src_kind,dst_kind,protocol,dst_port,action")])
    assert len(rows_of(twice)) == 3
    assert sum(r["records"] for r in twice.df().to_dict("records")) == 5


def test_enrichment_that_makes_rows_equal_still_merges(tmp_path: Path) -> None:
    """A node IP reported as `network` becomes `host` from the inventory: equal to the next row, one connection."""
    import json
    inv = tmp_path / "inv.json"
    inv.write_text(json.dumps({"kind": "List", "items": [
        {"kind": "Pod", "metadata": {"name": "kube-proxy-a", "namespace": "kube-system", "labels": {}},
         "spec": {"hostNetwork": True, "containers": []}, "status": {"podIPs": [{"ip": "192.168.0.5"}]}}]}))
    p = csv_file(tmp_path, "network,192.168.0.5,world,tcp,443,allow", "host,192.168.0.5,world,tcp,443,allow",
                 header="src_kind,src_ip,dst_kind,protocol,dst_port,action")
    [row] = load_flows(p, inventory=inv).df().to_dict("records")
    assert (row["src_kind"], row["records"], row["line"]) == ("host", 2, 2)


def test_csv_label_texts_that_mean_the_same_set_merge(tmp_path: Path) -> None:
    """Text labels are parsed once per distinct text; different spellings of one set (and of no labels) merge."""
    p = csv_file(tmp_path, 'pod,shop,b=2;a=1,pod,10.0.0.2,tcp,80,allow,', 'pod,shop,"{""a"":""1"",""b"":""2""}",pod,10.0.0.2,tcp,80,allow,',
                 "pod,shop,,pod,10.0.0.2,tcp,80,allow,", "pod,shop,{},pod,10.0.0.2,tcp,80,allow,ns/p;ns/p",
                 "pod,shop, ,pod,10.0.0.2,tcp,80,allow,ns/p")
    rows = sorted(load_flows(p).df().to_dict("records"), key=lambda r: r["line"])
    assert [(r["line"], r["records"]) for r in rows] == [(2, 2), (4, 1), (5, 2)]
    assert list(rows[0]["src_labels"].items()) == [("a", "1"), ("b", "2")]
    assert rows[1]["src_labels"] is None and rows[2]["src_labels"] is None and list(rows[2]["policies"]) == ["ns/p"]


@pytest.mark.parametrize("kind", ["parquet", "csv"])
def test_hash_collision_falls_back_to_grouping_on_the_values(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                             kind: str) -> None:
    """The first GROUP BY keys on a 64-bit hash of the raw values; a hash that sends every record to one
    group is caught by the second hash, and the file is grouped again on the values: same connections."""
    if kind == "parquet":
        p = parquet_file(tmp_path, src_kind=["pod"] * 5, dst_kind=["pod"] * 5, protocol=["tcp", "udp", "tcp", "6", "tcp"],
                         dst_port=[80, 53, 80, 80, 443], action=["allow"] * 5,
                         src_labels=[[("a", "1")], None, [("a", "1")], [("a", "1")], [("a", "2")]], flows=[1, 2, 3, 4, 5])
    else:
        p = csv_file(tmp_path, "pod,shop,a=1,pod,10.0.0.2,tcp,80,allow,", "pod,shop,,pod,10.0.0.2,udp,53,allow,",
                     "pod,shop,a=1,pod,10.0.0.2,6,80,allow,", "pod,shop,a=2,pod,10.0.0.2,tcp,443,allow,")
    calls: list[bool] = []
    original = normalized._Plan._aggregate

    def spy(self, con, data, *, hashed):  # type: ignore[no-untyped-def]
        calls.append(hashed)
        return original(self, con, data, hashed=hashed)

    monkeypatch.setattr(normalized._Plan, "_aggregate", spy)
    expected = rows_of(load_flows(p))
    assert calls == [True] and len(expected) == 3   # tcp/80 with labels a=1 merged; udp/53; tcp/443
    monkeypatch.setattr(normalized, "_GROUP_HASH", "0 * hash")
    calls.clear()
    assert rows_of(load_flows(p)) == expected
    assert calls == [True, False]


def test_json_text_labels_in_parquet_ingest_to_the_same_connections_as_map_labels(tmp_path: Path) -> None:
    """The synthetic writer's two label encodings (MAP, the default, and JSON text, the faster one to
    ingest) describe the same flows: the stored connections are equal, labels stored as MAP either way."""
    from recommender.synth import build_cluster
    from recommender.synth.normalized import write_parquet
    cluster = build_cluster(3, "small")
    as_map, as_json = tmp_path / "map.parquet", tmp_path / "json.parquet"
    assert write_parquet(cluster, as_map, windows=2) == write_parquet(cluster, as_json, windows=2, labels="json")
    assert pq.read_schema(as_json).field("src_labels").type == pa.string()
    a, b = load_flows(as_map), load_flows(as_json)
    cols = "* EXCLUDE (file)"
    assert a.con.execute(f"SELECT {cols} FROM connections ORDER BY ALL").fetchall() == \
        b.con.execute(f"SELECT {cols} FROM connections ORDER BY ALL").fetchall()
    assert b.con.execute("SELECT typeof(src_labels) FROM connections LIMIT 1").fetchone()[0] == "MAP(VARCHAR, VARCHAR)"
    assert b.con.execute("SELECT count(*) FROM connections WHERE src_labels['app'] IS NOT NULL").fetchone()[0] > 0
