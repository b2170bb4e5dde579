"""The dates and times the service accepts from a client: years 1900 to 2999.

Python's ``date`` runs from year 1 to 9999, but the services add and subtract days (a
statistics window, the planner's service days, a pass's validity), convert between zones and
compute timestamps; at either end of that range such arithmetic raises ``OverflowError``, a
500 for what is a bad request. Every date or time a request carries is therefore one of the
annotated types below, so an out-of-range value is a 422 naming the field before any service
sees it. The bounds are far wider than any timetable, pass or statistic needs and far enough
from the ends that no arithmetic of the services can leave the representable range.
"""

from __future__ import annotations

import datetime as dt
from typing import Annotated

from pydantic import AfterValidator, AwareDatetime

EARLIEST = dt.date(1900, 1, 1)
LATEST = dt.date(2999, 12, 31)
_RANGE = f"must be between {EARLIEST.isoformat()} and {LATEST.isoformat()}"


def date_in_range(value: dt.date) -> dt.date:
    """``value`` if it lies within [EARLIEST, LATEST]; ``ValueError`` otherwise."""
    day = value.date() if isinstance(value, dt.datetime) else value
    if not EARLIEST <= day <= LATEST:
        raise ValueError(f"{value.isoformat()}: {_RANGE}")
    return value


def datetime_in_range(value: dt.datetime) -> dt.datetime:
    """``value`` if its own (wall-clock) date lies within the range; ``ValueError`` otherwise.

    The date is taken before any zone conversion, which could itself overflow at the ends.
    """
    return date_in_range(value)  # type: ignore[return-value]  # a datetime comes back


# a calendar day a client sends (ISO 8601 YYYY-MM-DD)
Day = Annotated[dt.date, AfterValidator(date_in_range)]
# a moment a client sends, with or without an offset
Moment = Annotated[dt.datetime, AfterValidator(datetime_in_range)]
# a moment a client sends, with its offset required
AwareMoment = Annotated[AwareDatetime, AfterValidator(datetime_in_range)]
