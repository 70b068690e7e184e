"""What the Kubernetes API server rejects, we reject: one row per rule, exact message.

Each row is a ``spec:`` fragment (its first line is line 7 of the document)
and the first error as ``LINE path: reason``. Messages follow
k8s pkg/apis/networking/validation and apimachinery's name/label checks.
"""

from __future__ import annotations

import textwrap

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from recommender.engine import k8s_names as names
from recommender.engine.validate import check_policy, validate_policy
from recommender.errors import PolicyError
from recommender.io.yamlloc import load_text
from recommender.model import NetworkPolicy

HEAD = """\
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata:
  name: p
  namespace: ns
spec:
"""
ALNUM = "must start and end with an alphanumeric character"
KEY_CHARS = f"name part must consist of alphanumeric characters, '-', '_' or '.', and {ALNUM}"
VALUE_CHARS = f"a label value must be empty or consist of alphanumeric characters, '-', '_' or '.', and {ALNUM}"
PEER = "spec.ingress[0].from[0]"
PORT = "spec.ingress[0].ports[0]"


def problems(text: str, file: str = "t.yaml") -> list:
    (doc,) = load_text(text, file)
    return validate_policy(doc.value, file=file, line=doc.line, lines=doc.lines)


def errors_of(spec: str) -> list[str]:
    text = HEAD + textwrap.indent(textwrap.dedent(spec), "  ")
    return [str(p) for p in problems(text) if p.severity == "error"]


def peer(body: str) -> str:
    """A fragment with one ingress rule whose first peer is ``body`` (line 10)."""
    return "podSelector: {}\ningress:\n- from:\n  - " + body


def port(body: str) -> str:
    """A fragment with one ingress rule whose first port is ``body`` (line 10)."""
    return "podSelector: {}\ningress:\n- ports:\n  - " + body


