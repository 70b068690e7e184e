"""AWS VPC flow-log reader: formats, the initiator's view, de-duplication, bad input.

Each orientation test states a situation from the AWS documentation (one TCP
connection seen on one or two ENIs, in both directions, with OR-ed TCP flags)
and the one connection the reader must keep.
"""

from __future__ import annotations

import gzip
import json
from pathlib import Path

import duckdb
import pytest

from recommender.errors import InputError
from recommender.io import schema, store, vpc

V3 = "version interface-id srcaddr dstaddr srcport dstport protocol packets bytes start end action tcp-flags log-status"
CLIENT, SERVER = "10.0.1.5", "10.0.2.9"


def rec(iface: str, src: str, dst: str, sport: int | str, dport: int | str, flags: int | str = "-", *,
        proto: int = 6, action: str = "ACCEPT", packets: int = 10, start: int = 1700000000, status: str = "OK") -> str:
    return f"3 {iface} {src} {dst} {sport} {dport} {proto} {packets} {packets * 100} {start} {start + 60} {action} {flags} {status}"


def ingest(tmp_path: Path, lines: list[str], *, header: str | None = V3, name: str = "flows.log",
           skip_bad: bool = False) -> tuple[vpc.ReadStats, list[dict], duckdb.DuckDBPyConnection]:
    path = tmp_path / name
    text = "\n".join(([header] if header else []) + lines) + "\n"
    if name.endswith(".gz"):
        path.write_bytes(gzip.compress(text.encode()))
    else:
        path.write_text(text)
    con = duckdb.connect()
    con.execute(schema.connections_ddl("stage"))
    con.execute(schema.REJECTED_DDL)
    stats = vpc.read(con, str(path), target="stage", skip_bad=skip_bad)
    assert stats.reconciles(), stats
    cur = con.execute("SELECT * FROM stage ORDER BY src_ip, dst_ip, protocol, dst_port, action")
    cols = [d[0] for d in cur.description]
    rows = [dict(zip(cols, r)) for r in cur.fetchall()]
    assert sum(r["records"] for r in rows) == stats.accepted
    return stats, rows, con


def conn(rows: list[dict]) -> list[tuple]:
    return [(r["src_ip"], r["dst_ip"], r["protocol"], r["dst_port"], r["action"]) for r in rows]


# --- orientation: TCP flags --------------------------------------------------------------------

def test_syn_from_client_and_syn_ack_reply_on_one_eni(tmp_path: Path) -> None:
    stats, rows, _ = ingest(tmp_path, [
        rec("eni-c", CLIENT, SERVER, 43416, 5001, 2),
        rec("eni-c", SERVER, CLIENT, 5001, 43416, 18, packets=7),
    ])
    assert conn(rows) == [(CLIENT, SERVER, "TCP", 5001, "allow")]
    assert (stats.records, stats.accepted, stats.skipped) == (2, 1, {"reply": 1})
    assert rows[0]["packets"] == 17 and rows[0]["flows"] == 1
    assert rows[0]["src_kind"] == rows[0]["dst_kind"] == "network"


def test_both_directions_on_two_enis_count_once(tmp_path: Path) -> None:
    stats, rows, _ = ingest(tmp_path, [
        rec("eni-server", CLIENT, SERVER, 43416, 5001, 3),     # SYN+FIN: short connection
        rec("eni-client", SERVER, CLIENT, 5001, 43416, 19),    # SYN-ACK+FIN
        rec("eni-client", CLIENT, SERVER, 43416, 5001, 3),
        rec("eni-server", SERVER, CLIENT, 5001, 43416, 19),
    ])
    assert conn(rows) == [(CLIENT, SERVER, "TCP", 5001, "allow")]
    assert stats.accepted == 1
    assert stats.skipped == {"reply": 2, "duplicate ENI": 1}
    assert rows[0]["line"] == 2          # the first record of the connection (header is line 1)


def test_only_the_reply_was_logged_is_flipped_never_to_the_ephemeral_port(tmp_path: Path) -> None:
    _, rows, _ = ingest(tmp_path, [rec("eni-s", SERVER, CLIENT, 5001, 43416, 18)])
    assert conn(rows) == [(CLIENT, SERVER, "TCP", 5001, "allow")]


