"""The thin HTTP layer every view uses: request models in, response models out.

``@endpoint`` parses the query string and JSON body into pydantic models (a validation failure
is a 422 problem naming each bad field), calls the view, and serialises what it returns with
the declared response type. The same declarations feed the OpenAPI document, so the spec and
the validation cannot drift apart.
"""

from __future__ import annotations

import dataclasses
import functools
from collections.abc import Callable, Sequence
from typing import Any, cast

from flask import Response, current_app, g, request
from pydantic import BaseModel, TypeAdapter, ValidationError
from sqlalchemy.orm import Session
from werkzeug.exceptions import RequestEntityTooLarge

from maas.core import jsonin
from maas.core.clock import Clock
from maas.core.config import Settings
from maas.core.db import SessionOnDemand
from maas.core.errors import FieldError, InvalidInput, PayloadTooLarge, Unauthorized
from maas.core.state import EXTENSION, AppState

View = Callable[..., Any]


@dataclasses.dataclass(frozen=True)
class EndpointSpec:
    """What an endpoint takes and returns, for validation and for the OpenAPI document."""

    summary: str
    response: Any
    status: int = 200
    query: type[BaseModel] | None = None
    body: type[BaseModel] | None = None
    tags: tuple[str, ...] = ()
    description: str = ""
    security: tuple[str, ...] = ()
    errors: tuple[int, ...] = ()


# view function -> its spec; read by maas.openapi when it walks the URL map
ENDPOINTS: dict[Callable[..., Any], EndpointSpec] = {}


def endpoint(
    *,
    summary: str,
    response: Any,
    status: int = 200,
    query: type[BaseModel] | None = None,
    body: type[BaseModel] | None = None,
    tags: Sequence[str] = (),
    description: str = "",
    security: Sequence[str] = (),
    errors: Sequence[int] = (),
) -> Callable[[View], Callable[..., Response]]:
    """Declare and wrap a JSON endpoint.

    The view receives ``query=`` and ``body=`` keyword arguments when those models are given,
    and returns an object of type ``response`` (serialised with pydantic in JSON mode).
    """
    spec = EndpointSpec(
        summary=summary,
        response=response,
        status=status,
        query=query,
        body=body,
        tags=tuple(tags),
        description=description,
        security=tuple(security),
        errors=tuple(errors),
    )
    adapter: TypeAdapter[Any] = TypeAdapter(response)

    def decorate(view: View) -> Callable[..., Response]:
        @functools.wraps(view)
        def wrapper(*args: Any, **kwargs: Any) -> Response:
            if query is not None:
                kwargs["query"] = _parse(query, request.args.to_dict(), "query")
            if body is not None:
                kwargs["body"] = _parse(body, _json_body(), "body")
            result = view(*args, **kwargs)
            if isinstance(result, Response):
                return result
            # pydantic writes the JSON itself (UTF-8, no escaping of Japanese): one pass
            return Response(adapter.dump_json(result, by_alias=True), status=status,
                            mimetype="application/json")

        ENDPOINTS[wrapper] = spec
        return wrapper

    return decorate


def _json_body() -> Any:
    """The request's JSON body, bounded in size (``MAX_CONTENT_LENGTH``) and nesting depth.

    A body too large is a 413 problem, one nested too deep or not JSON a 422; each names
    ``body``.
    """
    if not request.is_json:
        raise InvalidInput(
            "the request body must be JSON (Content-Type: application/json)",
            errors=[FieldError("body", "expected an application/json body")],
        )
    limit = current_app.config.get("MAX_CONTENT_LENGTH")
    too_large = PayloadTooLarge(
        f"the request body is larger than {limit} bytes",
        errors=[FieldError("body", f"at most {limit} bytes")],
    )
    if limit is not None and (request.content_length or 0) > limit:
        raise too_large
    try:
        data = request.get_data(cache=True)
    except RequestEntityTooLarge:  # a chunked body without Content-Length, cut off
        raise too_large from None
    try:
        return jsonin.loads(data)
    except jsonin.JsonTooDeep as exc:
        raise InvalidInput(
            f"the request body is {exc}", errors=[FieldError("body", str(exc))]
        ) from None
    except (ValueError, RecursionError):
        raise InvalidInput(
            "the request body is not valid JSON", errors=[FieldError("body", "invalid JSON")]
        ) from None


def _parse(model: type[BaseModel], data: Any, where: str) -> BaseModel:
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        field_errors = [
            FieldError(".".join(str(part) for part in error["loc"]) or where, error["msg"])
            for error in exc.errors(include_url=False)
        ]
        names = ", ".join(error.field for error in field_errors)
        raise InvalidInput(f"invalid {where}: {names}", errors=field_errors) from None


def db_session() -> Session:
    """The database session of the current request (opened on first use)."""
    if "maas_session" not in g:
        g.maas_session = current_app.extensions[EXTENSION].sessions()
    session: Session = g.maas_session
    return session


def db_session_on_demand() -> Session:
    """The request's session as :func:`db_session` gives it, opened only when a service first
    uses it (:class:`maas.core.db.SessionOnDemand`): for reads the process's caches usually
    answer. Only its methods and attributes may be used (no ``with``)."""
    if "maas_session" not in g:
        g.maas_session = SessionOnDemand(current_app.extensions[EXTENSION].sessions)
    return cast("Session", g.maas_session)


def clock() -> Clock:
    """The application's clock (replaceable in tests)."""
    result: Clock = current_app.extensions[EXTENSION].clock
    return result


def bearer_token() -> str:
    """The token of an ``Authorization: Bearer`` header; :class:`Unauthorized` without one."""
    scheme, _, token = request.headers.get("Authorization", "").partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise Unauthorized("send Authorization: Bearer <token>")
    return token.strip()


def settings() -> Settings:
    """The application's settings."""
    result: Settings = current_app.extensions[EXTENSION].settings
    return result


def state() -> AppState:
    """What the application holds for its whole life (settings, database, clock, events)."""
    result: AppState = current_app.extensions[EXTENSION]
    return result


def domain(name: str) -> Any:
    """An object a domain package keeps for the process (see :class:`AppState`)."""
    return state().domains[name]


def close_db_session(_exc: BaseException | None = None) -> None:
    """Teardown: roll back anything uncommitted and give the connection back."""
    session: Session | None = g.pop("maas_session", None)
    if session is not None:
        session.close()