INVALID = [
    # --- label selectors: keys, values, operators
    ("podSelector: {matchLabels: {'bad key!': x}}", f"7 spec.podSelector.matchLabels[bad key!]: invalid key: {KEY_CHARS}"),
    ("podSelector: {matchLabels: {'/x': a}}", "7 spec.podSelector.matchLabels[/x]: invalid key: prefix part must be non-empty"),
    (f"podSelector: {{matchLabels: {{{'a' * 254}/x: a}}}}",
     f"7 spec.podSelector.matchLabels[{'a' * 254}/x]: invalid key: prefix part must be no more than 253 characters"),
    ("podSelector: {matchLabels: {Example.COM/x: a}}",
     "7 spec.podSelector.matchLabels[Example.COM/x]: invalid key: prefix part a lowercase RFC 1123 subdomain must consist "
     f"of lower case alphanumeric characters, '-' or '.', and {ALNUM}"),
    (f"podSelector: {{matchLabels: {{{'k' * 64}: a}}}}",
     f"7 spec.podSelector.matchLabels.{'k' * 64}: invalid key: name part must be no more than 63 characters"),
    ("podSelector: {matchLabels: {'a/b/c': a}}",
     "7 spec.podSelector.matchLabels[a/b/c]: invalid key: a qualified name must consist of alphanumeric characters, "
     f"'-', '_' or '.', and {ALNUM}, with an optional DNS subdomain prefix and '/' (e.g. 'example.com/MyName')"),
    ("podSelector:\n  matchLabels:\n    app: -web", f"9 spec.podSelector.matchLabels.app: {VALUE_CHARS}"),
    (f"podSelector:\n  matchLabels:\n    app: {'v' * 64}", "9 spec.podSelector.matchLabels.app: must be no more than 63 characters"),
    ("podSelector:\n  matchLabels:\n    enabled: true",
     "9 spec.podSelector.matchLabels.enabled: must be a string, not a boolean (quote it in YAML)"),
    ("podSelector:\n  matchLabels:\n    version: 1.10",
     "9 spec.podSelector.matchLabels.version: must be a string, not a number (quote it in YAML)"),
    ("podSelector:\n  matchExpressions:\n  - {key: app, operator: Equals, values: [a]}",
     "9 spec.podSelector.matchExpressions[0].operator: 'Equals' is not a valid selector operator (In, NotIn, Exists, DoesNotExist)"),
    ("podSelector:\n  matchExpressions:\n  - {key: app, operator: In}",
     "9 spec.podSelector.matchExpressions[0].values: must be specified when operator is 'In' or 'NotIn'"),
    ("podSelector:\n  matchExpressions:\n  - {key: app, operator: NotIn, values: []}",
     "9 spec.podSelector.matchExpressions[0].values: must be specified when operator is 'In' or 'NotIn'"),
    ("podSelector:\n  matchExpressions:\n  - key: app\n    operator: Exists\n    values: [a]",
     "11 spec.podSelector.matchExpressions[0].values: may not be specified when operator is 'Exists' or 'DoesNotExist'"),
    ("podSelector:\n  matchExpressions:\n  - key: app\n    operator: In\n    values:\n    - ok\n    - not ok",
     f"13 spec.podSelector.matchExpressions[0].values[1]: {VALUE_CHARS}"),
    ("podSelector:\n  matchExpressions:\n  - {key: 'Bad Key', operator: Exists}",
     f"9 spec.podSelector.matchExpressions[0].key: {KEY_CHARS}"),
    ("podSelector:\n  matchExpressions:\n  - {key: app}", "9 spec.podSelector.matchExpressions[0].operator: required value"),
    (peer("namespaceSelector: {matchLabels: {team: 'a b'}}"), f"10 {PEER}.namespaceSelector.matchLabels.team: {VALUE_CHARS}"),
    # --- ipBlock
    (peer("ipBlock: {cidr: 10.0.0.0/33}"), f"10 {PEER}.ipBlock.cidr: must be a valid CIDR value, (e.g. 10.9.8.0/24 or 2001:db8::/64)"),
    (peer("ipBlock: {cidr: 10.0.0.0}"), f"10 {PEER}.ipBlock.cidr: must be a valid CIDR value, (e.g. 10.9.8.0/24 or 2001:db8::/64)"),
    (peer("ipBlock: {cidr: 010.0.0.0/8}"), f"10 {PEER}.ipBlock.cidr: must not have leading 0s in IP or prefix length"),
    (peer("ipBlock: {cidr: 10.0.0.0/08}"), f"10 {PEER}.ipBlock.cidr: must not have leading 0s in IP or prefix length"),
    (peer("ipBlock: {cidr: '::ffff:10.0.0.0/104'}"), f"10 {PEER}.ipBlock.cidr: must not have an IPv4-mapped IPv6 address"),
    (peer("ipBlock: {except: [10.0.0.0/8]}"), f"10 {PEER}.ipBlock.cidr: required value"),
    (peer("ipBlock:\n      cidr: 128.12.0.0/24\n      except:\n      - 128.12.46.0/16"),
     f"13 {PEER}.ipBlock.except[0]: must be a strict subset of cidr 128.12.0.0/24"),
    (peer("ipBlock: {cidr: 10.0.0.0/8, except: [10.0.0.0/8]}"), f"10 {PEER}.ipBlock.except[0]: must be a strict subset of cidr 10.0.0.0/8"),
    (peer("ipBlock: {cidr: 10.0.0.0/8, except: [11.0.0.0/16]}"), f"10 {PEER}.ipBlock.except[0]: must be a strict subset of cidr 10.0.0.0/8"),
    (peer("ipBlock: {cidr: 10.0.0.0/8, except: ['fd00::/64']}"),
     f"10 {PEER}.ipBlock.except[0]: must be a strict subset of cidr 10.0.0.0/8 (it is IPv6, cidr is IPv4)"),
    (peer("ipBlock: {cidr: 10.0.0.0/8, except: [10.1.0.0]}"),
     f"10 {PEER}.ipBlock.except[0]: must be a valid CIDR value, (e.g. 10.9.8.0/24 or 2001:db8::/64)"),
    (peer("ipBlock: {cidr: 10.0.0.0/8}\n    podSelector: {}"), f"10 {PEER}: may not specify both ipBlock and another peer"),
    (peer("{}"), f"10 {PEER}: must specify a peer (podSelector, namespaceSelector or ipBlock)"),
    # --- ports
    (port("port: 0"), f"10 {PORT}.port: must be between 1 and 65535, inclusive"),
    (port("port: 65536"), f"10 {PORT}.port: must be between 1 and 65535, inclusive"),
    (port("port: HTTP"), f"10 {PORT}.port: invalid port name: must contain only alpha-numeric characters (a-z, 0-9), and hyphens (-)"),
    (port("port: metrics-endpoint"), f"10 {PORT}.port: invalid port name: must be no more than 15 characters"),
    (port("port: a--b"), f"10 {PORT}.port: invalid port name: must not contain consecutive hyphens"),
    (port("port: -ab"), f"10 {PORT}.port: invalid port name: must not begin or end with a hyphen"),
    (port("port: '8080'"), f"10 {PORT}.port: invalid port name: must contain at least one letter (a-z) (a port number must not be quoted)"),
    (port("port: 8.5"), f"10 {PORT}.port: must be a port number or a port name, not a number"),
    (port("{port: 2000, endPort: 1000}"), f"10 {PORT}.endPort: must be greater than or equal to port"),
    (port("{port: 2000, endPort: 70000}"), f"10 {PORT}.endPort: must be between 1 and 65535, inclusive"),
    (port("{port: http, endPort: 1000}"), f"10 {PORT}.endPort: may not be specified when port is non-numeric"),
    (port("{protocol: TCP, endPort: 1000}"), f"10 {PORT}.endPort: may not be specified when port is not specified"),
    (port("{port: 80, endPort: '90'}"), f"10 {PORT}.endPort: must be an integer, not a str"),
    (port("protocol: ICMP"), f"""10 {PORT}.protocol: unsupported value 'ICMP': supported values: "TCP", "UDP", "SCTP\""""),
    (port("protocol: tcp"), f"""10 {PORT}.protocol: unsupported value 'tcp': supported values: "TCP", "UDP", "SCTP\""""),
    # --- policyTypes
    ("podSelector: {}\npolicyTypes: [Ingress, Egress, Ingress]", "8 spec.policyTypes: may not specify more than two policyTypes"),
    ("podSelector: {}\npolicyTypes:\n- Egress\n- ingress",
     """10 spec.policyTypes[1]: unsupported value 'ingress': supported values: "Ingress", "Egress\""""),
    # --- structure the strict decoder refuses
    ("podSelector: {}\ningress:\n- to: []", "9 spec.ingress[0].to: unknown field 'to' (expected one of: from, ports)"),
    ("podSelector: {}\negress:\n- from: []", "9 spec.egress[0].from: unknown field 'from' (expected one of: ports, to)"),
    ("podSelector: {}\ningres: []", "8 spec.ingres: unknown field 'ingres' (expected one of: egress, ingress, podSelector, policyTypes)"),
    ("podSelector: {}\ningress: {from: []}", "8 spec.ingress: must be a list, not a mapping"),
    ("podSelector: {}\ningress:\n- null", "9 spec.ingress[0]: null: the API server reads it as {}, a rule that admits every source on every port"),
    ("podSelector: []", "7 spec.podSelector: must be a mapping, not a list"),
]


