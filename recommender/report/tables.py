"""HTML tables and the namespace heatmap, escaped and dependency-free.

``DataFrame.to_html`` works, but the heatmap needs per-cell colours without
matplotlib (``Styler.background_gradient`` imports it), and every value the
report shows comes from flow logs an attacker may control, so one small
renderer that escapes every cell is easier to trust than two.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
import html
import re
from typing import Any

import pandas as pd


HIGHLIGHT = ("denied", "partial")
_NOT_XML = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ufffe\uffff]")


def escape(text: str) -> str:
    """HTML/XML-escape ``text`` (quotes too) and replace the control characters XML forbids even
    escaped, so hostile names from flow logs can neither inject markup nor break the SVG parser."""
    escaped = html.escape(_NOT_XML.sub("\ufffd", text), quote=True)
    # as references, line breaks and tabs survive XML attribute normalization (and still break tooltip lines)
    return escaped.replace("\r", "&#13;").replace("\n", "&#10;").replace("\t", "&#9;")


def cell(value: Any) -> str:
    """Text for a cell: lists joined, missing values blank."""
    if value is None:
        return ""
    if isinstance(value, (list, tuple)) or (hasattr(value, "tolist") and not isinstance(value, str)):
        items = value.tolist() if hasattr(value, "tolist") else value
        return ", ".join(cell(v) for v in items) if isinstance(items, list) else str(items)
    if isinstance(value, float) and pd.isna(value):
        return ""
    if value is pd.NA or value is pd.NaT:
        return ""
    return str(value)


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def table(
    df: pd.DataFrame,
    columns: Sequence[str] | None = None,
    *,
    limit: int | None = None,
    row_class: str | None = None,
    empty: str = "none",
    more: str = "rows",
    total: int | None = None,
) -> str:
    """An escaped ``<table>`` of ``df`` (optionally a column subset, the first ``limit`` rows).

    ``row_class`` names a column whose value becomes the row's CSS class when
    it is one the stylesheet highlights (``denied``, ``partial``).
    When rows are left out, a line says how many ``more`` (the word after the
    count, e.g. ``"rows"`` or ``"rules (…)"``); ``total`` is the full count when
    ``df`` was already cut by the caller.
    """
    if df is None or df.empty:
        return f'<p class="muted">{escape(empty)}</p>'
    cols = list(columns) if columns is not None else list(df.columns)
    shown = df if limit is None else df.head(limit)
    head = "".join(f"<th>{escape(str(c))}</th>" for c in cols)
    body = []
    classes = shown[row_class].tolist() if row_class else [None] * len(shown)
    for cls, values in zip(classes, shown[cols].itertuples(index=False, name=None)):
        tds = "".join(
            f'<td class="n">{escape(cell(v))}</td>' if _is_number(v) else f"<td>{escape(cell(v))}</td>"
            for v in values
        )
        body.append(f'<tr class="{cls}">{tds}</tr>' if cls in HIGHLIGHT else f"<tr>{tds}</tr>")
    left = (len(df) if total is None else total) - len(shown)
    tail = f'<p class="muted">… and {left} more {escape(more)}</p>' if left > 0 else ""
    return f"<table><thead><tr>{head}</tr></thead><tbody>{''.join(body)}</tbody></table>{tail}"


def shade(value: float, top: float) -> tuple[str, str]:
    """Background (white to deep blue) and ink for a cell, on a log scale so one
    busy pair does not wash out the rest."""
    if value <= 0 or top <= 0:
        return "#ffffff", "#212121"
    t = math.log1p(value) / math.log1p(top)
    r, g, b = (int(255 - t * (255 - c)) for c in (21, 101, 192))
    return f"#{r:02x}{g:02x}{b:02x}", "#ffffff" if t > 0.6 else "#212121"


def busiest(matrix: pd.DataFrame, limit: int) -> pd.DataFrame:
    """The ``limit`` busiest groups of a square matrix, the rest summed into one ``(N others)`` row/column."""
    if len(matrix.index) <= limit:
        return matrix
    totals = (matrix.sum(axis=1) + matrix.sum(axis=0)).sort_values(ascending=False, kind="stable")
    keep = sorted(totals.index[: limit - 1])
    other = f"({len(totals) - len(keep)} others)"
    mapping = {g: (g if g in keep else other) for g in matrix.index}
    folded = matrix.groupby(matrix.index.map(mapping)).sum()
    folded = folded.T.groupby(folded.columns.map(mapping)).sum().T
    order = [*keep, other]
    return folded.reindex(index=order, columns=order)


def heatmap(matrix: pd.DataFrame, title: str = "connections from row namespace to column namespace",
            limit: int = 30) -> str:
    """A namespace × namespace matrix (``views.namespace_matrix``) as a coloured HTML table,
    folded to the ``limit`` busiest namespaces so it stays readable (and small)."""
    if matrix is None or matrix.empty:
        return '<p class="muted">no connections</p>'
    matrix = busiest(matrix, limit)
    top = float(matrix.to_numpy().max())
    head = "".join(f"<th>{escape(str(c))}</th>" for c in matrix.columns)
    rows = []
    for name, values in zip(matrix.index, matrix.to_numpy().tolist()):
        tds = []
        for v in values:
            colour, ink = shade(float(v), top)
            tds.append(f'<td style="background:{colour};color:{ink}">{int(v)}</td>')
        rows.append(f"<tr><th>{escape(str(name))}</th>{''.join(tds)}</tr>")
    return (f'<table class="heatmap"><caption class="muted">{escape(title)}</caption>'
            f"<thead><tr><th></th>{head}</tr></thead><tbody>{''.join(rows)}</tbody></table>")
