"""`recommend generate` end to end: outputs, exit codes, report, --existing."""

from __future__ import annotations

import json
import os
import threading
from pathlib import Path

import yaml

GOLDEN = Path(__file__).parent / "golden"
SHOP = GOLDEN / "shop" / "flows.csv"
HEADER = "src_kind,src_namespace,src_pod,src_ip,src_labels,dst_kind,dst_namespace,dst_pod,dst_ip,dst_labels,protocol,dst_port,action\n"


def test_stdout_yaml_and_summary_on_stderr(cli) -> None:
    r = cli("generate", SHOP, "-o", "-")
    assert r.exit_code == 0, r.stderr
    assert r.stdout == (GOLDEN / "shop" / "expected.yaml").read_text()
    assert "coverage: 12/12 observed connections admitted (100.0%)" in r.stderr
    assert "1 denied (excluded)" in r.stderr
    assert "over-permission:" in r.stderr and "shop: 8 policies" in r.stderr


def test_directory_output_one_file_per_namespace(cli, tmp_path: Path) -> None:
    out = tmp_path / "policies"
    r = cli("generate", GOLDEN / "tenants" / "flows.csv", "-o", out)
    assert r.exit_code == 0, r.stderr
    assert sorted(p.name for p in out.iterdir()) == ["monitoring.yaml", "tenant-a.yaml", "tenant-b.yaml"]
    docs = list(yaml.safe_load_all((out / "tenant-a.yaml").read_text()))
    assert {d["metadata"]["namespace"] for d in docs} == {"tenant-a"}


def test_single_file_output_and_kinds(cli, tmp_path: Path) -> None:
    out = tmp_path / "all.yaml"
    r = cli("generate", SHOP, "-o", out, "--kind", "calico-staged-native", "--tier", "default")
    assert r.exit_code == 0, r.stderr
    docs = list(yaml.safe_load_all(out.read_text()))
    assert {d["kind"] for d in docs} == {"StagedNetworkPolicy"}
    deny = [d for d in docs if d["metadata"]["name"] == "default-deny"][0]
    assert deny["spec"] == {"stagedAction": "Set", "tier": "default", "selector": "all()", "types": ["Ingress", "Egress"],
                            "ingress": [], "egress": []}


def test_a_device_or_pipe_takes_the_single_stream(cli, tmp_path: Path) -> None:
    assert cli("generate", SHOP, "-o", os.devnull).exit_code == 0          # verify only, keep nothing
    fifo = tmp_path / "pipe"
    os.mkfifo(fifo)
    got: list[str] = []
    reader = threading.Thread(target=lambda: got.append(fifo.read_text()))
    reader.start()
    assert cli("generate", SHOP, "-o", fifo).exit_code == 0
    reader.join(timeout=30)
    assert got and got[0] == cli("generate", SHOP).stdout
    r = cli("generate", SHOP, "-o", tmp_path / "pipe-dir-file")            # a plain name is still a directory
    assert r.exit_code == 0 and (tmp_path / "pipe-dir-file" / "shop.yaml").exists()


def test_no_default_deny(cli) -> None:
    r = cli("generate", SHOP, "--no-default-deny")
    assert r.exit_code == 0 and "default-deny" not in r.stdout


def test_verification_failure_exits_1_and_writes_nothing(cli, tmp_path: Path) -> None:
    flows = tmp_path / "flows.csv"
    # Cilium reserved:world without an address: no ipBlock can admit it
    flows.write_text(HEADER + "pod,shop,web-0,10.244.1.5,app=web,world,,,,,TCP,443,allow\n")
    out = tmp_path / "out"
    r = cli("generate", flows, "-o", out)
    assert r.exit_code == 1
    assert "not admitted: shop/web-0[10.244.1.5] → world TCP/443" in r.stderr
    assert "nothing written" in r.stderr and not out.exists()
    assert "the exporter hid a public address; only --allow-any-external (0.0.0.0/0) admits it" in r.stderr
    # with 0.0.0.0/0 allowed, the unknown address is admitted as *some public address*, and said so
    r = cli("generate", flows, "-o", out, "--allow-any-external")
    assert r.exit_code == 0, r.stderr
    assert "of which 1 assume a public address" in r.stderr and "0.0.0.0/0" in (out / "shop.yaml").read_text()


