"""`recommender.evaluate` and `admitted_pairs`: every input shape, one row per connection, same verdicts.

The semantics themselves are pinned by test_semantics_truth.py; this module checks the plumbing
that feeds the set-based evaluator: FlowStore, DuckDB relation, DataFrame and Flow lists, policies
as models, PolicySet or path, inventory fallbacks for labels, named ports and hostNetwork.
"""

from __future__ import annotations

from pathlib import Path

import duckdb
import pandas as pd
import pytest

import recommender
from recommender.engine.evaluate import VERDICT_COLUMNS, admitted_pairs, evaluate
from recommender.errors import InputError
from recommender.io.policies import load_policies
from recommender.io.schema import KEY_COLUMNS
from recommender.model import ContainerPort, Endpoint, EndpointKind, Flow, Labels, Namespace, Pod

POLICIES = """\
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {name: default-deny, namespace: shop}
spec: {podSelector: {}, policyTypes: [Ingress, Egress]}
---
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {name: web, namespace: shop}
spec:
  podSelector: {matchLabels: {app: web}}
  egress:
  - to: [{podSelector: {matchLabels: {app: db}}}]
    ports: [{port: pg}]
  - to: [{ipBlock: {cidr: "2001:db8::/32"}}]
  ingress:
  - from: [{ipBlock: {cidr: 0.0.0.0/0, except: [10.0.0.0/8]}}]
    ports: [{port: 443}]
---
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {name: db, namespace: shop}
spec:
  podSelector: {matchLabels: {app: db}}
  ingress: [{from: [{podSelector: {matchLabels: {app: web}}}], ports: [{port: 5432}]}]
"""
PODS = [
    Pod("shop", "web-0", Labels.of(app="web"), ("10.0.0.1",)),
    Pod("shop", "db-0", Labels.of(app="db"), ("10.0.0.2",), (ContainerPort(5432, "TCP", "pg"),)),
    Pod("shop", "node-agent", Labels.of(app="web"), ("192.168.1.1",), host_network=True),
]
NAMESPACES = [Namespace("shop")]
HEADER = "src_kind,src_namespace,src_pod,src_ip,src_labels,dst_kind,dst_namespace,dst_pod,dst_ip,dst_labels,protocol,dst_port,action"
ROWS = [
    "pod,shop,web-0,10.0.0.1,app=web,pod,shop,db-0,10.0.0.2,app=db,TCP,5432,allow",     # allowed both ways (named port)
    "pod,shop,web-0,10.0.0.1,app=web,pod,shop,db-0,10.0.0.2,app=db,TCP,22,allow",       # denied: egress port
    "network,,,203.0.113.9,,pod,shop,web-0,10.0.0.1,app=web,TCP,443,allow",             # ingress ipBlock
    "network,,,10.9.9.9,,pod,shop,web-0,10.0.0.1,app=web,TCP,443,allow",                # except
    "pod,shop,web-0,10.0.0.1,app=web,network,,,2001:db8::7,,UDP,53,allow",               # IPv6 egress
    "pod,shop,web-0,10.0.0.1,,pod,shop,db-0,10.0.0.2,,6,5432,allow",                     # labels from inventory; 6 = TCP
    "pod,shop,node-agent,192.168.1.1,app=web,pod,shop,db-0,10.0.0.2,app=db,TCP,5432,allow",  # hostNetwork: an address
]
EXPECTED_ALLOWED = [True, False, True, False, True, True, False]


@pytest.fixture
def files(tmp_path: Path) -> tuple[Path, Path]:
    pol, flows = tmp_path / "policies.yaml", tmp_path / "flows.csv"
    pol.write_text(POLICIES)
    flows.write_text("\n".join([HEADER, *ROWS]) + "\n")
    return pol, flows


def frame(flows: Path) -> pd.DataFrame:
    df = pd.read_csv(flows, dtype=str, keep_default_na=False).replace("", None)
    for side in ("src", "dst"):
        df[f"{side}_labels"] = df[f"{side}_labels"].map(lambda v: dict([v.split("=")]) if isinstance(v, str) else None)
    df["dst_port"] = df["dst_port"].astype(int)
    return df


