"""SQL macros every reader shares to produce canonical ``connections`` rows.

Why this exists: all readers must agree, byte for byte, on how labels,
protocols, ports and addresses are normalized, otherwise equal connections
from two formats would not group together. DuckDB ``MAP`` equality is
order-sensitive, so label maps are rebuilt with entries sorted by key.

The macros are installed per connection with ``install_macros(con)``
(idempotent; the store calls it when it opens a database). Readers apply the
expensive ones (label maps, policy names) *after* a first GROUP BY over the
raw values, so they run once per distinct value set, not once per record.

Conventions (documented in the README):

* labels: NULL when the exporter gave none, else a MAP with sorted keys;
* protocol: ``TCP``/``UDP``/``SCTP``/``ICMP``/``ICMPv6`` from names (any case)
  or IANA numbers; other numbers 0–255 stay as text; anything else is NULL
  (the reader then rejects the record as "unknown protocol");
* ports: NULL for ICMP/ICMPv6; 0–65535 for TCP/UDP/SCTP (0: scans, which VPC and Hubble record);
* addresses: IPv6 in canonical text (RFC 5952), as the inventory stores them (``canonical_ip``).
"""

from __future__ import annotations

import ipaddress

import duckdb

_IPV4_OCTET = r"(?:25[0-5]|2[0-4][0-9]|1[0-9][0-9]|[1-9]?[0-9])"
IPV4_RE = rf"(?:{_IPV4_OCTET}\.){{3}}{_IPV4_OCTET}"
# Loose IPv6 check (hex groups and colons, optional embedded IPv4, optional zone);
# together with the "::" count rule below it rejects the usual typos.
IPV6_RE = r"[0-9A-Fa-f:]*:[0-9A-Fa-f:]*(?:" + IPV4_RE + r")?(?:%[0-9A-Za-z_.-]+)?"

MACROS: tuple[str, ...] = (
    # 'k=v' strings (Calico labels) -> canonical MAP; duplicate keys keep the first value after sorting;
    # an entry without '=' is a key with an empty value (how Cilium writes those, see hubble_sql).
    # Distinct keys (the usual case) take a plain sort; only lists with a repeated key pay for the
    # de-duplication, which compares each entry with the previous sorted key.
    """CREATE OR REPLACE TEMP MACRO rec_kv_labels(l) AS (
        CASE WHEN l IS NULL OR len(l) = 0 THEN NULL
        WHEN len(list_distinct(list_transform(l, lambda y: split_part(y, '=', 1)))) = len(l) THEN
        map_from_entries(list_sort(list_transform(l, lambda x: struct_pack(
            key := split_part(x, '=', 1),
            value := CASE WHEN strpos(x, '=') = 0 THEN '' ELSE substr(x, strpos(x, '=') + 1) END))))
        ELSE map_from_entries(list_filter(
            list_sort(list_transform(l, lambda x: struct_pack(
                key := split_part(x, '=', 1),
                value := CASE WHEN strpos(x, '=') = 0 THEN '' ELSE substr(x, strpos(x, '=') + 1) END))),
            lambda e, i: i = 1 OR e.key <> list_sort(list_transform(l, lambda y: split_part(y, '=', 1)))[i - 1]))
        END)""",
    # any MAP -> canonical MAP (NULL when empty)
    """CREATE OR REPLACE TEMP MACRO rec_map_labels(m) AS (
        CASE WHEN m IS NULL OR cardinality(m) = 0 THEN NULL
        ELSE map_from_entries(list_sort(map_entries(m))) END)""",
    # text labels: JSON object '{"k":"v"}' or 'k=v;k=v' -> canonical MAP
    """CREATE OR REPLACE TEMP MACRO rec_text_labels(t) AS (
        CASE WHEN t IS NULL OR trim(t) IN ('', '{}') THEN NULL
             WHEN starts_with(trim(t), '{') THEN rec_map_labels(TRY_CAST(TRY_CAST(t AS JSON) AS MAP(VARCHAR, VARCHAR)))
             ELSE rec_kv_labels(list_filter(list_transform(string_split(t, ';'), lambda s: trim(s)), lambda s: s <> ''))
        END)""",
    # text labels that do not parse as either form
    """CREATE OR REPLACE TEMP MACRO rec_text_labels_bad(t) AS (
        t IS NOT NULL AND trim(t) NOT IN ('', '{}') AND (
          (starts_with(trim(t), '{') AND TRY_CAST(TRY_CAST(t AS JSON) AS MAP(VARCHAR, VARCHAR)) IS NULL)
          OR (NOT starts_with(trim(t), '{') AND len(list_filter(string_split(t, ';'),
                 lambda s: trim(s) <> '' AND strpos(s, '=') < 2)) > 0)))""",
    """CREATE OR REPLACE TEMP MACRO rec_protocol(p) AS (
        CASE upper(trim(CAST(p AS VARCHAR)))
          WHEN 'TCP' THEN 'TCP' WHEN '6' THEN 'TCP'
          WHEN 'UDP' THEN 'UDP' WHEN '17' THEN 'UDP'
          WHEN 'SCTP' THEN 'SCTP' WHEN '132' THEN 'SCTP'
          WHEN 'ICMP' THEN 'ICMP' WHEN '1' THEN 'ICMP' WHEN 'ICMPV4' THEN 'ICMP'
          WHEN 'ICMPV6' THEN 'ICMPv6' WHEN 'ICMP6' THEN 'ICMPv6' WHEN 'IPV6-ICMP' THEN 'ICMPv6' WHEN '58' THEN 'ICMPv6'
          ELSE CASE WHEN regexp_full_match(trim(CAST(p AS VARCHAR)), '[0-9]{1,3}')
                         AND CAST(trim(CAST(p AS VARCHAR)) AS INTEGER) <= 255
                    THEN CAST(CAST(trim(CAST(p AS VARCHAR)) AS INTEGER) AS VARCHAR) END
        END)""",
    """CREATE OR REPLACE TEMP MACRO rec_ported(proto) AS (proto IN ('TCP', 'UDP', 'SCTP'))""",
    """CREATE OR REPLACE TEMP MACRO rec_port(proto, port) AS (
        CASE WHEN proto IN ('ICMP', 'ICMPv6') THEN NULL ELSE CAST(port AS INTEGER) END)""",
    # NULL when valid, else a reason. `port` is BIGINT (or NULL).
    # Port 0 is kept for TCP/UDP/SCTP too: VPC flow logs and Hubble record scans to it (no rule can name it).
    """CREATE OR REPLACE TEMP MACRO rec_port_error(proto, port) AS (
        CASE WHEN port IS NULL OR proto IN ('ICMP', 'ICMPv6') THEN NULL
             WHEN port < 0 OR port > 65535 THEN 'invalid port ' || CAST(port AS VARCHAR)
               || CASE WHEN rec_ported(proto) THEN ' for ' || proto ELSE '' END || ' (expected 0-65535)'
        END)""",
    f"""CREATE OR REPLACE TEMP MACRO rec_ip_ok(ip) AS (
        ip IS NULL OR regexp_full_match(ip, '{IPV4_RE}')
        OR (regexp_full_match(ip, '{IPV6_RE}') AND len(ip) - len(replace(ip, '::', '')) <= 2
            AND strpos(ip, ':::') = 0))""",
    """CREATE OR REPLACE TEMP MACRO rec_action(a) AS (
        CASE lower(trim(a)) WHEN 'allow' THEN 'allow' WHEN 'allowed' THEN 'allow' WHEN 'accept' THEN 'allow'
                            WHEN 'deny' THEN 'deny' WHEN 'denied' THEN 'deny' WHEN 'reject' THEN 'deny'
                            WHEN 'drop' THEN 'deny' END)""",
)


