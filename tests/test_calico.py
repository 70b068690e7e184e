"""Calico flows.log reader: every aggregation level maps onto the normalized schema."""

from __future__ import annotations

import gzip
import json
from pathlib import Path

import pytest

from recommender.errors import InputError
from recommender.io import calico, calico_files
from recommender.io.store import load_flows


def rec(**over: object) -> dict:
    """One Calico flow log record (aggregation level 0: full pod names and IPs)."""
    r: dict = {
        "start_time": 1700000000, "end_time": 1700000300,
        "source_ip": "10.0.0.1", "source_name": "web-7d4b9-abcde", "source_name_aggr": "web-7d4b9-*",
        "source_namespace": "shop", "source_port": None, "source_type": "wep",
        "source_labels": {"labels": ["app=web", "tier=front"]},
        "dest_ip": "10.0.0.2", "dest_name": "db-0", "dest_name_aggr": "db-*", "dest_namespace": "data",
        "dest_port": 5432, "dest_type": "wep", "dest_labels": {"labels": ["app=db"]},
        "proto": "tcp", "action": "allow", "reporter": "src",
        "policies": {"all_policies": ["0|default|shop/default.allow-db|allow|0"]},
        "bytes_in": 100, "bytes_out": 50, "num_flows": 3, "num_flows_started": 2, "num_flows_completed": 2,
        "packets_in": 4, "packets_out": 3,
    }
    r.update(over)
    return r


def write(path: Path, records: list, *, tail: str = "\n") -> Path:
    text = "\n".join(r if isinstance(r, str) else json.dumps(r) for r in records) + tail
    if path.suffix == ".gz":
        path.write_bytes(gzip.compress(text.encode()))
    else:
        path.write_text(text)
    return path


def one(tmp_path: Path, records: list, **kw: object) -> list[dict]:
    store = load_flows(write(tmp_path / "flows.log", records), **kw)
    return store.df().to_dict("records")


def test_sniff() -> None:
    assert calico.sniff(json.dumps(rec()).encode())
    assert not calico.sniff(b'{"flow": {"source": {}}}')
    assert not calico.sniff(b"version account-id interface-id\n")


def test_level0_full_names(tmp_path: Path) -> None:
    [row] = one(tmp_path, [rec()])
    assert (row["src_ip"], row["src_namespace"], row["src_pod"], row["src_workload"], row["src_kind"]) == \
        ("10.0.0.1", "shop", "web-7d4b9-abcde", "web-7d4b9-*", "pod")
    assert row["src_labels"] == {"app": "web", "tier": "front"}
    assert (row["protocol"], row["dst_port"], row["action"]) == ("TCP", 5432, "allow")
    assert list(row["policies"]) == ["shop/default.allow-db"]
    assert (row["bytes"], row["packets"], row["flows"], row["records"]) == (150, 7, 2, 1)
    assert (row["format"], row["line"]) == ("calico", 1)


@pytest.mark.parametrize(
    ("typ", "name", "aggr", "ns", "kind", "pod", "workload", "namespace"),
    [
        ("wep", "-", "coredns-576cbf47c7-*", "kube-system", "pod", None, "coredns-576cbf47c7-*", "kube-system"),
        ("hep", "node-1", "node-1", "-", "host", None, "node-1", None),
        ("net", "-", "pub", "-", "network", None, "pub", None),
        ("net", "-", "pvt", "-", "network", None, "pvt", None),
        ("ns", "-", "corp-ranges", "shop", "network", None, "corp-ranges", "shop"),
        ("weird", "-", "-", "-", "unknown", None, None, None),
    ],
)
def test_endpoint_types(tmp_path: Path, typ, name, aggr, ns, kind, pod, workload, namespace) -> None:
    [row] = one(tmp_path, [rec(dest_type=typ, dest_name=name, dest_name_aggr=aggr, dest_namespace=ns,
                               dest_ip=None, dest_labels=None)])
    assert (row["dst_kind"], row["dst_pod"], row["dst_workload"], row["dst_namespace"], row["dst_ip"]) == \
        (kind, pod, workload, namespace, None)
    assert row["dst_labels"] is None


