"""Settings read from ``MAAS_*`` environment variables, with safe defaults for the demo.

Every value is checked here, once, so that a bad setting stops the program with one line that
names the variable, instead of failing later somewhere deep in a request.
"""

from __future__ import annotations

import dataclasses
import os
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Literal, cast
from urllib.parse import urlsplit

from sqlalchemy.engine import URL, make_url
from sqlalchemy.exc import ArgumentError

from maas.core.errors import ConfigError

Environment = Literal["demo", "development", "production", "test"]
LogFormat = Literal["text", "json"]

ENVIRONMENTS: tuple[Environment, ...] = ("demo", "development", "production", "test")
SUPPORTED_DATABASES = ("sqlite", "postgresql")
DEV_SECRET_KEY = "kanazawa-maas-demo-secret-not-for-production"  # noqa: S105 - demo default only


@dataclasses.dataclass(frozen=True, slots=True)
class Settings:
    """The whole configuration of one process."""

    env: Environment = "demo"
    home: Path = Path("instance")
    # the browser libraries `maas assets` installs and /static/vendor/ serves (default: under home)
    assets_dir: Path = Path("instance/static/vendor")
    # each web worker's append-only journal of answered plan requests (maas.core.journal): a
    # folder on this host's local disk (default: under home)
    journal_dir: Path = Path("instance/journal")
    journal_flush_seconds: int = 2  # how often a web worker stores its journal's lines
    database_url: str = ""
    host: str = "127.0.0.1"
    port: int = 8000
    workers: int = 2
    # threads per gunicorn worker (gthread): a request waiting on a password hash or the
    # database then does not hold up the worker's other requests
    threads: int = 8
    bike_margin: int = 1  # bikes at pick-up and docks at drop-off a port must have, at least
    bike_status_max_age: int = 600  # seconds; older bike status is stale (the margin doubles)
    realtime_max_age: int = 600  # seconds; older GTFS-Realtime updates and positions are dropped
    log_format: LogFormat = "text"
    log_level: str = "INFO"
    secret_key: str = DEV_SECRET_KEY
    public_url: str = ""
    testing: bool = False
    # partner statistics: the privacy threshold (distinct passes per cell) and the revenue split
    stats_min_passes: int = 5
    apportion_base_share: float = 0.2
    apportion_weights: tuple[tuple[str, float], ...] = ()
    # feed imports (gtfs.limits.FeedLimits has the same defaults): fetch private addresses?
    allow_private_urls: bool = False
    feed_max_archive_bytes: int = 256 * 2**20
    feed_max_file_bytes: int = 512 * 2**20
    feed_max_total_bytes: int = 2**30
    feed_max_line_bytes: int = 64 * 2**10
    feed_max_rows: int = 5_000_000
    feed_max_json_bytes: int = 32 * 2**20
    feed_max_json_depth: int = 64
    feed_fetch_seconds: int = 120
    # reverse proxies in front of the server whose X-Forwarded-For is believed (0: none, the
    # client address is the socket's); sign-in throttling counts failures per client address
    trusted_proxies: int = 0
    # the card payment provider (a name registered in passes.payments); the sandbox takes test
    # cards and moves no money, so production refuses it unless explicitly allowed
    payment_provider: str = "sandbox"
    allow_sandbox_payments: bool = False
    # a validator device sending this many disputed scans within the window is flagged
    disputed_scans_limit: int = 5
    disputed_scans_window_hours: int = 24
    # how often a rider may move a pass to another phone per service day (support staff may
    # go past it with `maas passes move --force`)
    pass_moves_per_day: int = 2
    # wraps the private parts of the signing keys stored in the database (base64 of 32 bytes;
    # maas.core.secrets); required in production, derived from the secret key otherwise
    key_encryption_key: str = dataclasses.field(default="", repr=False)
    # maas worker: rotate the issuing keys this often (0: only by hand, `maas keys rotate`),
    # and expire orders still pending payment after this many minutes
    key_rotation_days: int = 30
    order_pending_minutes: int = 60
    # where rate-limit counters live: redis://HOST:PORT/DB shares them between every worker and
    # host; memory:// (the demo's default) counts per process. Required in production.
    redis_url: str = "memory://"
    # request limits (maas.ratelimits), each "N per SECOND|MINUTE|HOUR|DAY" (several: "a; b")
    rate_limit_login_account: str = "30 per minute"  # sign-ins per e-mail address
    rate_limit_login_address: str = "120 per minute"  # sign-ins per client address
    rate_limit_orders: str = "30 per minute"  # POST /orders per rider
    rate_limit_plan: str = "120 per minute"  # GET /plan per client address
    rate_limit_enroll: str = "10 per minute"  # POST /devices/enroll per client address
    rate_limit_scans: str = "120 per minute"  # POST /scans per enrolled device
    # GET /metrics needs "Authorization: Bearer <this>"; empty: /metrics is not served
    metrics_token: str = dataclasses.field(default="", repr=False)
    # the rider page's base map: a tile URL template (https://…/{z}/{x}/{y}.png); None draws
    # the network on a plain background. Its origin is the only one the CSP lets images from.
    map_style: str | None = None

    @property
    def map_origin(self) -> str | None:
        """scheme://host[:port] of the base map's tiles, or None without one."""
        if not self.map_style:
            return None
        parts = urlsplit(self.map_style)
        return f"{parts.scheme}://{parts.netloc}"

    @property
    def database(self) -> URL:
        """The database URL as a SQLAlchemy URL object."""
        return make_url(self.database_url)

    @property
    def base_url(self) -> str:
        """The address riders, drivers and partners reach this server on."""
        return self.public_url or f"http://{self.host}:{self.port}"


