"""Hubble files read together: the events of one capture spread over per-node files give the
connections of the capture in one file, counted once, with per-file counts that reconcile."""

from __future__ import annotations

import json
import random
from pathlib import Path
from typing import Any

import duckdb
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from recommender.errors import InputError
from recommender.io import hubble, schema
from recommender.io.store import load_flows
from test_hubble import back, flow, write


def read(paths: list[Path], skip_bad: bool = False) -> tuple[list[hubble.ReadStats], duckdb.DuckDBPyConnection]:
    con = duckdb.connect()
    con.execute(schema.connections_ddl("staging"))
    con.execute(schema.REJECTED_DDL)
    stats = hubble.read_files(con, paths, target="staging", skip_bad=skip_bad)
    assert all(s.reconciles() for s in stats), stats
    keys = ", ".join(schema.KEY_COLUMNS)
    assert (con.execute(f"SELECT count(*) FROM (SELECT DISTINCT {keys} FROM staging)").fetchone()[0]
            == con.execute("SELECT count(*) FROM staging").fetchone()[0])
    return stats, con


def rows(con: duckdb.DuckDBPyConnection, cols: str = "src_ip, dst_ip, dst_port, action, flows, packets, records"
         ) -> list[tuple]:
    return con.execute(f"SELECT {cols} FROM staging ORDER BY ALL").fetchall()


def test_a_reply_in_another_file_counts_for_its_request(tmp_path: Path) -> None:
    req = flow(flags={"SYN": True})
    a = write(tmp_path, req, name="node-1.json")
    b = write(tmp_path, back(req, is_reply=True), name="node-2.json")
    stats, con = read([b, a])
    assert rows(con) == [("10.0.0.1", "10.0.0.2", 5432, "allow", 1, 2, 2)]
    assert [(s.file, s.accepted, s.skipped, s.connections) for s in stats] == [
        (str(b), 1, {}, 1), (str(a), 1, {}, 1)]
    assert rows(con, "file") == [(str(a),)]     # the first file (by name) its events count in


def test_one_connection_seen_by_both_nodes_is_one_flow(tmp_path: Path) -> None:
    """The same SYN at the source's egress (node-1) and the destination's ingress (node-2): per file
    it was a connection in each file, counted twice."""
    a = write(tmp_path, flow(flags={"SYN": True}, traffic_direction="EGRESS"), name="a.json")
    b = write(tmp_path, flow(flags={"SYN": True}, traffic_direction="INGRESS"), name="b.json")
    _, con = read([a, b])
    assert rows(con) == [("10.0.0.1", "10.0.0.2", 5432, "allow", 1, 2, 2)]


def test_a_drop_at_the_destination_node_decides_for_the_source_node(tmp_path: Path) -> None:
    a = write(tmp_path, flow(flags={"SYN": True}, traffic_direction="EGRESS"), name="a.json")
    b = write(tmp_path, flow(flags={"SYN": True}, traffic_direction="INGRESS", verdict="DROPPED",
                             drop_reason_desc="POLICY_DENIED"), name="b.json")
    stats, con = read([a, b])
    assert rows(con, "action, records") == [("deny", 1)]
    assert [s.skipped for s in stats] == [{hubble.DENIED_AT_DESTINATION: 1}, {}]
    assert [s.connections for s in stats] == [0, 1]


def test_an_l7_record_in_another_file_duplicates_the_l4_flow(tmp_path: Path) -> None:
    l4 = flow(proto="UDP", dport=53, sport=40000, is_reply=False)
    l7 = flow(proto="UDP", dport=53, sport=40000, Type="L7", l7={"type": "REQUEST"})
    a, b = write(tmp_path, l4, name="a.json"), write(tmp_path, l7, name="b.json")
    stats, con = read([a, b])
    assert rows(con, "dst_port, records") == [(53, 1)]
    assert [s.skipped for s in stats] == [{}, {hubble.L7_DUPLICATE: 1}]


def test_shapes_and_compression_may_differ_between_files(tmp_path: Path) -> None:
    req = flow(flags={"SYN": True})
    a = write(tmp_path, req, name="a.json")
    b = write(tmp_path, back(req, is_reply=True), name="b.json.gz")
    c = write(tmp_path, flow(sport=40001, flags={"SYN": True}, wrap=False), name="c.json")
    stats, con = read([a, b, c])
    assert rows(con, "src_ip, dst_port, flows, packets") == [("10.0.0.1", 5432, 2, 3)]
    assert [s.accepted for s in stats] == [1, 1, 1]