@pytest.mark.parametrize(
    ("proto", "port", "want_proto", "want_port"),
    [("tcp", 80, "TCP", 80), ("UDP", 53, "UDP", 53), ("6", 443, "TCP", 443), ("17", 53, "UDP", 53),
     ("sctp", 9, "SCTP", 9), ("icmp", None, "ICMP", None), ("icmp", 0, "ICMP", None), ("1", None, "ICMP", None),
     ("58", None, "ICMPv6", None), ("47", None, "47", None)],
)
def test_protocols(tmp_path: Path, proto, port, want_proto, want_port) -> None:
    [row] = one(tmp_path, [rec(proto=proto, dest_port=port)])
    assert (row["protocol"], row["dst_port"] if row["dst_port"] == row["dst_port"] else None) == (want_proto, want_port)


@pytest.mark.parametrize(
    ("policies", "want"),
    [
        ({"all_policies": ["0|__PROFILE__|__PROFILE__.kns.kube-system|allow"]}, ["__PROFILE__.kns.kube-system"]),
        ({"all_policies": ["0|tier1|ns1/tier1.np1|pass|-", "1|default|ns1/default.np2|allow|0"]},
         ["ns1/default.np2", "ns1/tier1.np1"]),
        ({"all_policies": ["0|t|t.a|allow|0"], "enforced_policies": ["0|t|t.b|allow|0"],
          "pending_policies": ["0|t|staged:t.c|allow|0"]}, ["t.b"]),
        (None, None),
    ],
)
def test_policy_forms(tmp_path: Path, policies, want) -> None:
    [row] = one(tmp_path, [rec(policies=policies)])
    assert (list(row["policies"]) if row["policies"] is not None else None) == want


def test_labels_canonical_so_equal_sets_group(tmp_path: Path) -> None:
    rows = one(tmp_path, [rec(source_labels={"labels": ["tier=front", "app=web"]}), rec()])
    assert len(rows) == 1 and rows[0]["records"] == 2
    assert list(rows[0]["src_labels"].keys()) == ["app", "tier"]


def test_counters_sum_and_windows_span(tmp_path: Path) -> None:
    rows = one(tmp_path, [rec(), rec(start_time=1700000300, end_time=1700000600, num_flows_started=None)])
    [row] = rows
    assert (row["records"], row["flows"], row["bytes"]) == (2, 2 + 3, 300)
    assert str(row["window_start"]) == "2023-11-14 22:13:20" and str(row["window_end"]) == "2023-11-14 22:23:20"


def test_duplicate_reporter_counted_once(tmp_path: Path) -> None:
    ingress = {"all_policies": ["0|default|data/default.db-ingress|allow|0"]}
    dst_same_window = rec(reporter="dst", policies=ingress)
    dst_other_window = rec(reporter="dst", policies=ingress, start_time=1700000300, end_time=1700000600)
    store = load_flows(write(tmp_path / "f.log", [rec(), dst_same_window, dst_other_window]))
    w1, w2 = sorted(store.df().to_dict("records"), key=lambda r: r["line"])
    # window 1: both ends reported it; the source's record is kept (with the source's policies)
    assert (w1["records"], w1["bytes"], w1["line"], list(w1["policies"])) == (1, 150, 1, ["shop/default.allow-db"])
    # window 2: only the destination reported it, so its record counts
    assert (w2["records"], w2["bytes"], list(w2["policies"])) == (1, 150, ["data/default.db-ingress"])
    assert str(w2["window_start"]) == "2023-11-14 22:18:20"
    st = store.summary.files[0]
    assert (st.records, st.accepted, st.skipped) == (3, 2, {"duplicate reporter": 1})


def test_duplicate_reporter_with_labels_in_another_order(tmp_path: Path) -> None:
    dst = rec(reporter="dst", source_labels={"labels": ["tier=front", "app=web"]})
    store = load_flows(write(tmp_path / "f.log", [rec(), dst]))
    assert store.summary.skipped == {"duplicate reporter": 1} and store.summary.connections == 1


def test_duplicate_reporter_counts_are_exact_across_label_orders(tmp_path: Path) -> None:
    flipped = {"source_labels": {"labels": ["tier=front", "app=web"]}}
    w2 = dict(start_time=1700000300, end_time=1700000600)
    w3 = dict(start_time=1700000600, end_time=1700000900)
    records = [rec(), rec(**w2), rec(reporter="dst"), rec(reporter="dst", **w2, **flipped),
               rec(reporter="dst", **w3, **flipped)]
    store = load_flows(write(tmp_path / "f.log", records))
    [row] = store.df().to_dict("records")
    assert (row["records"], row["bytes"], row["flows"]) == (3, 450, 6)
    assert store.summary.skipped == {"duplicate reporter": 2}
    assert str(row["window_start"]) == "2023-11-14 22:13:20" and str(row["window_end"]) == "2023-11-14 22:28:20"