@pytest.mark.parametrize(("spec", "expected"), INVALID, ids=[e.split(":")[0] + " " + e.split(": ", 1)[1][:40] for _, e in INVALID])
def test_invalid_spec_is_rejected_with_location(spec: str, expected: str) -> None:
    found = errors_of(spec)
    assert found, "expected an error"
    assert found[0] == f"t.yaml:{expected}"


VALID = [
    "podSelector: {}",
    "podSelector: {}\npolicyTypes: [Egress, Egress]",  # duplicates are accepted by the API server
    "podSelector: {}\npolicyTypes: []\ningress: []\negress: []",
    "podSelector:\n  matchLabels: {app.kubernetes.io/name: web, empty: '', x: 'yes'}",
    f"podSelector:\n  matchLabels: {{example.com/{'k' * 63}: {'v' * 63}}}",
    "podSelector:\n  matchExpressions:\n  - {key: a, operator: Exists}\n  - {key: b, operator: DoesNotExist, values: []}\n"
    "  - {key: c, operator: NotIn, values: ['', x]}",
    peer("ipBlock: {cidr: 10.0.0.0/8, except: [10.1.0.0/16, 10.0.0.0/9]}"),
    peer("ipBlock: {cidr: '2001:db8::/32', except: ['2001:db8:1::/48']}"),
    peer("ipBlock: {cidr: 0.0.0.0/0}"),
    peer("namespaceSelector: {}\n    podSelector: {matchLabels: {app: web}}"),
    port("{protocol: SCTP, port: 1, endPort: 65535}"),
    port("{protocol: UDP, port: dns-tcp}"),
    port("{port: 80, endPort: 80}"),
    "podSelector: {}\ningress:\n- {}\negress:\n- {to: [], ports: []}",
]


