"""Japanese national holidays (国民の祝日), for service calendars (平日 / 土日祝).

Follows the Act on National Holidays as amended to date: fixed days, Happy Monday days,
the equinoxes (astronomical approximation valid 1980-2099), 振替休日 (a holiday falling on
Sunday moves to the next non-holiday) and 国民の休日 (a day between two holidays).
"""

from __future__ import annotations

import datetime as dt
import functools

_FIXED: tuple[tuple[int, int, str], ...] = (
    (1, 1, "元日"),
    (2, 11, "建国記念の日"),
    (2, 23, "天皇誕生日"),
    (4, 29, "昭和の日"),
    (5, 3, "憲法記念日"),
    (5, 4, "みどりの日"),
    (5, 5, "こどもの日"),
    (8, 11, "山の日"),
    (11, 3, "文化の日"),
    (11, 23, "勤労感謝の日"),
)
# (month, which Monday, name)
_HAPPY_MONDAYS: tuple[tuple[int, int, str], ...] = (
    (1, 2, "成人の日"),
    (7, 3, "海の日"),
    (9, 3, "敬老の日"),
    (10, 2, "スポーツの日"),
)


def _nth_monday(year: int, month: int, n: int) -> dt.date:
    first = dt.date(year, month, 1)
    offset = (7 - first.weekday()) % 7  # days to the first Monday
    return first + dt.timedelta(days=offset + 7 * (n - 1))


def _equinox_day(year: int, base: float) -> int:
    # The standard approximation used by the National Astronomical Observatory tables.
    return int(base + 0.242194 * (year - 1980) - (year - 1980) // 4)


@functools.cache
def japanese_holidays(year: int) -> dict[dt.date, str]:
    """All national holidays of ``year`` (1980-2099), with their names."""
    if not 1980 <= year <= 2099:
        raise ValueError(f"holiday rules are implemented for 1980-2099, not {year}")
    days: dict[dt.date, str] = {dt.date(year, m, d): name for m, d, name in _FIXED}
    for month, n, name in _HAPPY_MONDAYS:
        days[_nth_monday(year, month, n)] = name
    days[dt.date(year, 3, _equinox_day(year, 20.8431))] = "春分の日"
    days[dt.date(year, 9, _equinox_day(year, 23.2488))] = "秋分の日"

    for day in sorted(days):
        between = day + dt.timedelta(days=1)
        if (
            between + dt.timedelta(days=1) in days
            and between not in days
            and between.weekday() != 6
        ):
            days[between] = "国民の休日"
    for day in sorted(days):
        if day.weekday() == 6:  # Sunday: the next day that is not a holiday is off instead
            substitute = day + dt.timedelta(days=1)
            while substitute in days:
                substitute += dt.timedelta(days=1)
            days[substitute] = "振替休日"
    return dict(sorted(days.items()))


def is_holiday(day: dt.date) -> bool:
    """True on a national holiday."""
    return day in japanese_holidays(day.year)