# environment variable -> field name; the single list of what MAAS_* variables exist
ENV_VARS: dict[str, str] = {
    "MAAS_ENV": "env",
    "MAAS_HOME": "home",
    "MAAS_ASSETS_DIR": "assets_dir",
    "MAAS_JOURNAL_DIR": "journal_dir",
    "MAAS_JOURNAL_FLUSH_SECONDS": "journal_flush_seconds",
    "MAAS_DATABASE_URL": "database_url",
    "MAAS_HOST": "host",
    "MAAS_PORT": "port",
    "MAAS_WORKERS": "workers",
    "MAAS_THREADS": "threads",
    "MAAS_BIKE_MARGIN": "bike_margin",
    "MAAS_BIKE_STATUS_MAX_AGE": "bike_status_max_age",
    "MAAS_REALTIME_MAX_AGE": "realtime_max_age",
    "MAAS_LOG_FORMAT": "log_format",
    "MAAS_LOG_LEVEL": "log_level",
    "MAAS_SECRET_KEY": "secret_key",
    "MAAS_PUBLIC_URL": "public_url",
    "MAAS_STATS_MIN_PASSES": "stats_min_passes",
    "MAAS_APPORTION_BASE_SHARE": "apportion_base_share",
    "MAAS_APPORTION_WEIGHTS": "apportion_weights",
    "MAAS_ALLOW_PRIVATE_URLS": "allow_private_urls",
    "MAAS_FEED_MAX_ARCHIVE_BYTES": "feed_max_archive_bytes",
    "MAAS_FEED_MAX_FILE_BYTES": "feed_max_file_bytes",
    "MAAS_FEED_MAX_TOTAL_BYTES": "feed_max_total_bytes",
    "MAAS_FEED_MAX_LINE_BYTES": "feed_max_line_bytes",
    "MAAS_FEED_MAX_ROWS": "feed_max_rows",
    "MAAS_FEED_MAX_JSON_BYTES": "feed_max_json_bytes",
    "MAAS_FEED_MAX_JSON_DEPTH": "feed_max_json_depth",
    "MAAS_FEED_FETCH_SECONDS": "feed_fetch_seconds",
    "MAAS_TRUSTED_PROXIES": "trusted_proxies",
    "MAAS_PAYMENT_PROVIDER": "payment_provider",
    "MAAS_ALLOW_SANDBOX_PAYMENTS": "allow_sandbox_payments",
    "MAAS_DISPUTED_SCANS_LIMIT": "disputed_scans_limit",
    "MAAS_DISPUTED_SCANS_WINDOW_HOURS": "disputed_scans_window_hours",
    "MAAS_PASS_MOVES_PER_DAY": "pass_moves_per_day",
    "MAAS_KEY_ENCRYPTION_KEY": "key_encryption_key",
    "MAAS_KEY_ROTATION_DAYS": "key_rotation_days",
    "MAAS_ORDER_PENDING_MINUTES": "order_pending_minutes",
    "MAAS_REDIS_URL": "redis_url",
    "MAAS_RATE_LIMIT_LOGIN_ACCOUNT": "rate_limit_login_account",
    "MAAS_RATE_LIMIT_LOGIN_ADDRESS": "rate_limit_login_address",
    "MAAS_RATE_LIMIT_ORDERS": "rate_limit_orders",
    "MAAS_RATE_LIMIT_PLAN": "rate_limit_plan",
    "MAAS_RATE_LIMIT_ENROLL": "rate_limit_enroll",
    "MAAS_RATE_LIMIT_SCANS": "rate_limit_scans",
    "MAAS_METRICS_TOKEN": "metrics_token",
    "MAAS_MAP_STYLE": "map_style",
}
RATE_LIMITS = ("rate_limit_login_account", "rate_limit_login_address", "rate_limit_orders",
               "rate_limit_plan", "rate_limit_enroll", "rate_limit_scans")
