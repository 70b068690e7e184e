"""Verdicts with their explanation.

A verdict is never a bare boolean: each direction says whether the pod was
isolated, by which policies, and which (policy, rule index) admitted the
connection, or why nothing did.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class RuleRef:
    """A rule of a policy: ``direction`` is ``Ingress`` or ``Egress``,
    ``index`` the 0-based position in that list."""

    namespace: str
    policy: str
    direction: str
    index: int

    def __str__(self) -> str:
        return f"{self.namespace}/{self.policy} {self.direction.lower()}[{self.index}]"


@dataclass(frozen=True, slots=True)
class DirectionVerdict:
    direction: str                       # "Ingress" or "Egress"
    applies: bool                        # False when the endpoint is not a pod in the cluster
    isolated: bool                       # some policy selects the pod for this direction
    allowed: bool
    isolated_by: tuple[str, ...] = ()    # "ns/name" of the policies that isolate the pod
    admitted_by: tuple[RuleRef, ...] = ()
    reason: str = ""


@dataclass(frozen=True, slots=True)
class Verdict:
    egress: DirectionVerdict
    ingress: DirectionVerdict

    @property
    def allowed(self) -> bool:
        return self.egress.allowed and self.ingress.allowed

    @property
    def word(self) -> str:
        return "allowed" if self.allowed else "denied"
