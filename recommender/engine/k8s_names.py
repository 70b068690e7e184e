"""The Kubernetes API server's syntax rules for names, labels, ports and CIDRs.

Why this exists: a policy the API server would reject must never reach the
evaluator or leave ``recommend generate``, and both the validator and the
generator (which has to turn workload labels into selectors) need the same
rules. They follow k8s.io/apimachinery ``util/validation`` and the
NetworkPolicy ``ipBlock`` checks; each function returns the list of reasons a
value is invalid (empty when valid), like its upstream counterpart.
"""

from __future__ import annotations

import functools
import ipaddress
import re

_ALNUM_EDGES = "must start and end with an alphanumeric character"
_DNS1123_LABEL = re.compile(r"[a-z0-9]([-a-z0-9]*[a-z0-9])?")
_DNS1123_SUBDOMAIN = re.compile(r"[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*")
_QUALIFIED_NAME = re.compile(r"([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]")
_LABEL_VALUE = re.compile(r"(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?")
_PORT_NAME_CHARS = re.compile(r"[-a-z0-9]+")
_DECIMAL_CIDR = re.compile(r"[0-9.]+/[0-9]+|[0-9A-Fa-f:.]+/[0-9]+")

PROTOCOLS = ("TCP", "UDP", "SCTP")
POLICY_TYPES = ("Ingress", "Egress")


def _syntax(value: str, max_len: int, pattern: re.Pattern[str], what: str) -> list[str]:
    return list(_syntax_cached(value, max_len, pattern, what))


# Validating 2,000 generated policies checks the same few hundred label keys and values tens of
# thousands of times; the answer only depends on the arguments.
@functools.lru_cache(maxsize=1 << 16)
def _syntax_cached(value: str, max_len: int, pattern: re.Pattern[str], what: str) -> tuple[str, ...]:
    problems = []
    if len(value) > max_len:
        problems.append(f"must be no more than {max_len} characters")
    if not pattern.fullmatch(value):
        problems.append(f"{what}, and {_ALNUM_EDGES}")
    return tuple(problems)


def dns1123_label(value: str) -> list[str]:
    """A namespace name: ≤ 63 lowercase alphanumerics or '-', alphanumeric at both ends."""
    return _syntax(value, 63, _DNS1123_LABEL, "a lowercase RFC 1123 label must consist of lower case alphanumeric characters or '-'")


def dns1123_subdomain(value: str) -> list[str]:
    """A policy name or label-key prefix: ≤ 253 characters, dot-separated DNS labels."""
    return _syntax(
        value, 253, _DNS1123_SUBDOMAIN, "a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, '-' or '.'"
    )


def qualified_name(value: str) -> list[str]:
    """A label key: ``[prefix/]name``, prefix a DNS-1123 subdomain, name ≤ 63 characters."""
    return list(_qualified_name(value))


@functools.lru_cache(maxsize=1 << 16)
def _qualified_name(value: str) -> tuple[str, ...]:
    parts = value.split("/")
    if len(parts) == 1:
        name = parts[0]
        problems: list[str] = []
    elif len(parts) == 2:
        prefix, name = parts
        if not prefix:
            problems = ["prefix part must be non-empty"]
        else:
            problems = [f"prefix part {p}" for p in dns1123_subdomain(prefix)]
    else:
        return (
            "a qualified name must consist of alphanumeric characters, '-', '_' or '.', "
            f"and {_ALNUM_EDGES}, with an optional DNS subdomain prefix and '/' (e.g. 'example.com/MyName')",
        )
    if not name:
        return (*problems, "name part must be non-empty")
    what = "must consist of alphanumeric characters, '-', '_' or '.'"
    return (*problems, *(f"name part {p}" for p in _syntax(name, 63, _QUALIFIED_NAME, what)))


def label_value(value: str) -> list[str]:
    """A label value: empty, or ≤ 63 alphanumerics, '-', '_', '.' with alphanumeric ends."""
    return _syntax(value, 63, _LABEL_VALUE, "a label value must be empty or consist of alphanumeric characters, '-', '_' or '.'")


def port_number(value: int) -> list[str]:
    return [] if 1 <= value <= 65535 else ["must be between 1 and 65535, inclusive"]


def port_name(value: str) -> list[str]:
    """An IANA_SVC_NAME (RFC 6335): ≤ 15 of [-a-z0-9], a letter, no '--', no '-' at the ends."""
    problems = []
    if len(value) > 15:
        problems.append("must be no more than 15 characters")
    if not _PORT_NAME_CHARS.fullmatch(value):
        problems.append("must contain only alpha-numeric characters (a-z, 0-9), and hyphens (-)")
    if "--" in value:
        problems.append("must not contain consecutive hyphens")
    if not any("a" <= c <= "z" for c in value):
        problems.append("must contain at least one letter (a-z)")
    if value.startswith("-") or value.endswith("-"):
        problems.append("must not begin or end with a hyphen")
    return problems


Network = ipaddress.IPv4Network | ipaddress.IPv6Network


def parse_cidr(value: str) -> tuple[Network | None, list[str], list[str]]:
    """Parse a CIDR as the API server does: returns (network, errors, warnings).

    Host bits beyond the prefix are accepted (the network is masked) with a
    warning, as the API server does for this legacy field. Leading zeros and
    IPv4-mapped IPv6 addresses are rejected, as with the API server's strict
    IP validation: they are ambiguous (octal? IPv4 or IPv6?)."""
    if not _DECIMAL_CIDR.fullmatch(value):
        return None, ["must be a valid CIDR value, (e.g. 10.9.8.0/24 or 2001:db8::/64)"], []
    address, _, prefix = value.partition("/")
    if len(prefix) > 1 and prefix.startswith("0"):
        return None, ["must not have leading 0s in IP or prefix length"], []
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        if "." in address and ":" not in address and _looks_like_leading_zero_ipv4(address):
            return None, ["must not have leading 0s in IP or prefix length"], []
        return None, ["must be a valid CIDR value, (e.g. 10.9.8.0/24 or 2001:db8::/64)"], []
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        return None, ["must not have an IPv4-mapped IPv6 address"], []
    try:
        network = ipaddress.ip_network(value, strict=False)
    except ValueError:
        return None, ["must be a valid CIDR value, (e.g. 10.9.8.0/24 or 2001:db8::/64)"], []
    warnings = []
    if network.network_address != ip:
        warnings.append(f"has bits set beyond the prefix length: it means {network} (or did you mean {ip}/{ip.max_prefixlen}?)")
    return network, [], warnings


def _looks_like_leading_zero_ipv4(address: str) -> bool:
    octets = address.split(".")
    return len(octets) == 4 and all(o.isdigit() and int(o) <= 255 for o in octets) and any(
        len(o) > 1 and o.startswith("0") for o in octets
    )


def except_problem(cidr: Network, exc: Network, cidr_text: str | None = None) -> str | None:
    """Why ``exc`` is not a valid ``except`` entry of ``cidr`` (None when it is):
    it must lie inside ``cidr`` with a strictly longer prefix (the API server's
    ``!cidr.Contains(except.IP) || cidrLen >= exceptLen`` test)."""
    shown = cidr_text or str(cidr)
    if exc.version != cidr.version:
        return f"must be a strict subset of cidr {shown} (it is IPv{exc.version}, cidr is IPv{cidr.version})"
    if not exc.subnet_of(cidr) or exc.prefixlen <= cidr.prefixlen:  # type: ignore[arg-type]
        return f"must be a strict subset of cidr {shown}"
    return None