def test_a_dataframe_gives_one_row_per_connection_in_order(files: tuple[Path, Path]) -> None:
    pol, flows = files
    df = frame(flows)
    out = evaluate(pol, df, pods=PODS, namespaces=NAMESPACES)
    assert list(out.columns) == [c for c in KEY_COLUMNS if c in df.columns] + list(VERDICT_COLUMNS)
    assert list(out["allowed"]) == EXPECTED_ALLOWED
    assert list(out["dst_port"]) == list(df["dst_port"])
    first = out.iloc[0]
    assert first["egress_admitted_by"] == ["shop/web egress[0]"] and first["ingress_admitted_by"] == ["shop/db ingress[0]"]
    assert out.iloc[1]["reason"] == ("isolated for egress by default-deny, web; no rule matches port 22/TCP for destination shop/db-0"
                                     " | isolated for ingress by db, default-deny; no rule matches port 22/TCP for source shop/web-0")
    assert out.iloc[6]["reason"] == ("isolated for ingress by db, default-deny; "
                                     "no rule matches source 192.168.1.1")
    assert not out.iloc[6]["egress_applies"] and out.iloc[6]["egress_reason"].endswith("source is a host endpoint, not a pod")


def test_every_input_shape_gives_the_same_verdicts(files: tuple[Path, Path]) -> None:
    pol, flows = files
    store = recommender.load_flows([flows], inventory=[], db=":memory:")
    from_store = evaluate(pol, store, pods=PODS, namespaces=NAMESPACES)
    from_relation = evaluate(load_policies(pol), store.con.table("connections"), pods=PODS, namespaces=NAMESPACES)
    from_frame = evaluate(load_policies(pol).policies, frame(flows), pods=PODS, namespaces=NAMESPACES)
    key = ["src_ip", "dst_ip", "protocol", "dst_port"]
    cols = ["allowed", "reason", "egress_admitted_by", "ingress_isolated_by"]

    def norm(df: pd.DataFrame) -> pd.DataFrame:
        df = df.assign(protocol=df["protocol"].replace({"6": "TCP"}))
        return df[key + cols].astype(str).sort_values(key + ["reason"], ignore_index=True)

    assert len(from_store) == len(ROWS)
    assert norm(from_store).equals(norm(from_relation))
    assert norm(from_store).equals(norm(from_frame))
    assert sorted(from_store["allowed"]) == sorted(EXPECTED_ALLOWED)


def test_flow_objects_and_admitted_pairs_agree(files: tuple[Path, Path]) -> None:
    pol, _ = files
    web = Endpoint(EndpointKind.POD, "10.0.0.1", "shop", "web-0")
    db = Endpoint(EndpointKind.POD, "10.0.0.2", "shop", "db-0")
    ext = Endpoint(EndpointKind.NETWORK, "203.0.113.9")
    ports = [("TCP", 5432), ("TCP", 443), ("UDP", 53)]
    pairs = admitted_pairs(pol, [web, db, ext], [web, db, ext], ports, pods=PODS, namespaces=NAMESPACES)
    assert len(pairs) == 3 * 3 * 3
    assert list(pairs.columns[:4]) == ["src", "dst", "protocol", "dst_port"]
    flows = [Flow([web, db, ext][s], [web, db, ext][d], p, n) for s, d, p, n in
             pairs[["src", "dst", "protocol", "dst_port"]].itertuples(index=False)]
    single = evaluate(pol, flows, pods=PODS, namespaces=NAMESPACES)
    assert list(pairs["allowed"]) == list(single["allowed"])
    admitted = {(s, d, p, n) for s, d, p, n, ok in pairs[["src", "dst", "protocol", "dst_port", "allowed"]].itertuples(index=False) if ok}
    assert (0, 1, "TCP", 5432) in admitted            # web → db on the named port
    assert (2, 0, "TCP", 443) in admitted             # external → web on 443
    assert (0, 0, "UDP", 53) in admitted              # a pod to itself
    assert (1, 0, "TCP", 443) not in admitted         # db has no egress rules


