"""The application shell's factory: one ``create_app`` made of named ``register_*`` steps.

The shell wires the domains together: it builds the foundation's state (settings, database,
clock, event bus), hands each domain what it keeps for the process, subscribes statistics to
the domains' events and mounts every blueprint. See docs/architecture.md.
"""

from __future__ import annotations

import logging
import re
import secrets
import sys
import time
from collections.abc import Callable, Iterable, Mapping
from typing import TYPE_CHECKING, Any

from flask import Flask, Request, Response, g, has_request_context, request
from flask.sessions import SessionInterface, SessionMixin
from sqlalchemy.exc import SQLAlchemyError

from maas.core.clock import Clock, system_clock
from maas.core.config import Settings, load_settings
from maas.core.db import create_db_engine, session_factory
from maas.core.errors import FieldError, InvalidInput, MaasError, NotFound
from maas.core.events import Events
from maas.core.http import close_db_session
from maas.core.limits import oversized
from maas.core.logs import configure_logging, request_id_var
from maas.core.problems import problem, register_error_handlers
from maas.core.state import EXTENSION, AppState

if TYPE_CHECKING:
    from _typeshed.wsgi import StartResponse, WSGIApplication, WSGIEnvironment
    from sqlalchemy.orm import Session

API_PREFIX = "/api/v1"
_REQUEST_ID = re.compile(r"^[A-Za-z0-9._:\-]{1,128}$")
_CONTENT_KEYS = ("CONTENT_TYPE", "CONTENT_LENGTH")  # headers without the HTTP_ prefix

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
    register_metrics(app)
    register_request_limits(app)
    register_quick_health(app)
    register_security_headers(app, settings)
    register_proxies(app, settings)
    register_sessions(app)
    register_error_handlers(app)
    register_blueprints(app)
    register_pages(app)
    register_rate_limits(app, settings)
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
    """What domains keep for the process: the compiled networks, the planner's view of
    what a pass covers (products belong to passes, which gtfs does not import), and what the
    health check remembers.

    The payment provider MAAS_PAYMENT_PROVIDER names is looked up here, so an unknown name
    stops the program at start (ConfigError), not at the first purchase.
    """
    from gtfs.network import NETWORKS, PASS_COVERAGE, NetworkStore
    from maas.services import HEALTH, HealthCache
    from passes.payments import provider_for
    from passes.services import pass_operators

    state: AppState = app.extensions[EXTENSION]
    provider_for(state.settings.payment_provider, state.settings.secret_key)
    state.domains[NETWORKS] = NetworkStore(state.settings.home)
    state.domains[PASS_COVERAGE] = pass_operators
    state.domains[HEALTH] = HealthCache()


def register_events(app: Flask) -> None:
    """Statistics subscribe to what the domains announce: orders, scans, answered plans.

    Subscribes on the bus in the application's current state (the tests swap in their own
    sessions and bus, then call this again).
    """
    from gtfs.events import PlanAnswered
    from maas import metrics
    from maas.core.journal import Journal
    from maas.stats.services import PLAN_RECORDER, PlanRecorder, on_order_changed, on_scans
    from passes.events import OrderChanged
    from validators.events import ScansIngested

    state: AppState = app.extensions[EXTENSION]
    state.events.subscribe(ScansIngested, on_scans)
    state.events.subscribe(OrderChanged, on_order_changed)
    recorder = PlanRecorder(Journal(state.settings.journal_dir, "plans"), state.sessions,
                            state.settings.journal_flush_seconds)
    state.domains[PLAN_RECORDER] = recorder

    def record_plan(session: Session, event: PlanAnswered) -> None:
        # the server's own warm-up plans (see warm_up) are no rider's: not counted
        if not (has_request_context() and request.environ.get(metrics.WARM_UP)):
            recorder.on_plan_answered(session, event)

    state.events.subscribe(PlanAnswered, record_plan)
    metrics.subscribe(state)


def register_metrics(app: Flask) -> None:
    """Request latency by URL rule, and GET /metrics for MAAS_METRICS_TOKEN (maas.metrics)."""
    from maas import metrics

    metrics.register_metrics(app)


