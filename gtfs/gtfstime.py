"""GTFS clock times: seconds after the service day's noon-minus-12h, which may pass 24:00."""

from __future__ import annotations

import re

_TIME = re.compile(r"^\s*(\d{1,3}):([0-5]\d):([0-5]\d)\s*$")


def parse_time(text: str) -> int:
    """Parse ``H:MM:SS`` or ``HH:MM:SS`` (hours may exceed 23) into seconds.

    Raises ValueError naming the bad text.
    """
    match = _TIME.match(text)
    if match is None:
        raise ValueError(f"{text!r} is not a GTFS time (H:MM:SS)")
    hours, minutes, seconds = (int(part) for part in match.groups())
    return hours * 3600 + minutes * 60 + seconds


def format_time(seconds: int) -> str:
    """Format seconds as ``HH:MM:SS``; 25 hours stays ``25:00:00``."""
    if seconds < 0:
        raise ValueError(f"negative GTFS time: {seconds}")
    hours, rest = divmod(seconds, 3600)
    minutes, secs = divmod(rest, 60)
    return f"{hours:02d}:{minutes:02d}:{secs:02d}"