def install_macros(con: duckdb.DuckDBPyConnection) -> None:
    """Define the ``rec_*`` macros on ``con`` (temp macros: per connection, idempotent)."""
    for m in MACROS:
        con.execute(m)


def sql_str(s: str) -> str:
    """Quote a Python string as a SQL literal."""
    return "'" + s.replace("'", "''") + "'"


def canonical_ip(con: duckdb.DuckDBPyConnection, table: str, column: str, expr: str) -> str:
    """``expr``, the SQL of an address in ``column`` of ``table``'s rows, with IPv6 in canonical text (lower case,
    longest zero run compressed; IPv4-mapped ``::ffff:a.b.c.d`` as ``a.b.c.d``), the one spelling enrichment can
    join with the inventory's. Each distinct IPv6
    text is converted once (Python's ``ipaddress``); when none needs it, ``expr`` itself is returned."""
    rewrites = []
    for (raw,) in con.execute(f"SELECT DISTINCT {expr} FROM {table} WHERE strpos({column}, ':') > 0").fetchall():
        try:
            addr = ipaddress.ip_address(raw)
        except ValueError:
            continue   # the reader's own check reports it
        # an IPv4-mapped address (a socket-level observer's IPv4 peer of a dual-stack socket) is IPv4 on the wire
        norm = str(addr.ipv4_mapped) if isinstance(addr, ipaddress.IPv6Address) and addr.ipv4_mapped else addr.compressed
        if norm != raw:
            rewrites.append((raw, norm))
    if not rewrites:
        return expr
    name = f"_rec_ipmap_{column}"
    con.execute(f"CREATE OR REPLACE TEMP TABLE {name} (raw VARCHAR, norm VARCHAR)")
    con.executemany(f"INSERT INTO {name} VALUES (?, ?)", rewrites)
    return f"coalesce((SELECT norm FROM {name} WHERE raw = {expr}), {expr})"
