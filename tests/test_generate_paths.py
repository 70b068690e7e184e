"""The shortcuts `generate` takes for speed give the same answers as the long way round.

Generate reopens an existing store instead of ingesting nothing, reads the
connections through a view keyed by rowid (a `connections` VIEW is copied
instead), judges the over-permission candidates in the verification's
evaluator run, and joins the per-namespace YAML streams into the single-file
stream. Each test pins one of these to the result of the direct path.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from recommender import generate, load_flows
from recommender.recommend.generate import synthesize
from recommender.recommend.output import dump
from recommender.recommend.overperm import over_permission
from recommender.recommend.synthesis import Options
from tests.test_synthesis import conn, make_store, pod

GOLDEN = Path(__file__).parent / "golden"
WEB = pod("shop", "web-0", app="web")
API = pod("shop", "api-0", app="api")
DB = pod("shop", "db-0", app="db")
PROM = pod("monitoring", "prom-0", app="prometheus")


def shop_rows() -> list[dict]:
    """Two namespaces; the port range of web → api also admits 8081 (observed only towards db)."""
    return [conn(WEB, API, 8080), conn(WEB, API, 8082), conn(WEB, DB, 8081), conn(PROM, API, 9090),
            conn(PROM, WEB, 9090), conn(API, DB, 5432), conn(WEB, "203.0.113.9", 443)]


def test_reopening_the_store_generates_what_ingesting_generated(tmp_path: Path) -> None:
    db = str(tmp_path / "store.duckdb")
    flows = str(GOLDEN / "shop" / "flows.csv")
    first = generate([flows], db=db).yaml()
    again = generate([], db=db).yaml()        # nothing to ingest: the store is reopened as it is
    assert again == first == (GOLDEN / "shop" / "expected.yaml").read_text(encoding="utf-8")


def test_a_connections_view_is_read_like_the_table() -> None:
    """A caller's connection may hold `connections` as a view, which has no rowid: the rows are copied."""
    con = make_store(shop_rows())
    table = generate(con, port_range_slack=1)
    twice = generate(con, port_range_slack=1)            # a second run on the same connection
    con.execute("ALTER TABLE connections RENAME TO connections_t")
    con.execute("CREATE VIEW connections AS SELECT * FROM connections_t")
    view = generate(con, port_range_slack=1)
    assert table.yaml() == twice.yaml() == view.yaml()
    assert table.summary == twice.summary == view.summary
    assert table.verification.equals(view.verification)


@pytest.mark.parametrize("slack", [0, 1])
def test_over_permission_judged_with_the_verification_equals_judging_it_alone(slack: int) -> None:
    con = make_store(shop_rows())
    rec = generate(con, port_range_slack=slack)
    syn = synthesize(con, Options(port_range_slack=slack))
    alone = over_permission(con, syn.policies, syn.ids, list(syn.edges), {p.namespace for p in syn.policies})
    assert rec.summary["over_permission"] == alone
    assert alone["unobserved"] == slack          # web → api 8081, only with the widened range
    # the candidates are judged beside the observed connections but never reported as observed ones
    assert len(rec.verification) == rec.summary["verification"]["connections"] == len(shop_rows())
    assert sorted(rec.verification["rid"]) == list(range(1, len(shop_rows()) + 1))


@pytest.mark.parametrize("kind", ["k8s", "calico-staged", "calico-staged-native"])
def test_the_single_stream_is_every_document_in_order(kind: str) -> None:
    rec = generate(make_store(shop_rows()), kind=kind)
    assert len({p.namespace for p in rec.policies}) == 2
    assert rec.yaml() == dump(rec.documents())
    assert rec.yaml() == "---\n".join(rec.by_namespace().values())


def test_a_store_already_holding_everything_still_fills_in_new_flows(tmp_path: Path) -> None:
    """The reopen shortcut applies only when there is nothing to ingest."""
    db = str(tmp_path / "store.duckdb")
    store = load_flows([str(GOLDEN / "shop" / "flows.csv")], db=db)
    store.close()
    before = generate([], db=db).summary["input"]["connections"]
    after = generate([str(GOLDEN / "dns" / "flows.csv")], db=db).summary["input"]["connections"]
    assert after > before


def test_existing_policies_with_nothing_to_check_admit_nothing() -> None:
    """Only denied connections: nothing is checked against the existing policies, nothing is covered."""
    from recommender.model import LabelSelector, NetworkPolicy

    deny_ingress = NetworkPolicy("deny-ingress", "shop", LabelSelector(), policy_types=("Ingress",))
    rec = generate(make_store([conn(WEB, API, 8080, action="deny")]), existing=[deny_ingress])
    assert rec.summary["existing_admits"] == {}
    assert rec.summary["verification"]["connections"] == 0 and rec.ok


def test_existing_coverage_names_the_policy_that_admits_each_direction() -> None:
    from recommender.model import LabelSelector, NetworkPolicy, Rule

    # every pod of shop may receive from anywhere: the ingress side of each shop destination is covered
    open_ingress = NetworkPolicy("open-ingress", "shop", LabelSelector(), ingress=(Rule(),), egress=None,
                                 policy_types=("Ingress",))
    rec = generate(make_store(shop_rows()), existing=[open_ingress])
    flows = rec.summary["existing_admits"]["shop/open-ingress"]
    assert "ingress pod:shop/web → pod:shop/api TCP/8080" in flows
    assert "ingress pod:monitoring/prom → pod:shop/web TCP/9090" in flows
    assert not any(f.startswith("egress") for f in flows)
