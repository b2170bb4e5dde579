"""How long a request's URL and headers may be, checked by the application below the server's
own limits so that a client is told in problem+json (414, 431) rather than by gunicorn's HTML.

Two layers, deliberately: the application refuses at the limits here; gunicorn (see
``maas/gunicorn_conf.py``) is configured with about twice these limits and stops anything
larger before it reaches Python at all (its answers are problem+json too, through the error
writer installed there). See docs/security.md, "Bad input".
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

# the request target (path and query string, as sent); the longest URL the pages or the
# documented API make is a few hundred bytes
MAX_URL_BYTES = 4096
# one header field, "Name: value"; bearer tokens and request ids are far shorter
MAX_HEADER_FIELD_BYTES = 8190
MAX_HEADER_FIELDS = 100
MAX_HEADER_BYTES = 32768

# gunicorn's limits, with room above the application's so that the application answers
GUNICORN_LIMIT_REQUEST_LINE = 8190  # gunicorn's largest allowed value
GUNICORN_LIMIT_REQUEST_FIELD_SIZE = 2 * MAX_HEADER_FIELD_BYTES
GUNICORN_LIMIT_REQUEST_FIELDS = 2 * MAX_HEADER_FIELDS

_CONTENT_KEYS = ("CONTENT_TYPE", "CONTENT_LENGTH")  # headers without the HTTP_ prefix


def _target(environ: Mapping[str, Any]) -> str:
    raw = environ.get("RAW_URI") or environ.get("REQUEST_URI")
    if raw:
        return str(raw)
    query = environ.get("QUERY_STRING", "")
    return str(environ.get("PATH_INFO", "")) + ("?" + str(query) if query else "")


def oversized(environ: Mapping[str, Any]) -> tuple[int, str] | None:
    """``(status, detail)`` when the request's URL (414) or headers (431) are too long.

    One pass over the environ. A header's bytes are counted as latin-1, the encoding of HTTP
    headers, in which every character is one byte (``?`` when latin-1 has none): its length
    in characters."""
    target = _target(environ)
    size = len(target)
    if size > MAX_URL_BYTES:
        return 414, f"the URL is {size} bytes long; at most {MAX_URL_BYTES} are allowed"
    count = total = 0
    too_long: tuple[str, int] | None = None  # the first field over the limit
    for key, value in environ.items():
        if key[:1] not in "HC":  # most of the environ: no header's key starts otherwise
            continue
        if key.startswith("HTTP_"):
            name = 5  # where the field's name starts in the key
        elif key in _CONTENT_KEYS and value:
            name = 0
        else:
            continue
        count += 1
        length = len(key) - name + 2 + len(str(value))  # "Name: value"
        if length > MAX_HEADER_FIELD_BYTES and too_long is None:
            too_long = key[name:], length
        total += length
    if count > MAX_HEADER_FIELDS:
        return 431, (f"the request has {count} header fields; "
                     f"at most {MAX_HEADER_FIELDS} are allowed")
    if too_long is not None:
        shown = too_long[0].replace("_", "-").title()
        return 431, (f"the {shown} header is {too_long[1]} bytes long; "
                     f"at most {MAX_HEADER_FIELD_BYTES} are allowed")
    if total > MAX_HEADER_BYTES:
        return 431, f"the headers are {total} bytes long; at most {MAX_HEADER_BYTES} are allowed"
    return None
