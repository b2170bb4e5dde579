"""The application shell's factory: one ``create_app`` made of named ``register_*`` steps.

The shell wires the domains together: it builds the foundation's state (settings, database,
clock, event bus), hands each domain what it keeps for the process, subscribes statistics to
the domains' events and mounts every blueprint. See docs/architecture.md.
"""

from __future__ import annotations

import logging
import re
import time
import uuid
from collections.abc import Mapping
from typing import Any

from flask import Flask, Response, g, request

from maas.core.clock import Clock, system_clock
from maas.core.config import Settings, load_settings
from maas.core.db import create_db_engine, session_factory
from maas.core.errors import FieldError, InvalidInput, NotFound
from maas.core.events import Events
from maas.core.http import close_db_session
from maas.core.limits import oversized
from maas.core.logs import configure_logging, request_id_var
from maas.core.problems import problem, register_error_handlers
from maas.core.state import EXTENSION, AppState

API_PREFIX = "/api/v1"
_REQUEST_ID = re.compile(r"^[A-Za-z0-9._:\-]{1,128}$")

access_log = logging.getLogger("maas.access")


def create_app(config: Mapping[str, Any] | None = None) -> Flask:
    """Build the WSGI application.

    ``config`` overrides settings by field name (see :class:`maas.core.config.Settings`); the key
    ``clock`` replaces the system clock (for tests). Everything else comes from ``MAAS_*``.
    """
    overrides = dict(config or {})
    clock: Clock = overrides.pop("clock", system_clock)
    settings = load_settings(overrides)

    app = Flask("maas", instance_path=str(settings.home.resolve()))
    register_config(app, settings)
    register_logging(app, settings)
    register_database(app, settings, clock)
    register_domains(app)
    register_events(app)
    register_request_id(app)
    register_request_limits(app)
    register_security_headers(app, settings)
    register_error_handlers(app)
    register_blueprints(app)
    register_pages(app)
    return app


def register_config(app: Flask, settings: Settings) -> None:
    """Copy what flask itself needs from our settings."""
    app.config.update(
        SECRET_KEY=settings.secret_key,
        TESTING=settings.testing,
        MAX_CONTENT_LENGTH=2 * 1024 * 1024,
    )
    if settings.trusted_proxies:  # the client address is the one these proxies saw
        from werkzeug.middleware.proxy_fix import ProxyFix

        n = settings.trusted_proxies
        app.wsgi_app = ProxyFix(  # type: ignore[method-assign]
            app.wsgi_app, x_for=n, x_proto=n)
    # Japanese names stay readable in responses, and fields keep their declared order
    app.json.ensure_ascii = False  # type: ignore[attr-defined]  # DefaultJSONProvider attribute
    app.json.sort_keys = False  # type: ignore[attr-defined]


def register_logging(app: Flask, settings: Settings) -> None:
    """Structured logs in production, readable lines in the demo; pytest keeps its own."""
    if not settings.testing:
        configure_logging(settings)


def register_database(app: Flask, settings: Settings, clock: Clock) -> None:
    """One engine per process, a session per request (closed at teardown); every session
    carries the application's event bus."""
    engine = create_db_engine(settings.database_url)
    events = Events()
    app.extensions[EXTENSION] = AppState(
        settings=settings, engine=engine, sessions=session_factory(engine, events), clock=clock,
        events=events,
    )
    app.teardown_appcontext(close_db_session)


def register_domains(app: Flask) -> None:
    """What domains keep for the process: the compiled networks, and the planner's view of
    what a pass covers (products belong to passes, which gtfs does not import).

    The payment provider MAAS_PAYMENT_PROVIDER names is looked up here, so an unknown name
    stops the program at start (ConfigError), not at the first purchase.
    """
    from gtfs.network import NETWORKS, PASS_COVERAGE, NetworkStore
    from passes.payments import provider_for
    from passes.services import pass_operators

    state: AppState = app.extensions[EXTENSION]
    provider_for(state.settings.payment_provider, state.settings.secret_key)
    state.domains[NETWORKS] = NetworkStore(state.settings.home)
    state.domains[PASS_COVERAGE] = pass_operators


