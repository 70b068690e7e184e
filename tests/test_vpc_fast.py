"""The VPC reader's one-level aggregation must equal the exact two-level one, or hand over to it.

``vpc_pairs.load_pairs`` groups records per 5-tuple only and recovers, per direction, the view of the interface
with the smallest hash from sums (see ``vpc_pairs._FAST_VIEW``); whatever it cannot recover exactly goes to the
two-level aggregation (per interface view, then per 5-tuple). These tests pin both halves: the recovered
pairs equal the exact ones, and the cases outside its reach (three interfaces, a missing packet count) are
handed over rather than guessed.
"""

from __future__ import annotations

from pathlib import Path

import duckdb
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from recommender.errors import InputError
from recommender.io import schema, vpc, vpc_pairs

V3 = "version interface-id srcaddr dstaddr srcport dstport protocol packets bytes start end action tcp-flags log-status"
CLIENT, SERVER = "10.0.1.5", "10.0.2.9"
PAIR_COLUMNS = ("lo_ip, lo_port, hi_ip, hi_port, proto, status, valid, e, rej, acc_a, acc_b, n, t0, t1, rn, "
                "n_a, n_b, rn_a, rn_b, pk_a, pk_b, by_a, by_b")


def rec(iface: str, src: str, dst: str, sport: int, dport: int, flags: int | str = "-", *,
        packets: int | str = 10, start: int = 1700000000, action: str = "ACCEPT") -> str:
    nbytes = packets if packets == "-" else packets * 100 + 7
    return f"3 {iface} {src} {dst} {sport} {dport} 6 {packets} {nbytes} {start} {start + 60} {action} {flags} OK"


def write(tmp_path: Path, lines: list[str]) -> Path:
    path = tmp_path / "flows.log"
    path.write_text("\n".join([V3, *lines]) + "\n")
    return path


def pairs(con: duckdb.DuckDBPyConnection, path: Path, *, fast: bool) -> tuple[str, str]:
    """Run step 1 with or without the fast aggregation: (which one ran, the pairs table)."""
    names = vpc_pairs.TempNames()
    ran = vpc_pairs.load_pairs(con, names, str(path), tuple(V3.split()), 1, vpc._TYPED, fast=fast)
    return ran, names.pairs


def differences(con: duckdb.DuckDBPyConnection, a: str, b: str) -> list[tuple]:
    one = f"SELECT {PAIR_COLUMNS} FROM {a} WHERE {vpc_pairs.USED}"      # the pairs that become connections
    other = f"SELECT {PAIR_COLUMNS} FROM {b} WHERE {vpc_pairs.USED}"
    return con.execute(f"({one} EXCEPT ALL {other}) UNION ALL ({other} EXCEPT ALL {one})").fetchall()


def compare(tmp_path: Path, lines: list[str]) -> str:
    con = duckdb.connect()
    con.execute("SET preserve_insertion_order = true")
    path = write(tmp_path, lines)
    ran, fast_table = pairs(con, path, fast=True)
    exact_ran, exact_table = pairs(con, path, fast=False)
    assert exact_ran == "exact"
    assert differences(con, fast_table, exact_table) == []
    return ran


def smallest_hash(*ifaces: str) -> str:
    return min(ifaces, key=lambda i: duckdb.execute("SELECT hash(?)", [i]).fetchone()[0])


def test_two_interfaces_with_several_windows_each_are_recovered_exactly(tmp_path: Path) -> None:
    # a long connection: the client's ENI logged three windows of the request, the server's two, with
    # different packet counts; replies on both
    lines = [rec("eni-c", CLIENT, SERVER, 43000, 443, 2, packets=p, start=1700000000 + 60 * w)
             for w, p in enumerate((3, 5, 8))]
    lines += [rec("eni-s", CLIENT, SERVER, 43000, 443, 2, packets=p, start=1700000000 + 60 * w)
              for w, p in enumerate((13, 21))]
    lines += [rec("eni-c", SERVER, CLIENT, 443, 43000, 18, packets=4), rec("eni-s", SERVER, CLIENT, 443, 43000, 18)]
    assert compare(tmp_path, lines) == "fast"


