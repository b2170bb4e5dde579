"""The plan document's times: written directly with the day's UTC offset, they must read as
``to_datetime(...).isoformat()`` does, on days with and without a clock change."""

from __future__ import annotations

import datetime as dt
from types import SimpleNamespace
from typing import Any

from hypothesis import given
from hypothesis import strategies as st

from gtfs.itinerary import _Clock
from gtfs.planner import to_datetime

ZONES = ["Asia/Tokyo", "America/New_York", "Europe/Berlin", "Australia/Lord_Howe"]


def network(zone: str) -> Any:
    return SimpleNamespace(meta={"timezone": zone})


@given(zone=st.sampled_from(ZONES),
       day=st.dates(dt.date(2026, 1, 1), dt.date(2027, 12, 31)) | st.sampled_from([
           dt.date(2026, 3, 8), dt.date(2026, 3, 7), dt.date(2026, 10, 31),
           dt.date(2026, 11, 1), dt.date(2026, 3, 29), dt.date(2026, 10, 25)]),
       seconds=st.integers(-86_400, 3 * 86_400))
def test_clock_reads_as_isoformat(zone: str, day: dt.date, seconds: int) -> None:
    timetable = network(zone)
    expected = to_datetime(timetable, day, seconds).isoformat(timespec="seconds")
    assert _Clock(timetable, day)(seconds) == expected


def test_a_clock_change_is_written_with_each_time_s_offset() -> None:
    timetable = network("America/New_York")
    clock = _Clock(timetable, dt.date(2026, 11, 1))  # 02:00 EDT → 01:00 EST
    assert clock.offset is None
    assert clock(0) == "2026-11-01T00:00:00-04:00"
    assert clock(12 * 3600) == "2026-11-01T12:00:00-05:00"
    plain = _Clock(timetable, dt.date(2026, 12, 2))
    assert plain.offset == "-05:00"
    assert plain(25 * 3600 + 61) == "2026-12-03T01:01:01-05:00"


@given(zone=st.sampled_from(ZONES), day=st.dates(dt.date(2026, 1, 1), dt.date(2027, 12, 31)),
       times=st.lists(st.integers(-86_400, 3 * 86_400), min_size=1, max_size=40))
def test_a_clock_remembers_what_it_wrote_and_answers_the_same(
        zone: str, day: dt.date, times: list[int]) -> None:
    timetable = network(zone)
    clock = _Clock(timetable, day)
    first = [clock(seconds) for seconds in times]
    again = [clock(seconds) for seconds in reversed(times)]
    assert again == first[::-1]
    assert first == [to_datetime(timetable, day, s).isoformat(timespec="seconds") for s in times]
    assert set(clock.texts) == set(times)


@given(zone=st.sampled_from(ZONES),
       moment=st.datetimes(dt.datetime(2026, 1, 1), dt.datetime(2027, 12, 31),  # noqa: DTZ001 - hypothesis bounds are naive; the zone comes from timezones=
                           timezones=st.just(dt.UTC)))
def test_service_time_is_the_wall_clock_time_since_local_midnight(
        zone: str, moment: dt.datetime) -> None:
    from gtfs.planner import service_time, timezone

    timetable = network(zone)
    day, seconds = service_time(timetable, moment)
    local = moment.astimezone(timezone(timetable))
    midnight = local.replace(hour=0, minute=0, second=0, microsecond=0)
    assert (day, seconds) == (local.date(), int((local - midnight).total_seconds()))
    assert timezone(timetable) is timezone(timetable)  # made once per network
