"""Request rate limits (Flask-Limiter), counted in Redis so every worker and host shares them.

What is limited, and by whom (``MAAS_RATE_LIMIT_*``, see :class:`maas.core.config.Settings`):

============================  ==================================================
``POST /auth/token``          per account (the e-mail address, hashed) and per client address
``POST /orders``              per rider (the access token's rider; an invalid token: its address)
``GET /plan``                 per client address
``POST /devices/enroll``      per client address
``POST /scans``               per enrolled device (its bearer token authenticated; an unknown
                              token is counted against its client address instead)
============================  ==================================================

The client address is ``request.remote_addr``, which honours ``MAAS_TRUSTED_PROXIES`` (the app
wraps itself in ProxyFix when it is set). The counters live where ``MAAS_REDIS_URL`` says:
``redis://`` shares them across the fleet, ``memory://`` (the demo) counts in each process. The
strategy is the sliding-window counter (two Redis keys per limit, no burst at window edges). If
Redis stops answering, each process falls back to counting in memory and logs it, rather than
failing every request; it returns to Redis when Redis answers again.

A breach is the registry's :class:`maas.core.errors.TooManyRequests`: a 429 problem with
``Retry-After`` (seconds until the window lets the next request through).

These request limits sit in front of the sign-in throttle of :mod:`maas.accounts.throttle`,
which stays: that one counts *failed* passwords and locks an account for exponentially longer
after repeated failures, forgotten on success (docs/security.md, "Logins"); a request rate
cannot express that. The limits here bound how fast anyone can ask at all, right or wrong
password, before any password is hashed.
"""

from __future__ import annotations

import dataclasses
import math
import time
from collections.abc import Callable
from typing import Any

from flask import Flask, Response, request
from flask_limiter import Limiter, RateLimitExceeded
from limits.storage import MemoryStorage

from maas.core.auth import claims_from_token, hash_token
from maas.core.config import Settings
from maas.core.errors import TooManyRequests
from maas.core.http import ENDPOINTS, bearer_token, clock, db_session, settings
from maas.core.problems import problem_for

LIMITER = "maas.limiter"  # app.extensions key of the app's Limiter
KEY_PREFIX = "maas"
MAX_EMAIL_CHARS = 320


def client_address() -> str:
    """The client's address (ProxyFix has applied MAAS_TRUSTED_PROXIES already)."""
    return "address:" + (request.remote_addr or "unknown")


def _or_address(fallback: str, principal: Callable[[], str]) -> str:
    """``principal()``, or ``fallback`` + the client's address when it cannot be told.

    A key function must never raise: Flask-Limiter would take the error for an unreachable
    Redis. Whatever made it fail (a bad body, a bad token, an unencodable e-mail, a database
    outage) the view meets again and answers properly (422, 401, 503).
    """
    try:
        return principal()
    except Exception:  # see above: the view meets the cause again and reports it
        return fallback + client_address()


def login_account() -> str:
    """The e-mail address a sign-in is for, hashed (Redis never holds the address itself).

    The body is read here, before the view validates it; a body without a usable e-mail is
    counted against the client's address, and the view then refuses it with 422.
    """
    def account() -> str:
        body = request.get_json(silent=True, cache=True)
        email = body.get("email") if isinstance(body, dict) else None
        if not isinstance(email, str) or not email.strip() or len(email) > MAX_EMAIL_CHARS:
            raise ValueError("no e-mail address")
        return "account:" + hash_token("account:" + email.strip().lower())

    return _or_address("account-of-", account)


def rider() -> str:
    """The rider of a valid access token (checked by its signature only, no query)."""
    return _or_address("unauthenticated-", lambda: "rider:" + claims_from_token(
        bearer_token(), settings().secret_key, clock()()).rider_id)


def device() -> str:
    """The enrolled device a bearer token authenticates (one indexed query)."""
    from validators.services import authenticate

    return _or_address("unauthenticated-", lambda: "device:" + authenticate(
        db_session(), bearer_token()).id)


@dataclasses.dataclass(frozen=True)
class Rule:
    """One limit: the endpoint, the method, the setting holding its value, whom it counts."""

    endpoint: str
    method: str
    setting: str
    key: Callable[[], str]
    scope: str


RULES = (
    Rule("accounts.token", "POST", "rate_limit_login_account", login_account, "login-account"),
    Rule("accounts.token", "POST", "rate_limit_login_address", client_address, "login-address"),
    Rule("passes.create_order", "POST", "rate_limit_orders", rider, "orders"),
    Rule("gtfs.plan", "GET", "rate_limit_plan", client_address, "plan"),
    Rule("validators.enroll", "POST", "rate_limit_enroll", client_address, "enroll"),
    Rule("validators.scans", "POST", "rate_limit_scans", device, "scans"),
)


