"""Golden scenarios: hand-written flows in, reviewed YAML out, byte for byte.

Each directory under tests/golden/ is one scenario: flow files (``flows.*``,
any supported format), optionally ``inventory.yaml`` and ``args.json``
(keyword arguments of ``generate``), and ``expected.yaml``. The test also
requires 100 % verified coverage and that every document passes the API
validator. Regenerate after an intended change with
``UPDATE_GOLDEN=1 python -m pytest tests/test_generate_golden.py`` and review
the diff.
"""

from __future__ import annotations

import json
import os
import random
from pathlib import Path

import pytest

from recommender import generate, load_flows
from recommender.engine.validate import validate_policy

GOLDEN = Path(__file__).parent / "golden"
CASES = sorted(p.name for p in GOLDEN.iterdir() if p.is_dir())


def _inputs(case: Path) -> tuple[list[Path], list[Path], dict]:
    flows = sorted(p for p in case.iterdir() if p.name.startswith("flows"))
    inventory = sorted(p for p in case.iterdir() if p.name.startswith("inventory"))
    args_file = case / "args.json"
    args = json.loads(args_file.read_text()) if args_file.exists() else {}
    return flows, inventory, args


@pytest.mark.parametrize("name", CASES)
def test_golden(name: str) -> None:
    case = GOLDEN / name
    flows, inventory, args = _inputs(case)
    rec = generate(load_flows([str(f) for f in flows], inventory=[str(i) for i in inventory]), **args)
    assert rec.ok, rec.failures()
    assert rec.summary["verification"]["coverage"] == 1.0
    for doc in rec.documents():
        errors = [p for p in validate_policy(doc) if p.severity == "error"]
        assert not errors, errors
    expected = case / ("expected-" + args["kind"] + ".yaml" if "kind" in args else "expected.yaml")
    if os.environ.get("UPDATE_GOLDEN"):
        expected.write_text(rec.yaml())
    assert rec.yaml() == expected.read_text()


def test_shuffled_input_gives_the_same_bytes(tmp_path: Path) -> None:
    """Row order, file order and file names never change the output."""
    src = GOLDEN / "shop" / "flows.csv"
    header, *rows = src.read_text().splitlines()
    random.Random(7).shuffle(rows)
    paths = []
    for i in range(3):
        part = rows[i::3]
        p = tmp_path / f"part-{'cab'[i]}.csv"
        p.write_text("\n".join([header, *part]) + "\n")
        paths.append(p)
    baseline = generate(load_flows([str(src)])).yaml()
    assert generate(load_flows([str(p) for p in paths])).yaml() == baseline
    assert generate(load_flows([str(p) for p in reversed(paths)])).yaml() == baseline


def test_calico_staged_kinds_render_the_same_decisions() -> None:
    flows, inventory, _ = _inputs(GOLDEN / "tenants")
    store = load_flows([str(f) for f in flows])
    staged = generate(store, kind="calico-staged").documents()
    assert {d["kind"] for d in staged} == {"StagedKubernetesNetworkPolicy"}
    assert all(d["spec"]["stagedAction"] == "Set" for d in staged)
    assert all(not [p for p in validate_policy(d) if p.severity == "error"] for d in staged)
    native = generate(store, kind="calico-staged-native").documents()
    assert {d["kind"] for d in native} == {"StagedNetworkPolicy"}
    api = [d for d in native if d["metadata"]["name"] == "api" and d["metadata"]["namespace"] == "tenant-a"][0]
    assert api["spec"]["selector"] == "app.kubernetes.io/name == 'api'"
    assert {"action": "Allow", "protocol": "TCP",
            "source": {"selector": "app.kubernetes.io/name == 'prometheus'",
                       "namespaceSelector": "projectcalico.org/name == 'monitoring'"},
            "destination": {"ports": [9090]}} in api["spec"]["ingress"]


def test_namespace_path_traversal_cannot_escape_the_output_dir(tmp_path: Path) -> None:
    flows = tmp_path / "flows.csv"
    flows.write_text(
        "src_kind,src_namespace,src_pod,src_ip,src_labels,dst_kind,dst_namespace,dst_pod,dst_labels,protocol,dst_port,action\n"
        "pod,../../evil,web-0,10.244.9.9,app=web,pod,shop,db-0,app=db,TCP,5432,allow\n"
        "pod,shop,db-0,,app=db,pod,../x,web-0,app=web,TCP,8080,allow\n"
    )
    rec = generate(load_flows([str(flows)]))
    assert {p.namespace for p in rec.policies} == {"shop"}       # an invalid namespace never gets a policy
    assert any("../../evil" in w for w in rec.warnings)
    out = tmp_path / "out"
    written = rec.write(out)
    assert [p.name for p in written] == ["shop.yaml"]
    # the file name of any namespace string stays inside the directory
    from recommender.recommend.output import file_name

    for ns in ("../../etc/passwd", "/abs", "..", "a/../../b", "C:\\x", "\x00"):
        assert (out / file_name(ns)).resolve().parent == out.resolve()