def test_flags_beat_port_heuristics(tmp_path: Path) -> None:
    # active-mode FTP data: the server (port 20) opens the connection to the client's high port
    _, rows, _ = ingest(tmp_path, [
        rec("eni-s", SERVER, CLIENT, 20, 40001, 2),
        rec("eni-s", CLIENT, SERVER, 40001, 20, 18),
    ])
    assert conn(rows) == [(SERVER, CLIENT, "TCP", 40001, "allow")]


def test_mid_connection_windows_carry_no_direction_but_share_the_connection(tmp_path: Path) -> None:
    # one long connection over three windows: SYN in the first, nothing (0) then FIN (1) later
    stats, rows, _ = ingest(tmp_path, [
        rec("eni-c", CLIENT, SERVER, 50000, 8443, 2, start=100),
        rec("eni-c", CLIENT, SERVER, 50000, 8443, 0, start=200),
        rec("eni-c", CLIENT, SERVER, 50000, 8443, 1, start=300),
        rec("eni-c", SERVER, CLIENT, 8443, 50000, 18, start=100),
        rec("eni-c", SERVER, CLIENT, 8443, 50000, 0, start=200),
    ])
    assert conn(rows) == [(CLIENT, SERVER, "TCP", 8443, "allow")]
    assert rows[0]["flows"] == 1 and rows[0]["records"] == 3
    assert stats.skipped == {"reply": 2}


# --- orientation: ports when there are no flags ------------------------------------------------

@pytest.mark.parametrize(("a_port", "b_port", "server_port"), [
    (443, 51000, 443),       # well-known vs anything
    (80, 1024, 80),
    (8080, 50000, 8080),     # below 32768 vs ephemeral
    (5000, 6000, 5000),      # both registered: the lower one
    (33000, 61000, 33000),   # both ephemeral: the lower one
])
def test_port_truth_table_for_a_record_seen_as_reply(tmp_path: Path, a_port: int, b_port: int,
                                                     server_port: int) -> None:
    _, rows, _ = ingest(tmp_path, [
        rec("eni-1", SERVER, CLIENT, a_port, b_port),   # whichever way round the record is written
        rec("eni-1", CLIENT, SERVER, b_port, a_port),
    ])
    assert len(rows) == 1 and rows[0]["dst_port"] == server_port


def test_listening_port_found_by_many_peers(tmp_path: Path) -> None:
    # Both sides are in the ephemeral range and the server's port is the higher one, so only the
    # peer count can tell: three different clients talk to SERVER:50000.
    lines = []
    for i, cport in enumerate((40001, 40002, 40003)):
        client = f"10.0.1.{i + 10}"
        lines.append(rec("eni-s", SERVER, client, 50000, cport))     # reply first
        lines.append(rec("eni-s", client, SERVER, cport, 50000))
    lines.append(rec("eni-x", "10.0.3.3", "10.0.3.4", 40000, 41000))  # no peer evidence: the lower port
    _, rows, _ = ingest(tmp_path, lines)
    assert sorted((r["src_ip"], r["dst_ip"], r["dst_port"]) for r in rows) == [
        ("10.0.1.10", SERVER, 50000), ("10.0.1.11", SERVER, 50000), ("10.0.1.12", SERVER, 50000),
        ("10.0.3.4", "10.0.3.3", 40000)]


def test_a_port_the_inventory_declares_is_the_server(tmp_path: Path) -> None:
    # one client, no flags, both ports ephemeral: without more the lower port (the client's 40000) would be
    # taken for the server; the inventory says the pod at SERVER listens on TCP 50051 (not UDP)
    lines = [rec("eni-a", CLIENT, SERVER, 40000, 50051), rec("eni-a", SERVER, CLIENT, 50051, 40000),
             rec("eni-a", CLIENT, SERVER, 40000, 50051, proto=17)]
    _, rows, _ = ingest(tmp_path, lines)
    assert sorted(conn(rows)) == [(SERVER, CLIENT, "TCP", 40000, "allow"), (SERVER, CLIENT, "UDP", 40000, "allow")]
    inv = tmp_path / "pods.json"
    inv.write_text(json.dumps({"kind": "List", "items": [{
        "kind": "Pod", "metadata": {"name": "grpc-0", "namespace": "shop"},
        "spec": {"containers": [{"name": "c", "ports": [{"containerPort": 50051}]}]},
        "status": {"podIPs": [{"ip": SERVER}]}}]}))
    s = store.load_flows([tmp_path / "flows.log"], inventory=[inv])
    got = s.con.execute("SELECT src_ip, dst_ip, protocol, dst_port FROM connections ORDER BY ALL").fetchall()
    assert got == [(CLIENT, SERVER, "TCP", 50051), (SERVER, CLIENT, "UDP", 40000)]


