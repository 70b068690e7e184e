"""--namespace / --exclude-namespace naming a namespace the data does not know is warned about.

A typo (`-n prdo`) used to give no policies, exit 0 and no word on stderr; an unknown
--exclude-namespace silently excluded nothing. Both now warn, naming the option and the namespace.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from recommender.recommend.generate import synthesize
from recommender.recommend.synthesis import Options
from tests.test_synthesis import DB, PROM, WEB, conn, make_store

ROWS = [conn(WEB, DB, 5432), conn(PROM, WEB, 9090)]          # namespaces shop and monitoring
QUIET = [{"name": "quiet", "labels": {"team": "q"}}]       # in the inventory, no traffic

NS_MISSING = "--namespace 'nosuchns': no such namespace in the flows or the inventory (no policies for it)"
NS_TYPO = ("--namespace 'shpo': no such namespace in the flows or the inventory (no policies for it); "
           "did you mean 'shop'?")
EX_MISSING = "--exclude-namespace 'nosuchns': no such namespace in the flows or the inventory (nothing excluded)"


def _namespace_warnings(**opts: tuple[str, ...]) -> list[str]:
    syn = synthesize(make_store(ROWS, namespaces=QUIET), Options(**opts))
    return [w for w in syn.warnings if "namespace" in w.split(":")[0]]


@pytest.mark.parametrize(("namespaces", "exclude", "expected"), [
    ((), (), []),
    (("shop",), (), []),
    (("quiet",), (), []),                                   # known from the inventory: no warning
    (("nosuchns",), (), [NS_MISSING]),
    (("shop", "shpo"), (), [NS_TYPO]),
    ((), ("monitoring",), []),
    ((), ("nosuchns",), [EX_MISSING]),
    (("nosuchns",), ("nosuchns",), [EX_MISSING, NS_MISSING]),
])
def test_unknown_namespace_options_truth_table(namespaces: tuple[str, ...], exclude: tuple[str, ...],
                                               expected: list[str]) -> None:
    assert _namespace_warnings(namespaces=namespaces, exclude_namespaces=exclude) == expected


def test_known_namespaces_still_filter_as_before() -> None:
    syn = synthesize(make_store(ROWS, namespaces=QUIET), Options(namespaces=("monitoring", "nosuchns")))
    assert {p.namespace for p in syn.policies} == {"monitoring"}


def test_cli_warns_on_stderr_and_exits_0(cli, tmp_path: Path) -> None:
    flows = tmp_path / "flows.csv"
    flows.write_text("src_kind,src_namespace,src_pod,src_ip,src_labels,dst_kind,dst_namespace,dst_pod,dst_ip,"
                     "dst_labels,protocol,dst_port,action\n"
                     "pod,shop,web-0,10.0.0.1,app=web,pod,shop,db-0,10.0.0.2,app=db,TCP,5432,allow\n")
    r = cli("generate", flows, "-n", "nosuchns", "-o", "-")
    assert (r.exit_code, r.stdout) == (0, "")
    assert f"warning: {NS_MISSING}\n" in r.stderr
    r = cli("generate", flows, "--exclude-namespace", "nosuchns", "-o", "-")
    assert r.exit_code == 0 and "namespace: shop" in r.stdout and f"warning: {EX_MISSING}\n" in r.stderr
