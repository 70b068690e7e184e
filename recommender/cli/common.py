"""Rendering helpers shared by the commands: output formats and progress.

Data goes to stdout (table, JSON or CSV); progress bars go to stderr and only
when stderr is a terminal and ``--quiet`` was not given.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from enum import StrEnum
from typing import TYPE_CHECKING, Any

from rich.console import Console
from rich.progress import BarColumn, DownloadColumn, Progress, TextColumn, TimeRemainingColumn
from rich.table import Table

if TYPE_CHECKING:   # imported where a frame is rendered: commands without frames start faster
    import pandas as pd

ProgressCallback = Callable[[int, int | None, str], None]
"""``callback(done, total, label)``: units are bytes (or records when total is None)."""


class OutputFormat(StrEnum):
    table = "table"
    json = "json"
    csv = "csv"


def stderr_console() -> Console:
    return Console(stderr=True, highlight=False, soft_wrap=True)


def stdout_console() -> Console:
    return Console(highlight=False, soft_wrap=True)


def to_json(obj: Any) -> str:
    """Deterministic JSON: sorted keys, two-space indent, trailing newline."""
    return json.dumps(obj, indent=2, sort_keys=True, default=str) + "\n"


def integers_as_integers(df: pd.DataFrame) -> pd.DataFrame:
    """``df`` with its integer columns as nullable ``Int64``, so they print as ``81``, not ``81.0``.

    pandas turns an integer column with a null (the port of an ICMP connection) into float64.
    A float column is put back when the normalized schema declares it an integer (``dst_port``,
    ``flows``, ``bytes``, ...) and every non-null value is whole; other float columns are left alone.
    """
    import pandas as pd
    from recommender.io.schema import NORMALIZED_COLUMNS

    integer_names = {c.name for c in NORMALIZED_COLUMNS if c.type in ("INTEGER", "BIGINT")}
    fix = [col for col in df.columns if col in integer_names and pd.api.types.is_float_dtype(df[col])
           and bool((df[col].dropna() % 1 == 0).all())]
    return df.astype({col: "Int64" for col in fix}) if fix else df


def _cell(value: Any) -> str:
    import pandas as pd
    missing = value is None or (pd.api.types.is_scalar(value) and bool(pd.isna(value)))
    return "" if missing else str(value)


def render_frame(df: pd.DataFrame, fmt: OutputFormat, title: str | None = None) -> None:
    """Write a DataFrame to stdout as a rich table, JSON records, or CSV (integers as integers, nulls empty)."""
    df = integers_as_integers(df)
    if fmt is OutputFormat.csv:
        sys.stdout.write(df.to_csv(index=False))
    elif fmt is OutputFormat.json:
        sys.stdout.write(to_json(json.loads(df.to_json(orient="records", date_format="iso"))))
    else:
        table = Table(title=title, show_lines=False)
        for col in df.columns:
            table.add_column(str(col))
        for row in df.itertuples(index=False):
            table.add_row(*(_cell(v) for v in row))
        stdout_console().print(table)


@contextmanager
def progress_bar(quiet: bool, description: str = "reading") -> Iterator[ProgressCallback | None]:
    """A rich progress bar on stderr, or ``None`` when quiet or stderr is not a terminal."""
    if quiet or not sys.stderr.isatty():
        yield None
        return
    with Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        DownloadColumn(),
        TimeRemainingColumn(),
        console=stderr_console(),
        transient=True,
    ) as progress:
        task = progress.add_task(description, total=None)

        def update(done: int, total: int | None, label: str) -> None:
            progress.update(task, completed=done, total=total, description=label)

        yield update