REDIS_SCHEMES = ("memory", "redis", "rediss", "redis+unix", "redis+sentinel", "redis+cluster")
# the feed import limits: field -> (lowest, highest) accepted
_FEED_LIMITS = {
    "feed_max_archive_bytes": (1, 2**40), "feed_max_file_bytes": (1, 2**40),
    "feed_max_total_bytes": (1, 2**40), "feed_max_line_bytes": (1, 2**30),
    "feed_max_rows": (1, 2**40), "feed_max_json_bytes": (1, 2**40),
    "feed_max_json_depth": (1, 10_000), "feed_fetch_seconds": (1, 86_400),
}
_FIELD_TO_VAR = {field: var for var, field in ENV_VARS.items()}


def load_settings(
    overrides: Mapping[str, Any] | None = None, environ: Mapping[str, str] | None = None
) -> Settings:
    """Build settings from the environment, then apply ``overrides`` (keyed by field name).

    Raises :class:`ConfigError` naming the variable when a value is unusable.
    """
    environ = os.environ if environ is None else environ
    raw: dict[str, Any] = {}
    for var, field in ENV_VARS.items():
        value = environ.get(var)
        if value is not None and value.strip() != "":
            raw[field] = value.strip()
    for key, value in (overrides or {}).items():
        key = key.lower()
        if key not in {f.name for f in dataclasses.fields(Settings)}:
            raise ConfigError(f"unknown setting {key!r}")
        raw[key] = value
    return _validate(raw, environ_given="secret_key" in raw)


def _name(field: str) -> str:
    return _FIELD_TO_VAR.get(field, field)


def _int(raw: Mapping[str, Any], field: str, default: int, low: int, high: int, what: str) -> int:
    value = raw.get(field, default)
    try:
        number = int(value)
    except (TypeError, ValueError):
        raise ConfigError(f"{_name(field)}: {value!r} is not {what}") from None
    if not low <= number <= high:
        raise ConfigError(f"{_name(field)}: {value!r} is not {what}")
    return number


def _choice(raw: Mapping[str, Any], field: str, default: str, choices: tuple[str, ...]) -> str:
    value = str(raw.get(field, default)).lower()
    if value not in choices:
        raise ConfigError(f"{_name(field)}: {value!r} is not one of {', '.join(choices)}")
    return value