def test_duplicate_reporter_needs_the_same_window(tmp_path: Path) -> None:
    later = dict(start_time=1700000300, end_time=1700000600)
    store = load_flows(write(tmp_path / "f.log", [rec(), rec(reporter="dst", **later), rec(**later),
                                                   rec(reporter="dst", start_time=1700000600, end_time=1700000900)]))
    [row] = store.df().to_dict("records")
    assert (row["records"], row["flows"]) == (3, 6)
    assert store.summary.skipped == {"duplicate reporter": 1}


def test_reporter_rule_per_group_and_per_window_agree_in_one_file(tmp_path: Path) -> None:
    """Connections whose ends reported the same windows are resolved per group, the others window by
    window; both kinds in one file give the documented counts."""
    w2 = dict(start_time=1700000300, end_time=1700000600)
    other = dict(dest_ip="10.0.0.3", dest_name="db-1")
    records = [
        # same windows at both ends, denied at the destination in both: two denies, the sources' allows dropped
        rec(), rec(**w2), rec(reporter="dst", action="deny"), rec(reporter="dst", action="deny", **w2),
        # the ends reported different windows: in window 1 both (the destination's record is a duplicate),
        # then the source alone in window 2 and the destination alone in window 3 (each counts)
        rec(**other), rec(**other, **w2), rec(reporter="dst", **other),
        rec(reporter="dst", **other, start_time=1700000600, end_time=1700000900),
    ]
    store = load_flows(write(tmp_path / "f.log", records))
    rows = {(r["dst_pod"], r["action"]): r for r in store.df().to_dict("records")}
    assert sorted(rows) == [("db-0", "deny"), ("db-1", "allow")]
    assert (rows[("db-0", "deny")]["records"], rows[("db-0", "deny")]["line"]) == (2, 3)
    assert (rows[("db-1", "allow")]["records"], rows[("db-1", "allow")]["line"]) == (3, 5)
    assert store.summary.files[0].skipped == {CONFLICT: 2, "duplicate reporter": 1}


W2 = dict(start_time=1700000300, end_time=1700000600)
SKEWED = dict(start_time=1700000137, end_time=1700000437)   # another node's window, overlapping the first
EMPTY = dict(start_time=1700000200, end_time=1700000200)
CONFLICT = "allowed at source, denied at destination"


@pytest.mark.parametrize(
    ("records", "want_rows", "want_skipped"),
    [
        # both ends allowed it in the same window: one allow (the destination's record is a duplicate)
        ([rec(), rec(reporter="dst")], [("allow", 1, "src")], {"duplicate reporter": 1}),
        # egress allowed, ingress denied, same window: the connection was denied
        ([rec(), rec(reporter="dst", action="deny")], [("deny", 1, "dst")], {CONFLICT: 1}),
        ([rec(reporter="dst", action="deny"), rec()], [("deny", 1, "dst")], {CONFLICT: 1}),
        # both denied: one deny, the source's record counts
        ([rec(action="deny"), rec(reporter="dst", action="deny")], [("deny", 1, "src")], {"duplicate reporter": 1}),
        # denied at the source but the destination says allow (cannot happen in practice): deny wins
        ([rec(action="deny"), rec(reporter="dst")], [("deny", 1, "src")], {"duplicate reporter": 1}),
        # one reporter alone decides
        ([rec(action="deny")], [("deny", 1, "src")], {}),
        ([rec(reporter="dst", action="deny")], [("deny", 1, "dst")], {}),
        ([rec(reporter="dst")], [("allow", 1, "dst")], {}),
        # different windows are different observations (a policy may have changed in between): both kept;
        # windows that only touch (one ends when the next starts) do not overlap
        ([rec(), rec(reporter="dst", action="deny", **W2)], [("allow", 1, "src"), ("deny", 1, "dst")], {}),
        # the two nodes cut their windows at different times: overlapping windows pair
        ([rec(), rec(reporter="dst", action="deny", **SKEWED)], [("deny", 1, "dst")], {CONFLICT: 1}),
        ([rec(), rec(reporter="dst", **SKEWED)], [("allow", 1, "src")], {"duplicate reporter": 1}),
        # an empty window overlaps nothing, not even the same empty window at the other end
        ([rec(**EMPTY), rec(reporter="dst", action="deny", **EMPTY)], [("allow", 1, "src"), ("deny", 1, "dst")], {}),
    ],
    ids=["allow+allow", "allow+deny", "deny+allow-order", "deny+deny", "deny+dst-allow", "src-deny-alone",
         "dst-deny-alone", "dst-allow-alone", "different-windows", "skewed-allow+deny", "skewed-allow+allow",
         "empty-windows"],
)
def test_reporter_truth_table(tmp_path: Path, records: list, want_rows: list, want_skipped: dict) -> None:
    store = load_flows(write(tmp_path / "f.log", records))
    rows = store.df().to_dict("records")
    reporter_of = {i + 1: r["reporter"] for i, r in enumerate(records)}
    got = sorted((r["action"], r["records"], reporter_of[r["line"]]) for r in rows)
    assert got == sorted(want_rows)
    st_ = store.summary.files[0]
    assert st_.skipped == want_skipped and st_.reconciles() and st_.records == len(records)