def register_events(app: Flask) -> None:
    """Statistics subscribe to what the domains announce: orders, scans, answered plans.

    Subscribes on the bus in the application's current state (the tests swap in their own
    sessions and bus, then call this again).
    """
    from gtfs.events import PlanAnswered
    from maas.stats.services import PlanRecorder, on_order_changed, on_scans
    from maas.stats.views import RECORDER
    from passes.events import OrderChanged
    from validators.events import ScansIngested

    state: AppState = app.extensions[EXTENSION]
    # the recorder writes through whatever session factory the app has when it flushes
    recorder = PlanRecorder(lambda: app.extensions[EXTENSION].sessions(), state.clock)
    state.domains[RECORDER] = recorder
    state.events.subscribe(ScansIngested, on_scans)
    state.events.subscribe(OrderChanged, on_order_changed)
    state.events.subscribe(PlanAnswered, recorder.on_plan)


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


def register_request_limits(app: Flask) -> None:
    """Refuse, as problem+json and before any view runs: an over-long URL (414) or over-long
    headers (431), below the limits gunicorn is given (see maas.core.limits and
    docs/security.md); a NUL character in a header (400), the path (404) or a query parameter
    (422 naming it), which is never part of text and which PostgreSQL cannot store."""

    @app.before_request
    def _check_request() -> Response | None:
        found = oversized(request.environ)
        if found is not None:
            status, detail = found
            return problem(status, detail)
        for name, value in request.headers.items():
            if "\x00" in value:
                return problem(400, f"the {name} header holds a NUL character")
        if "\x00" in request.path:
            raise NotFound(f"no resource at {request.path!r}")
        bad = [key for key, values in request.args.lists()
               if "\x00" in key or any("\x00" in value for value in values)]
        if bad:
            raise InvalidInput(
                f"invalid query: {', '.join(map(repr, bad))} holds a NUL character",
                errors=[FieldError(key, "holds a NUL character") for key in bad])
        return None


# The pages load only this server's scripts, styles and images; the driver page compiles the
# QR reader's wasm (hence 'wasm-unsafe-eval', which allows WebAssembly compilation and nothing
# of JavaScript's eval); a pass's QR code is drawn on a canvas, a CSV download is a blob: link.
CONTENT_SECURITY_POLICY = "; ".join((
    "default-src 'self'",
    "script-src 'self' 'wasm-unsafe-eval'",
    "style-src 'self'",
    "img-src 'self' data: blob:",
    "connect-src 'self'",
    "worker-src 'self'",
    "object-src 'none'",
    "base-uri 'none'",
    "form-action 'self'",
    "frame-ancestors 'none'",
))
# the driver page reads QR codes with the camera and records where a scan happened
PERMISSIONS_POLICY = "camera=(self), geolocation=(self), microphone=(), payment=(), usb=()"
HSTS = "max-age=63072000; includeSubDomains"


def security_headers(settings: Settings) -> dict[str, str]:
    """The headers every response carries (HSTS only in production, which runs behind TLS)."""
    headers = {
        "Content-Security-Policy": CONTENT_SECURITY_POLICY,
        "X-Content-Type-Options": "nosniff",
        "Referrer-Policy": "no-referrer",
        "Cross-Origin-Opener-Policy": "same-origin",
        "Permissions-Policy": PERMISSIONS_POLICY,
        "X-Frame-Options": "DENY",
    }
    if settings.env == "production":
        headers["Strict-Transport-Security"] = HSTS
    return headers


def register_security_headers(app: Flask, settings: Settings) -> None:
    """Put :func:`security_headers` on every response: pages, API, static files, problems."""
    headers = security_headers(settings)

    @app.after_request
    def _secure(response: Response) -> Response:
        for name, value in headers.items():
            response.headers.setdefault(name, value)
        return response


def _elapsed_ms(started: float) -> float:
    return round((time.perf_counter() - started) * 1000, 2)


def register_blueprints(app: Flask) -> None:
    """Mount each domain's API under ``/api/v1``."""
    from gtfs.realtime.views import bp as realtime_bp
    from gtfs.views import bp as gtfs_bp
    from maas.accounts.views import bp as accounts_bp
    from maas.stats.views import bp as stats_bp
    from maas.views import bp as system_bp
    from passes.views import bp as passes_bp
    from passes.views import wellknown
    from validators.views import bp as validators_bp

    for blueprint in (system_bp, accounts_bp, gtfs_bp, realtime_bp, passes_bp, validators_bp,
                      stats_bp):
        app.register_blueprint(blueprint, url_prefix=API_PREFIX)
    app.register_blueprint(wellknown)


def register_pages(app: Flask) -> None:
    """The rider, driver and partner web pages."""
    from maas.pages import bp as pages_bp

    app.register_blueprint(pages_bp)