def _validate(raw: Mapping[str, Any], *, environ_given: bool) -> Settings:
    env = _choice(raw, "env", "demo", ENVIRONMENTS)
    home = Path(str(raw.get("home", "instance"))).expanduser()
    assets_dir = Path(str(raw.get("assets_dir") or home / "static" / "vendor")).expanduser()
    journal_dir = Path(str(raw.get("journal_dir") or home / "journal")).expanduser()
    port = _int(raw, "port", 8000, 1, 65535, "a port number (1-65535)")
    workers = _int(raw, "workers", 2, 1, 64, "a worker count (1-64)")
    journal_flush_seconds = _int(raw, "journal_flush_seconds", 2, 1, 3600,
                                 "a number of seconds (1-3600)")
    default_log = "json" if env == "production" else "text"
    log_format = _choice(raw, "log_format", default_log, ("text", "json"))
    log_level = _choice(raw, "log_level", "info", ("debug", "info", "warning", "error")).upper()
    host = str(raw.get("host", "127.0.0.1"))
    if not host or any(c.isspace() for c in host):
        raise ConfigError(f"MAAS_HOST: {host!r} is not a host name or address")

    database_url = str(raw.get("database_url", "")) or _default_database_url(home)
    try:
        url = make_url(database_url)
    except ArgumentError:
        raise ConfigError(
            f"MAAS_DATABASE_URL: {database_url!r} is not a database URL "
            "(expected sqlite:///PATH or postgresql+psycopg://USER@HOST/DB)"
        ) from None
    if url.get_backend_name() not in SUPPORTED_DATABASES:
        raise ConfigError(
            f"MAAS_DATABASE_URL: backend {url.get_backend_name()!r} is not supported "
            f"(use {' or '.join(SUPPORTED_DATABASES)})"
        )
    if url.get_backend_name() == "postgresql" and url.drivername == "postgresql":
        # psycopg 3 is what we install; the bare scheme would ask for psycopg2.
        database_url = url.set(drivername="postgresql+psycopg").render_as_string(
            hide_password=False
        )

    public_url = str(raw.get("public_url", ""))
    if public_url:
        parts = urlsplit(public_url)
        if parts.scheme not in ("http", "https") or not parts.netloc:
            raise ConfigError(f"MAAS_PUBLIC_URL: {public_url!r} is not an http(s) URL")
        public_url = public_url.rstrip("/")

    secret_key = str(raw.get("secret_key", DEV_SECRET_KEY))
    if env == "production":
        if not environ_given or secret_key == DEV_SECRET_KEY:
            raise ConfigError("MAAS_SECRET_KEY: must be set in production")
        if len(secret_key) < 32:
            raise ConfigError("MAAS_SECRET_KEY: must be at least 32 characters in production")
        if not raw.get("database_url"):
            raise ConfigError("MAAS_DATABASE_URL: must be set in production")
        if not raw.get("key_encryption_key"):
            raise ConfigError("MAAS_KEY_ENCRYPTION_KEY: must be set in production (the base64 "
                              "of 32 random bytes; it encrypts the signing keys in the database)")
    key_encryption_key = str(raw.get("key_encryption_key", ""))
    if key_encryption_key:
        from maas.core.secrets import parse_kek

        parse_kek(key_encryption_key)  # fail at start, naming the variable

    payment_provider, allow_sandbox = _payments(raw, env)
    if env == "production" and not raw.get("redis_url"):
        raise ConfigError("MAAS_REDIS_URL: must be set in production (redis://HOST:PORT/DB, "
                          "where every worker and host counts rate limits together)")
    stats_min_passes = _int(raw, "stats_min_passes", 5, 1, 1000, "a pass count (1-1000)")
    base_share = _fraction(raw, "apportion_base_share", 0.2)
    weights = _weights(raw.get("apportion_weights", ()))

    feed_limits: dict[str, Any] = {
        field: _int(raw, field, _DEFAULTS[field], low, high, f"a number ({low}-{high})")
        for field, (low, high) in _FEED_LIMITS.items()}
    rate_limits: dict[str, Any] = {field: _rate_limit(raw, field) for field in RATE_LIMITS}
    return Settings(
        env=cast(Environment, env),
        home=home,
        assets_dir=assets_dir,
        journal_dir=journal_dir,
        journal_flush_seconds=journal_flush_seconds,
        database_url=database_url,
        host=host,
        port=port,
        workers=workers,
        threads=_int(raw, "threads", 8, 1, 64, "a thread count (1-64)"),
        bike_margin=_int(raw, "bike_margin", 1, 0, 100, "a number of bikes (0-100)"),
        bike_status_max_age=_int(raw, "bike_status_max_age", 600, 0, 86400,
                                 "a number of seconds (0-86400)"),
        realtime_max_age=_int(raw, "realtime_max_age", 600, 1, 86400,
                              "a number of seconds (1-86400)"),
        log_format=cast(LogFormat, log_format),
        log_level=log_level,
        secret_key=secret_key,
        public_url=public_url,
        testing=bool(raw.get("testing", env == "test")),
        stats_min_passes=stats_min_passes,
        apportion_base_share=base_share,
        apportion_weights=weights,
        allow_private_urls=_flag(raw, "allow_private_urls"),
        **feed_limits,
        trusted_proxies=_int(raw, "trusted_proxies", 0, 0, 10, "a number of proxies (0-10)"),
        payment_provider=payment_provider,
        allow_sandbox_payments=allow_sandbox,
        disputed_scans_limit=_int(raw, "disputed_scans_limit", 5, 1, 100_000,
                                  "a number of scans (1-100000)"),
        disputed_scans_window_hours=_int(raw, "disputed_scans_window_hours", 24, 1, 24 * 31,
                                         "a number of hours (1-744)"),
        pass_moves_per_day=_int(raw, "pass_moves_per_day", 2, 0, 100,
                                "a number of moves (0-100)"),
        key_encryption_key=key_encryption_key,
        key_rotation_days=_int(raw, "key_rotation_days", 30, 0, 3650,
                               "a number of days (0-3650; 0: rotate by hand only)"),
        order_pending_minutes=_int(raw, "order_pending_minutes", 60, 5, 7 * 24 * 60,
                                   "a number of minutes (5-10080)"),
        redis_url=_redis_url(raw),
        **rate_limits,
        metrics_token=_metrics_token(raw, env),
        map_style=_map_style(raw.get("map_style")),
    )


