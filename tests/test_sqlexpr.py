"""The shared SQL macros: label parsing and value checks every reader relies on, as truth tables."""

from __future__ import annotations

import duckdb
import pytest

from recommender.io.sqlexpr import install_macros


@pytest.fixture(scope="module")
def con() -> duckdb.DuckDBPyConnection:
    c = duckdb.connect()
    install_macros(c)
    return c


@pytest.mark.parametrize(("labels", "want"), [
    (None, None),
    ([], None),
    (["b=2", "a=1"], {"a": "1", "b": "2"}),                  # keys come out sorted
    (["a=x=y", "c="], {"a": "x=y", "c": ""}),                # the first '=' splits; empty values stay
    (["a=2", "a=1", "b=3"], {"a": "1", "b": "3"}),           # a repeated key keeps the first value after sorting
    (["a=1", "a=1"], {"a": "1"}),
    (["z=1", None], {"z": "1"}),                             # a null element is dropped
    (["flag", "a=1"], {"a": "1", "flag": ""}),               # no '=': an empty value, as Hubble reads Cilium's
])
def test_kv_labels(con: duckdb.DuckDBPyConnection, labels: list | None, want: dict | None) -> None:
    got = con.execute("SELECT rec_kv_labels(?::VARCHAR[])", [labels]).fetchone()[0]
    assert got == want
    if got is not None:
        assert list(got) == sorted(got)


@pytest.mark.parametrize(("proto", "want"), [
    ("tcp", "TCP"), ("6", "TCP"), (" udp ", "UDP"), ("132", "SCTP"), ("icmp6", "ICMPv6"), ("58", "ICMPv6"),
    ("47", "47"), ("256", None), ("gre", None),
])
def test_protocol(con: duckdb.DuckDBPyConnection, proto: str, want: str | None) -> None:
    assert con.execute("SELECT rec_protocol(?)", [proto]).fetchone()[0] == want


@pytest.mark.parametrize(("ip", "ok"), [
    ("10.0.0.1", True), ("256.0.0.1", False), ("fe80::1", True), ("fe80::1::2", False), ("1:::2", False),
    (None, True), ("::ffff:10.0.0.1", True), ("web", False),
])
def test_ip_ok(con: duckdb.DuckDBPyConnection, ip: str | None, ok: bool) -> None:
    assert con.execute("SELECT rec_ip_ok(?)", [ip]).fetchone()[0] is ok
