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


def _target(environ: Mapping[str, Any]) -> str:
    raw = environ.get("RAW_URI") or environ.get("REQUEST_URI")
    if raw:
        return str(raw)
    query = environ.get("QUERY_STRING", "")
    return str(environ.get("PATH_INFO", "")) + ("?" + str(query) if query else "")


def _headers(environ: Mapping[str, Any]) -> list[tuple[str, str]]:
    fields = []
    for key, value in environ.items():
        if key.startswith("HTTP_"):
            fields.append((key[5:], str(value)))
        elif key in ("CONTENT_TYPE", "CONTENT_LENGTH") and value:
            fields.append((key, str(value)))
    return fields


def oversized(environ: Mapping[str, Any]) -> tuple[int, str] | None:
    """``(status, detail)`` when the request's URL (414) or headers (431) are too long."""
    target = _target(environ)
    size = len(target.encode("latin-1", "replace"))
    if size > MAX_URL_BYTES:
        return 414, f"the URL is {size} bytes long; at most {MAX_URL_BYTES} are allowed"
    fields = _headers(environ)
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