def test_udp_dns_and_equal_ports(tmp_path: Path) -> None:
    _, rows, _ = ingest(tmp_path, [
        rec("eni-1", CLIENT, "10.0.0.2", 53211, 53, proto=17),
        rec("eni-1", "10.0.0.2", CLIENT, 53, 53211, proto=17),
        rec("eni-1", "10.0.5.1", "10.0.5.2", 7000, 7000, proto=17),   # symmetric: both directions kept
        rec("eni-1", "10.0.5.2", "10.0.5.1", 7000, 7000, proto=17),
    ])
    assert conn(rows) == [(CLIENT, "10.0.0.2", "UDP", 53, "allow"),
                          ("10.0.5.1", "10.0.5.2", "UDP", 7000, "allow"),
                          ("10.0.5.2", "10.0.5.1", "UDP", 7000, "allow")]


def test_icmp_has_no_port_and_protocol_names(tmp_path: Path) -> None:
    _, rows, _ = ingest(tmp_path, [
        rec("eni-1", CLIENT, SERVER, 0, 0, proto=1),
        rec("eni-1", CLIENT, SERVER, "-", "-", proto=47),
        rec("eni-1", CLIENT, SERVER, 40000, 3868, proto=132),
        rec("eni-1", "fd00::1", "fd00:0:0:0::2", 0, 0, proto=58),
    ])
    assert conn(rows) == [(CLIENT, SERVER, "47", None, "allow"), (CLIENT, SERVER, "ICMP", None, "allow"),
                          (CLIENT, SERVER, "SCTP", 3868, "allow"), ("fd00::1", "fd00::2", "ICMPv6", None, "allow")]


# --- actions, de-duplication, aggregation ------------------------------------------------------

def test_rejected_by_the_server_while_the_client_eni_accepted_is_deny(tmp_path: Path) -> None:
    stats, rows, _ = ingest(tmp_path, [
        rec("eni-c", CLIENT, SERVER, 43000, 3389, 2),
        rec("eni-s", CLIENT, SERVER, 43000, 3389, 2, action="REJECT"),
    ])
    assert conn(rows) == [(CLIENT, SERVER, "TCP", 3389, "deny")]
    assert stats.skipped == {"duplicate ENI": 1}


def test_flows_count_distinct_client_ports(tmp_path: Path) -> None:
    _, rows, _ = ingest(tmp_path, [rec("eni-c", CLIENT, SERVER, p, 80, 2) for p in (40000, 40001, 40002)])
    assert len(rows) == 1 and rows[0]["flows"] == 3 and rows[0]["records"] == 3
    assert rows[0]["first_seen"] is not None and rows[0]["window_end"] >= rows[0]["window_start"]


def test_nodata_and_skipdata_are_counted_and_skipped(tmp_path: Path) -> None:
    stats, rows, _ = ingest(tmp_path, [
        "3 eni-1 - - - - - - - 1431280876 1431280934 - - NODATA",
        "3 eni-1 - - - - - - - 1431280876 1431280934 - - SKIPDATA",
        "3 eni-2 - - - - - - - 1431280876 1431280934 - - NODATA",
        rec("eni-1", CLIENT, SERVER, 40000, 80, 2),
    ])
    assert stats.skipped == {"NODATA": 2, "SKIPDATA": 1}
    assert stats.records == 4 and stats.accepted == 1 and len(rows) == 1


# --- formats -----------------------------------------------------------------------------------

