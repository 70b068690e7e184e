"""Several VPC files read together give what one file holding all their records gives.

AWS writes one log object per interface and interval: the client's ACCEPT and the server's REJECT of one
connection are in different files. Read together, they pair up exactly as in one file; only provenance
(file, line) tells the files apart.
"""

from __future__ import annotations

import gzip
from pathlib import Path

import duckdb
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from recommender.errors import InputError
from recommender.io import schema, store, vpc_files

HEADER = "version interface-id srcaddr dstaddr srcport dstport protocol packets bytes start end action tcp-flags log-status"
COMPARED = ", ".join(c for c in schema.COLUMN_NAMES if c not in ("file", "line"))


def rec(iface: str, src: str, dst: str, sport: int, dport: int, *, proto: int = 6, flags: int | str = "-",
        packets: int = 10, start: int = 1700000000, action: str = "ACCEPT") -> str:
    return f"3 {iface} {src} {dst} {sport} {dport} {proto} {packets} {packets * 100 + 7} {start} {start + 60} {action} {flags} OK"


def read(tmp_path: Path, files: list[list[str]]) -> tuple[duckdb.DuckDBPyConnection, list]:
    paths = []
    for i, lines in enumerate(files):
        path = tmp_path / f"part-{i}.log"
        path.write_text("\n".join([HEADER, *lines]) + "\n")
        paths.append(str(path))
    con = store.connect(":memory:")
    con.execute(schema.connections_ddl("stage"))
    return con, vpc_files.read_files(con, paths, target="stage", skip_bad=False)


def test_a_reject_in_the_server_interfaces_file_denies_the_clients_accept(tmp_path: Path) -> None:
    client = rec("eni-client", "10.244.3.4", "10.244.2.15", 49133, 5432, flags=2)
    server = rec("eni-server", "10.244.3.4", "10.244.2.15", 49133, 5432, flags=2, action="REJECT")
    con, stats = read(tmp_path, [[client], [server]])
    rows = con.execute("SELECT src_ip, dst_ip, dst_port, action, flows, records, file, line FROM stage").fetchall()
    assert rows == [("10.244.3.4", "10.244.2.15", 5432, "deny", 1, 1, str(tmp_path / "part-0.log"), 2)]
    assert [(s.records, s.accepted, s.skipped, s.connections) for s in stats] == [
        (1, 1, {}, 1), (1, 0, {"duplicate ENI": 1}, 0)]
    # a reply the client's interface accepted shows the connection got through: allowed after all
    reply = rec("eni-client", "10.244.2.15", "10.244.3.4", 5432, 49133, flags=18)
    con, stats = read(tmp_path, [[client, reply], [server]])
    assert con.execute("SELECT action, flows, packets FROM stage").fetchall() == [("allow", 1, 20)]
    assert stats[0].skipped == {"reply": 1}


def test_a_reply_alone_in_one_file_is_the_request_of_another(tmp_path: Path) -> None:
    request = rec("eni-a", "10.0.1.5", "10.0.2.9", 40000, 443)
    reply = rec("eni-b", "10.0.2.9", "10.0.1.5", 443, 40000)
    con, stats = read(tmp_path, [[reply], [request]])
    assert con.execute("SELECT src_ip, dst_ip, dst_port, flows, records FROM stage").fetchall() == [
        ("10.0.1.5", "10.0.2.9", 443, 1, 1)]
    assert [s.skipped for s in stats] == [{"reply": 1}, {}] and [s.connections for s in stats] == [0, 1]


