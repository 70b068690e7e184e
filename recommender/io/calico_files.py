"""All the Calico ``flows.log`` files of one ingest, read together in one DuckDB scan.

Why this exists: Felix writes one ``flows.log`` per node and rotates it at
100 MB, so a cluster's flow logs are many files, and the two reports of one
connection (``reporter`` src and dst) sit in different files when its ends run
on different nodes. Read one file at a time, the reporter rule could never pair
them (a connection allowed at the source and denied at the destination stayed
"allowed"), and every file rebuilt the groups of every connection it held: 15
files of 100 MB cost over three times the CPU of the same records in one file.

Here the files are one scan: groups, the reporter rule and normalization run
once over all of them, and each connection keeps the file and record number of
its first record that counts, by (file name, line). Record numbers keep
DuckDB's scan on one thread, so they are kept while the files total at most
``LINE_NUMBERS_MAX_BYTES``; larger inputs are scanned in parallel and their
connections name the file and ``first_seen`` only.

The control flow is that of ``pipeline.read_line_file``, over several files:
unterminated last lines that do not parse are dropped from a copy; when DuckDB
refuses the input, Python scans the files to name the first bad line (or, with
``skip_bad``, masks bad lines in copies); records failing validation are
located by a second, numbered pass.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import duckdb

from recommender.errors import InputError
from recommender.io import calico as C
from recommender.io import lines as L
from recommender.io.pipeline import HINT, FileSet
from recommender.io.readers import Progress, ReadStats

LINE_NUMBERS_MAX_BYTES = 256 * 2**20
_T = "_calico"
_TEMPS = ("gs", "lab", "pol", "l1", "ends", "dropped", "c", "out")
_MARKER = json.dumps({C._MARK: True}).encode()


def _forced() -> bool | None:
    """What ``RECOMMENDER_LINE_NUMBERS`` asks for: True (1), False (0), or None (unset: by size)."""
    value = os.environ.get("RECOMMENDER_LINE_NUMBERS", "").strip().lower()
    return True if value in ("1", "true", "yes") else False if value in ("0", "false", "no") else None


def numbers_lines(files: list[str]) -> bool:
    """Keep record numbers? ``RECOMMENDER_LINE_NUMBERS`` 1/0 decides; unset, by total size on disk."""
    forced = _forced()
    return forced if forced is not None else sum(os.path.getsize(f) for f in files) <= LINE_NUMBERS_MAX_BYTES


def read_files(con: duckdb.DuckDBPyConnection, paths: list[str | Path], *, target: str, skip_bad: bool,
               progress: Progress | None = None) -> list[ReadStats]:
    """Read Calico ``paths`` together into ``target``; one ``ReadStats`` per path, in order.

    Files are read in name order, so that a connection's first record is its first by (file, line),
    the order in which the store merges provenance across ingests."""
    files = sorted(str(p) for p in paths)
    numbered = numbers_lines(files)
    inp = FileSet(files, C.FORMAT, C._check_line, _MARKER, ".jsonl")
    bad_rows: list[tuple[int, int, str]] = []
    try:
        inp.drop_truncated_last_lines()
        inp.scan(con, lambda data: C._aggregate(con, C._source(data, numbered), _T), skip_bad, progress)
        if con.execute(f"SELECT count(*) FROM {_T}_l1 WHERE err IS NOT NULL").fetchone()[0]:
            bad_rows = C.value_errors(con, C._source(inp.data, True), _T)
            if not skip_bad:
                fi, o, reason = bad_rows[0]
                line = L.nonblank_line_numbers(files[fi], {int(o)}).get(int(o), (int(o), ""))[0]
                raise InputError(reason, file=files[fi], line=line, hint=HINT)
        results = C.finish(con, _T, target, files, numbered)
    finally:   # also after bad input: a notebook session should not keep the files' worth of groups
        con.execute(f"DROP VIEW IF EXISTS {_T}_win; DROP VIEW IF EXISTS {_T}_coarse; " + "; ".join(f"DROP TABLE IF EXISTS {_T}_{x}" for x in _TEMPS))
        inp.remove_temps()
    out = inp.stats(con, results, bad_rows, [str(p) for p in paths])
    if not numbered:
        what = f"{files[0]}" if len(files) == 1 else f"{files[0]} and {len(files) - 1} more Calico files"
        why = "RECOMMENDER_LINE_NUMBERS=0" if _forced() is False else f"over {LINE_NUMBERS_MAX_BYTES >> 20} MB"
        out[0].notes.append(f"{what}: read in parallel without line numbers ({why}): "
                            "connections name the file and first_seen; RECOMMENDER_LINE_NUMBERS=1 keeps lines")
    return out