def test_custom_field_order_v5_fields_and_pkt_addresses(tmp_path: Path) -> None:
    header = ("flow-direction traffic-path action pkt-dstaddr dstport srcaddr pkt-srcaddr tcp-flags protocol "
              "log-status srcport dstaddr interface-id start end pkt-src-aws-service az-id")
    # a pod behind its node's ENI: srcaddr/dstaddr is the ENI address, pkt-* the pod's own address
    request = "egress 1 ACCEPT 10.0.2.9 8080 10.0.1.100 10.0.1.5 2 6 OK 40000 10.0.2.9 eni-1 1700000000 1700000060 - use1-az1"
    reply = "ingress - ACCEPT 10.0.1.5 40000 10.0.2.9 - 18 6 OK 8080 10.0.1.100 eni-1 1700000000 1700000060 S3 use1-az1"
    stats, rows, _ = ingest(tmp_path, [request, reply], header=header)
    assert conn(rows) == [("10.0.1.5", "10.0.2.9", "TCP", 8080, "allow")]
    assert stats.skipped == {"reply": 1}


def test_cloudwatch_lines_without_header_and_gzip(tmp_path: Path) -> None:
    lines = ["2 123456789010 eni-1235b8ca123456789 172.31.16.139 172.31.16.21 20641 22 6 20 4249 1418530010 1418530070 ACCEPT OK"]
    stats, rows, _ = ingest(tmp_path, lines, header=None, name="cw.log.gz")
    assert conn(rows) == [("172.31.16.139", "172.31.16.21", "TCP", 22, "allow")]
    assert rows[0]["line"] == 1 and stats.records == 1


def test_cloudwatch_subscription_envelope(tmp_path: Path) -> None:
    events = [{"id": str(i), "timestamp": 0, "message": m} for i, m in enumerate([
        "2 1 eni-a 10.0.0.1 10.0.0.2 40000 443 6 5 500 1418530010 1418530070 ACCEPT OK",
        "2 1 eni-a 10.0.0.2 10.0.0.1 443 40000 6 5 500 1418530010 1418530070 ACCEPT OK",
    ])]
    path = tmp_path / "cw.json"
    path.write_text(json.dumps({"messageType": "DATA_MESSAGE", "logEvents": events}))
    assert vpc.sniff(path.read_bytes())
    con = duckdb.connect()
    con.execute(schema.connections_ddl("stage"))
    stats = vpc.read(con, str(path), target="stage", skip_bad=False)
    assert stats.records == 2 and stats.accepted == 1 and stats.skipped == {"reply": 1}
    assert con.execute("SELECT src_ip, dst_port FROM stage").fetchall() == [("10.0.0.1", 443)]


@pytest.mark.parametrize(("head", "expected"), [
    (V3 + "\n", True),
    ("version account-id interface-id srcaddr dstaddr srcport dstport protocol packets bytes start end action log-status\n", True),
    ("2 123 eni-1 1.1.1.1 2.2.2.2 1 2 6 1 1 1 1 ACCEPT OK\n", True),
    ('{"messageType":"DATA_MESSAGE","logEvents":[{"id":"1","message":"2 1 eni-1 - - - - - - - 1 2 - NODATA"}]}', True),
    ('{"messageType":"DATA_MESSAGE","logEvents":[{"id":"1","message":"hello"}]}', False),
    ('{"flow": {"source": {}}}\n', False),
    ("time,src_ip,dst_ip\n", False),
    ("", False),
])
def test_sniff(head: str, expected: bool) -> None:
    assert vpc.sniff(head.encode()) is expected


# --- bad input ---------------------------------------------------------------------------------

@pytest.mark.parametrize(("line", "reason"), [
    (rec("eni-1", "10.0.0.300", SERVER, 40000, 80), "srcaddr: invalid IP '10.0.0.300'"),
    (rec("eni-1", CLIENT, SERVER, 40000, 70000), "dstport: invalid port '70000'"),
    (rec("eni-1", CLIENT, SERVER, 40000, 80, proto=300), "protocol: unknown protocol number '300'"),
    (rec("eni-1", CLIENT, SERVER, 40000, 80) + " extra", "wrong field count: expected 14, found 15"),
    (rec("eni-1", CLIENT, SERVER, 40000, 80, action="ALLOW"), "action: expected ACCEPT or REJECT, found 'ALLOW'"),
    (rec("eni-1", CLIENT, SERVER, 40000, 80, status="MAYBE"), "log-status: expected OK, NODATA or SKIPDATA, found 'MAYBE'"),
    (rec("eni-1", CLIENT, SERVER, 40000, 80, action="-"), "action: missing ('-') in a record with log-status OK"),
])
def test_bad_record_names_file_line_and_reason(tmp_path: Path, line: str, reason: str) -> None:
    good = rec("eni-1", CLIENT, SERVER, 40000, 80)
    with pytest.raises(InputError) as err:
        ingest(tmp_path, [good, good, line, good])
    assert str(err.value) == f"{tmp_path / 'flows.log'}:4: {reason}"
    assert err.value.exit_code == 2 and "--skip-bad" in (err.value.hint or "")


