"""Time primitives: the injected clock and the user-facing zone (Asia/Tokyo)."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from zoneinfo import ZoneInfo

Clock = Callable[[], dt.datetime]
TOKYO = ZoneInfo("Asia/Tokyo")


def system_clock() -> dt.datetime:
    """The current time, timezone-aware, in UTC."""
    return dt.datetime.now(dt.UTC)


def isoformat_tokyo(moment: dt.datetime) -> str:
    """ISO 8601 with the +09:00 offset, to the second, as every interface shows times."""
    return moment.astimezone(TOKYO).isoformat(timespec="seconds")