@pytest.mark.parametrize("spec", VALID)
def test_valid_spec_has_no_error(spec: str) -> None:
    assert errors_of(spec) == []


META = [
    ("metadata:\n  namespace: ns\n", "3 metadata.name: required value"),
    ("metadata:\n  generateName: p-\n", "3 metadata.name: required value (generateName is not supported: give the policy a name)"),
    ("metadata:\n  name: Bad_Name\n",
     f"4 metadata.name: a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, '-' or '.', and {ALNUM}"),
    (f"metadata:\n  name: {'a' * 254}\n", "4 metadata.name: must be no more than 253 characters"),
    ("metadata:\n  name: p\n  namespace: my.ns\n",
     f"5 metadata.namespace: a lowercase RFC 1123 label must consist of lower case alphanumeric characters or '-', and {ALNUM}"),
    ("metadata:\n  name: p\n  labels:\n    team: a/b\n", f"6 metadata.labels.team: {VALUE_CHARS}"),
    ("metadata:\n  name: p\n  annotations:\n    'bad key': x\n", f"6 metadata.annotations[bad key]: invalid key: {KEY_CHARS}"),
    ("metadata:\n  name: p\n  nmespace: x\n", "5 metadata.nmespace: unknown field 'nmespace' (expected one of: annotations, "
     "creationTimestamp, deletionGracePeriodSeconds, deletionTimestamp, finalizers, generateName, generation, labels, "
     "managedFields, name, namespace, ownerReferences, resourceVersion, selfLink, uid)"),
    ("metadata: p\n", "3 metadata: must be a mapping, not a str"),
]


@pytest.mark.parametrize(("meta", "expected"), META)
def test_invalid_metadata(meta: str, expected: str) -> None:
    text = f"apiVersion: networking.k8s.io/v1\nkind: NetworkPolicy\n{meta}spec:\n  podSelector: {{}}\n"
    found = [str(p) for p in problems(text) if p.severity == "error"]
    assert found[0] == f"t.yaml:{expected}"


def test_kind_and_api_version() -> None:
    text = "apiVersion: extensions/v1beta1\nkind: NetworkPolicy\nmetadata: {name: p}\nspec: {podSelector: {}}\n"
    assert [str(p) for p in problems(text)] == [
        "t.yaml:1 apiVersion: must be networking.k8s.io/v1 for kind NetworkPolicy, not 'extensions/v1beta1'"
    ]
    text = "apiVersion: v1\nkind: Service\nmetadata: {name: p}\nspec: {podSelector: {}}\n"
    assert str(problems(text)[0]) == "t.yaml:2 kind: unsupported kind 'Service': expected NetworkPolicy or StagedKubernetesNetworkPolicy"


def test_staged_action_values() -> None:
    text = "apiVersion: projectcalico.org/v3\nkind: StagedKubernetesNetworkPolicy\nmetadata: {name: p}\nspec:\n  stagedAction: Apply\n  podSelector: {}\n"
    assert [str(p) for p in problems(text)] == [
        "t.yaml:5 spec.stagedAction: unsupported value 'Apply': supported values: Set, Delete, Learn, Ignore"
    ]
    assert errors_of("stagedAction: Set\npodSelector: {}") == [
        "t.yaml:7 spec.stagedAction: unknown field 'stagedAction' (expected one of: egress, ingress, podSelector, policyTypes)"
    ]


def test_warnings_do_not_reject() -> None:
    text = HEAD + "  ingress:\n  - from:\n    - ipBlock: {cidr: 10.0.0.1/8}\n  - from:\n    - podSelector:\n        matchLabels: {app: }\n"
    found = problems(text)
    assert [p.severity for p in found] == ["warning", "warning", "warning"]
    assert [str(p) for p in found] == [
        "t.yaml:6 spec.podSelector: absent: treated as {} which selects every pod in the namespace (warning)",
        "t.yaml:9 spec.ingress[0].from[0].ipBlock.cidr: has bits set beyond the prefix length: it means 10.0.0.0/8 "
        "(or did you mean 10.0.0.1/32?) (warning)",
        't.yaml:12 spec.ingress[1].from[0].podSelector.matchLabels.app: null is read as the empty string "" (warning)',
    ]
    (doc,) = load_text(text, "t.yaml")
    assert len(check_policy(doc.value, file="t.yaml", lines=doc.lines)) == 3