def calico_egress(tmp_path: Path, **dest: object) -> Path:
    """One Calico record: shop/web-0 to a destination ``dest`` describes (the reporter is the source)."""
    rec = {"start_time": 1, "end_time": 2, "source_ip": "10.244.1.5", "source_name": "web-0", "source_name_aggr": "web-*",
           "source_namespace": "shop", "source_type": "wep", "source_labels": {"labels": ["app=web"]}, "dest_ip": None,
           "dest_name": "-", "dest_port": 443, "proto": "tcp", "action": "allow", "reporter": "src", **dest}
    flows = tmp_path / "flows.log"
    flows.write_text(json.dumps(rec) + "\n")
    return flows


def test_a_private_address_calico_aggregated_away_says_what_would_help(cli, tmp_path: Path) -> None:
    flows = calico_egress(tmp_path, dest_name_aggr="pvt", dest_namespace="-", dest_type="net")
    r = cli("generate", flows, "--allow-any-external")      # 0.0.0.0/0 excepts the private ranges: no help here
    assert r.exit_code == 1
    assert "Calico aggregated a private address away" in r.stderr and "flowLogsFileAggregationKindForAllowed" in r.stderr


def test_a_pod_calico_named_by_nothing_says_so(cli, tmp_path: Path) -> None:
    flows = calico_egress(tmp_path, dest_name_aggr="", dest_namespace="shop", dest_type="wep")
    r = cli("generate", flows)
    assert r.exit_code == 1 and "no name, address or labels: aggregated away" in r.stderr


def test_allow_any_external(cli, tmp_path: Path) -> None:
    flows = tmp_path / "flows.csv"
    flows.write_text(HEADER + "pod,shop,web-0,10.244.1.5,app=web,network,,,198.51.100.7,,TCP,443,allow\n")
    assert "cidr: 198.51.100.7/32" in cli("generate", flows).stdout
    r = cli("generate", flows, "--allow-any-external")
    assert r.exit_code == 0 and "cidr: 0.0.0.0/0" in r.stdout and "- 10.0.0.0/8" in r.stdout
    assert "widening: 4272881663 external addresses" in r.stderr


def test_usage_errors_exit_2(cli, tmp_path: Path) -> None:
    assert cli("generate", SHOP, "--cidr-min-addresses", "3").exit_code == 2
    assert cli("generate", SHOP, "--report", tmp_path / "r.txt").exit_code == 2
    assert cli("generate").exit_code == 2
    missing = cli("generate", tmp_path / "nope.csv")
    assert missing.exit_code == 2 and "nope.csv" in missing.stderr


def test_report_json_and_markdown(cli, tmp_path: Path) -> None:
    rj, rm = tmp_path / "r.json", tmp_path / "r.md"
    assert cli("generate", SHOP, "--report", rj).exit_code == 0
    assert cli("generate", SHOP, "--report", rm).exit_code == 0
    report = json.loads(rj.read_text())
    assert report["summary"]["verification"]["coverage"] == 1.0
    rule = [r for r in report["rules"] if r["policy"] == "postgres" and r["direction"] == "Ingress"][0]
    assert rule["peers"] == ["pod:shop/catalog"] and rule["ports"] == "TCP/5432"
    assert rule["connections"] == 1 and rule["flows"] == 150 and rule["bytes"] == 2000000
    assert rule["formats"] == ["normalized"] and rule["samples"] == [f"{SHOP}:10"]
    md = rm.read_text()
    assert md.startswith("# Recommended policies: provenance") and "| shop/postgres | Ingress | 0 | pod:shop/catalog |" in md


def test_report_samples_of_hubble_rules_name_the_first_event_time(cli, tmp_path: Path) -> None:
    """Hubble connections carry no line number (the scan is parallel without one): a rule's sample
    records are named by file and the time of the first event instead."""
    rj = tmp_path / "r.json"
    flows = GOLDEN / "format-hubble" / "flows.json"
    assert cli("generate", flows, "--report", rj).exit_code == 0
    samples = [s for r in json.loads(rj.read_text())["rules"] for s in r["samples"]]
    assert samples and all(s.startswith(f"{flows} @ ") and s.endswith("Z") and ":?" not in s for s in samples)


