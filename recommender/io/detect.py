"""Which reader handles a file: content sniffing, never the file name.

Why this exists: flow exports arrive as ``*.log``, ``*.json``, ``*.gz`` or no
extension at all, so the format is decided from the first 64 KiB of the
(decompressed) content. Each reader module says whether it recognizes the
head (``sniff``); the first one that does wins, most specific first, the
generic normalized CSV/Parquet reader last. A reader module that does not
exist yet (or fails to import) simply makes its format unavailable.

``--format`` skips the choice but not the sniffing: a forced format is refused
up front, with one clear line, when the content is recognizably another
format (or, for VPC, JSON that is not a CloudWatch Logs envelope), instead of
letting the wrong reader fail on it with a database error or skip every
record. Content no reader recognizes still goes to the forced reader, which
names its first bad record (or rejects them with ``--skip-bad``).
"""

from __future__ import annotations

import importlib
from pathlib import Path
from types import ModuleType

from recommender.errors import InputError, UsageError
from recommender.io import lines as L
from recommender.io.vpc_delivery import parquet_columns

# Most specific first: the normalized reader accepts any CSV/Parquet with the right header.
READER_MODULES: tuple[str, ...] = ("calico", "hubble", "vpc", "gcp", "normalized")
EMPTY = "empty"
# How a refusal names a format: "FILE: not a VPC flow log: the content looks like a Calico flow log".
DESCRIPTIONS: dict[str, str] = {
    "calico": "a Calico flow log", "hubble": "a Hubble flow export", "vpc": "a VPC flow log",
    "gcp": "a GCP VPC flow log", "normalized": "normalized CSV/Parquet",
}


def available_readers() -> dict[str, ModuleType]:
    """Format name → reader module, for every reader module that imports."""
    out: dict[str, ModuleType] = {}
    for name in READER_MODULES:
        try:
            mod = importlib.import_module(f"recommender.io.{name}")
        except ImportError:
            continue
        if hasattr(mod, "sniff") and hasattr(mod, "read"):
            out[getattr(mod, "FORMAT", name)] = mod
    return out


def reader_for(fmt: str) -> ModuleType:
    readers = available_readers()
    if fmt not in readers:
        known = ", ".join(readers) or "none"
        raise UsageError(f"unknown or unavailable format {fmt!r} (available: {known})",
                         hint="omit --format to detect the format from the content")
    return readers[fmt]


def _refuse_truncated_gzip(path: str | Path) -> None:
    """Too little of a cut-short gzip may survive to recognize anything (or anything at all):
    say that, rather than "unknown format" or "empty file"."""
    if L.is_gzip(path) and L.gzip_truncated(path):
        raise InputError("truncated gzip stream: the file ends before its end-of-stream marker", file=str(path),
                         hint="re-copy the file; with --format FORMAT --skip-bad the readable part is kept")


def detect_format(path: str | Path, fmt: str | None = None) -> str:
    """The format name for ``path`` (``fmt`` overrides sniffing), or ``EMPTY`` for an empty file.

    Raises ``InputError`` for missing, unreadable, binary or unrecognized files.
    """
    p = Path(path)
    if not p.exists():
        raise InputError("no such file", file=str(path))
    if p.is_dir():
        raise InputError("is a directory, not a flow file", file=str(path), hint="pass the files inside it (e.g. DIR/*.log)")
    try:
        head = L.read_head(p).removeprefix(L.UTF8_BOM)   # readers ignore a byte order mark, as DuckDB does
    except OSError as e:
        raise InputError(f"cannot read: {e.strerror or e}", file=str(path)) from None
    if not head.strip():
        _refuse_truncated_gzip(path)
        return EMPTY
    binary = L.looks_binary(head) and not head.startswith(L.PARQUET_MAGIC)
    if head.startswith(L.PARQUET_MAGIC) and fmt in (None, "vpc") and vpc_parquet(p):
        return "vpc"   # column names are in the footer, which no sniffer sees
    if fmt:
        forced = reader_for(fmt)
        if binary:   # line readers would try to read it as one huge line
            raise InputError(f"binary file, not {fmt} input", file=str(path))
        if not forced.sniff(head):
            _refuse_other_format(path, head, fmt)
        return fmt
    readers = available_readers()
    for name, mod in readers.items():
        if mod.sniff(head):
            return name
    if binary:
        raise InputError("binary file, not a flow log (no known format recognized it)", file=str(path),
                         hint="pass Calico/Hubble JSON lines, VPC flow logs, or normalized CSV/Parquet (optionally .gz)")
    _refuse_truncated_gzip(path)
    raise InputError(f"unrecognized flow log format (known: {', '.join(readers)})", file=str(path),
                     hint="use --format to name the format, or see the README for the normalized CSV schema")


def _describe(fmt: str) -> str:
    return DESCRIPTIONS.get(fmt, f"{fmt} input")


def _refuse_other_format(path: str | Path, head: bytes, fmt: str) -> None:
    """Raise when ``head``, which the ``fmt`` reader does not recognize, clearly is not ``fmt`` input."""
    other = next((name for name, mod in available_readers().items() if name != fmt and mod.sniff(head)), None)
    if other is not None:
        raise InputError(f"not {_describe(fmt)}: the content looks like {_describe(other)}", file=str(path),
                         hint=f"omit --format to detect the format, or use --format {other}")
    if fmt == "vpc" and head.lstrip(b"\xef\xbb\xbf \t\r\n")[:1] in (b"{", b"[") and b'"logEvents"' not in head:
        raise InputError("not a VPC flow log: JSON, but not a CloudWatch Logs envelope with `logEvents`",
                         file=str(path), hint="VPC flow logs are space-separated text, or CloudWatch Logs "
                                              "subscription JSON with a `logEvents` list")


def vpc_parquet(path: Path) -> bool:
    """An AWS VPC flow log delivered as Parquet (its columns say so; normalized Parquet has ``src_kind``)."""
    return parquet_columns(path) is not None
