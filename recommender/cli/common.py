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


def render_frame(df: pd.DataFrame, fmt: OutputFormat, title: str | None = None) -> None:
    """Write a DataFrame to stdout as a rich table, JSON records, or CSV."""
    if fmt is OutputFormat.csv:
        sys.stdout.write(df.to_csv(index=False))
    elif fmt is OutputFormat.json:
        sys.stdout.write(to_json(json.loads(df.to_json(orient="records", date_format="iso"))))
    else:
        import pandas as pd
        table = Table(title=title, show_lines=False)
        for col in df.columns:
            table.add_column(str(col))
        for row in df.itertuples(index=False):
            table.add_row(*("" if v is None or (isinstance(v, float) and pd.isna(v)) else str(v) for v in row))
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
