"""RFC 9457 problem responses and the one registry of domain exceptions to HTTP statuses."""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from http import HTTPStatus
from typing import Any

from flask import Flask, Response, json, request
from sqlalchemy.exc import DBAPIError
from werkzeug.exceptions import HTTPException, MethodNotAllowed

from maas.core import errors
from maas.core.errors import FieldError, MaasError
from maas.core.logs import request_id_var

PROBLEM_MIMETYPE = "application/problem+json"
PROBLEM_BASE = "/problems/"

log = logging.getLogger(__name__)

# The single mapping from domain exception to (status, problem type slug). Subclasses inherit
# the entry of their nearest registered ancestor.
PROBLEM_REGISTRY: Mapping[type[MaasError], tuple[int, str]] = {
    errors.InvalidInput: (422, "invalid-input"),
    errors.PayloadTooLarge: (413, "payload-too-large"),
    errors.NotFound: (404, "not-found"),
    errors.Conflict: (409, "conflict"),
    errors.Unauthorized: (401, "unauthorized"),
    errors.Forbidden: (403, "forbidden"),
    errors.TooManyRequests: (429, "too-many-requests"),
    errors.ServiceUnavailable: (503, "service-unavailable"),
    errors.ConfigError: (500, "configuration"),
    errors.MaasError: (400, "bad-request"),
}


def status_for(exc: MaasError) -> tuple[int, str]:
    """The status and problem slug registered for ``exc``'s class or its nearest ancestor."""
    for cls in type(exc).__mro__:
        if cls in PROBLEM_REGISTRY:
            return PROBLEM_REGISTRY[cls]
    raise LookupError(type(exc).__name__)  # unreachable: MaasError itself is registered


def problem(
    status: int,
    detail: str,
    *,
    title: str | None = None,
    type_: str = "about:blank",
    errors: Sequence[FieldError] = (),
    headers: Mapping[str, str] | None = None,
    extra: Mapping[str, Any] | None = None,
) -> Response:
    """Build an ``application/problem+json`` response."""
    body: dict[str, Any] = {
        "type": type_,
        "title": title or HTTPStatus(status).phrase,
        "status": status,
        "detail": detail,
        "instance": request.path,
        "request_id": request_id_var.get(),
    }
    if errors:
        body["errors"] = [error.as_dict() for error in errors]
    body.update(extra or {})
    response = Response(json.dumps(body, ensure_ascii=False), status=status)
    response.mimetype = PROBLEM_MIMETYPE
    for key, value in (headers or {}).items():
        response.headers[key] = value
    return response


def problem_for(exc: MaasError) -> Response:
    """The problem response of a domain exception, as the registry above maps it (for error
    handlers of exceptions a library raises, which translate them to ours first)."""
    status, slug = status_for(exc)
    if status >= 500:
        log.error("%s: %s", type(exc).__name__, exc.detail)
    headers = {"WWW-Authenticate": 'Bearer realm="kanazawa-maas"'} if status == 401 else {}
    if exc.retry_after is not None:
        headers["Retry-After"] = str(max(1, exc.retry_after))
    return problem(
        status, exc.detail, title=exc.title, type_=PROBLEM_BASE + slug, errors=exc.errors,
        headers=headers,
    )


def _handle_http(exc: HTTPException) -> Response:
    status = exc.code or 500
    headers: dict[str, str] = {}
    detail = exc.description or HTTPStatus(status).description
    if isinstance(exc, MethodNotAllowed) and exc.valid_methods:
        allowed = sorted(exc.valid_methods)
        headers["Allow"] = ", ".join(allowed)
        detail = f"{request.method} is not allowed here; use {', '.join(allowed)}"
    elif status == 404:
        detail = f"no resource at {request.path}"
    return problem(status, detail, headers=headers)


def _handle_database(exc: DBAPIError) -> Response:
    if not _is_connection_error(exc):
        return _handle_unexpected(exc)
    log.error("database unreachable: %s", exc.orig)
    return problem(
        503,
        "the database is unreachable; retry later",
        title=errors.ServiceUnavailable.title,
        type_=PROBLEM_BASE + "service-unavailable",
        headers={"Retry-After": "5"},
    )


def _is_connection_error(exc: DBAPIError) -> bool:
    from sqlalchemy.exc import InterfaceError, OperationalError

    if exc.connection_invalidated or isinstance(exc, InterfaceError):
        return True
    if isinstance(exc, OperationalError):
        message = str(exc.orig).lower()
        # a locked SQLite file or a lost server are outages; a bad statement is our bug
        return any(
            marker in message
            for marker in ("connect", "server closed", "unable to open", "locked", "timeout")
        )
    return False


def _handle_unexpected(exc: Exception) -> Response:
    log.exception("unhandled error", exc_info=exc)
    return problem(500, "an unexpected error occurred; it has been logged with the request id")


def register_error_handlers(app: Flask) -> None:
    """Make every error of ``app`` a problem response."""
    app.register_error_handler(MaasError, problem_for)
    app.register_error_handler(HTTPException, _handle_http)
    app.register_error_handler(DBAPIError, _handle_database)
    app.register_error_handler(Exception, _handle_unexpected)
