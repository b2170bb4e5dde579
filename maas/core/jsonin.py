"""JSON from outside, parsed within bounds: nesting depth is checked before the parser runs.

Python's ``json`` parser recurses once per nesting level, so a few kilobytes of ``[[[[…`` raise
``RecursionError`` (or, at a depth just under the interpreter's limit, exhaust the stack of
whatever walks the result next). No document this service takes is nested more than a few
levels, so anything deeper than :data:`MAX_DEPTH` is refused as invalid before parsing.
"""

from __future__ import annotations

import json
import re
from itertools import accumulate
from typing import Any

MAX_DEPTH = 32

# a JSON string, escapes included (the unrolled form never backtracks)
_STRING = re.compile(rb'"[^"\\]*(?:\\.[^"\\]*)*"', re.DOTALL)
_NOT_BRACKET = re.compile(rb"[^\[\]{}]+")
# an escaped UTF-16 surrogate (paired ones decode to one character, a lone one stays behind)
# or NUL: the two escapes that make text no database or encoder downstream can store
_ODD_ESCAPE = re.compile(rb"\\u(?:[dD][89a-fA-F]|0000)")
_DELTA = {ord("["): 1, ord("{"): 1, ord("]"): -1, ord("}"): -1}


class JsonTooDeep(ValueError):
    """A document nested deeper than allowed."""


def depth(data: bytes) -> int:
    """How deeply arrays and objects nest in UTF-8 JSON text (brackets in strings ignored).

    Text that is not JSON gets some number; it only has to be right for valid JSON, and never
    lower than the truth for text the parser would accept.
    """
    brackets = _NOT_BRACKET.sub(b"", _STRING.sub(b"", data))
    return max(accumulate(map(_DELTA.__getitem__, brackets)), default=0)


def _no_constants(name: str) -> Any:
    raise ValueError(f"{name} is not JSON")


def loads(data: bytes | str, *, max_depth: int = MAX_DEPTH) -> Any:
    """Parse strict JSON (no NaN or Infinity) of at most ``max_depth`` levels.

    Raises :class:`JsonTooDeep` for deeper documents and ``ValueError`` for anything that is
    not JSON text (including bytes that are not UTF-8 and strings with a lone surrogate or a
    NUL character).
    """
    raw = data.encode("utf-8", "surrogatepass") if isinstance(data, str) else data
    if raw[:3] == b"\xef\xbb\xbf":  # a byte order mark is not JSON, but harmless
        raw = raw[3:]
    found = depth(raw)
    if found > max_depth:
        raise JsonTooDeep(f"nested {found} levels deep; at most {max_depth} are allowed")
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        raise ValueError("not UTF-8") from None
    value = json.loads(text, parse_constant=_no_constants)
    if _ODD_ESCAPE.search(raw):
        _check_text(value)
    return value


def _check_text(value: Any) -> None:
    """Refuse strings holding a lone surrogate (``"\\ud800"``, valid JSON syntax but not text:
    RFC 7493, I-JSON) or NUL (``"\\u0000"``, which PostgreSQL cannot store in text)."""
    if isinstance(value, str):
        if "\x00" in value:
            raise ValueError("a string holds a NUL character")
        try:
            value.encode("utf-8")
        except UnicodeEncodeError:
            raise ValueError("a string holds a lone UTF-16 surrogate") from None
    elif isinstance(value, list):
        for item in value:
            _check_text(item)
    elif isinstance(value, dict):
        for key, item in value.items():
            _check_text(key)
            _check_text(item)