def test_check_policy_raises_first_error_with_count_in_hint() -> None:
    text = HEAD + "  podSelector: {}\n  ingress:\n  - ports:\n    - port: 0\n    - protocol: ICMP\n"
    (doc,) = load_text(text, "t.yaml")
    with pytest.raises(PolicyError) as err:
        check_policy(doc.value, file="t.yaml", line=doc.line, lines=doc.lines)
    assert str(err.value) == "t.yaml:10 spec.ingress[0].ports[0].port: must be between 1 and 65535, inclusive"
    assert err.value.hint == "1 more problem(s) in this policy; the Kubernetes API server would reject this policy"
    assert (err.value.file, err.value.line, err.value.path) == ("t.yaml", 10, "spec.ingress[0].ports[0].port")


def test_without_line_map_every_problem_carries_the_document_line() -> None:
    doc = {"apiVersion": "networking.k8s.io/v1", "kind": "NetworkPolicy", "metadata": {"name": "p"},
           "spec": {"podSelector": {}, "egress": [{"ports": [{"port": 0}]}]}}
    assert [str(p) for p in validate_policy(doc, file="x", line=40)] == [
        "x:40 spec.egress[0].ports[0].port: must be between 1 and 65535, inclusive"
    ]


def test_model_objects_are_validated_through_their_yaml() -> None:
    assert validate_policy(NetworkPolicy(name="ok", namespace="ns")) == []
    assert [p.reason for p in validate_policy(NetworkPolicy(name="Not OK", namespace="ns"))] == [
        f"a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, '-' or '.', and {ALNUM}"
    ]


def test_annotation_keys_are_checked_lower_cased_and_values_are_free_text() -> None:
    meta = "metadata:\n  name: p\n  annotations:\n    Example.COM/Note: 'any text: yes, even this'\n    n: '=' \n"
    text = f"apiVersion: networking.k8s.io/v1\nkind: NetworkPolicy\n{meta}spec:\n  podSelector: {{}}\n"
    assert problems(text) == []
    text = text.replace("n: '=' ", "count: 3")
    assert [str(p) for p in problems(text)] == ["t.yaml:7 metadata.annotations.count: must be a string, not a number (quote it in YAML)"]


def test_empty_namespace_means_default() -> None:
    text = "apiVersion: networking.k8s.io/v1\nkind: NetworkPolicy\nmetadata: {name: p, namespace: ''}\nspec: {podSelector: {}}\n"
    assert problems(text) == []


@pytest.mark.parametrize(
    ("value", "kind"),
    [("2001-01-01", "a date"), ("on", "a boolean"), ("0x1F", "a number"), ("1_000", "a number")],
)
def test_unquoted_yaml_scalars_are_not_strings(value: str, kind: str) -> None:
    assert errors_of(f"podSelector:\n  matchExpressions:\n  - {{key: {value}, operator: Exists}}") == [
        f"t.yaml:9 spec.podSelector.matchExpressions[0].key: must be a string, not {kind} (quote it in YAML)"
    ]


# --- the syntax rules on their own (apimachinery util/validation semantics)

GOOD_KEYS = ["app", "a-b_c.d", "9lives", "0", "x/y", "team.example.com/Owner_1", "1.2.3.4/x", "a" * 63, "a" * 253 + "/" + "b" * 63]
BAD_KEYS = ["", "with space", "tail-", "-head", ".dot", "ünïcode", "a/b/c", "Upper.com/x", "under_score.com/x", "x.com/", "/x",
            "a" * 64, "a" * 254 + "/x"]
GOOD_VALUES = ["", "v", "1.10", "yes", "A_b-c.D", "x" * 63]
BAD_VALUES = ["-a", "a-", "_a", "a b", "a/b", "x" * 64, "é"]
GOOD_PORT_NAMES = ["http", "h2c", "a", "grpc-web", "1-a", "a-1-b-2", "x" * 15]
BAD_PORT_NAMES = ["", "80", "1-2-3", "HTTP", "my_port", "-http", "http-", "grpc--web", "x" * 16]


@pytest.mark.parametrize("key", GOOD_KEYS)
def test_good_label_keys(key: str) -> None:
    assert names.qualified_name(key) == []