def test_three_interfaces_on_one_direction_go_to_the_exact_aggregation(tmp_path: Path) -> None:
    ifaces = ("eni-a", "eni-b", "eni-nat")
    lines = [rec(i, CLIENT, SERVER, 43000, 443, 2, packets=k + 1) for k, i in enumerate(ifaces)]
    lines.append(rec("eni-b", CLIENT, SERVER, 43000, 443, 2, packets=9, start=1700000060))
    assert compare(tmp_path, lines) == "exact"
    con = duckdb.connect()
    con.execute(schema.connections_ddl("stage"))
    stats = vpc.read(con, write(tmp_path, lines), target="stage", skip_bad=False)
    kept = smallest_hash(*ifaces)
    expected_packets = {"eni-a": 1, "eni-b": 2 + 9, "eni-nat": 3}[kept]
    expected_records = 2 if kept == "eni-b" else 1
    assert stats.accepted == expected_records
    assert stats.skipped == {"duplicate ENI": 4 - expected_records}
    assert con.execute("SELECT packets, records FROM stage").fetchall() == [(expected_packets, expected_records)]


def test_a_third_interface_with_the_low_hash_bits_of_the_smallest_is_caught(tmp_path: Path) -> None:
    # the low 24 bits (the weights of the recovery) alone would count eni-a's records as the smallest view's
    # (eni-3570366); the top 32 bits (the check) tell them apart
    smallest, middle, largest = "eni-3570366", "eni-a", "eni-d"
    hashes = [duckdb.execute("SELECT hash(?)", [i]).fetchone()[0] for i in (smallest, middle, largest)]
    assert hashes == sorted(hashes) and hashes[0] % 2**24 == hashes[1] % 2**24 != hashes[2] % 2**24
    lines = [rec(i, CLIENT, SERVER, 43000, 443, 2, packets=k + 1) for k, i in enumerate((smallest, middle, largest))]
    assert compare(tmp_path, lines) == "exact"


def test_a_missing_packet_count_on_two_interfaces_goes_to_the_exact_aggregation(tmp_path: Path) -> None:
    # the exact aggregate skips a view without packets when it picks one; sums cannot tell which that was
    lines = [rec("eni-a", CLIENT, SERVER, 43000, 443, 2, packets="-"), rec("eni-b", CLIENT, SERVER, 43000, 443, 2)]
    assert compare(tmp_path, lines) == "exact"


def test_a_product_overflow_in_the_recovery_goes_to_the_exact_aggregation(tmp_path: Path) -> None:
    # 2^56 packets in one record is a valid count; weighted by the hash bits it no longer fits 64 bits
    assert duckdb.execute("SELECT hash('eni-a') & 16777215").fetchone()[0] >= 4
    lines = [rec("eni-a", CLIENT, SERVER, 43000, 443, 2, packets=2**56), rec("eni-b", CLIENT, SERVER, 43000, 443, 2)]
    assert compare(tmp_path, lines) == "exact"


def test_one_interface_per_direction_needs_no_recovery(tmp_path: Path) -> None:
    lines = [rec("eni-c", CLIENT, SERVER, 43000, 443, 2, packets="-"),
             rec("eni-c", CLIENT, SERVER, 43000, 443, 0, start=1700000060),
             rec("eni-c", SERVER, CLIENT, 443, 43000, 18)]
    assert compare(tmp_path, lines) == "fast"


