"""The generate summary and the ``--report`` provenance (JSON or Markdown).

A reviewer must be able to ask of every rule "why is this here?" and get the
observations behind it: how many connections and flows, how many bytes, first
and last seen, which input formats, and sample records (FILE:LINE, or FILE @ the
time of the first event for Hubble, whose connections keep no line). The summary
answers the run-level questions: is everything observed admitted (coverage
must be 100 %), how much more than observed do the policies admit, and what
did default deny isolate that never showed traffic.
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

import duckdb

from recommender.model import NetworkPolicy
from recommender.recommend.identity import IdentityMap
from recommender.recommend.output import is_default_deny
from recommender.recommend.synthesis import Edge, Options

if TYPE_CHECKING:
    from recommender.recommend.generate import Recommendation
    from recommender.recommend.merge import Group


def isolated_without_traffic(ids: IdentityMap, policies: list[NetworkPolicy], namespaces: set[str]) -> dict[str, list[str]]:
    """Known pods in covered namespaces that default deny isolates and no workload policy selects."""
    out: dict[str, list[str]] = {}
    selectors: dict[str, list] = {}
    for p in policies:
        if not is_default_deny(p):
            selectors.setdefault(p.namespace, []).append(p.pod_selector)
    for wl in ids.workloads.values():
        if wl.namespace not in namespaces:
            continue
        for labels, pods in wl.pods_by_labels.items():
            if not any(sel.matches(labels) for sel in selectors.get(wl.namespace, ())):
                out.setdefault(wl.namespace, []).extend(pods)
    return {ns: sorted(set(pods)) for ns, pods in sorted(out.items())}


def summarize(
    ids: IdentityMap, opts: Options, counts: dict[str, int], policies: list[NetworkPolicy],
    verification: dict[str, Any], widening: dict[str, int], replies: set[Edge], edges: dict,
    groups: list["Group"], kind: str, tier: str, existing_cover: dict[str, list[str]],
) -> dict[str, Any]:
    namespaces = sorted({p.namespace for p in policies})
    per_ns: dict[str, dict[str, Any]] = {ns: {"policies": 0} for ns in namespaces}
    for p in policies:
        per_ns[p.namespace]["policies"] += 1
    isolated = isolated_without_traffic(ids, policies, set(namespaces)) if opts.default_deny else {}
    for ns, pods in isolated.items():
        per_ns[ns]["isolated_without_traffic"] = pods
    return {
        "kind": kind,
        "tier": tier if kind == "calico-staged-native" else None,
        "input": {
            "connections": counts["connections"],
            "denied": counts["denied"],
            "denied_included": opts.include_denied,
            "edges": len(edges),
            "reply_edges_skipped": len(replies),
        },
        "verification": verification,
        "widening": {"ports_beyond_observed": widening["ports"], "addresses_beyond_observed": widening["addresses"],
                     "ipv4_addresses_beyond_observed": widening["addresses"] - widening["addresses6"],
                     "ipv6_addresses_beyond_observed": widening["addresses6"]},
        "namespaces": per_ns,
        "policies": len(policies),
        "merged": [{"namespace": g.namespace, "workloads": [m.split("/", 1)[1] for m in g.members]}
                   for g in groups if g.merged],
        "inexact_selectors": sorted(f"{wl.namespace}/{wl.name}" for wl in ids.workloads.values() if not wl.exact),
        "existing_admits": existing_cover,
    }


DENIED_LISTED = 1000     # the summary lists this many denied (source, destination, protocol, port); the count is exact


def denied_connections(con: duckdb.DuckDBPyConnection, verdicts: str | None = None) -> list[dict[str, Any]]:
    """The connections the exporter marked denied, per (source, destination, protocol, port), most flows first:
    what the current policies block. ``verdicts`` (``verify.denied_verdicts``: those rows with ``_admitted``
    and ``_admitted_by``) says which of them the recommended policies would admit all the same (``admitted``:
    any connection of the group; ``admitted_by``: the rules); without it both are None."""
    def who(side: str) -> str:
        name = f"coalesce({side}_pod, {side}_workload)"
        return (f"CASE WHEN {side}_namespace IS NOT NULL AND {name} IS NOT NULL THEN {side}_namespace || '/' || {name} "
                f"ELSE coalesce({name}, {side}_ip, {side}_kind) END || coalesce('[' || {side}_ip || ']', '')")
    source = "connections WHERE lower(action) = 'deny'" if verdicts is None else verdicts
    admitted = ("NULL::BOOLEAN, NULL::VARCHAR[]" if verdicts is None else
                "bool_or(_admitted), list_sort(list_distinct(flatten(list(_admitted_by))))")
    rows = con.execute(f"""
        SELECT {who('src')} AS src, {who('dst')} AS dst, upper(protocol) AS protocol, dst_port, count(*) AS connections,
               sum(flows)::BIGINT AS flows, list_sort(list_distinct(flatten(list(coalesce(policies, []))))) AS policies,
               min(coalesce(file, '?') || coalesce(':' || line, '')) AS sample, {admitted}
        FROM {source} GROUP BY ALL
        ORDER BY flows DESC NULLS LAST, src, dst, protocol, dst_port NULLS FIRST LIMIT {DENIED_LISTED}""").fetchall()
    keys = ("source", "destination", "protocol", "port", "connections", "flows", "policies", "sample", "admitted",
            "admitted_by")
    return [dict(zip(keys, r)) for r in rows]


def denied_admitted_count(con: duckdb.DuckDBPyConnection, verdicts: str | None) -> int:
    """How many connections the exporter marked denied the recommended policies admit (exact, not capped)."""
    if verdicts is None:
        return 0
    return int(con.execute(f"SELECT count(*) FILTER (WHERE _admitted) FROM {verdicts}").fetchall()[0][0])


def denied_admitted_warning(count: int) -> list[str]:
    if not count:
        return []
    return [f"{count} connection(s) the exporter saw denied would be admitted by the recommended policies (their "
            "peers share a selector or a rule's ports with allowed traffic): see 'denied' in the summary or --report"]


def summary_text(summary: dict[str, Any]) -> str:
    """The human summary printed on stderr."""
    v = summary["verification"]
    lines = [
        f"coverage: {v['admitted']}/{v['connections']} observed connections admitted "
        f"({100 * v['coverage']:.1f}%), {v.get('replies_skipped', 0)} reply connections skipped"
        + (f", {v['unnamed_port_not_admitted']} to port 0 not admitted (see the warnings)"
           if v.get("unnamed_port_not_admitted") else ""),
    ]
    if v.get("assumed_public"):
        lines.append(f"  of which {v['assumed_public']} assume a public address for an external end the exporter "
                     "did not record (admitted by 0.0.0.0/0 only because of --allow-any-external)")
    over = summary.get("over_permission")
    if over is not None:
        lines.append(f"over-permission: {over['unobserved']} admitted (source, destination, protocol, port) "
                     f"combinations over known workloads were never observed (of {over['admitted']} admitted)")
    w = summary["widening"]
    split = (f" ({w['ipv4_addresses_beyond_observed']} IPv4, {w['ipv6_addresses_beyond_observed']} IPv6)"
             if w["ipv6_addresses_beyond_observed"] else "")
    lines.append(f"widening: {w['addresses_beyond_observed']} external addresses{split} and "
                 f"{w['ports_beyond_observed']} ports admitted beyond the observed ones")
    inp = summary["input"]
    denied = "included" if inp["denied_included"] else "excluded"
    opened = f", {inp['denied_admitted']} of them admitted by the recommended policies" if inp.get("denied_admitted") else ""
    free = (f", {inp['always_allowed']} always allowed (a pod to itself or to its own node: no rule needed)"
            if inp.get("always_allowed") else "")
    lines.append(f"input: {inp['connections']} connections, {inp['denied']} denied ({denied}){opened}{free}")
    for d in summary.get("denied", [])[:5]:
        by = f" by {', '.join(d['policies'])}" if d["policies"] else ""
        if d.get("admitted"):
            by += f", admitted by {', '.join(d['admitted_by']) or 'the recommendation (no isolating policy)'}"
        port = "" if d["port"] is None else f"/{d['port']}"
        lines.append(f"  denied{by}: {d['source']} → {d['destination']} {d['protocol']}{port}, {d['flows']} flow(s) ({d['sample']})")
    if len(summary.get("denied", [])) > 5:
        lines.append(f"  … the report lists {len(summary['denied'])} denied (source, destination, protocol, port)")
    for ns, info in summary["namespaces"].items():
        extra = f", {info['yaml_lines']} YAML lines" if "yaml_lines" in info else ""
        iso = info.get("isolated_without_traffic", [])
        iso_text = f"; default deny isolates {len(iso)} pod(s) with no observed traffic: {', '.join(iso[:5])}" if iso else ""
        if len(iso) > 5:
            iso_text += ", …"
        lines.append(f"  {ns}: {info['policies']} policies{extra}{iso_text}")
    for m in summary["merged"]:
        lines.append(f"merged (identical profiles, proven no wider): {m['namespace']}/{'+'.join(m['workloads'])}")
    for ref, flows in summary.get("existing_admits", {}).items():
        shown = "; ".join(flows[:3]) + ("; …" if len(flows) > 3 else "")
        lines.append(f"existing policy {ref} already admits {len(flows)} observed flow direction(s): {shown}")
    lines.extend(f"warning: {w}" for w in summary.get("warnings", []))
    return "\n".join(lines) + "\n"


def _rules(rec: "Recommendation") -> list[dict[str, Any]]:
    rows = []
    for r in rec.provenance:
        s = r.stats
        rows.append({
            "namespace": r.namespace, "policy": r.policy, "direction": r.direction, "index": r.index,
            "peers": list(r.peers), "ports": r.ports, "connections": s.connections, "flows": s.flows,
            "bytes": s.bytes, "first_seen": None if s.first_seen is None else str(s.first_seen),
            "last_seen": None if s.last_seen is None else str(s.last_seen),
            "formats": sorted(s.formats), "samples": sorted(s.samples),
        })
    return rows


def render_report(rec: "Recommendation", fmt: str = "json") -> str:
    rules = _rules(rec)
    if fmt == "json":
        return json.dumps({"summary": rec.summary, "rules": rules}, indent=2, sort_keys=True, default=str) + "\n"
    if fmt != "md":
        raise ValueError(f"unknown report format {fmt!r}")
    out = ["# Recommended policies: provenance", "", "## Summary", "", "```", summary_text(rec.summary).rstrip(), "```", "",
           "## Rules", "", "| policy | direction | # | peers | ports | connections | flows | bytes | first seen | last seen | formats | samples |",
           "|---|---|---|---|---|---|---|---|---|---|---|---|"]
    for r in rules:
        cells = [f"{r['namespace']}/{r['policy']}", r["direction"], str(r["index"]), "<br>".join(r["peers"]), r["ports"],
                 str(r["connections"]), str(r["flows"]), str(r["bytes"]), str(r["first_seen"] or ""),
                 str(r["last_seen"] or ""), ", ".join(r["formats"]), "<br>".join(r["samples"])]
        out.append("| " + " | ".join(c.replace("|", "\\|") for c in cells) + " |")
    if rec.summary.get("denied"):
        out += ["", "## Denied by the exporter", "", "| source | destination | protocol | port | connections | flows | "
                "deciding policies | sample | admitted by the recommendation |", "|---|---|---|---|---|---|---|---|---|"]
        for d in rec.summary["denied"]:
            opened = "" if d.get("admitted") is None else ("<br>".join(d["admitted_by"]) or "yes") if d["admitted"] else "no"
            cells = [d["source"], d["destination"], d["protocol"], "" if d["port"] is None else str(d["port"]),
                     str(d["connections"]), str(d["flows"]), "<br>".join(d["policies"]), d["sample"], opened]
            out.append("| " + " | ".join(str(c).replace("|", "\\|") for c in cells) + " |")
    return "\n".join(out) + "\n"