def test_skip_bad_keeps_rejected_lines_and_line_numbers(tmp_path: Path) -> None:
    lines = [
        rec("eni-1", CLIENT, SERVER, 40000, 70000),            # line 2: parse reject
        rec("eni-1", "nope", SERVER, 40000, 80),               # line 3: invalid address
        rec("eni-1", CLIENT, SERVER, 40000, 80, proto=6) + " x",  # line 4: field count
        rec("eni-2", "10.0.9.9", SERVER, 40000, 81),           # line 5: first good record
    ]
    stats, rows, con = ingest(tmp_path, lines, skip_bad=True)
    assert (stats.records, stats.rejected, stats.accepted) == (4, 3, 1)
    assert [(r["src_ip"], r["line"]) for r in rows] == [("10.0.9.9", 5)]
    rejected = con.execute("SELECT line, format, reason FROM rejected ORDER BY line").fetchall()
    assert rejected == [(2, "vpc", "dstport: invalid port '70000'"), (3, "vpc", "srcaddr: invalid IP 'nope'"),
                        (4, "vpc", "wrong field count: expected 14, found 15")]


@pytest.mark.parametrize(("header", "reason"), [
    ("version srcaddr dstaddr srcport protocol action", "broken header: missing field(s) dstport"),
    ("version srcaddr dstaddr srcport dstport protocol action srcport", "broken header: duplicate field(s) srcport"),
    ("version srcaddr dstaddr srcport dstport protocol Action", "broken header: 'Action' is not a flow-log field name"),
    ("srcport dstport protocol action", "broken header: missing field(s) srcaddr/dstaddr"),
])
def test_broken_header(tmp_path: Path, header: str, reason: str) -> None:
    with pytest.raises(InputError) as err:
        ingest(tmp_path, ["1 2 3 4 5 6 7"], header=header)
    assert str(err.value) == f"{tmp_path / 'flows.log'}:1: {reason}"


def test_truncated_last_line_is_skipped_not_an_error(tmp_path: Path) -> None:
    path = tmp_path / "live.log"
    path.write_text(V3 + "\n" + rec("eni-1", CLIENT, SERVER, 40000, 80, 2) + "\n3 eni-1 10.0.1.5 10.0")
    con = duckdb.connect()
    con.execute(schema.connections_ddl("stage"))
    stats = vpc.read(con, str(path), target="stage", skip_bad=False)
    assert stats.truncated_last_line and stats.skipped == {"truncated last line": 1}
    assert stats.records == 2 and stats.accepted == 1 and stats.reconciles()


def test_check_tokens_agrees_with_good_records() -> None:
    fields = tuple(V3.split())
    assert vpc.check_tokens(rec("eni-1", CLIENT, SERVER, 1, 2, 2).split(" "), fields) is None
    assert vpc.check_tokens("3 eni-1 - - - - - - - 1 2 - - NODATA".split(" "), fields) is None


def test_gzip_detected_by_content_not_name(tmp_path: Path) -> None:
    line = rec("eni-1", CLIENT, SERVER, 40000, 80, 2)
    stats, rows, _ = ingest(tmp_path, [line], name="flows.gz")              # the helper compresses *.gz
    (tmp_path / "flows.gz").rename(tmp_path / "flows.log")
    con = duckdb.connect()
    con.execute(schema.connections_ddl("stage"))
    again = vpc.read(con, str(tmp_path / "flows.log"), target="stage", skip_bad=False)
    assert again.accepted == stats.accepted == 1 and len(rows) == 1

    envelope = {"logEvents": [{"message": "2 1 eni-a 10.0.0.1 10.0.0.2 40000 443 6 5 500 1 2 ACCEPT OK"}]}
    gz = tmp_path / "cw.json.gz"
    gz.write_bytes(gzip.compress(json.dumps(envelope).encode()))
    assert vpc.read(con, str(gz), target="stage", skip_bad=False).accepted == 1


