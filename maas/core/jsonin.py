"""JSON from outside, parsed within bounds: nesting depth is checked before the parser runs.

The check works on the raw bytes in C-speed passes (never a Python loop per byte): about 2 ms
for a 350 KB upload of 1,000 scans, a few ms for 2 MB of ``[[[[``, and for the slowest 2 MB
shape found (many siblings 16 deep) about 0.2 s, less than parsing that body takes.

Python's ``json`` parser recurses once per nesting level, so a few kilobytes of ``[[[[…`` raise
``RecursionError`` (or, at a depth just under the interpreter's limit, exhaust the stack of
whatever walks the result next). No document this service takes is nested more than a few
levels, so anything deeper than :data:`MAX_DEPTH` is refused as invalid before parsing.
"""

from __future__ import annotations

import json
import re
from typing import Any

MAX_DEPTH = 32

# what the depth check keeps of a document: quotes and brackets, after dropping escapes
_ESCAPE = re.compile(rb"\\.", re.DOTALL)
_DROP = bytes(byte for byte in range(256) if byte not in b'"[]{}')
_SAME = bytes.maketrans(b"{}", b"[]")  # depth does not care which kind of container
_QUOTED = re.compile(rb'"[^"]*"')
# an escaped UTF-16 surrogate (paired ones decode to one character, a lone one stays behind)
# or NUL: the two escapes that make text no database or encoder downstream can store
_ODD_ESCAPE = re.compile(rb"\\u(?:[dD][89a-fA-F]|0000)")


class JsonTooDeep(ValueError):
    """A document nested deeper than allowed."""


def _shape(data: bytes) -> bytes:
    """The document's brackets outside strings: ``{"a": [1, "]"]}`` -> ``[[]]``."""
    if b"\\" in data:
        data = _ESCAPE.sub(b"", data)  # an escaped quote no longer ends its string
    return _QUOTED.sub(b"", data.translate(_SAME, _DROP))


def _deeper_than(shape: bytes, limit: int) -> bool:
    """Whether brackets in ``shape`` nest more than ``limit`` deep.

    Each pass removes the innermost empty pairs, so after k passes every container of height
    at most k is gone: a document of depth d is empty after d passes. Everything runs in C
    (``translate``, ``replace``, one regex), at most ``limit`` passes, never a loop per byte.
    """
    run = re.compile(rb"\[{%d}" % (limit + 1))
    for _ in range(limit):
        if not shape:
            return False
        if run.search(shape):
            return True  # limit + 1 openers in a row: deep for sure (the usual attack)
        # one replace per pass: it never rescans what it produced, so one level at a time
        shorter = shape.replace(b"[]", b"")
        if len(shorter) == len(shape):
            break  # nothing left to remove: too deep, or not JSON
        shape = shorter
    return bool(shape)


def nesting_exceeds(data: bytes, limit: int) -> bool:
    """Whether arrays and objects in UTF-8 JSON text nest more than ``limit`` levels
    (brackets inside strings do not count). Exact for valid JSON; text that is not JSON may
    get either answer (the parser refuses it anyway)."""
    return _deeper_than(_shape(data), limit)


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
    shape = _shape(raw)
    if _deeper_than(shape, max_depth):
        if b'"' in shape or shape.count(b"[") != shape.count(b"]"):
            raise ValueError("unbalanced brackets or quotes")
        raise JsonTooDeep(f"nested more than {max_depth} levels deep")
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