def test_policies_that_fail_to_compile_leave_the_collector_and_the_connection_clean(files: tuple[Path, Path]) -> None:
    """Policies are compiled in a worker thread with the garbage collector paused: an error there
    reaches the caller, the collector is back on, and no temp table or view of the evaluator stays."""
    import gc

    _, flows = files
    store = recommender.load_flows([flows], inventory=[], db=":memory:")
    before = set(store.con.sql("SELECT table_name FROM information_schema.tables").fetchall())
    with pytest.raises(AttributeError):
        evaluate([object()], store, pods=PODS, namespaces=NAMESPACES)
    assert gc.isenabled()
    assert set(store.con.sql("SELECT table_name FROM information_schema.tables").fetchall()) == before
    assert list(evaluate(load_policies(files[0]), store, pods=PODS, namespaces=NAMESPACES)["allowed"]) == EXPECTED_ALLOWED
    assert gc.isenabled()


def test_compiled_matchers_are_values(files: tuple[Path, Path]) -> None:
    """Compiling the same policies twice gives equal, equally hashed targets and rules (the matchers
    are plain dataclasses for speed, still compared and hashed by value)."""
    from recommender.engine.compile import compile_policies

    policies = load_policies(files[0]).policies
    one, two = compile_policies(policies), compile_policies(policies)
    assert one.targets == two.targets and one.targets[0] is not two.targets[0]
    rules = [r for t in one.targets for r in (*t.egress, *t.ingress)]
    assert {hash(r) for r in rules} == {hash(r) for t in two.targets for r in (*t.egress, *t.ingress)}
    assert len({(r.ref, r.peers, r.ports) for r in rules}) == len(rules) == 4


def test_missing_required_columns_are_bad_input() -> None:
    with pytest.raises(InputError, match="src_kind"):
        evaluate([], pd.DataFrame({"dst_kind": ["pod"], "protocol": ["TCP"]}))


def test_empty_inputs() -> None:
    assert evaluate([], []).empty
    rel = duckdb.connect().sql("SELECT 'pod' AS src_kind, 'network' AS dst_kind, 'TCP' AS protocol WHERE false")
    assert list(evaluate([], rel).columns[-len(VERDICT_COLUMNS):]) == list(VERDICT_COLUMNS)


def test_rows_whose_scan_order_is_not_cid_order_still_pair_with_their_verdicts(files: tuple[Path, Path]) -> None:
    """Rows pair with their own verdicts, in the input's row order, whatever the order of the cids
    and of the verdicts."""
    from recommender.engine.bulk import drop_temp, evaluate_table
    from recommender.engine.compile import compile_policies, namespace_labels
    from recommender.engine.evaluate import _flow_frames, _prepare, _verdict_frame

    pol, flows = files
    src, _ = _flow_frames(frame(flows))
    con = duckdb.connect()
    con.register("_rev", src.assign(cid=list(range(len(src) - 1, -1, -1))))  # scanned in descending cid order
    table = _prepare(con, "_rev", map_labels=False)
    verdicts = evaluate_table(con, table, compile_policies(load_policies(pol).policies), PODS, namespace_labels(NAMESPACES))
    con.execute(f"CREATE TEMP VIEW _shuffled AS SELECT * FROM {verdicts} ORDER BY cid % 3, cid")
    con.execute(f"CREATE TEMP VIEW _missing AS SELECT * FROM {verdicts} WHERE cid > 0")
    for name in (verdicts, "_shuffled"):
        out = _verdict_frame(con, table, name, ["dst_port"])
        assert list(out["allowed"]) == EXPECTED_ALLOWED, name
        assert list(out["dst_port"]) == list(frame(flows)["dst_port"]), name
    out = _verdict_frame(con, table, "_missing", ["dst_port"])  # not one verdict per row: joined by cid
    drop_temp(con, verdicts)
    assert list(out["allowed"]) == EXPECTED_ALLOWED[::-1][1:]