@pytest.mark.parametrize("key", BAD_KEYS)
def test_bad_label_keys(key: str) -> None:
    assert names.qualified_name(key) != []


@pytest.mark.parametrize("value", GOOD_VALUES)
def test_good_label_values(value: str) -> None:
    assert names.label_value(value) == []


@pytest.mark.parametrize("value", BAD_VALUES)
def test_bad_label_values(value: str) -> None:
    assert names.label_value(value) != []


@pytest.mark.parametrize("name", GOOD_PORT_NAMES)
def test_good_port_names(name: str) -> None:
    assert names.port_name(name) == []


@pytest.mark.parametrize("name", BAD_PORT_NAMES)
def test_bad_port_names(name: str) -> None:
    assert names.port_name(name) != []


@pytest.mark.parametrize(
    ("name", "label_ok", "subdomain_ok"),
    [("web", True, True), ("a.b", False, True), ("a" * 63, True, True), ("a" * 64, False, True), ("a" * 254, False, False),
     ("Web", False, False), ("-a", False, False), ("a-", False, False), ("a..b", False, False), ("1", True, True)],
)
def test_dns_names(name: str, label_ok: bool, subdomain_ok: bool) -> None:
    assert (names.dns1123_label(name) == []) is label_ok
    assert (names.dns1123_subdomain(name) == []) is subdomain_ok


@pytest.mark.parametrize(
    ("cidr", "network", "errors", "warns"),
    [
        ("10.0.0.0/8", "10.0.0.0/8", 0, 0), ("0.0.0.0/0", "0.0.0.0/0", 0, 0), ("10.1.2.3/32", "10.1.2.3/32", 0, 0),
        ("10.1.2.3/8", "10.0.0.0/8", 0, 1), ("2001:DB8::/32", "2001:db8::/32", 0, 0), ("::/0", "::/0", 0, 0),
        ("10.0.0.0/33", None, 1, 0), ("10.0.0.0", None, 1, 0), ("10.0.0/8", None, 1, 0), ("010.0.0.0/8", None, 1, 0),
        ("10.0.0.0/-1", None, 1, 0), ("2001:db8::/129", None, 1, 0), ("::ffff:1.2.3.0/120", None, 1, 0), ("fe80::1%eth0/64", None, 1, 0),
        (" 10.0.0.0/8", None, 1, 0), ("", None, 1, 0),
    ],
)
def test_cidr_parsing(cidr: str, network: str | None, errors: int, warns: int) -> None:
    net, errs, warnings = names.parse_cidr(cidr)
    assert (str(net) if net else None, len(errs), len(warnings)) == (network, errors, warns)


def test_errors_come_in_line_order() -> None:
    spec = "policyTypes: [ingress]\ningress:\n- ports:\n  - port: 0\npodSelector: {matchLabels: {a: -b}}"
    assert [e.split(" ")[0] for e in errors_of(spec)] == ["t.yaml:7", "t.yaml:10", "t.yaml:11"]


# --- differential properties: the regex-based rules against a character-by-character reading of the spec
TRICKY_CHARS = st.text(alphabet=st.sampled_from(list("aZ09-_./ é\n")), max_size=70)


def _alnum(c: str) -> bool:
    return c.isascii() and c.isalnum()


def ref_label_value(v: str) -> bool:
    return v == "" or (len(v) <= 63 and _alnum(v[0]) and _alnum(v[-1]) and all(_alnum(c) or c in "-_." for c in v))


def ref_subdomain(v: str) -> bool:
    return 0 < len(v) <= 253 and all(
        p and _alnum(p[0]) and _alnum(p[-1]) and all((_alnum(c) and not c.isupper()) or c == "-" for c in p) for p in v.split(".")
    )


def ref_qualified_name(v: str) -> bool:
    prefix, slash, name = v.rpartition("/")
    if slash and not ref_subdomain(prefix):
        return False
    return name != "" and "/" not in prefix and ref_label_value(name)


@settings(max_examples=300, deadline=None)
@given(TRICKY_CHARS)
def test_label_rules_match_a_plain_reading_of_the_spec(text: str) -> None:
    assert (names.label_value(text) == []) == ref_label_value(text)
    assert (names.qualified_name(text) == []) == ref_qualified_name(text)
    assert (names.dns1123_subdomain(text) == []) == ref_subdomain(text)
