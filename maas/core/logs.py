"""Logging: readable lines for the demo, one JSON object per line in production.

Every record carries the id of the request it was written for (``-`` outside a request).
"""

from __future__ import annotations

import contextvars
import datetime as dt
import logging
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

    def format(self, record: logging.LogRecord) -> str:
        """Render ``record`` as a JSON line."""
        document: dict[str, Any] = {
            "time": dt.datetime.fromtimestamp(record.created, dt.UTC).isoformat(
                timespec="milliseconds"
            ),
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": record.getMessage(),
            "request_id": getattr(record, "request_id", "-"),
        }
        attributes = vars(record)
        extras = attributes.keys() - _STANDARD_ATTRS  # passed with extra= (one set operation)
        for key in sorted(extras, key=list(attributes).index) if len(extras) > 1 else extras:
            if not key.startswith("_"):
                document[key] = attributes[key]
        if record.exc_info:
            document["exception"] = self.formatException(record.exc_info)
        # orjson writes UTF-8 as is (no escaping of Japanese); what it does not know natively,
        # and times and dataclasses, go through str() as json.dumps(default=str) did
        return orjson.dumps(document, default=str, option=_ORJSON_OPTIONS).decode()


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
