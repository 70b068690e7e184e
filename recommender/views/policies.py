"""Policy views: the rules of each policy with their provenance, the pods the
policies isolate, and how well they fit the observed traffic.

These take either plain ``NetworkPolicy`` objects (from YAML) or a
``Recommendation`` from ``recommender.generate`` — whose rules carry the
observed connections they came from and whose verification counts what each
policy admits beyond what was seen. Policies are few; the per-connection work
(verdicts) is done by ``recommender.evaluate`` in DuckDB.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import duckdb
import pandas as pd

from recommender.errors import UsageError
from recommender.model import Labels, NetworkPolicy
from recommender.views import describe
from recommender.views.source import FlowSource, PathLike, connection_of, has_table, open_source

DIRECTIONS = ("Ingress", "Egress")
DIRECTIONS_LOWER = ("ingress", "egress")
RULE_COLUMNS = ["namespace", "policy", "selects", "direction", "rule", "peers", "ports", "provenance"]


def policies_of(policies: Any) -> list[NetworkPolicy]:
    """The policy list of a Recommendation, or the policies themselves, sorted by namespace/name."""
    items = getattr(policies, "policies", policies)
    return sorted(items or (), key=lambda p: (p.namespace, p.name))


def _provenance_index(recommendation: Any) -> dict[tuple[str, str, str, int], str]:
    """Why each recommended rule exists, in one short line: the observed connections behind it,
    when they were seen, and the first input record that showed one."""
    out = {}
    for prov in getattr(recommendation, "provenance", None) or ():
        st = prov.stats
        when = f", {_span(st.first_seen, st.last_seen)}" if st.first_seen is not None else ""
        first = sorted(st.samples)[0] if st.samples else None
        seen = f"; e.g. {Path(first).name}" if first else ""
        out[(prov.namespace, prov.policy, prov.direction, prov.index)] = (
            f"{st.connections} observed connections ({st.flows} flows, {_size(st.bytes)}){when}{seen}")
    return out


def _span(first: Any, last: Any) -> str:
    """``2025-06-02 00:00:22–00:49:34`` (the date once when both ends share it)."""
    a, b = (str(t)[:19] for t in (first, last if last is not None else first))
    return f"{a}–{b[11:]}" if a[:10] == b[:10] else f"{a} – {b}"


def _size(n: int | None) -> str:
    value = float(n or 0)
    for unit in ("B", "kB", "MB", "GB"):
        if value < 1000 or unit == "GB":
            return f"{value:.0f} {unit}" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1000
    return f"{value:.1f} GB"


def policy_rules(policies: Any) -> pd.DataFrame:
    """One row per rule of every policy: who it selects, its peers, ports and provenance.

    ``policies`` is a Recommendation or an iterable of NetworkPolicy. A policy
    with no rules in a direction it isolates shows one row with ``rule`` -1:
    that direction is default-deny for the selected pods.
    """
    rows: list[dict[str, Any]] = []
    provenance = _provenance_index(policies)
    for p in policies_of(policies):
        selects = describe.selector(p.pod_selector)
        for direction in p.effective_policy_types():
            rules = p.ingress if direction == "Ingress" else p.egress
            if not rules:
                rows.append(dict(namespace=p.namespace, policy=p.name, selects=selects, direction=direction,
                                 rule=-1, peers="nobody (default deny)", ports="", provenance=""))
            for i, rule in enumerate(rules or ()):
                rows.append(dict(
                    namespace=p.namespace, policy=p.name, selects=selects, direction=direction, rule=i,
                    peers=describe.peers(rule), ports=describe.ports(rule),
                    provenance=provenance.get((p.namespace, p.name, direction, i), ""),
                ))
    return pd.DataFrame(rows, columns=RULE_COLUMNS)


def connection_verdicts(policies: Any, flows: FlowSource, *, inventory: Sequence[PathLike] = ()) -> pd.DataFrame:
    """``recommender.evaluate`` over every stored connection, with ``row_id``
    (the connection's DuckDB rowid, to join back) and its ``flows``/``bytes``."""
    from recommender.engine.evaluate import evaluate

    store = open_source(flows, inventory)
    con = connection_of(store)
    table = con.sql("SELECT rowid AS row_id, * FROM connections ORDER BY rowid").to_arrow_table()
    if not hasattr(store, "pods") and all(has_table(con, t) for t in ("pods", "namespaces", "ingested_files")):
        from recommender.io.store import FlowStore

        store = FlowStore(con)   # a bare connection to a store: its inventory still counts
    store = store if hasattr(store, "pods") and hasattr(store, "namespaces") else None
    context = dict(pods=store.pods(), namespaces=store.namespaces()) if store is not None else {}
    judged = evaluate(_policy_input(policies), table.drop_columns(["row_id"]), **context)
    if len(judged) != table.num_rows:  # evaluate returns one row per input row, in input order
        raise RuntimeError(f"evaluate returned {len(judged)} verdicts for {table.num_rows} connections")
    judged.insert(0, "row_id", table.column("row_id").to_numpy())
    judged["flows"] = table.column("flows").to_numpy(zero_copy_only=False)
    judged["bytes"] = table.column("bytes").to_numpy(zero_copy_only=False)
    return judged


def _policy_input(policies: Any) -> Any:
    """What ``evaluate`` accepts: a PolicySet (keeps its pods) or a list of policies."""
    if hasattr(policies, "skipped"):
        return policies
    return list(policies_of(policies))


def _known_pods(con: Any) -> pd.DataFrame:
    """Distinct pods from the inventory and from the flows (hostNetwork pods are not selectable)."""
    parts = [
        f"SELECT DISTINCT {s}_namespace AS namespace, {s}_pod AS pod, {s}_labels AS labels FROM connections "
        f"WHERE {s}_kind = 'pod' AND {s}_pod IS NOT NULL AND {s}_namespace IS NOT NULL"
        for s in ("src", "dst")
    ]
    if has_table(con, "pods"):
        parts.append("SELECT namespace, name, labels FROM pods WHERE NOT coalesce(host_network, false)")
    query = " UNION ".join(parts)
    return con.sql(
        f"SELECT namespace, pod, first(labels ORDER BY cardinality(labels) DESC) AS labels "
        f"FROM ({query}) GROUP BY ALL ORDER BY namespace, pod"
    ).df()


def isolated_pods(policies: Any, flows: FlowSource, *, inventory: Sequence[PathLike] = ()) -> pd.DataFrame:
    """The known pods the policies select, i.e. the pods that become default-deny
    for ingress and/or egress once the policies are applied, with the policies
    that isolate them."""
    con = connection_of(flows, inventory)
    pods = _known_pods(con)
    by_ns: dict[str, list[NetworkPolicy]] = {}
    for p in policies_of(policies):
        by_ns.setdefault(p.namespace, []).append(p)
    rows = []
    for ns, pod, labels in pods[pods["namespace"].isin(list(by_ns))].itertuples(index=False):
        ls = Labels.of(dict(labels) if labels is not None else {})
        hits = {d: sorted(p.name for p in by_ns[ns] if d in p.effective_policy_types() and p.pod_selector.matches(ls))
                for d in DIRECTIONS}
        if hits["Ingress"] or hits["Egress"]:
            rows.append(dict(namespace=ns, pod=pod, ingress=", ".join(hits["Ingress"]), egress=", ".join(hits["Egress"])))
    return pd.DataFrame(rows, columns=["namespace", "pod", "ingress", "egress"])



def rule_hits(judged: pd.DataFrame) -> pd.DataFrame:
    """Observed connections (and flows) each rule admits: ``policy`` ("ns/name"), ``direction``, ``rule``."""
    con = duckdb.connect()
    try:
        cols = judged[["egress_admitted_by", "ingress_admitted_by"]].assign(
            flows=judged["flows"] if "flows" in judged.columns else None)   # flows: counted when known
        con.register("judged", cols)
        return con.sql(
            r"""
            SELECT regexp_extract(ref, '^(.*) (ingress|egress)\[(\d+)\]$', 1) AS policy,
                   CASE regexp_extract(ref, '^(.*) (ingress|egress)\[(\d+)\]$', 2)
                        WHEN 'ingress' THEN 'Ingress' ELSE 'Egress' END AS direction,
                   CAST(regexp_extract(ref, '^(.*) (ingress|egress)\[(\d+)\]$', 3) AS INTEGER) AS rule,
                   count(*) AS admits, CAST(coalesce(sum(flows), 0) AS BIGINT) AS admits_flows
            FROM (SELECT unnest(list_concat(egress_admitted_by, ingress_admitted_by)) AS ref, flows FROM judged)
            GROUP BY ALL ORDER BY ALL
            """
        ).df()
    finally:
        con.close()


def rules_with_hits(policies: Any, judged: pd.DataFrame) -> pd.DataFrame:
    """``policy_rules`` plus ``admits``/``admits_flows``: the observed connections each rule admits."""
    rules = policy_rules(policies)
    rules["key"] = rules["namespace"] + "/" + rules["policy"]
    hits = rule_hits(judged).rename(columns={"policy": "key"})
    rules = rules.merge(hits, how="left", on=["key", "direction", "rule"]).drop(columns="key")
    for col in ("admits", "admits_flows"):
        rules[col] = rules[col].fillna(0).astype("int64")
    return rules


def verification(policies: Any, flows: FlowSource | None = None, *,
                 inventory: Sequence[PathLike] = ()) -> pd.DataFrame:
    """Per policy: the pods it isolates, the observed connections its rules
    admit, and its rules that admit nothing observed (over-permission by
    construction: a rule no observed connection needed).

    ``policies`` is a Recommendation, a PolicySet or NetworkPolicy objects;
    ``flows`` the store (or connection, or files) they are checked against.
    A Recommendation alone is judged by the verdicts it was verified with
    (its observed connections, replies excluded; no ``isolated_pods`` column).
    """
    own = getattr(policies, "verification", None)
    if flows is None and isinstance(own, pd.DataFrame) and "egress_admitted_by" in own.columns:
        frame, _ = verification_parts(policies, own)
        return frame
    if flows is None:
        raise UsageError("verification needs the flows the policies are checked against",
                         hint="pass the store: verification(policies, store)")
    store = open_source(flows, inventory)
    judged = connection_verdicts(policies, store)
    frame, _ = verification_parts(policies, judged, isolated=isolated_pods(policies, store))
    return frame


def _per_policy(frame: pd.DataFrame, name: str) -> pd.DataFrame:
    return frame.groupby(["namespace", "policy"]).size().rename(name).reset_index() if len(frame) else \
        pd.DataFrame(columns=["namespace", "policy", name])


def _without_address(judged: pd.DataFrame) -> pd.Series:
    """Connections with an end that is neither a pod nor an address (an exporter hid the IP of a node or
    peer): no NetworkPolicy can name it, so no policy can admit the connection once the pod is isolated."""
    def blind(side: str) -> pd.Series:
        if f"{side}_kind" not in judged.columns or f"{side}_ip" not in judged.columns:
            return pd.Series(False, index=judged.index)
        return (judged[f"{side}_kind"] != "pod") & judged[f"{side}_ip"].isna()
    return blind("src") | blind("dst")


def verification_parts(policies: Any, judged: pd.DataFrame,
                       isolated: pd.DataFrame | None = None) -> tuple[pd.DataFrame, dict[str, Any]]:
    """The per-policy verification frame and the run-level summary, from connection verdicts."""
    rules = rules_with_hits(policies, judged)
    real = rules[rules["rule"] >= 0]
    per = rules.groupby(["namespace", "policy"], sort=True).agg(
        directions=("direction", lambda d: ", ".join(sorted(set(d))))).reset_index()
    per = per.merge(real.groupby(["namespace", "policy"]).agg(
        rules=("rule", "count"), admitted_connections=("admits", "sum"),
        unused_rules=("admits", lambda a: int((a == 0).sum()))).reset_index(), how="left", on=["namespace", "policy"])
    if isolated is not None:
        pairs = pd.concat([isolated.assign(policy=isolated[d].str.split(", ")) for d in DIRECTIONS_LOWER])
        pairs = pairs.explode("policy")
        pairs = pairs[pairs["policy"].fillna("") != ""].drop_duplicates(["namespace", "pod", "policy"])
        per = per.merge(_per_policy(pairs, "isolated_pods"), how="left", on=["namespace", "policy"])
    per = per.fillna(0)
    for col in ("rules", "admitted_connections", "unused_rules", "isolated_pods"):
        if col in per.columns:
            per[col] = per[col].astype("int64")
    observed = (judged["action"].str.lower() == "allow") if "action" in judged.columns else judged["allowed"] | True
    allowed = judged["allowed"].astype(bool)
    nameless = _without_address(judged)
    summary: dict[str, Any] = {
        "policies": len(per),
        "observed allowed connections": int(observed.sum()),
        "admitted": int((observed & allowed).sum()),
        "not admitted": int((observed & ~allowed).sum()),
        "not admitted, no address to name": int((observed & ~allowed & nameless).sum()),
        "exporter-denied but admitted": int((~observed & allowed).sum()),
        "rules admitting nothing observed": int(per["unused_rules"].sum()) if len(per) else 0,
    }
    over = (getattr(policies, "summary", None) or {}).get("over_permission")
    if isinstance(over, dict) and "unobserved" in over:
        summary["unobserved combinations admitted"] = over["unobserved"]
        if isinstance(over.get("per_policy"), dict):   # the recommender's attribution, when it gives one
            keys = per["namespace"] + "/" + per["policy"]
            per["unobserved_admitted"] = keys.map(lambda k: int(over["per_policy"].get(k, 0)))
    summary["verified"] = summary["not admitted"] == 0
    summary["verified where expressible"] = summary["not admitted"] == summary["not admitted, no address to name"]
    return per, summary
