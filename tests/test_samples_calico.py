"""The real Calico sample (../shared/samples/calico/flows.log): exact counts.

The upstream file ends in a truncated 4th record with no trailing newline (it
was test data for a partial-line reader), so it must ingest *without*
--skip-bad: 3 records accepted, 1 skipped as "truncated last line".
"""

from __future__ import annotations

from pathlib import Path

from recommender import load_flows


def test_real_calico_sample_exact_counts(samples: Path) -> None:
    store = load_flows(samples / "calico" / "flows.log")
    s = store.summary
    [st] = s.files
    assert (st.format, st.records, st.accepted, st.rejected) == ("calico", 4, 3, 0)
    assert st.skipped == {"truncated last line": 1} and st.truncated_last_line
    assert s.reconciles() and s.connections == 3
    df = store.df()
    assert sorted(df["src_workload"]) == ["compliance-benchmarker-*", "compliance-snapshotter-77f4c7776d-*",
                                          "intrusion-detection-controller-5bdcdd9c97-*"]
    assert set(df["dst_workload"]) == {"coredns-576cbf47c7-*"} and set(df["dst_port"]) == {53}
    assert set(df["protocol"]) == {"UDP"} and set(df["action"]) == {"allow"}
    assert df["src_ip"].isna().all() and df["src_pod"].isna().all()
    by_line = df.set_index("line")
    assert list(by_line.loc[1, "policies"]) == ["__PROFILE__.kns.kube-system"]
    assert list(by_line.loc[3, "policies"]) == ["__PROFILE__.kns.tigera-compliance"]
    # line 1: bytes 4288+7644, packets 37+37, flows = num_flows_started 37
    assert (by_line.loc[1, "bytes"], by_line.loc[1, "packets"], by_line.loc[1, "flows"]) == (11932, 74, 37)
    assert by_line.loc[3, "src_labels"] == {"controller-revision-hash": "767bb965", "k8s-app": "compliance-benchmarker",
                                            "pod-template-generation": "1"}
    assert [n.name for n in store.namespaces()] == ["kube-system", "tigera-compliance", "tigera-intrusion-detection"]
    assert s.endpoint_kinds == {"pod": 4} and s.workloads == 4


def test_real_calico_sample_cli(cli, samples: Path) -> None:
    r = cli("ingest", samples / "calico" / "flows.log", "--db", ":memory:", "-o", "json")
    assert r.exit_code == 0, r.stderr
    assert '"records": 4' in r.stdout and '"truncated last line": 1' in r.stdout
    assert "truncated last line" in r.stderr


def test_real_calico_sample_with_real_inventory(samples: Path) -> None:
    inv = samples / "k8s-inventory"
    store = load_flows(samples / "calico" / "flows.log", inventory=[inv / "p1.json", inv / "ns.json"])
    assert store.summary.inventory is not None and store.summary.inventory["pods"] == 1
    assert ("default", "nginx-7fb78fb6d8-2w75j") in {(p.namespace, p.name) for p in store.pods()}
    names = [n.name for n in store.namespaces()]
    assert names == ["default", "kube-system", "tigera-compliance", "tigera-intrusion-detection"]
    kube_system = next(n for n in store.namespaces() if n.name == "kube-system")
    assert kube_system.labels["kubernetes.io/metadata.name"] == "kube-system"   # pre-1.21 object lacks it
    assert store.summary.connections == 3