HOSTS = ["10.0.1.5", "10.0.2.9", "10.0.3.3"]
record = st.builds(
    lambda iface, src, dst, sport, dport, proto, flags, window, action: rec(
        iface, src, dst, sport, dport, proto=proto, flags=flags, start=1700000000 + 60 * window, action=action),
    st.sampled_from(["eni-1", "eni-2", "eni-3"]), st.sampled_from(HOSTS), st.sampled_from(HOSTS),
    st.sampled_from([443, 40000, 40001, 50051, 7000]), st.sampled_from([443, 40000, 50051, 7000]),
    st.sampled_from([6, 6, 17, 1]), st.sampled_from(["-", 0, 2, 18]), st.integers(0, 2),
    st.sampled_from(["ACCEPT", "ACCEPT", "REJECT"]))


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.lists(st.tuples(record, st.integers(0, 2)), min_size=1, max_size=30))
def test_files_read_together_equal_one_file(tmp_path: Path, placed: list[tuple[str, int]]) -> None:
    """Records spread over three files in any way give the one file's connections and totals."""
    (tmp_path / "one").mkdir(exist_ok=True)
    one_con, [one] = read(tmp_path / "one", [[r for r, _ in placed]])
    parts = [[r for r, f in placed if f == i] for i in range(3)]
    many_con, many = read(tmp_path, parts)
    q = f"SELECT {COMPARED} FROM stage ORDER BY ALL"
    assert many_con.execute(q).fetchall() == one_con.execute(q).fetchall()
    assert all(s.reconciles() for s in many)
    assert sum(s.records for s in many) == one.records and sum(s.accepted for s in many) == one.accepted
    for reason in ("reply", "duplicate ENI"):
        assert sum(s.skipped.get(reason, 0) for s in many) == one.skipped.get(reason, 0)
    # provenance: each connection names a file and line that holds one of its records
    for file, line in many_con.execute("SELECT file, line FROM stage").fetchall():
        assert 2 <= line <= len(Path(file).read_text().splitlines())


def test_one_ingest_reads_its_vpc_files_together(tmp_path: Path) -> None:
    client = rec("eni-client", "10.244.3.4", "10.244.2.15", 49133, 5432, flags=2)
    server = rec("eni-server", "10.244.3.4", "10.244.2.15", 49133, 5432, flags=2, action="REJECT")
    paths = []
    for i, line in enumerate((client, server)):
        paths.append(tmp_path / f"eni-{i}.log")
        paths[-1].write_text(f"{HEADER}\n{line}\n")
    s = store.load_flows(paths)
    assert s.con.execute("SELECT action, flows, records FROM connections").fetchall() == [("deny", 1, 1)]
    assert [(f.file, f.accepted) for f in s.summary.files] == [(str(paths[0]), 1), (str(paths[1]), 0)]


def test_files_of_different_layouts_and_bad_lines_keep_their_own_names(tmp_path: Path) -> None:
    """Each file keeps its own header, compression and line numbers; a bad line names its own file."""
    v2 = tmp_path / "cloudwatch.log"       # default v2 format, no header: the client's interface
    v2.write_text("2 123456789012 eni-client 10.0.1.5 10.0.2.9 40000 443 6 10 1000 1700000000 1700000060 ACCEPT OK\n")
    s3 = tmp_path / "s3.log.gz"            # another field order, gzip: the server's interface rejected it
    s3.write_bytes(gzip.compress(
        b"srcaddr dstaddr srcport dstport protocol action log-status interface-id packets bytes start end\n"
        b"10.0.1.5 10.0.2.9 40000 443 6 REJECT OK eni-server 10 1000 1700000000 1700000060\n"
        b"10.0.1.5 10.0.2.9 40000 70000 6 ACCEPT OK eni-server 1 1 1700000000 1700000060\n"))
    con = store.connect(":memory:")
    con.execute(schema.connections_ddl("stage"))
    with pytest.raises(InputError) as bad:
        vpc_files.read_files(con, [str(v2), str(s3)], target="stage", skip_bad=False)
    assert bad.value.render().startswith(f"{s3}:3: ")
    con.execute("DELETE FROM stage")
    stats = vpc_files.read_files(con, [str(v2), str(s3)], target="stage", skip_bad=True)
    assert con.execute("SELECT action, dst_port, file, line FROM stage").fetchall() == [("deny", 443, str(v2), 1)]
    assert [(s.records, s.accepted, s.rejected) for s in stats] == [(1, 1, 0), (2, 0, 1)]
    assert con.execute("SELECT file, line FROM rejected").fetchall() == [(str(s3), 3)]
