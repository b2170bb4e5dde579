"""GTFS times and Japanese holidays."""

from __future__ import annotations

import datetime as dt

import pytest
from hypothesis import given
from hypothesis import strategies as st

from gtfs.gtfstime import format_time, parse_time
from gtfs.holidays import is_holiday, japanese_holidays


@given(st.integers(min_value=0, max_value=72 * 3600 - 1))
def test_time_round_trip(seconds: int) -> None:
    assert parse_time(format_time(seconds)) == seconds


@pytest.mark.parametrize(
    ("text", "seconds"),
    [("7:42:00", 27720), ("07:42:00", 27720), (" 25:10:05 ", 90605), ("0:00:00", 0)],
)
def test_parse_tolerates_real_feed_spellings(text: str, seconds: int) -> None:
    assert parse_time(text) == seconds


@pytest.mark.parametrize("text", ["", "7:42", "07:60:00", "ab:cd:ef", "-1:00:00"])
def test_parse_rejects_broken_times(text: str) -> None:
    with pytest.raises(ValueError, match="not a GTFS time"):
        parse_time(text)


def test_holidays_2026_match_the_cabinet_office_list() -> None:
    expected = {
        "2026-01-01", "2026-01-12", "2026-02-11", "2026-02-23", "2026-03-20", "2026-04-29",
        "2026-05-03", "2026-05-04", "2026-05-05", "2026-05-06", "2026-07-20", "2026-08-11",
        "2026-09-21", "2026-09-22", "2026-09-23", "2026-10-12", "2026-11-03", "2026-11-23",
    }
    assert {day.isoformat() for day in japanese_holidays(2026)} == expected
    assert japanese_holidays(2026)[dt.date(2026, 5, 6)] == "振替休日"
    assert japanese_holidays(2026)[dt.date(2026, 9, 22)] == "国民の休日"


def test_holidays_2027_include_substitute_for_sunday() -> None:
    days = japanese_holidays(2027)
    assert days[dt.date(2027, 3, 21)] == "春分の日"  # a Sunday
    assert days[dt.date(2027, 3, 22)] == "振替休日"
    assert is_holiday(dt.date(2027, 2, 11))
    assert not is_holiday(dt.date(2027, 2, 12))


def test_holidays_outside_rules_range_are_refused() -> None:
    with pytest.raises(ValueError, match="1980-2099"):
        japanese_holidays(2100)