def test_a_reused_client_port_towards_many_servers_is_still_the_client(tmp_path: Path) -> None:
    # 10.0.1.5:40000 talks to three servers (Linux reuses a source port per destination); its peer count
    # is 3, each server's is 1, yet the ephemeral range decides first.
    lines = []
    for i in range(3):
        server = f"10.0.2.{i + 1}"
        lines += [rec("eni-1", server, CLIENT, 8080, 40000), rec("eni-1", CLIENT, server, 40000, 8080)]
    _, rows, _ = ingest(tmp_path, lines)
    assert [(r["src_ip"], r["dst_port"]) for r in rows] == [(CLIENT, 8080)] * 3


# --- property: whatever subset and order of views was logged, one connection per 5-tuple ----------

from hypothesis import HealthCheck, given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

VIEWS = ("client-eni request", "client-eni reply", "server-eni request", "server-eni reply")


@st.composite
def logged_connections(draw: st.DrawFn) -> tuple[list[tuple[str, int, str, int, bool]], list[str]]:
    n = draw(st.integers(1, 6))
    conns, lines, pairs = [], [], set()
    for i in range(n):
        flagged = draw(st.booleans())
        cip, sip = f"10.1.0.{draw(st.integers(1, 4))}", f"10.2.0.{draw(st.integers(1, 4))}"
        if flagged:   # flags make any ports work, even a server on a high port
            cport, sport = draw(st.integers(1, 65535)), draw(st.integers(1, 65535))
        else:         # without flags the reader relies on the client's port being ephemeral
            cport, sport = draw(st.integers(32768, 65535)), draw(st.integers(1, 32767))
        if (cip, cport, sip, sport) in pairs or (cip, cport) == (sip, sport):
            continue
        pairs.add((cip, cport, sip, sport))
        conns.append((cip, cport, sip, sport, flagged))
        views = draw(st.sets(st.sampled_from(VIEWS), min_size=1))
        for v in sorted(views):
            eni = "eni-c" if v.startswith("client") else "eni-s"
            if v.endswith("request"):
                lines.append(rec(eni, cip, sip, cport, sport, 2 if flagged else "-"))
            else:
                lines.append(rec(eni, sip, cip, sport, cport, 18 if flagged else "-"))
    return conns, draw(st.permutations(lines))


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(logged=logged_connections())
def test_any_logged_views_give_each_connection_once_from_its_client(tmp_path: Path, logged) -> None:
    conns, lines = logged
    stats, rows, _ = ingest(tmp_path, lines)
    expected: dict[tuple[str, str, int], int] = {}
    for cip, _, sip, sport, _ in conns:
        expected[(cip, sip, sport)] = expected.get((cip, sip, sport), 0) + 1
    assert {(r["src_ip"], r["dst_ip"], r["dst_port"]): r["flows"] for r in rows} == expected
    assert stats.accepted == len(conns) and stats.skipped_total == len(lines) - len(conns)


def test_a_complete_bad_last_line_without_newline_is_still_an_error(tmp_path: Path) -> None:
    path = tmp_path / "flows.log"
    path.write_text(V3 + "\n" + rec("eni-1", CLIENT, SERVER, 40000, 80, 2) + "\n" + rec("eni-1", CLIENT, SERVER, 40000, 99999))
    con = duckdb.connect()
    con.execute(schema.connections_ddl("stage"))
    with pytest.raises(InputError, match=r"flows.log:3: dstport: invalid port '99999'"):
        vpc.read(con, str(path), target="stage", skip_bad=False)