def test_existing_policies_cover_part_of_the_traffic(cli, tmp_path: Path) -> None:
    existing = tmp_path / "existing.yaml"
    existing.write_text(
        "apiVersion: networking.k8s.io/v1\nkind: NetworkPolicy\nmetadata: {name: postgres-from-catalog, namespace: shop}\n"
        "spec:\n  podSelector: {matchLabels: {app: postgres}}\n  policyTypes: [Ingress]\n"
        "  ingress:\n  - from: [{podSelector: {matchLabels: {app: catalog}}}]\n    ports: [{protocol: TCP, port: 5432}]\n"
        "---\napiVersion: networking.k8s.io/v1\nkind: NetworkPolicy\nmetadata: {name: cart, namespace: shop}\n"
        "spec:\n  podSelector: {matchLabels: {app: nothing}}\n"
    )
    r = cli("generate", SHOP, "--existing", existing)
    assert r.exit_code == 0, r.stderr
    assert ("existing policy shop/postgres-from-catalog already admits 1 observed flow direction(s): "
            "ingress pod:shop/catalog → pod:shop/postgres TCP/5432") in r.stderr
    docs = {d["metadata"]["name"]: d for d in yaml.safe_load_all(r.stdout)}
    assert "postgres" not in docs             # its only traffic is already allowed by the existing policy
    assert "cart" not in docs and [n for n in docs if n.startswith("cart-")]   # never replaces an existing name
    assert docs["catalog"]["spec"]["egress"][-1]["to"] == [{"podSelector": {"matchLabels": {"app": "postgres"}}}]


def test_generate_from_an_ingested_database(cli, tmp_path: Path) -> None:
    db = tmp_path / "flows.duckdb"
    assert cli("ingest", SHOP, "--db", db).exit_code == 0
    r = cli("generate", "--db", db)
    assert r.exit_code == 0, r.stderr
    assert r.stdout == (GOLDEN / "shop" / "expected.yaml").read_text()


def test_ipv6_external_addresses_aggregate_within_their_own_bound(cli, tmp_path: Path) -> None:
    flows = tmp_path / "flows.csv"
    rows = [f"pod,shop,web-0,10.244.1.5,app=web,network,,,{ip},,TCP,443,allow\n"
            for ip in ("2001:db8:0:7::1", "2001:db8:0:7::2", "2001:db8:0:7::1:5", "fd00::1", "fd00::2", "198.51.100.7")]
    flows.write_text(HEADER + "".join(rows))
    r = cli("generate", flows, "--cidr6-max-prefix", "64", "--cidr-min-addresses", "3", "--report", tmp_path / "r.json")
    assert r.exit_code == 0, r.stderr
    to = [t["ipBlock"]["cidr"] for d in yaml.safe_load_all(r.stdout) if d["metadata"]["name"] == "web"
          for t in d["spec"]["egress"][0]["to"]]
    assert to == ["198.51.100.7/32", "2001:db8:0:7::/111", "fd00::1/128", "fd00::2/128"]   # IPv4 and ULA untouched
    assert f"widening: {2 ** 17 - 3} external addresses (0 IPv4, {2 ** 17 - 3} IPv6)" in r.stderr
    summary = json.loads((tmp_path / "r.json").read_text())["summary"]
    assert summary["widening"]["addresses_beyond_observed"] == 2 ** 17 - 3 and summary["verification"]["coverage"] == 1.0
    assert (summary["widening"]["ipv4_addresses_beyond_observed"], summary["widening"]["ipv6_addresses_beyond_observed"]) \
        == (0, 2 ** 17 - 3)
    # without the bound: /128 each
    assert "2001:db8:0:7::1/128" in cli("generate", flows).stdout


def test_widening_is_counted_per_address_family(cli, tmp_path: Path) -> None:
    flows = tmp_path / "flows.csv"
    flows.write_text(HEADER + "".join(f"pod,shop,web-0,10.244.1.5,app=web,network,,,{ip},,TCP,443,allow\n"
                                      for ip in ("198.51.100.5", "198.51.100.7", "2001:db8::1", "2001:db8::2")))
    r = cli("generate", flows, "--cidr-max-prefix", "30", "--cidr6-max-prefix", "126", "--cidr-min-addresses", "2",
            "--report", tmp_path / "r.json")
    assert r.exit_code == 0, r.stderr
    w = json.loads((tmp_path / "r.json").read_text())["summary"]["widening"]
    # 198.51.100.4/30 admits 2 more addresses, 2001:db8::/126 2 more (::0 and ::3)
    assert (w["ipv4_addresses_beyond_observed"], w["ipv6_addresses_beyond_observed"], w["addresses_beyond_observed"]) \
        == (2, 2, 4)
    assert "widening: 4 external addresses (2 IPv4, 2 IPv6)" in r.stderr


def test_cidr6_max_prefix_out_of_range_is_a_usage_error(cli, tmp_path: Path) -> None:
    for bad in ("63", "129"):
        r = cli("generate", SHOP, "--cidr6-max-prefix", bad)
        assert r.exit_code == 2 and "--cidr6-max-prefix must be between 64 and 128" in r.stderr and "/64" in r.stderr
    assert cli("generate", SHOP, "--cidr6-max-prefix", "64", "--cidr-min-addresses", "3").exit_code == 0
