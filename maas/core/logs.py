"""Logging: readable lines for the demo, one JSON object per line in production.

Every record carries the id of the request it was written for (``-`` outside a request).
"""

from __future__ import annotations

import contextvars
import datetime as dt
import logging
import math
import sys
from typing import Any

import orjson

from maas.core.config import Settings

request_id_var: contextvars.ContextVar[str] = contextvars.ContextVar("request_id", default="-")

_HANDLER_NAME = "maas"
# attributes every LogRecord has; anything else was passed through ``extra=`` and is logged
_STANDARD_ATTRS = frozenset(vars(logging.makeLogRecord({}))) | {"message", "asctime", "request_id"}
_ORJSON_OPTIONS = (orjson.OPT_NON_STR_KEYS | orjson.OPT_PASSTHROUGH_DATETIME
                   | orjson.OPT_PASSTHROUGH_DATACLASS | orjson.OPT_PASSTHROUGH_SUBCLASS)


class RequestIdFilter(logging.Filter):
    """Adds ``request_id`` to every record."""

    def filter(self, record: logging.LogRecord) -> bool:
        """Attach the current request id; never drops a record."""
        record.request_id = request_id_var.get()
        return True


class JsonFormatter(logging.Formatter):
    """One JSON object per line with time, level, logger, message, request id and extras."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        # the whole second of the last line's time: (seconds since the epoch, its UTC text to
        # the second, the offset); lines come many a second, and datetime took ~2 µs each
        self._second: tuple[int, str, str] | None = None

    def format(self, record: logging.LogRecord) -> str:
        """Render ``record`` as a JSON line."""
        document: dict[str, Any] = {
            "time": self.time_text(record.created),
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": record.getMessage(),
            "request_id": getattr(record, "request_id", "-"),
        }
        # what was passed with extra=, in the order it was given: the attributes no record
        # has of its own, in the record's order (one pass, no sorting)
        for key, value in vars(record).items():
            if key not in _STANDARD_ATTRS and not key.startswith("_"):
                document[key] = value
        if record.exc_info:
            document["exception"] = self.formatException(record.exc_info)
        # orjson writes UTF-8 as is (no escaping of Japanese); what it does not know natively,
        # and times and dataclasses, go through str() as json.dumps(default=str) did
        return orjson.dumps(document, default=str, option=_ORJSON_OPTIONS).decode()

    def time_text(self, created: float) -> str:
        """``created`` (seconds since the epoch) as ISO 8601 in UTC to the millisecond: what
        ``datetime.fromtimestamp(created, UTC).isoformat(timespec="milliseconds")`` writes.

        That rounds the fraction to the nearest microsecond, ties to even (a fraction that
        rounds up to a whole million carries into the second), and the text truncates it to
        milliseconds; the second's text is made by datetime once a second."""
        fraction, whole = math.modf(created)
        micro = round(fraction * 1e6)
        if micro >= 1_000_000:
            micro -= 1_000_000
            whole += 1
        elif micro < 0:  # before 1970: modf's parts are negative
            micro += 1_000_000
            whole -= 1
        second = int(whole)
        known = self._second
        if known is None or known[0] != second:
            text = dt.datetime.fromtimestamp(second, dt.UTC).isoformat(timespec="seconds")
            # one assignment: threads see the old second or the new one, never half
            known = self._second = (second, text[:-6], text[-6:])
        return f"{known[1]}.{micro // 1000:03d}{known[2]}"


TEXT_FORMAT = "%(asctime)s %(levelname)-7s [%(request_id)s] %(name)s: %(message)s"


def configure_logging(settings: Settings) -> None:
    """Install our handler on the root logger (replacing an earlier one of ours)."""
    root = logging.getLogger()
    for handler in list(root.handlers):
        if handler.get_name() == _HANDLER_NAME:
            root.removeHandler(handler)
    handler = logging.StreamHandler(sys.stderr)
    handler.set_name(_HANDLER_NAME)
    handler.addFilter(RequestIdFilter())
    if settings.log_format == "json":
        handler.setFormatter(JsonFormatter())
    else:
        handler.setFormatter(logging.Formatter(TEXT_FORMAT, datefmt="%H:%M:%S"))
    root.addHandler(handler)
    root.setLevel(settings.log_level)
    if settings.log_level != "DEBUG":
        # migration chatter is noise at every start; errors still show
        logging.getLogger("alembic").setLevel(logging.WARNING)