def register_request_id(app: Flask) -> None:
    """Accept ``X-Request-ID`` (or make one), echo it, and log each request once."""

    # each hook reads the WSGI environ directly: werkzeug's header and URL views cost tens of
    # microseconds a request (figures in docs/planner.md, "The request path")
    @app.before_request
    def _start() -> None:
        incoming = request.environ.get("HTTP_X_REQUEST_ID", "")
        request_id = incoming if _REQUEST_ID.match(incoming) else secrets.token_hex(16)
        g.request_id_token = request_id_var.set(request_id)
        g.request_started = time.perf_counter()

    @app.after_request
    def _finish(response: Response) -> Response:
        response.headers["X-Request-ID"] = request_id_var.get()
        started = g.get("request_started")
        if started is not None and access_log.isEnabledFor(logging.INFO):
            environ = request.environ
            query = environ.get("QUERY_STRING")
            access_log.info(
                "%s %s %s",
                request.method,
                f"{request.path}?{query}" if query else request.path,
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
        environ = request.environ
        found = oversized(environ)
        if found is not None:
            status, detail = found
            return problem(status, detail)
        name = header_with_nul(environ)
        if name is not None:
            return problem(400, f"the {name} header holds a NUL character")
        if "\x00" in request.path:
            raise NotFound(f"no resource at {request.path!r}")
        raw_query = environ.get("QUERY_STRING", "")
        if "%00" not in raw_query and "\x00" not in raw_query:
            return None  # no parameter can decode to a NUL
        bad = [key for key, values in request.args.lists()
               if "\x00" in key or any("\x00" in value for value in values)]
        if bad:
            raise InvalidInput(
                f"invalid query: {', '.join(map(repr, bad))} holds a NUL character",
                errors=[FieldError(key, "holds a NUL character") for key in bad])
        return None


def header_with_nul(environ: Mapping[str, Any]) -> str | None:
    """The name of a request header holding a NUL character, if one does."""
    for key, value in environ.items():
        # most of the environ is text: looking for a NUL in it is quicker than asking first
        # whether it is a header (which only a NUL makes worth knowing)
        if type(value) is str:
            if "\x00" in value and (key.startswith("HTTP_") or key in _CONTENT_KEYS):
                return key.removeprefix("HTTP_").replace("_", "-").title()
        elif (key.startswith("HTTP_") or key in _CONTENT_KEYS) and "\x00" in value:
            return key.removeprefix("HTTP_").replace("_", "-").title()
    return None


HEALTH_PATH = f"{API_PREFIX}/health"


def register_quick_health(app: Flask) -> None:
    """Answer the load balancers' ``GET /api/v1/health`` in front of Flask
    (:class:`QuickHealth`), inside the security headers' wrapper so it gets them too."""
    app.wsgi_app = QuickHealth(app, app.wsgi_app)  # type: ignore[method-assign]


class QuickHealth:
    """WSGI middleware: ``GET /api/v1/health`` (no query) answered without Flask's dispatch
    when the health check's cache can answer it (the schema check passed, the feeds are
    fresh: :func:`maas.services.cached_health`), tens of microseconds instead of Flask's
    hundred. It does what the view and the hooks do for it — the same body (its own
    :class:`maas.views.HealthBody`), headers, request id, access line and metrics — and hands
    everything else to Flask: another method or path, a query (``?deep=1``), a request the
    hooks would refuse (over-long headers, a NUL), a cache that must ask the database."""

    def __init__(self, app: Flask, wsgi: WSGIApplication) -> None:
        from maas import metrics
        from maas.services import HEALTH, cached_health
        from maas.views import HealthBody

        self.flask = app
        self.app = wsgi
        self.warm_up = metrics.WARM_UP
        self.observe = metrics.observe_request
        self.cache_key = HEALTH
        self.cached = cached_health
        self.body = HealthBody()

    def __call__(self, environ: WSGIEnvironment, start_response: StartResponse
                 ) -> Iterable[bytes]:
        """The quick answer, or Flask's."""
        if (environ.get("PATH_INFO") == HEALTH_PATH and environ.get("REQUEST_METHOD") == "GET"
                and not environ.get("QUERY_STRING")):
            answered = self.answer(environ, start_response)
            if answered is not None:
                return answered
        return self.app(environ, start_response)

    def answer(self, environ: WSGIEnvironment, start_response: StartResponse
               ) -> list[bytes] | None:
        """The health check's answer, or ``None`` when Flask must give it."""
        started = time.perf_counter()
        if oversized(environ) is not None or header_with_nul(environ) is not None:
            return None
        state: AppState = self.flask.extensions[EXTENSION]
        report = self.cached(state.engine, state.clock, state.domains[self.cache_key])
        if report is None:
            return None
        body = self.body(report)
        incoming = environ.get("HTTP_X_REQUEST_ID", "")
        request_id = incoming if _REQUEST_ID.match(incoming) else secrets.token_hex(16)
        token = request_id_var.set(request_id)
        try:
            if not environ.get(self.warm_up):  # the server's own (see prepare_workers)
                self.observe(HEALTH_PATH, "GET", 200, time.perf_counter() - started)
            if access_log.isEnabledFor(logging.INFO):
                # access_log.info(...) as it would write it, the record made by the logger and
                # handled by its handlers, without Logger.findCaller's walk up the stack to
                # name where it was called from: here
                frame = sys._getframe()
                access_log.handle(access_log.makeRecord(
                    access_log.name, logging.INFO, frame.f_code.co_filename, frame.f_lineno,
                    "%s %s %s", ("GET", HEALTH_PATH, 200), None, frame.f_code.co_name,
                    {"status": 200, "ms": _elapsed_ms(started)}))
        finally:
            request_id_var.reset(token)
        start_response("200 OK", [("Content-Type", "application/json"),
                                  ("Content-Length", str(len(body))),
                                  ("X-Request-ID", request_id)])
        return [body]


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
    policy = CONTENT_SECURITY_POLICY
    if settings.map_origin:  # the rider page's base map tiles: that origin only, when set
        policy = policy.replace("img-src 'self' data: blob:",
                                f"img-src 'self' data: blob: {settings.map_origin}")
    headers = {
        "Content-Security-Policy": policy,
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
    """Put :func:`security_headers` on every response: pages, API, static files, problems.

    A WSGI wrapper adds the ones a response does not set itself to the header list the
    server receives (a few microseconds; werkzeug's ``Headers.setdefault`` took ~25 µs)."""
    app.wsgi_app = SecurityHeaders(  # type: ignore[method-assign]
        app.wsgi_app, security_headers(settings))


def register_proxies(app: Flask, settings: Settings) -> None:
    """Behind ``MAAS_TRUSTED_PROXIES`` proxies, the client address and scheme are the ones they
    saw (werkzeug's ProxyFix, the outermost WSGI wrapper: everything inside sees them)."""
    if settings.trusted_proxies:
        from werkzeug.middleware.proxy_fix import ProxyFix

        n = settings.trusted_proxies
        app.wsgi_app = ProxyFix(  # type: ignore[method-assign]
            app.wsgi_app, x_for=n, x_proto=n)


class SecurityHeaders:
    """WSGI middleware: ``headers`` on every response that does not carry them already."""

    def __init__(self, app: WSGIApplication, headers: Mapping[str, str]) -> None:
        self.app = app
        self.headers = [(name, value, name.lower()) for name, value in headers.items()]
        self.pairs = [(name, value) for name, value in headers.items()]
        self.names = frozenset(lower for _, _, lower in self.headers)

    def __call__(self, environ: WSGIEnvironment, start_response: StartResponse
                 ) -> Iterable[bytes]:
        """Call the application, adding the missing headers as it starts its response."""
        def start(status: str, headers: list[tuple[str, str]], exc_info: Any = None
                  ) -> Callable[[bytes], object]:
            for name, _ in headers:
                if name.lower() in self.names:  # the response sets one itself: add the others
                    present = {name.lower() for name, _ in headers}
                    headers.extend((name, value) for name, value, lower in self.headers
                                   if lower not in present)
                    break
            else:  # it sets none of them (most responses): all of them, in their order
                headers += self.pairs
            return start_response(status, headers, exc_info)

        return self.app(environ, start)


class NoCookieSessions(SessionInterface):
    """Flask's cookie session, switched off: the API authenticates with bearer tokens and the
    pages keep their state in the browser, so nothing reads or writes ``flask.session``
    (opening and saving the signed cookie cost ~20 µs a request)."""

    def open_session(self, app: Flask, request: Request) -> SessionMixin | None:
        """A null session (writing to it raises)."""
        return self.make_null_session(app)

    def save_session(self, app: Flask, session: SessionMixin, response: Response) -> None:
        """Nothing to save."""


def register_sessions(app: Flask) -> None:
    """No cookie session (see :class:`NoCookieSessions`), and Flask's check whether a view or
    hook is a coroutine function made once per function instead of on every call (ours are
    all synchronous; the check is inspect's, a few microseconds each, six times a request)."""
    app.session_interface = NoCookieSessions()
    checked: dict[Callable[..., Any], Callable[..., Any]] = {}
    ensure_sync = app.ensure_sync

    def ensure_sync_once(func: Callable[..., Any]) -> Callable[..., Any]:
        found = checked.get(func)
        if found is None:
            found = checked[func] = ensure_sync(func)
        return found

    app.ensure_sync = ensure_sync_once  # type: ignore[method-assign]


def _elapsed_ms(started: float) -> float:
    return round((time.perf_counter() - started) * 1000, 2)


def register_blueprints(app: Flask) -> None:
    """Mount each domain's API under ``/api/v1``."""
    from gtfs.maps.views import bp as maps_bp
    from gtfs.places.views import bp as places_bp
    from gtfs.realtime.views import bp as realtime_bp
    from gtfs.views import bp as gtfs_bp
    from maas.accounts.views import bp as accounts_bp
    from maas.stats.views import bp as stats_bp
    from maas.views import bp as system_bp
    from passes.views import bp as passes_bp
    from passes.views import wellknown
    from validators.views import bp as validators_bp

    for blueprint in (system_bp, accounts_bp, gtfs_bp, places_bp, maps_bp, realtime_bp, passes_bp,
                      validators_bp, stats_bp):
        app.register_blueprint(blueprint, url_prefix=API_PREFIX)
    app.register_blueprint(wellknown)


def register_rate_limits(app: Flask, settings: Settings) -> None:
    """Request limits on sign-in, orders, plans, enrolment and scan uploads (maas.ratelimits),
    counted in MAAS_REDIS_URL; after the blueprints, whose views it wraps."""
    from maas import ratelimits

    ratelimits.register_rate_limits(app, settings)


def register_pages(app: Flask) -> None:
    """The rider, driver and partner web pages."""
    from maas.pages import bp as pages_bp

    app.register_blueprint(pages_bp)


def prepare_workers(app: Flask) -> None:
    """What gunicorn's master builds before forking (``maas.gunicorn_conf.when_ready``):
    the active network with its day views and indexes (:func:`gtfs.services.prepare`) and the
    health check's schema check, then one ``/health`` and one ``/plan`` through the app
    (:func:`warm_up`), so that workers share all of it copy-on-write and answer their first
    request at full speed. A database that is down or behind is logged, not fatal: workers
    then build what they need themselves. The master's connections are closed after.
    """
    from gtfs.network import networks_of
    from gtfs.services import prepare
    from maas.services import HEALTH, health

    state: AppState = app.extensions[EXTENSION]
    started = time.perf_counter()
    try:
        with state.sessions() as session:
            timetable = prepare(session, networks_of(state), state.clock())
        health(state.engine, state.sessions, state.clock, state.domains[HEALTH])
        warm_up(app)
    except (MaasError, SQLAlchemyError) as exc:
        logging.getLogger(__name__).warning("not prepared before fork: %s", exc)
        return
    finally:
        state.engine.dispose()
    logging.getLogger(__name__).info(
        "prepared before fork in %.0f ms: %s", _elapsed_ms(started),
        "no GTFS feed is active" if timetable is None else f"{timetable.n_stops} stops")


def prepare_worker(app: Flask) -> None:
    """In a worker just forked (``maas.gunicorn_conf.post_fork``): its first database
    connection, the active feeds and mobility snapshots read once (as a request does every
    few seconds), one ``/health`` and one ``/plan`` of its own (:func:`warm_up`: the pages of
    shared objects a request writes to are copied now, not during a rider's request), and
    the plan journal's next flush due an interval from now
    (:meth:`maas.stats.services.PlanRecorder.after_fork`). A database that is down is
    logged: the requests will say so."""
    from gtfs.network import networks_of
    from maas.stats.services import PLAN_RECORDER

    state: AppState = app.extensions[EXTENSION]
    store = networks_of(state)
    store.forget_active()
    store.mobility.forget()
    try:
        with state.sessions() as session:
            store.current(session)
            store.mobility.current(session)
        warm_up(app)
    except (MaasError, SQLAlchemyError) as exc:
        logging.getLogger(__name__).warning("worker not prepared: %s", exc)
    recorder = state.domains.get(PLAN_RECORDER)
    if recorder is not None:
        recorder.after_fork()


WARM_UP_ID = "warm-up"


def warm_up(app: Flask) -> None:
    """One ``GET /api/v1/health`` and one ``GET /api/v1/plan`` through the whole app, as the
    server's own requests: request id ``warm-up``, the WSGI environ's
    :data:`maas.metrics.WARM_UP` flag (no client's: left out of /metrics and of the plan
    statistics, see :func:`register_events`) and the client address ``warm-up`` (the rate
    limiter counts it apart from any real client's, 127.0.0.1 included). The plan rides the
    active network's first route from its first stop halfway along (a loop's ends are one
    stop), leaving now; with no network active it is refused before planning, which still
    runs Flask's and the hooks' code."""
    from gtfs.network import networks_of
    from maas.metrics import WARM_UP

    state: AppState = app.extensions[EXTENSION]
    query: dict[str, str] = {}
    with state.sessions() as session:
        timetable = networks_of(state).current(session)
    if timetable is not None and timetable.pattern_stop_offset.size > 1:
        ids = timetable.meta["stop_ids"]
        stops = [int(stop) for stop in
                 timetable.pattern_stops[:int(timetable.pattern_stop_offset[1])]]
        later = [stop for stop in stops[len(stops) // 2:] if stop != stops[0]]
        if later:
            query = {"from": f"stop:{ids[stops[0]]}", "to": f"stop:{ids[later[0]]}"}
    client = app.test_client()
    for path, args in ((HEALTH_PATH, {}), (f"{API_PREFIX}/plan", query)):
        client.get(path, query_string=args, headers={"X-Request-ID": WARM_UP_ID},
                   environ_base={WARM_UP: True, "REMOTE_ADDR": WARM_UP_ID})
