"""``json.loads`` that also says on which line each item of a top-level ``items`` list starts.

Why this exists: ``kubectl get pods -A -o json`` prints one large ``List``;
the inventory records the line of every pod (for provenance and error
messages) but must not pay for a position-tracking YAML parse of a file with
tens of thousands of pods. The standard decoder reads each item
(``raw_decode``) and we only count newlines between item starts.
"""

from __future__ import annotations

import json
import re
from typing import Any


_WS = re.compile(r"[ \t\r\n]*")


def _skip(text: str, pos: int) -> int:
    return _WS.match(text, pos).end()  # type: ignore[union-attr]


def loads_with_item_lines(text: str) -> tuple[Any, dict[int, int]]:
    """``json.loads`` that also returns the line of each top-level ``items[i]`` (kubectl List output).

    Raises ``json.JSONDecodeError`` exactly where ``json.loads`` would refuse the text.
    """
    decoder = json.JSONDecoder()
    pos = _skip(text, 0)
    if not text.startswith("{", pos):
        return decoder.decode(text), {}
    result: dict[str, Any] = {}
    lines: dict[int, int] = {}
    pos = _skip(text, pos + 1)
    if text.startswith("}", pos):
        pos += 1
    else:
        while True:
            if not text.startswith('"', pos):
                raise json.JSONDecodeError("Expecting property name enclosed in double quotes", text, pos)
            key, pos = decoder.raw_decode(text, pos)
            pos = _skip(text, pos)
            if not text.startswith(":", pos):
                raise json.JSONDecodeError("Expecting ':' delimiter", text, pos)
            pos = _skip(text, pos + 1)
            if key == "items" and text.startswith("[", pos):
                result[key], pos = _array(decoder, text, pos, lines)
            else:
                result[key], pos = decoder.raw_decode(text, pos)
            pos = _skip(text, pos)
            if text.startswith("}", pos):
                pos += 1
                break
            if not text.startswith(",", pos):
                raise json.JSONDecodeError("Expecting ',' delimiter", text, pos)
            pos = _skip(text, pos + 1)
    if _skip(text, pos) != len(text):
        raise json.JSONDecodeError("Extra data", text, _skip(text, pos))
    return result, lines


def _array(decoder: json.JSONDecoder, text: str, pos: int, lines: dict[int, int]) -> tuple[list[Any], int]:
    items: list[Any] = []
    line, counted = 1, 0
    pos = _skip(text, pos + 1)
    if text.startswith("]", pos):
        return items, pos + 1
    while True:
        line += text.count("\n", counted, pos)
        counted = pos
        lines[len(items)] = line
        item, pos = decoder.raw_decode(text, pos)
        items.append(item)
        pos = _skip(text, pos)
        if text.startswith("]", pos):
            return items, pos + 1
        if not text.startswith(",", pos):
            raise json.JSONDecodeError("Expecting ',' delimiter", text, pos)
        pos = _skip(text, pos + 1)
