"""Addresses as peers: what an ipBlock can name, and what it cannot.

An IPv4-mapped IPv6 address (``::ffff:8.8.4.4``, as socket-level observers record IPv4 peers of
dual-stack sockets) is not a valid ipBlock: the API server rejects ``::ffff:8.8.4.4/128``, and on
the wire the packet is IPv4, so no IPv6 CIDR would ever match it either. Such a connection must be
reported as not expressible (verification then names it), never crash generation with an internal
error.
"""

from __future__ import annotations

from recommender.recommend.generate import generate
from tests.test_synthesis import conn, make_store, pod

WEB = pod("shop", "web-0", app="web")


def test_an_ipv4_mapped_ipv6_peer_is_reported_not_expressible_and_others_still_get_rules() -> None:
    rec = generate(make_store([conn(WEB, "::ffff:8.8.4.4", 443), conn(WEB, "8.8.8.8", 443),
                               conn(WEB, "2001:db8::1", 443)]))
    web = next(p for p in rec.policies if p.name == "web")
    cidrs = {peer.ip_block.cidr for r in web.egress for peer in r.peers if peer.ip_block}
    assert cidrs == {"8.8.8.8/32", "2001:db8::1/128"}
    assert any("::ffff:8.8.4.4" in w and "IPv4-mapped" in w for w in rec.warnings)
    assert not rec.ok and [f.split(" → ")[1].split(" ")[0] for f in rec.failures()] == ["network[::ffff:8.8.4.4]"]


def test_the_cli_hint_points_at_the_warnings_or_says_it_is_a_bug(tmp_path, cli, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    """Exit 1 with nothing written; the hint names the warnings when there are some, and otherwise says
    plainly that an unexplained failure is the recommender's bug (the issue: 'that is a bug')."""
    import recommender.recommend as rr
    from recommender.io.store import connect

    db = tmp_path / "store.duckdb"     # the readers store a mapped address as IPv4: put one in the store itself
    con = connect(db)
    con.execute("INSERT INTO connections (src_ip, src_namespace, src_pod, src_kind, src_labels, dst_ip, dst_kind, "
                "protocol, dst_port, action, flows, records, format, file, line) VALUES ('10.0.0.1', 'shop', "
                "'web-0', 'pod', MAP {'app': 'web'}, '::ffff:8.8.4.4', 'network', 'TCP', 443, 'allow', 1, 1, "
                "'normalized', 'hand.csv', 1)")
    con.close()
    out = cli("generate", "--db", db, "-o", tmp_path / "out")
    assert out.exit_code == 1 and not (tmp_path / "out").exists()
    assert "see the warnings above" in out.stderr and "IPv4-mapped" in out.stderr
    real = rr.generate

    def without_warnings(*args, **kwargs):  # type: ignore[no-untyped-def]
        rec = real(*args, **kwargs)
        object.__setattr__(rec, "warnings", [])
        return rec

    monkeypatch.setattr(rr, "generate", without_warnings)
    out = cli("generate", "--db", db, "-o", tmp_path / "out", "-q")
    assert out.exit_code == 1 and "this is a bug in recommender" in out.stderr