def test_a_bad_line_names_its_own_file(tmp_path: Path) -> None:
    a = write(tmp_path, flow(flags={"SYN": True}), name="a.json")
    b = write(tmp_path, flow(sport=40001), flow(sport=40002, IP={"source": "10.0.0.999", "destination": "10.0.0.2"}),
              name="b.json")
    with pytest.raises(InputError) as e:
        read([a, b])
    assert (e.value.file, e.value.line) == (str(b), 2)
    c = write(tmp_path, flow(sport=40003), "{not json", name="c.json")
    with pytest.raises(InputError) as e:
        read([a, c])
    assert (e.value.file, e.value.line) == (str(c), 2)


def test_skip_bad_keeps_each_files_rejected_lines(tmp_path: Path) -> None:
    a = write(tmp_path, "{broken", flow(flags={"SYN": True}), name="a.json")
    b = write(tmp_path, flow(sport=40001, flags={"SYN": True}),
              flow(sport=40002, IP={"source": "nope", "destination": "10.0.0.2"}), name="b.json")
    stats, con = read([a, b], skip_bad=True)
    assert [(s.records, s.accepted, s.rejected) for s in stats] == [(2, 1, 1), (2, 1, 1)]
    assert con.execute("SELECT file, line FROM rejected ORDER BY ALL").fetchall() == [(str(a), 1), (str(b), 2)]


def test_a_truncated_last_line_in_one_file(tmp_path: Path) -> None:
    a = write(tmp_path, flow(flags={"SYN": True}), '{"flow": {"time": "2025', name="a.json", end="")
    b = write(tmp_path, flow(sport=40001, flags={"SYN": True}), name="b.json")
    stats, _ = read([a, b])
    assert [(s.records, s.accepted, s.truncated_last_line) for s in stats] == [(2, 1, True), (1, 1, False)]


def test_the_store_reads_hubble_files_together(tmp_path: Path) -> None:
    req = flow(flags={"SYN": True})
    a = write(tmp_path, req, name="a.json")
    b = write(tmp_path, back(req, is_reply=True), name="b.json")
    df = load_flows([a, b]).df()
    assert df[["flows", "packets", "records"]].values.tolist() == [[1, 2, 2]]


def _events(spec: list[tuple[int, int, bool]]) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    for host, port, with_l7 in spec:
        req = flow(sip=f"10.1.0.{host}", dport=port, sport=40000 + port, flags={"SYN": True})
        out += [req, back(req, is_reply=True), flow(sip=f"10.1.0.{host}", dport=port, sport=40000 + port,
                                                    flags={"ACK": True}, is_reply=False)]
        if with_l7:
            out.append(flow(sip=f"10.1.0.{host}", dport=port, sport=40000 + port, Type="L7",
                            l7={"type": "REQUEST"}))
    return out


@settings(max_examples=25, deadline=None)
@given(st.lists(st.tuples(st.integers(1, 3), st.sampled_from([80, 443, 5432]), st.booleans()), min_size=1,
                max_size=6, unique_by=lambda t: (t[0], t[1])),
       st.randoms(use_true_random=False), st.integers(2, 3))
def test_events_spread_over_files_give_the_connections_of_one_file(  # type: ignore[no-untyped-def]
        tmp_path_factory, spec, rnd, parts) -> None:
    events = _events(spec)
    rnd.shuffle(events)
    whole_dir, split_dir = tmp_path_factory.mktemp("one"), tmp_path_factory.mktemp("split")
    whole = write(whole_dir, *events)
    chunks: list[list[dict[str, Any]]] = [[] for _ in range(parts)]
    for e in events:
        chunks[rnd.randrange(parts)].append(e)
    files = []
    for i, chunk in enumerate(chunks):
        p = split_dir / f"node-{i}.json"
        p.write_text("".join(json.dumps(e) + "\n" for e in chunk))
        files.append(p)
    one_stats, one = read([whole])
    many_stats, many = read(files)
    cols = "src_ip, dst_ip, protocol, dst_port, action, flows, packets, records, first_seen, last_seen"
    assert rows(many, cols) == rows(one, cols)
    assert sum(s.records for s in many_stats) == one_stats[0].records == len(events)
    assert sum(s.accepted for s in many_stats) == one_stats[0].accepted
    for name in ({k for s in many_stats for k in s.skipped} | set(one_stats[0].skipped)):
        assert sum(s.skipped.get(name, 0) for s in many_stats) == one_stats[0].skipped.get(name, 0)


def test_file_order_does_not_change_the_result(tmp_path: Path) -> None:
    events = _events([(1, 80, True), (2, 443, False), (3, 5432, True)])
    random.Random(7).shuffle(events)
    files = [write(tmp_path, *events[i::3], name=f"n{i}.json") for i in range(3)]
    _, a = read(files)
    _, b = read(list(reversed(files)))
    assert rows(a, "*") == rows(b, "*")