def test_a_side_query_runs_during_the_evaluation_and_its_errors_reach_the_caller(files: tuple[Path, Path]) -> None:
    """The caller's query run while the evaluator builds its selection tables returns what it returns
    alone, the verdicts are unchanged; a failing one raises and leaves no temp table or view."""
    from recommender.engine.bulk import drop_temp, evaluate_table_with
    from recommender.engine.compile import compile_policies, namespace_labels
    from recommender.engine.evaluate import _flow_frames, _prepare, _verdict_frame

    pol, flows = files
    compiled = compile_policies(load_policies(pol).policies)
    con = duckdb.connect()
    con.register("_src", _flow_frames(frame(flows))[0].assign(cid=range(len(frame(flows)))))
    table = _prepare(con, "_src", map_labels=False)
    query = f"SELECT cid, dst_port FROM {table} ORDER BY cid"
    verdicts, rows = evaluate_table_with(con, table, compiled, PODS, namespace_labels(NAMESPACES), query)
    assert rows is not None and rows.equals(con.sql(query).to_arrow_table())
    assert list(_verdict_frame(con, table, verdicts, ["dst_port"], rows)["allowed"]) == EXPECTED_ALLOWED
    drop_temp(con, verdicts)
    before = set(con.sql("SELECT table_name FROM information_schema.tables").fetchall())
    with pytest.raises(duckdb.Error):
        evaluate_table_with(con, table, compiled, PODS, namespace_labels(NAMESPACES), "SELECT no_such_column FROM _src")
    assert set(con.sql("SELECT table_name FROM information_schema.tables").fetchall()) == before


def test_admitted_pairs_is_evaluate_of_the_cross_product(files: tuple[Path, Path]) -> None:
    """Every source × destination × (protocol, port) combination gets exactly the verdict `evaluate`
    gives the same flow: pods with and without labels, a hostNetwork pod, a workload-only endpoint,
    IPv4 and IPv6 addresses, numbered, named and protocol-only ports."""
    pol, _ = files
    ends = [
        Endpoint(EndpointKind.POD, "10.0.0.1", "shop", "web-0"),
        Endpoint(EndpointKind.POD, "10.0.0.2", "shop", "db-0", labels=Labels.of(app="db")),
        Endpoint(EndpointKind.POD, "192.168.1.1", "shop", "node-agent"),
        Endpoint(EndpointKind.POD, None, "shop", None, "web", Labels.of(app="web")),
        Endpoint(EndpointKind.NETWORK, "203.0.113.9"),
        Endpoint(EndpointKind.NETWORK, "10.9.9.9"),
        Endpoint(EndpointKind.NETWORK, "2001:db8::7"),
        Endpoint(EndpointKind.HOST, None),
    ]
    ports = [("TCP", 5432), ("TCP", 443), ("UDP", 53), ("TCP", None), ("SCTP", 5432)]
    pairs = admitted_pairs(pol, ends, ends[::-1], ports, pods=PODS, namespaces=NAMESPACES)
    assert len(pairs) == len(ends) ** 2 * len(ports)
    expected_order = sorted(((s, d, p, n) for s in range(len(ends)) for d in range(len(ends)) for p, n in ports),
                            key=lambda r: (r[0], r[1], r[2], r[3] is None, r[3] or 0))  # port: NULLS LAST
    got_order = [(s, d, p, None if pd.isna(n) else n) for s, d, p, n in pairs[["src", "dst", "protocol", "dst_port"]].itertuples(index=False)]
    assert got_order == [(s, d, p, n) for s, d, p, n in expected_order]
    flows = [Flow(ends[s], ends[::-1][d], p, n) for s, d, p, n in got_order]
    single = evaluate(pol, flows, pods=PODS, namespaces=NAMESPACES)
    for col in ("egress_allowed", "ingress_allowed", "allowed"):
        assert list(pairs[col]) == list(single[col]), col
    for col in ("egress_admitted_by", "ingress_admitted_by"):
        assert [list(v) for v in pairs[col]] == [list(v) for v in single[col]], col
    assert pairs["allowed"].any() and not pairs["allowed"].all()
