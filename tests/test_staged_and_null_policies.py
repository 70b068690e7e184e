"""Loading policy files: staged Calico policies beside the NetworkPolicy they preview, and null rule entries.

Calico's StagedKubernetesNetworkPolicy previews the Kubernetes NetworkPolicy of the same namespace
and name: promoting `stagedAction: Set` creates or updates it, `Delete` deletes it. A cluster dump
(`kubectl get networkpolicies,stagedkubernetesnetworkpolicies -A -o yaml`) routinely holds both for one
name; loading it was an error ("duplicate policy"), so such a cluster could not be verified at all.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from recommender.errors import PolicyError
from recommender.io.policies import load_policies

ENFORCED = """\
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {name: db, namespace: shop}
spec: {podSelector: {matchLabels: {app: db}}, ingress: [{ports: [{port: 5432}]}]}
"""
STAGED = """\
apiVersion: projectcalico.org/v3
kind: StagedKubernetesNetworkPolicy
metadata: {name: db, namespace: shop}
spec: {stagedAction: %s, podSelector: {matchLabels: {app: db}}, ingress: [{ports: [{port: 6432}]}]}
"""


@pytest.mark.parametrize("order", ["enforced first", "staged first"])
def test_a_staged_set_supersedes_the_policy_of_the_same_name(tmp_path: Path, order: str) -> None:
    docs = [ENFORCED, STAGED % "Set"] if order == "enforced first" else [STAGED % "Set", ENFORCED]
    path = tmp_path / "dump.yaml"
    path.write_text("---\n".join(docs))
    loaded = load_policies(path)
    assert [(p.key, p.ingress[0].ports[0].port) for p in loaded.policies] == [("shop/db", 6432)]
    enforced_line = 1 if order == "enforced first" else 6
    assert [(s.line, s.kind, s.name) for s in loaded.skipped] == [(enforced_line, "NetworkPolicy", "shop/db")]
    assert "superseded by the StagedKubernetesNetworkPolicy" in loaded.skipped[0].reason


def test_a_staged_delete_removes_the_policy_of_the_same_name(tmp_path: Path) -> None:
    path = tmp_path / "dump.yaml"
    path.write_text(ENFORCED + "---\n" + STAGED % "Delete")
    loaded = load_policies(path)
    assert loaded.policies == ()
    reasons = sorted((s.kind, s.reason) for s in loaded.skipped)
    assert reasons[0][0] == "NetworkPolicy" and "deleted by the StagedKubernetesNetworkPolicy" in reasons[0][1]
    assert reasons[1] == ("StagedKubernetesNetworkPolicy", "stagedAction Delete: it creates no policy to evaluate")


def test_two_policies_of_one_kind_and_name_are_still_an_error(tmp_path: Path) -> None:
    path = tmp_path / "dump.yaml"
    path.write_text(STAGED % "Set" + "---\n" + STAGED % "Set")
    with pytest.raises(PolicyError, match="duplicate policy shop/db"):
        load_policies(path)


@pytest.mark.parametrize(("body", "where", "what"), [
    ("  ingress:\n  -\n", "spec.ingress[0]", "a rule that admits every source on every port"),
    ("  egress:\n  - # to: [{podSelector: {}}]\n", "spec.egress[0]", "a rule that admits every destination on every port"),
    ("  ingress:\n  - ports:\n    -\n", "spec.ingress[0].ports[0]", "every TCP port"),
])
def test_a_null_rule_or_port_says_it_would_be_the_widest_one(tmp_path: Path, body: str, where: str, what: str) -> None:
    """Go decodes a null list entry as the zero value, so the API server stores `ingress: [{}]`: allow all.
    An entry whose content was commented out is that. The error said the API server would reject it."""
    path = tmp_path / "p.yaml"
    path.write_text("apiVersion: networking.k8s.io/v1\nkind: NetworkPolicy\nmetadata: {name: a, namespace: shop}\n"
                    "spec:\n  podSelector: {}\n" + body)
    with pytest.raises(PolicyError) as err:
        load_policies(path)
    text = f"{err.value} (hint: {err.value.hint})"
    assert f"{where}: null: the API server reads it as {{}}, {what}" in text
    assert "would reject" not in text and "write {} if that is meant" in text
