"""maas.core.logs.JsonFormatter writes what its first, plainer version wrote, byte for byte:
the time from datetime, the extras in the order they were given."""

from __future__ import annotations

import datetime as dt
import logging
import math
import random
import sys
from typing import Any

import orjson
import pytest

from maas.core.logs import _ORJSON_OPTIONS, _STANDARD_ATTRS, JsonFormatter


def plain_time(created: float) -> str:
    return dt.datetime.fromtimestamp(created, dt.UTC).isoformat(timespec="milliseconds")


def plain_format(formatter: logging.Formatter, record: logging.LogRecord) -> str:
    """The formatter as it was: a datetime per line, the extras sorted by their position."""
    document: dict[str, Any] = {
        "time": plain_time(record.created),
        "level": record.levelname.lower(),
        "logger": record.name,
        "message": record.getMessage(),
        "request_id": getattr(record, "request_id", "-"),
    }
    attributes = vars(record)
    extras = attributes.keys() - _STANDARD_ATTRS
    for key in sorted(extras, key=list(attributes).index) if len(extras) > 1 else extras:
        if not key.startswith("_"):
            document[key] = attributes[key]
    if record.exc_info:
        document["exception"] = formatter.formatException(record.exc_info)
    return orjson.dumps(document, default=str, option=_ORJSON_OPTIONS).decode()


def moments() -> list[float]:
    """Times of day now and then, and the fractions where rounding to the microsecond
    carries, ties, or stays just below."""
    rng = random.Random(20261203)
    found = [0.0, 1.0, 1e9, 1764720000.0, 1796000000.123456, 4102444799.9999995,
             -1.5, -0.0004, -86400.9999996]
    for _ in range(20000):
        found.append(rng.uniform(0, 4.2e9))
    for whole in (0, 1, 1796000000, 1796000059, 4102444799):
        for fraction in (0.0, 0.0005, 0.0009995, 0.0009994999, 0.5, 0.9994999, 0.9995,
                         0.999999, 0.9999994, 0.9999995, 0.9999996, 0.99999999):
            moment = whole + fraction
            found += [moment, math.nextafter(moment, math.inf),
                      math.nextafter(moment, -math.inf)]
    for step in range(2000):  # microsecond ties around one second
        found.append(1796000000 + step / 4000 + 0.0000005)
    return found


def test_the_time_is_datetimes_to_the_millisecond() -> None:
    formatter = JsonFormatter()
    for moment in moments():
        assert formatter.time_text(moment) == plain_time(moment), repr(moment)
    ordered = JsonFormatter()  # one second after another, as lines come
    for moment in sorted(moments()):
        assert ordered.time_text(moment) == plain_time(moment), repr(moment)


def record(extra: dict[str, Any] | None = None, **fields: Any) -> logging.LogRecord:
    made = logging.getLogger("maas.access").makeRecord(
        "maas.access", fields.pop("level", logging.INFO), __file__, 1,
        fields.pop("msg", "%s %s %s"), fields.pop("args", ("GET", "/api/v1/health", 200)),
        fields.pop("exc_info", None), "record", extra)
    for key, value in fields.items():
        setattr(made, key, value)
    return made


def failure() -> Any:
    try:
        raise ValueError("金沢 went wrong")
    except ValueError:
        return sys.exc_info()


@pytest.mark.parametrize("made", [
    record({"status": 200, "ms": 0.12}, request_id="0123456789abcdef0123456789abcdef"),
    record({"ms": 1.5, "status": 404, "path": "/x"}),  # extras in the order given
    record({"only": "one"}, request_id="warm-up"),
    record(None, level=logging.WARNING, msg="hello %s", args=("金沢",)),
    record({"_hidden": 1, "when": dt.datetime(2026, 12, 3, tzinfo=dt.UTC), "tags": {1, 2},
            "nested": {"a": [1, 2.5, None]}}),
    record({"status": 500}, exc_info=failure(), level=logging.ERROR, msg="boom", args=()),
    record({"status": 200}, created=1796000000.9999995, message="set by another formatter",
           asctime="then", custom="set by a filter"),
], ids=["access", "order", "one", "no-extras", "odd-values", "exception", "others-fields"])
def test_a_line_is_the_plain_formatters(made: logging.LogRecord) -> None:
    formatter = JsonFormatter()
    assert formatter.format(made) == plain_format(formatter, made)
    assert formatter.format(made) == plain_format(formatter, made)  # the second kept