def test_unknown_future_fields_are_ignored_with_a_note(tmp_path: Path) -> None:
    header = "srcaddr dstaddr srcport dstport protocol action tcp-flags some-future-field"
    stats, rows, _ = ingest(tmp_path, [f"{CLIENT} {SERVER} 40000 80 6 ACCEPT 2 whatever"], header=header)
    assert conn(rows) == [(CLIENT, SERVER, "TCP", 80, "allow")]
    assert stats.notes == [f"{tmp_path / 'flows.log'}: ignored unknown field(s) some-future-field"]
    assert rows[0]["packets"] is None and rows[0]["first_seen"] is None    # fields the format did not have


def test_connection_settings_are_restored(tmp_path: Path) -> None:
    path = tmp_path / "flows.log"
    path.write_text(V3 + "\n" + rec("eni-1", CLIENT, SERVER, 40000, 80, 2) + "\n")
    con = duckdb.connect()
    con.execute(schema.connections_ddl("stage"))
    con.execute("SET preserve_insertion_order = false")     # what the store uses
    vpc.read(con, str(path), target="stage", skip_bad=False)
    assert con.execute("SELECT current_setting('preserve_insertion_order')").fetchone()[0] is False


def test_concatenated_s3_objects_repeat_the_header(tmp_path: Path) -> None:
    # `zcat part-*.log.gz > all.log`: every S3 object starts with the header line
    lines = [rec("eni-1", CLIENT, SERVER, 40000, 80, 2), V3, rec("eni-1", "10.0.1.6", SERVER, 40001, 80, 2)]
    stats, rows, _ = ingest(tmp_path, lines)
    assert stats.skipped == {"repeated header": 1} and stats.accepted == 2
    assert [(r["src_ip"], r["line"]) for r in rows] == [(CLIENT, 2), ("10.0.1.6", 4)]


def test_a_second_header_with_another_field_order_is_an_error(tmp_path: Path) -> None:
    other = "interface-id version srcaddr dstaddr srcport dstport protocol packets bytes start end action tcp-flags log-status"
    with pytest.raises(InputError, match=r"flows.log:3: a header with other fields than line 1"):
        ingest(tmp_path, [rec("eni-1", CLIENT, SERVER, 40000, 80, 2), other])


def test_blank_lines_do_not_shift_line_numbers(tmp_path: Path) -> None:
    lines = ["", rec("eni-1", CLIENT, SERVER, 40000, 80, 2), "", "", rec("eni-1", "10.0.1.6", SERVER, 40001, 80, 2)]
    _, rows, _ = ingest(tmp_path, lines)
    assert [(r["src_ip"], r["line"]) for r in rows] == [(CLIENT, 3), ("10.0.1.6", 6)]
    with pytest.raises(InputError, match=r"flows.log:8: srcaddr: invalid IP 'x'"):
        ingest(tmp_path, lines + ["", rec("eni-1", "x", SERVER, 40000, 80)])


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(field=st.integers(0, 13), junk=st.text(st.characters(blacklist_characters=" \n\r\x00", blacklist_categories=("Cs",)),
                                                min_size=1, max_size=12))
def test_garbage_in_any_field_is_an_input_error_or_accepted(tmp_path: Path, field: int, junk: str) -> None:
    tokens = rec("eni-1", CLIENT, SERVER, 40000, 80, 2).split(" ")
    tokens[field] = junk
    lines = [rec("eni-1", CLIENT, SERVER, 40001, 80, 2), " ".join(tokens)]
    try:
        stats, _, _ = ingest(tmp_path, lines, name="fuzz.log")
    except InputError as err:
        assert err.line == 3 and err.exit_code == 2
        stats, _, con = ingest(tmp_path, lines, name="fuzz.log", skip_bad=True)
        assert stats.rejected == 1
        assert con.execute("SELECT line FROM rejected").fetchall() == [(3,)]
    else:
        assert stats.records == 2


def test_an_accepted_reply_means_the_connection_got_through(tmp_path: Path) -> None:
    # a retransmitted SYN was rejected in one window (rule change), but the server did answer
    _, rows, _ = ingest(tmp_path, [
        rec("eni-s", CLIENT, SERVER, 43000, 443, 2, action="REJECT", start=100),
        rec("eni-s", CLIENT, SERVER, 43000, 443, 2, start=200),
        rec("eni-s", SERVER, CLIENT, 443, 43000, 18, start=200),
    ])
    assert conn(rows) == [(CLIENT, SERVER, "TCP", 443, "allow")]
