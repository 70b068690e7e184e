"""Normalized CSV/Parquet: an IPv6 address is stored in its canonical text form (RFC 5952: lower case, longest
zero run compressed), the form the inventory and the VPC reader store.

Enrichment joins an endpoint's address text with the inventory's, so a hand-made or converted export that
spells `fd00::5` as `FD00:0:0::5` left the pod's connections as bare `network` endpoints (an ipBlock instead
of a podSelector), and one address in two spellings became two endpoints and two connection rows.
"""

from __future__ import annotations

import json
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

from recommender import load_flows

POD = {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "web-1", "namespace": "shop", "labels": {"app": "web"}},
       "spec": {"containers": [{"name": "c", "ports": [{"containerPort": 8080}]}]},
       "status": {"podIP": "10.0.0.5", "podIPs": [{"ip": "10.0.0.5"}, {"ip": "fd00::5"}]}}
HEADER = "src_kind,src_ip,dst_kind,dst_ip,protocol,dst_port,action"
ROWS = ["network,FD00:0:0::9,network,FD00:0:0:0::5,TCP,8080,allow",
        "network,fd00::9,network,fd00::5,TCP,8080,allow",
        "network,10.0.0.7,network,10.0.0.5,TCP,8080,allow"]


def _inventory(tmp_path: Path) -> Path:
    inv = tmp_path / "inv.json"
    inv.write_text(json.dumps(POD))
    return inv


def _rows(store) -> list[tuple]:  # type: ignore[no-untyped-def]
    return store.con.execute("SELECT src_ip, dst_ip, dst_kind, dst_pod, records FROM connections ORDER BY ALL").fetchall()


def test_csv_ipv6_spellings_become_one_canonical_address(tmp_path: Path) -> None:
    path = tmp_path / "flows.csv"
    path.write_text("\n".join([HEADER, *ROWS]) + "\n")
    store = load_flows([path], inventory=[_inventory(tmp_path)], db=":memory:")
    assert _rows(store) == [("10.0.0.7", "10.0.0.5", "pod", "web-1", 1), ("fd00::9", "fd00::5", "pod", "web-1", 2)]


def test_parquet_ipv6_is_canonical_too(tmp_path: Path) -> None:
    path = tmp_path / "flows.parquet"
    cols = list(zip(*(r.split(",") for r in ROWS)))
    table = pa.table({name: list(values) for name, values in zip(HEADER.split(","), cols)})
    pq.write_table(table.set_column(5, "dst_port", pa.array([8080] * 3, pa.int32())), path)
    store = load_flows([path], inventory=[_inventory(tmp_path)], db=":memory:")
    assert _rows(store) == [("10.0.0.7", "10.0.0.5", "pod", "web-1", 1), ("fd00::9", "fd00::5", "pod", "web-1", 2)]


def test_canonical_addresses_are_left_alone(tmp_path: Path) -> None:
    path = tmp_path / "flows.csv"
    path.write_text("\n".join([HEADER, ROWS[1], ROWS[2]]) + "\n")
    store = load_flows([path], db=":memory:")
    assert [r[:2] for r in _rows(store)] == [("10.0.0.7", "10.0.0.5"), ("fd00::9", "fd00::5")]


def test_an_ipv4_mapped_address_is_stored_as_the_ipv4_address(tmp_path: Path) -> None:
    """A socket-level observer records the IPv4 peer of a dual-stack socket as ``::ffff:10.0.0.5``; on the wire
    the packet is IPv4, so the address is stored as ``10.0.0.5``: enrichment finds the pod, and a rule can name
    it (no ipBlock can name the mapped form, which the API server rejects)."""
    path = tmp_path / "flows.csv"
    path.write_text("\n".join([HEADER, "network,::FFFF:10.0.0.7,network,::ffff:10.0.0.5,TCP,8080,allow",
                               "network,::ffff:a00:7,network,fd00::5,TCP,8080,allow"]) + "\n")
    store = load_flows([path], inventory=[_inventory(tmp_path)], db=":memory:")
    assert _rows(store) == [("10.0.0.7", "10.0.0.5", "pod", "web-1", 1), ("10.0.0.7", "fd00::5", "pod", "web-1", 1)]
