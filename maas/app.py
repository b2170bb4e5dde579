"""The application factory: one ``create_app`` made of named ``register_*`` steps."""

from __future__ import annotations

import dataclasses
import logging
import re
import time
import uuid
from collections.abc import Mapping
from typing import Any

from flask import Flask, Response, g, request
from sqlalchemy import Engine
from sqlalchemy.orm import Session, sessionmaker

from gtfs.network import NetworkStore
from maas.clock import Clock, system_clock
from maas.config import Settings, load_settings
from maas.db import create_db_engine, session_factory
from maas.http import EXTENSION, close_db_session
from maas.logs import configure_logging, request_id_var
from maas.problems import register_error_handlers
from validators.services import ScanListener

API_PREFIX = "/api/v1"
_REQUEST_ID = re.compile(r"^[A-Za-z0-9._:\-]{1,128}$")

access_log = logging.getLogger("maas.access")


@dataclasses.dataclass(frozen=True)
class AppState:
    """What the application holds for its whole life, in ``app.extensions['maas']``."""

    settings: Settings
    engine: Engine
    sessions: sessionmaker[Session]
    clock: Clock
    networks: NetworkStore
    # called with each batch of newly ingested scans, inside its transaction (roll-ups)
    scan_listeners: tuple[ScanListener, ...] = ()


def create_app(config: Mapping[str, Any] | None = None) -> Flask:
    """Build the WSGI application.

    ``config`` overrides settings by field name (see :class:`maas.config.Settings`); the key
    ``clock`` replaces the system clock (for tests). Everything else comes from ``MAAS_*``.
    """
    overrides = dict(config or {})
    clock: Clock = overrides.pop("clock", system_clock)
    settings = load_settings(overrides)

    app = Flask("maas", instance_path=str(settings.home.resolve()))
    register_config(app, settings)
    register_logging(app, settings)
    register_database(app, settings, clock)
    register_request_id(app)
    register_error_handlers(app)
    register_blueprints(app)
    register_stats(app)
    register_pages(app)
    return app


def register_config(app: Flask, settings: Settings) -> None:
    """Copy what flask itself needs from our settings."""
    app.config.update(
        SECRET_KEY=settings.secret_key,
        TESTING=settings.testing,
        MAX_CONTENT_LENGTH=2 * 1024 * 1024,
    )
    # Japanese names stay readable in responses, and fields keep their declared order
    app.json.ensure_ascii = False  # type: ignore[attr-defined]  # DefaultJSONProvider attribute
    app.json.sort_keys = False  # type: ignore[attr-defined]


def register_logging(app: Flask, settings: Settings) -> None:
    """Structured logs in production, readable lines in the demo; pytest keeps its own."""
    if not settings.testing:
        configure_logging(settings)


def register_database(app: Flask, settings: Settings, clock: Clock) -> None:
    """One engine per process, a session per request (closed at teardown)."""
    engine = create_db_engine(settings.database_url)
    app.extensions[EXTENSION] = AppState(
        settings=settings, engine=engine, sessions=session_factory(engine), clock=clock,
        networks=NetworkStore(settings.home),
    )
    app.teardown_appcontext(close_db_session)


def register_request_id(app: Flask) -> None:
    """Accept ``X-Request-ID`` (or make one), echo it, and log each request once."""

    @app.before_request
    def _start() -> None:
        incoming = request.headers.get("X-Request-ID", "")
        request_id = incoming if _REQUEST_ID.match(incoming) else uuid.uuid4().hex
        g.request_id_token = request_id_var.set(request_id)
        g.request_started = time.perf_counter()

    @app.after_request
    def _finish(response: Response) -> Response:
        response.headers["X-Request-ID"] = request_id_var.get()
        started = g.get("request_started")
        if started is not None and access_log.isEnabledFor(logging.INFO):
            access_log.info(
                "%s %s %s",
                request.method,
                request.full_path.rstrip("?"),
                response.status_code,
                extra={"status": response.status_code, "ms": _elapsed_ms(started)},
            )
        return response

    @app.teardown_request
    def _reset(_exc: BaseException | None = None) -> None:
        token = g.pop("request_id_token", None)
        if token is not None:
            request_id_var.reset(token)


def _elapsed_ms(started: float) -> float:
    return round((time.perf_counter() - started) * 1000, 2)


def register_blueprints(app: Flask) -> None:
    """Mount each domain's API under ``/api/v1``."""
    from gtfs.views import bp as gtfs_bp
    from maas.views import bp as system_bp
    from passes.views import bp as passes_bp
    from passes.views import wellknown
    from validators.views import bp as validators_bp

    for blueprint in (system_bp, gtfs_bp, passes_bp, validators_bp):
        app.register_blueprint(blueprint, url_prefix=API_PREFIX)
    app.register_blueprint(wellknown)


def register_stats(app: Flask) -> None:
    """Partner statistics: their API, the plan-request recorder, the roll-up listeners."""
    from maas.stats.services import on_scans, track_orders
    from maas.stats.views import bp as stats_bp
    from maas.stats.views import record_plan_requests

    app.register_blueprint(stats_bp, url_prefix=API_PREFIX)
    track_orders()
    record_plan_requests(app, API_PREFIX + "/plan")
    state: AppState = app.extensions[EXTENSION]
    app.extensions[EXTENSION] = dataclasses.replace(
        state, scan_listeners=(*state.scan_listeners, on_scans))


def register_pages(app: Flask) -> None:
    """The rider, driver and partner web pages."""
    from maas.pages import bp as pages_bp

    app.register_blueprint(pages_bp)