def _redis_url(raw: Mapping[str, Any]) -> str:
    value = str(raw.get("redis_url", "")).strip() or "memory://"
    scheme = urlsplit(value).scheme
    if scheme not in REDIS_SCHEMES or "://" not in value:
        raise ConfigError(f"MAAS_REDIS_URL: {value!r} is not a Redis URL "
                          "(redis://HOST:PORT/DB, rediss://..., or memory:// for one process)")
    return value


def _rate_limit(raw: Mapping[str, Any], field: str) -> str:
    """A limit in the notation of the ``limits`` package: "10 per minute", "5/second; 100/day"."""
    from limits import parse_many

    value = str(raw.get(field, _DEFAULTS[field])).strip()
    try:
        parsed = parse_many(value)
    except ValueError:
        parsed = []
    if not parsed or len(value) > 200 or any(item.amount < 1 for item in parsed):
        raise ConfigError(f"{_name(field)}: {value!r} is not a rate limit "
                          "(N per second|minute|hour|day, several separated by ';')")
    return value


def _metrics_token(raw: Mapping[str, Any], env: str) -> str:
    value = str(raw.get("metrics_token", "")).strip()
    if value and (len(value) < 16 or any(c.isspace() for c in value)):
        raise ConfigError("MAAS_METRICS_TOKEN: use at least 16 characters and no spaces")
    if env == "production" and value and len(value) < 32:
        raise ConfigError("MAAS_METRICS_TOKEN: must be at least 32 characters in production")
    return value