def test_denied_at_destination_keeps_counters_and_policies_of_the_deny(tmp_path: Path) -> None:
    deny = {"all_policies": ["0|default|data/default.db-ingress|deny|0"]}
    store = load_flows(write(tmp_path / "f.log", [rec(), rec(reporter="dst", action="deny", policies=deny,
                                                              bytes_in=10, bytes_out=0)]))
    [row] = store.df().to_dict("records")
    assert (row["action"], row["bytes"], list(row["policies"]), row["line"]) == \
        ("deny", 10, ["data/default.db-ingress"], 2)


def test_line_is_the_first_record_that_counts(tmp_path: Path) -> None:
    # the destination's record comes first but is the duplicate: provenance points at the source's record
    store = load_flows(write(tmp_path / "f.log", [rec(reporter="dst", policies=None), rec(policies=None),
                                                  rec(policies=None, **W2)]))
    [row] = store.df().to_dict("records")
    assert (row["records"], row["line"]) == (2, 2)


def test_denied_and_allowed_are_distinct(tmp_path: Path) -> None:
    rows = one(tmp_path, [rec(), rec(action="deny", policies=None)])
    assert sorted(r["action"] for r in rows) == ["allow", "deny"]


def test_gzip(tmp_path: Path) -> None:
    store = load_flows(write(tmp_path / "flows.log.gz", [rec(), rec(dest_port=5433)]))
    assert store.summary.records == 2 and store.summary.connections == 2


def test_gzip_without_extension(tmp_path: Path) -> None:
    p = write(tmp_path / "flows.log.gz", [rec()])
    q = p.rename(tmp_path / "flowsdata")
    assert load_flows(q).summary.connections == 1


@pytest.mark.parametrize(
    ("bad", "reason"),
    [
        ('{"start_time": 1700000000, "proto": ', "invalid JSON"),
        ("[1, 2]", "expected a JSON object"),
        (json.dumps(rec(dest_port="http")), "dest_port: expected an integer"),
        (json.dumps({k: v for k, v in rec().items() if k != "proto"}), "missing required field proto"),
        (json.dumps(rec(source_ip="10.0.0.300")), "invalid IP address in source_ip"),
        (json.dumps(rec(dest_port=70000)), "invalid port 70000 for TCP"),
        (json.dumps(rec(proto="quic")), 'unknown protocol "quic"'),
        (json.dumps(rec(action="log")), 'invalid action "log"'),
        (json.dumps(rec(source_labels=["app=web"])), 'source_labels: expected {"labels": ["key=value", ...]}'),
        (json.dumps(rec(policies="allow-all")), 'policies: expected {"all_policies"'),
        (json.dumps(rec(source_ip="fe80::1::2")), "invalid IP address in source_ip"),
    ],
)
def test_bad_record_is_located(tmp_path: Path, bad: str, reason: str) -> None:
    p = write(tmp_path / "flows.log", [rec(), bad, rec(dest_port=1)])
    with pytest.raises(InputError) as ei:
        load_flows(p)
    assert str(ei.value).startswith(f"{p}:2: {reason}"), str(ei.value)


@pytest.mark.parametrize("bad", ['{"start_time": 1', json.dumps(rec(dest_port=70000))])
def test_skip_bad_rejects_and_continues(tmp_path: Path, bad: str) -> None:
    p = write(tmp_path / "flows.log", ["", rec(), bad, rec(dest_port=1)])
    store = load_flows(p, skip_bad=True)
    st = store.summary.files[0]
    assert (st.records, st.accepted, st.rejected, st.connections) == (3, 2, 1, 2)
    [(file, line, fmt, reason, text)] = store.con.execute("SELECT * FROM rejected").fetchall()
    assert (file, line, fmt, text) == (str(p), 3, "calico", bad)
    # provenance `line` counts records (non-blank lines); rejected lines are exact file lines
    assert sorted(store.df()["line"].tolist()) == [1, 3]


