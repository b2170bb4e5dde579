"""maas.core.limits.oversized and maas.app.header_with_nul, each one pass over the environ,
give what their plainer first versions gave for any environ: the same answer, the same field
named, the same sizes."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from maas.app import header_with_nul
from maas.core.limits import (
    MAX_HEADER_BYTES,
    MAX_HEADER_FIELD_BYTES,
    MAX_HEADER_FIELDS,
    MAX_URL_BYTES,
    oversized,
)

_CONTENT_KEYS = ("CONTENT_TYPE", "CONTENT_LENGTH")


def plain_target(environ: Mapping[str, Any]) -> str:
    raw = environ.get("RAW_URI") or environ.get("REQUEST_URI")
    if raw:
        return str(raw)
    query = environ.get("QUERY_STRING", "")
    return str(environ.get("PATH_INFO", "")) + ("?" + str(query) if query else "")


def plain_oversized(environ: Mapping[str, Any]) -> tuple[int, str] | None:
    """The check as it was: the header fields listed first, each value encoded."""
    target = plain_target(environ)
    size = len(target.encode("latin-1", "replace"))
    if size > MAX_URL_BYTES:
        return 414, f"the URL is {size} bytes long; at most {MAX_URL_BYTES} are allowed"
    fields = []
    for key, value in environ.items():
        if key.startswith("HTTP_"):
            fields.append((key[5:], str(value)))
        elif key in _CONTENT_KEYS and value:
            fields.append((key, str(value)))
    if len(fields) > MAX_HEADER_FIELDS:
        return 431, (f"the request has {len(fields)} header fields; "
                     f"at most {MAX_HEADER_FIELDS} are allowed")
    total = 0
    for name, value in fields:
        length = len(name) + 2 + len(value.encode("latin-1", "replace"))
        if length > MAX_HEADER_FIELD_BYTES:
            shown = name.replace("_", "-").title()
            return 431, (f"the {shown} header is {length} bytes long; "
                         f"at most {MAX_HEADER_FIELD_BYTES} are allowed")
        total += length
    if total > MAX_HEADER_BYTES:
        return 431, f"the headers are {total} bytes long; at most {MAX_HEADER_BYTES} are allowed"
    return None


def plain_header_with_nul(environ: Mapping[str, Any]) -> str | None:
    for key, value in environ.items():
        if (key.startswith("HTTP_") or key in _CONTENT_KEYS) and "\x00" in value:
            return key.removeprefix("HTTP_").replace("_", "-").title()
    return None


# text of every kind: latin-1, CJK, astral, lone surrogates, NULs
TEXT = st.text(st.characters(codec=None, exclude_categories=()), max_size=40)
KEYS = st.one_of(
    st.from_regex(r"HTTP_[A-Z_]{1,20}", fullmatch=True),
    st.sampled_from(["CONTENT_TYPE", "CONTENT_LENGTH", "PATH_INFO", "QUERY_STRING",
                     "RAW_URI", "REQUEST_URI", "REQUEST_METHOD", "SERVER_NAME",
                     "REMOTE_ADDR"]))
# sizes near each limit: one long field, many fields, a long total, a long URL
PADDING = st.sampled_from([0, 1, MAX_HEADER_FIELD_BYTES - 40, MAX_HEADER_FIELD_BYTES - 12,
                           MAX_HEADER_FIELD_BYTES, 4000, MAX_URL_BYTES - 20, MAX_URL_BYTES])


@st.composite
def environs(draw: st.DrawFn) -> dict[str, Any]:
    environ: dict[str, Any] = {"REQUEST_METHOD": "GET", "wsgi.input": object(),
                               "wsgi.multithread": True, "SERVER_PORT": "8000"}
    for key, text, padding in draw(st.lists(st.tuples(KEYS, TEXT, PADDING), max_size=12)):
        environ[key] = text + "x" * padding
    for n in range(draw(st.sampled_from([0, 0, 0, 60, MAX_HEADER_FIELDS - 2,
                                         MAX_HEADER_FIELDS + 1]))):
        environ[f"HTTP_X_FIELD_{n}"] = "1" * draw(st.sampled_from([1, 300, 400]))
    return environ


@settings(max_examples=600, deadline=None)
@given(environs())
def test_oversized_is_the_plain_check(environ: dict[str, Any]) -> None:
    assert oversized(environ) == plain_oversized(environ)


@settings(max_examples=600, deadline=None)
@given(environs())
def test_header_with_nul_is_the_plain_check(environ: dict[str, Any]) -> None:
    assert header_with_nul(environ) == plain_header_with_nul(environ)


def test_every_answer_of_the_checks_is_reached() -> None:
    """The limits the examples above are drawn around, each reached once."""
    base = {"REQUEST_METHOD": "GET", "PATH_INFO": "/api/v1/health", "HTTP_HOST": "h"}
    cases = [
        {**base, "RAW_URI": "/" + "é" * MAX_URL_BYTES},
        {**base, **{f"HTTP_X_{n}": "1" for n in range(MAX_HEADER_FIELDS + 1)}},
        {**base, "HTTP_X_A": "ok", "HTTP_X_LONG": "金" * MAX_HEADER_FIELD_BYTES,
         "HTTP_X_LONGER": "x" * (MAX_HEADER_FIELD_BYTES + 9)},
        {**base, "CONTENT_TYPE": "x" * MAX_HEADER_FIELD_BYTES},
        {**base, **{f"HTTP_X_{n}": "y" * 8000 for n in range(5)}},
        {**base, "CONTENT_LENGTH": "", "HTTP_X_NUL": "a\x00b", "HTTP_X_NUL_TOO": "\x00"},
        {**base, "CONTENT_TYPE": "text/\x00plain"},
        {**base, "PATH_INFO": "/\x00", "wsgi.errors": 3},
    ]
    answers = [(oversized(environ), header_with_nul(environ)) for environ in cases]
    assert answers == [(plain_oversized(environ), plain_header_with_nul(environ))
                       for environ in cases]
    assert [found[0] if found else None for found, _ in answers] == [
        414, 431, 431, 431, 431, None, None, None]
    assert [name for _, name in answers] == [None] * 5 + ["X-Nul", "Content-Type", None]
    long_field = answers[2][0]
    assert long_field is not None
    assert "X-Long header is 8198 bytes" in long_field[1]  # the first field over the limit