class ProcessCounts(MemoryStorage):
    """``memory://`` (the demo's, the benchmarks'): limits' in-memory counters without a thread
    per pause. limits' own storage drops expired counts in a ``threading.Timer`` of 10 ms,
    started by the first count after the last one ended: every request after a 10 ms pause
    starts a thread and waits for it to be scheduled (10 of a worker's first /plan's 17 ms
    under cProfile on the loaded 2-core machine), and under load about 100 threads a second
    per worker. Here the count that finds a second past the last sweep sweeps, in line. A
    count is read as expired by its own expiry time either way (``MemoryStorage.get``); the
    sweep only frees memory.

    It replaces the private ``_MemoryStorage__schedule_expiry`` that ``incr`` and the
    window entries call (limits 5; ``tests/test_rate_limits.py`` fails if it no longer
    exists)."""

    STORAGE_SCHEME = ["maas-memory"]  # noqa: RUF012 - limits' registry reads a class list
    SWEEP_SECONDS = 1.0

    def __init__(self, uri: str | None = None, wrap_exceptions: bool = False,
                 **options: str) -> None:
        super().__init__(uri, wrap_exceptions=wrap_exceptions, **options)
        self.next_sweep = time.monotonic() + self.SWEEP_SECONDS

    def _MemoryStorage__schedule_expiry(self) -> None:  # noqa: N802 - limits' private name
        now = time.monotonic()
        if now >= self.next_sweep:
            self.next_sweep = now + self.SWEEP_SECONDS
            self._MemoryStorage__expire_events()  # type: ignore[attr-defined]


def _storage_uri(redis_url: str) -> str:
    """Where Flask-Limiter counts: ``memory://`` becomes :class:`ProcessCounts`."""
    if redis_url.startswith("memory:"):
        return "maas-memory:" + redis_url.removeprefix("memory:")
    return redis_url


def register_rate_limits(app: Flask, config: Settings) -> Limiter:
    """Wrap the endpoints of :data:`RULES` in their limits and map a breach to a 429 problem.

    Call after the blueprints are registered (it wraps ``app.view_functions``); a missing
    endpoint is a KeyError at start, not a limit silently gone.
    """
    options: dict[str, str | int] = {}
    if not config.redis_url.startswith("memory:"):
        # a Redis that hangs must not hang requests: give up quickly and fall back to memory
        options = {"socket_timeout": 1, "socket_connect_timeout": 1}
    limiter = Limiter(
        client_address, app=app, storage_uri=_storage_uri(config.redis_url),
        storage_options=options,
        strategy="sliding-window-counter", key_prefix=KEY_PREFIX, headers_enabled=False,
        in_memory_fallback_enabled=not config.redis_url.startswith("memory:"),
    )
    for rule in RULES:
        view = app.view_functions[rule.endpoint]
        decorate = limiter.limit(getattr(config, rule.setting), key_func=rule.key,
                                 scope=rule.scope, methods=[rule.method])
        wrapped: Any = decorate(view)  # flask's view type is a union the decorator narrows
        app.view_functions[rule.endpoint] = wrapped
        spec = ENDPOINTS.get(view)
        if spec is not None:  # the OpenAPI document finds the wrapper, and names its 429
            ENDPOINTS[wrapped] = dataclasses.replace(
                spec, errors=tuple(sorted({*spec.errors, 429})))
    # Flask-Limiter also checks every request in a before_request hook, for application and
    # blueprint limits; there are none here (each limit wraps its view above, and the wrapper
    # checks by itself), so that hook only cost every request of every endpoint a second pass
    # through the limiter (a /plan checked twice, /health once for nothing)
    app.before_request_funcs[None].remove(limiter._check_request_limit)
    app.extensions[LIMITER] = limiter

    @app.errorhandler(RateLimitExceeded)
    def _too_many(exc: RateLimitExceeded) -> Response:
        return problem_for(TooManyRequests(
            f"too many requests: at most {exc.description}; try again later",
            retry_after=_retry_after(limiter)))

    return limiter


def _retry_after(limiter: Limiter) -> int:
    """Whole seconds until the breached limit lets a request through: at least 1, at most its
    window (the sliding-window estimate can land a second past the window's end)."""
    breached = limiter.current_limit
    if breached is None:  # pragma: no cover - a breach always leaves its limit in the context
        return 1
    wait = math.ceil(breached.reset_at - time.time())
    return max(1, min(wait, breached.limit.get_expiry()))