def test_truncated_last_line_is_skipped_not_an_error(tmp_path: Path) -> None:
    p = write(tmp_path / "flows.log", [rec(), rec(dest_port=1), json.dumps(rec())[:40]], tail="")
    st = load_flows(p).summary.files[0]
    assert (st.records, st.accepted, st.skipped, st.truncated_last_line) == (3, 2, {"truncated last line": 1}, True)


def test_truncated_last_line_in_gzip(tmp_path: Path) -> None:
    p = write(tmp_path / "flows.log.gz", [rec(), json.dumps(rec())[:40]], tail="")
    st = load_flows(p).summary.files[0]
    assert (st.records, st.accepted, st.skipped) == (2, 1, {"truncated last line": 1})


def test_truncated_gzip_stream(tmp_path: Path) -> None:
    p = write(tmp_path / "flows.log.gz", [rec(dest_port=i) for i in range(1, 2000)])
    data = p.read_bytes()
    p.write_bytes(data[: len(data) // 2])
    with pytest.raises(InputError, match="truncated gzip stream"):
        load_flows(p)
    store = load_flows(p, skip_bad=True)
    st = store.summary.files[0]
    assert 0 < st.accepted < 1999 and st.reconciles()
    assert any("truncated gzip stream" in n for n in st.notes)


# --- properties -------------------------------------------------------------------------------
from hypothesis import HealthCheck, given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

_records = st.lists(st.builds(
    lambda src, port, reporter, window, flip, action: rec(
        source_name=f"web-{src}", source_ip=f"10.0.0.{src}", dest_port=port, reporter=reporter, action=action,
        start_time=1700000000 + 300 * window, end_time=1700000300 + 300 * window,
        source_labels={"labels": ["tier=front", "app=web"] if flip else ["app=web", "tier=front"]}),
    st.integers(1, 3), st.sampled_from([80, 443]), st.sampled_from(["src", "dst"]), st.integers(0, 2),
    st.booleans(), st.sampled_from(["allow", "deny"])), min_size=1, max_size=12)


@settings(max_examples=8, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(records=_records, seed=st.randoms(use_true_random=False))
def test_result_does_not_depend_on_record_order(tmp_path_factory, records, seed) -> None:
    d = tmp_path_factory.mktemp("perm")
    a = load_flows(write(d / "a.log", records))
    shuffled = list(records)
    seed.shuffle(shuffled)
    b = load_flows(write(d / "b.log", shuffled))
    drop = ["line", "file"]
    key = lambda s: sorted(map(str, s.df().drop(columns=drop).to_dict("records")))  # noqa: E731
    assert key(a) == key(b)
    for s in (a, b):
        st_ = s.summary.files[0]
        assert st_.reconciles() and st_.records == len(records)
        assert int(s.df()["records"].sum()) == st_.accepted
        # reference model of the reporter rule, per connection and window
        want: dict[str, int] = {}
        for why in _expected_skips(records):
            want[why] = want.get(why, 0) + 1
        assert st_.skipped == want


def _expected_skips(records: list[dict]) -> list[str]:
    """Why each skipped record is skipped, by the documented rule: a record is judged against the
    records of its connection whose export windows overlap its own (itself included)."""
    code = lambda r: 2 * (r["reporter"] == "dst") + (r["action"] == "deny")  # noqa: E731
    out = []
    for r in records:
        m = 0
        for o in records:
            if (o["source_name"], o["dest_port"]) == (r["source_name"], r["dest_port"]) and (
                    o is r or (o["start_time"] < r["end_time"] and o["end_time"] > r["start_time"]
                               and o["start_time"] < o["end_time"] and r["start_time"] < r["end_time"])):
                m |= 1 << code(o)
        c = code(r)
        if m & 3 == 0 or m & 12 == 0:
            continue
        if m & 10 and c in (0, 2):
            out.append(CONFLICT if c == 0 and m & 8 else "duplicate reporter")
        elif c >= 2 and (m & 10 == 0 or m & 2):
            out.append("duplicate reporter")
    return out


# Felix starts its export windows when it starts, so two nodes cut time differently: here the
# destination's node is ``skew`` seconds behind the source's.
_skewed = st.integers(1, 299).flatmap(lambda skew: st.lists(st.builds(
    lambda src, reporter, window, action: rec(
        source_name=f"web-{src}", source_ip=f"10.0.0.{src}", reporter=reporter, action=action,
        start_time=1700000000 + 300 * max(window, 0) + (skew if reporter == "dst" else 0),
        end_time=1700000000 + 300 * (window + 1) + (skew if reporter == "dst" else 0) if window >= 0
        else 1700000000 + (skew if reporter == "dst" else 0)),
    # window -1: an empty window (end = start), which overlaps nothing
    st.integers(1, 2), st.sampled_from(["src", "dst"]), st.integers(-1, 3), st.sampled_from(["allow", "deny"])),
    min_size=1, max_size=12))


@settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(records=_skewed)
def test_reporter_rule_pairs_windows_that_overlap(tmp_path_factory, records) -> None:
    s = load_flows(write(tmp_path_factory.mktemp("skew") / "f.log", records))
    st_ = s.summary.files[0]
    want: dict[str, int] = {}
    for why in _expected_skips(records):
        want[why] = want.get(why, 0) + 1
    assert st_.skipped == want and st_.reconciles()
    assert int(s.df()["records"].sum()) == st_.accepted
    # an allow the destination denied in an overlapping window never stays allowed on its own
    for r in records:
        if r["reporter"] == "src" and r["action"] == "allow" and any(
                o["reporter"] == "dst" and o["action"] == "deny" and o["source_name"] == r["source_name"]
                and o["start_time"] < r["end_time"] and o["end_time"] > r["start_time"]
                and o["start_time"] < o["end_time"] and r["start_time"] < r["end_time"] for o in records):
            assert CONFLICT in st_.skipped


# --- large files: a parallel scan without line numbers ----------------------------------------
@pytest.fixture
def unnumbered(monkeypatch: pytest.MonkeyPatch) -> None:
    """Every file counts as large: the reader scans in parallel and keeps no record ordinals."""
    monkeypatch.delenv("RECOMMENDER_LINE_NUMBERS", raising=False)
    monkeypatch.setattr(calico_files, "LINE_NUMBERS_MAX_BYTES", 0)


def _rows(store) -> list[str]:  # type: ignore[no-untyped-def]
    return sorted(map(str, store.df().drop(columns=["line"]).to_dict("records")))


@settings(max_examples=8, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(records=_records)
def test_parallel_scan_gives_the_same_connections_without_lines(tmp_path_factory, monkeypatch, records) -> None:
    p = write(tmp_path_factory.mktemp("big") / "flows.log", records)
    monkeypatch.delenv("RECOMMENDER_LINE_NUMBERS", raising=False)
    monkeypatch.setattr(calico_files, "LINE_NUMBERS_MAX_BYTES", 2**30)   # the fixture is shared by the examples
    numbered = load_flows(p)
    monkeypatch.setattr(calico_files, "LINE_NUMBERS_MAX_BYTES", 0)
    parallel = load_flows(p)
    assert _rows(parallel) == _rows(numbered)
    assert parallel.df()["line"].isna().all() and numbered.df()["line"].notna().all()
    assert parallel.summary.files[0].skipped == numbered.summary.files[0].skipped
    assert any("without line numbers" in n for n in parallel.summary.files[0].notes)


def test_line_numbers_can_be_forced_on_a_large_file(tmp_path: Path, unnumbered: None,
                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("RECOMMENDER_LINE_NUMBERS", "1")
    [row] = one(tmp_path, [rec()])
    assert row["line"] == 1


@pytest.mark.parametrize(("bad", "reason"), [
    (json.dumps(rec(dest_port=70000)), "invalid port 70000 for TCP"),  # found per group, located by a second pass
    ('{"start_time": 1', "invalid JSON"),                             # DuckDB refuses the file: Python finds it
])
def test_parallel_scan_still_locates_bad_records(tmp_path: Path, unnumbered: None, bad: str, reason: str) -> None:
    p = write(tmp_path / "flows.log", [rec(), "", bad, rec(dest_port=1)])
    with pytest.raises(InputError) as ei:
        load_flows(p)
    assert str(ei.value).startswith(f"{p}:3: {reason}"), str(ei.value)
    store = load_flows(p, skip_bad=True)
    [(file, line, _fmt, _reason, text)] = store.con.execute("SELECT * FROM rejected").fetchall()
    assert (file, line, text) == (str(p), 3, bad)
    assert store.summary.files[0].accepted == 2