_TILE_TEMPLATE = re.compile(r"^https?://[A-Za-z0-9.-]+(:[0-9]{1,5})?/[^\s\"'<>]*$")


def _map_style(value: object) -> str | None:
    """A tile URL template with {z}, {x} and {y}, on http(s) and one host (it goes into CSP)."""
    if value in (None, ""):
        return None
    text = str(value)
    if (len(text) > 500 or not _TILE_TEMPLATE.match(text)
            or not all(part in text for part in ("{z}", "{x}", "{y}"))):
        raise ConfigError(f"MAAS_MAP_STYLE: {text[:80]!r} is not a tile URL template such as "
                          "https://tiles.example.jp/{z}/{x}/{y}.png")
    return text


SANDBOX = "sandbox"
_PROVIDER_NAME = re.compile(r"^[a-z][a-z0-9_-]{0,31}$")


def _payments(raw: Mapping[str, Any], env: str) -> tuple[str, bool]:
    """The payment provider's name and whether the sandbox may run in production.

    Which names exist is the payments package's business (checked when the app is built);
    here: a name is required in production, and there the sandbox only with
    MAAS_ALLOW_SANDBOX_PAYMENTS=1 (a staging instance, say), since it accepts test cards.
    """
    allow = _flag(raw, "allow_sandbox_payments")
    given = str(raw.get("payment_provider", "")).strip().lower()
    if env == "production" and not given:
        raise ConfigError("MAAS_PAYMENT_PROVIDER: must be set in production")
    name = given or SANDBOX
    if not _PROVIDER_NAME.match(name):
        raise ConfigError(f"MAAS_PAYMENT_PROVIDER: {name!r} is not a provider name")
    if env == "production" and name == SANDBOX and not allow:
        raise ConfigError("MAAS_PAYMENT_PROVIDER: the sandbox accepts test cards and moves no "
                          "money; production refuses it unless MAAS_ALLOW_SANDBOX_PAYMENTS=1")
    return name, allow


_DEFAULTS: dict[str, Any] = {f.name: f.default for f in dataclasses.fields(Settings)}


def _flag(raw: Mapping[str, Any], field: str) -> bool:
    value = raw.get(field, False)
    if isinstance(value, bool):
        return value
    text = str(value).strip().lower()
    if text in ("1", "true", "yes", "on"):
        return True
    if text in ("0", "false", "no", "off", ""):
        return False
    raise ConfigError(f"{_name(field)}: {value!r} is not 1 or 0 (true or false)")


def _fraction(raw: Mapping[str, Any], field: str, default: float) -> float:
    value = raw.get(field, default)
    try:
        number = float(value)
    except (TypeError, ValueError):
        number = -1.0
    if not 0 <= number <= 1:
        raise ConfigError(f"{_name(field)}: {value!r} is not a share between 0 and 1")
    return number


def _weights(value: Any) -> tuple[tuple[str, float], ...]:
    """``OPERATOR=WEIGHT,...`` (or pairs already) as sorted (operator, weight) pairs."""
    pairs = value.items() if isinstance(value, Mapping) else value
    if isinstance(value, str):
        pairs = [item.partition("=")[::2] for item in value.split(",") if item.strip()]
    weights: dict[str, float] = {}
    for operator, weight in pairs:
        try:
            number = float(weight)
        except (TypeError, ValueError):
            number = -1.0
        if not str(operator).strip() or not 0 <= number < 1e6:
            raise ConfigError(f"MAAS_APPORTION_WEIGHTS: {operator}={weight} is not "
                              "OPERATOR=WEIGHT with a weight of 0 or more")
        weights[str(operator).strip()] = number
    return tuple(sorted(weights.items()))


def _default_database_url(home: Path) -> str:
    return f"sqlite:///{(home / 'maas.sqlite3').resolve()}"
