"""Chunked line output with a record budget, shared by the text writers.

Writers produce a window's lines as one list of strings; the sink joins and
encodes them in a single call (that is what makes tens of millions of lines
affordable) and stops at exactly ``limit`` records.
"""

from __future__ import annotations

from pathlib import Path
from typing import BinaryIO


class LineSink:
    def __init__(self, target: str | Path | BinaryIO, limit: int | None = None, header: str | None = None) -> None:
        if isinstance(target, (str, Path)):
            Path(target).parent.mkdir(parents=True, exist_ok=True)
            self._fh: BinaryIO = open(target, "wb")
            self._owned = True
        else:
            self._fh, self._owned = target, False
        self.limit = limit
        self.count = 0
        if header is not None:
            self._fh.write((header + "\n").encode())

    @property
    def full(self) -> bool:
        return self.limit is not None and self.count >= self.limit

    def write(self, lines: list[str]) -> None:
        if self.limit is not None and self.count + len(lines) > self.limit:
            lines = lines[: self.limit - self.count]
        if lines:
            self._fh.write(("\n".join(lines) + "\n").encode())
            self.count += len(lines)

    def close(self) -> None:
        if self._owned:
            self._fh.close()
        else:
            self._fh.flush()

    def __enter__(self) -> "LineSink":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
