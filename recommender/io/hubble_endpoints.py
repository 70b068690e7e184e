"""Hubble endpoints: each distinct endpoint JSON of a file parsed and normalized once.

Why this exists apart from ``hubble_sql``: the scan keeps an event's endpoints as raw JSON text
(grouping on a hash of the text is far cheaper than parsing it per event), so what an endpoint *is*
(a reserved identity's kind, its workload, its Kubernetes labels without Cilium's own) is decided
here, once per distinct text, over a few thousand rows.
"""

from __future__ import annotations

import json
from typing import Any

from recommender.io.sqlexpr import sql_str

# Endpoints are read as raw JSON text (cheap to group on) and parsed once per distinct endpoint.
ENDPOINT: dict[str, Any] = {"identity": "BIGINT", "namespace": "VARCHAR", "labels": ["VARCHAR"],
                            "pod_name": "VARCHAR", "workloads": [{"name": "VARCHAR"}]}

_RESERVED = (("kube-apiserver", 7), ("health", 4), ("host", 1), ("remote-node", 6), ("world", 2),
             ("world-ipv4", 9), ("world-ipv6", 10), ("ingress", 8), ("init", 5), ("unmanaged", 3))
_KIND_OF_RESERVED = {"kube-apiserver": "kube-apiserver", "health": "health", "host": "host", "remote-node": "host",
                     "world": "world", "world-ipv4": "world", "world-ipv6": "world"}


def _reserved(e: str) -> str:
    """The deciding reserved identity of endpoint ``e`` (by label, else by identity number), or NULL."""
    whens = " ".join(f"WHEN list_contains({e}.labels, 'reserved:{name}') OR {e}.identity = {num} THEN '{name}'"
                     for name, num in _RESERVED)
    return (f"CASE {whens} ELSE substr(list_filter({e}.labels, lambda x: starts_with(x, 'reserved:'))[1], 10) END")


_KEEP_LABEL = ("starts_with(x, 'k8s:') OR strpos(x, ':') = 0 "
               "OR (strpos(x, '=') > 0 AND strpos(x, '=') < strpos(x, ':'))")


def endpoints_sql(l1: str, table: str) -> str:
    """CREATE ``table``: every distinct endpoint JSON of the usable events, parsed and normalized once;
    ``id`` numbers them in text order, ``h`` is the key the events of ``l1`` carry, and ``cid`` is the
    same for endpoints that normalize alike (a connection key can then be grouped without its labels)."""
    kinds = " ".join(f"WHEN '{k}' THEN '{v}'" for k, v in _KIND_OF_RESERVED.items())
    structure = sql_str(json.dumps(ENDPOINT))
    return f"""CREATE OR REPLACE TEMP TABLE {table} AS
WITH p AS (
  SELECT row_number() OVER (ORDER BY text) AS id, h, text, struct_pack(identity := e.identity,
    namespace := nullif(e.namespace, ''), labels := e.labels, pod := nullif(e.pod_name, ''),
    workload := nullif(e.workloads[1].name, '')) AS e
  FROM (SELECT h, text, from_json(text, {structure}) AS e FROM {l1}_ept)),
r AS (SELECT *, {_reserved('e')} AS res FROM p),
k AS (
  SELECT *, CASE WHEN res IS NOT NULL THEN coalesce(CASE res {kinds} END, 'unknown')
      WHEN e.namespace IS NOT NULL AND e.pod IS NOT NULL THEN 'pod'
      WHEN e.identity >= 16777216 OR len(list_filter(e.labels,
           lambda x: starts_with(x, 'cidr:') OR starts_with(x, 'fqdn:'))) > 0 THEN 'world'
      ELSE 'unknown' END AS kind FROM r),
-- Kubernetes labels: `k8s:` (or unprefixed) labels, prefix stripped, Cilium-internal keys dropped;
-- a key given twice keeps its smallest value; MAP entries sorted by key. List functions per
-- endpoint (no unnest and regroup): sorted (key, value) pairs keep the first pair of each key.
y AS (
  SELECT *, list_transform(list_filter(e.labels, lambda x: {_KEEP_LABEL}),
      lambda x: CASE WHEN starts_with(x, 'k8s:') THEN substr(x, 5) ELSE x END) AS ys FROM k),
kv AS (
  SELECT *, list_sort(list_transform(list_filter(ys, lambda y: NOT starts_with(y, 'io.cilium.')
        AND split_part(y, '=', 1) <> 'io.kubernetes.pod.namespace'),
      lambda y: struct_pack(key := split_part(y, '=', 1),
                            value := CASE WHEN strpos(y, '=') = 0 THEN '' ELSE substr(y, strpos(y, '=') + 1) END)))
    AS kvs FROM y),
n AS (
SELECT id, h, text, e.namespace AS namespace, e.pod AS pod,
  CASE WHEN res IS NOT NULL THEN 'reserved:' || res WHEN kind = 'world' THEN 'reserved:world'
       WHEN kind = 'pod' THEN e.workload END AS workload, kind,
  CASE WHEN len(kvs) > 0 THEN map_from_entries(list_filter(kvs, lambda x, i: i = 1 OR kvs[i - 1].key <> x.key))
  END AS labels
FROM kv)
-- ``cid``: the first id of the endpoints that normalize alike (texts differing only in what is dropped)
SELECT *, min(id) OVER (PARTITION BY namespace, pod, workload, kind, labels) AS cid FROM n"""