def records(ifaces: list[str], packets: st.SearchStrategy) -> st.SearchStrategy[list[str]]:
    """Up to 25 records of one TCP connection (and a second client port) in both directions."""
    one = st.builds(
        lambda iface, forward, port, flags, count, window, action: rec(
            iface, *((CLIENT, SERVER, port, 443) if forward else (SERVER, CLIENT, 443, port)), flags,
            packets=count, start=1700000000 + 60 * window, action=action),
        st.sampled_from(ifaces), st.booleans(), st.sampled_from([40000, 40001]), st.sampled_from(["-", 0, 2, 18, 3]),
        packets, st.integers(0, 3), st.sampled_from(["ACCEPT", "ACCEPT", "REJECT"]))
    return st.lists(one, min_size=1, max_size=25)


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(records(["eni-1", "eni-2", "eni-1", "eni-2", "eni-3"], st.one_of(st.integers(0, 2**30), st.just("-"))))
def test_fast_pairs_equal_exact_pairs(tmp_path: Path, lines: list[str]) -> None:
    compare(tmp_path, lines)


@settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(records(["eni-1", "eni-2"], st.integers(0, 2**30)))
def test_two_interfaces_always_take_the_fast_aggregation(tmp_path: Path, lines: list[str]) -> None:
    assert compare(tmp_path, lines) == "fast"


# --- reading a large file in two parts ------------------------------------------------------------

def outcome(tmp_path: Path, lines: list[str], *, skip_bad: bool) -> tuple:
    """Everything a read reports: the error, or the stats, the connections and the rejected lines."""
    path = tmp_path / "flows.log"
    path.write_text("\n".join([V3, *lines]) + "\n")
    con = duckdb.connect()
    con.execute(schema.connections_ddl("stage"))
    con.execute(schema.REJECTED_DDL)
    try:
        stats = vpc.read(con, path, target="stage", skip_bad=skip_bad)
    except InputError as exc:
        return ("error", str(exc))
    return (stats.records, stats.accepted, stats.rejected, stats.skipped, stats.truncated_last_line,
            con.execute("SELECT * EXCLUDE (file) FROM stage ORDER BY ALL").fetchall(),
            con.execute("SELECT line, reason, text FROM rejected ORDER BY line").fetchall())


def test_a_clean_large_file_is_read_in_two_parts(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    ran: list[str] = []
    load = vpc_pairs.load_pairs
    monkeypatch.setattr(vpc_pairs, "load_pairs", lambda *a, **k: ran.append(load(*a, **k)) or ran[-1])
    lines = [rec("eni-c", CLIENT, SERVER, 40000 + i, 443, 2, packets=i) for i in range(30)]
    lines += [rec("eni-s", SERVER, CLIENT, 443, 40000 + i, 18) for i in range(30)]
    one_part = outcome(tmp_path, lines, skip_bad=False)
    monkeypatch.setattr(vpc_pairs, "SPLIT_MIN_RECORDS", 1)
    assert outcome(tmp_path, lines, skip_bad=False) == one_part
    assert ran == ["fast", "fast-split"]


good = st.builds(lambda i, reply, flags, packets: rec(f"eni-{i % 3}", *((SERVER, CLIENT, 443, 40000 + i) if reply
                                                                       else (CLIENT, SERVER, 40000 + i, 443)),
                                                      flags, packets=packets),
                 st.integers(0, 5), st.booleans(), st.sampled_from(["-", 2, 18]), st.integers(0, 9))
bad = st.sampled_from([rec("eni-1", CLIENT, SERVER, 40000, 70000), rec("eni-1", "10.0.0.300", SERVER, 40000, 80),
                       rec("eni-1", CLIENT, SERVER, 40000, 80) + " extra", "", V3,
                       "3 eni-1 - - - - - - - 1431280876 1431280934 - - NODATA"])


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.lists(st.one_of(good, good, good, bad), min_size=1, max_size=30), st.booleans())
def test_two_parts_report_what_one_part_reports(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                lines: list[str], skip_bad: bool) -> None:
    # a malformed line in the head part or a blank line anywhere sends the file back to one part; one in
    # the tail keeps its line number
    with monkeypatch.context() as m:
        one_part = outcome(tmp_path, lines, skip_bad=skip_bad)
        m.setattr(vpc_pairs, "SPLIT_MIN_RECORDS", 1)
        assert outcome(tmp_path, lines, skip_bad=skip_bad) == one_part
