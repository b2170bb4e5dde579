"""The small clean GTFS feed the feed tests vary, and helpers to write and compare feeds."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

import numpy as np
import pytest

from gtfs.feed import FeedData, read_feed
from gtfs.gtfstime import parse_time
from maas.core.errors import InvalidInput
from tests.conftest import SHARED_DATA

WEEK = "monday,tuesday,wednesday,thursday,friday,saturday,sunday"

# A small clean feed: one agency, a station with a platform, two trips (one after midnight),
# 平日 and ● services over the week starting Tuesday 2026-12-01, exceptions in calendar_dates.
BASE = {
    "agency.txt": """\
agency_id,agency_name,agency_url,agency_timezone
hokutetsu,北陸鉄道,https://www.hokutetsu.co.jp/,Asia/Tokyo
""",
    "stops.txt": """\
stop_id,stop_name,stop_lat,stop_lon,location_type,parent_station,platform_code,zone_id
kanazawa,金沢駅,36.5781,136.6480,1,,,
kanazawa_1,金沢駅東口,36.5780,136.6485,0,kanazawa,01,Z1
korinbo,香林坊,36.5613,136.6559,0,,,Z2
katamachi,片町,36.5581,136.6508,0,,,Z2
""",
    "routes.txt": """\
route_id,agency_id,route_short_name,route_long_name,route_type,route_color
r1,hokutetsu,10,金沢駅–片町,3,E60012
""",
    "trips.txt": """\
route_id,service_id,trip_id,trip_headsign,direction_id
r1,平日,t1,片町,0
r1,●,t2,片町,
""",
    "stop_times.txt": """\
trip_id,arrival_time,departure_time,stop_id,stop_sequence,pickup_type,drop_off_type
t1,7:42:00,7:42:00,kanazawa_1,1,0,1
t1,07:50:00,07:51:00,korinbo,2,,
t1,07:55:00,07:55:00,katamachi,3,1,0
t2,24:50:00,24:50:00,kanazawa_1,1,0,1
t2,25:00:00,25:00:00,korinbo,2,0,0
t2,25:10:00,25:10:00,katamachi,3,1,0
""",
    "calendar.txt": f"""\
service_id,{WEEK},start_date,end_date
平日,1,1,1,1,1,0,0,20261201,20261207
●,0,0,0,0,0,1,1,20261201,20261207
""",
    "calendar_dates.txt": """\
service_id,date,exception_type
平日,20261203,2
●,20261210,1
""",
}


def h(text: str) -> int:
    """Seconds of a GTFS time, for readable expectations."""
    return parse_time(text)


def write_feed(folder: Path, files: Mapping[str, str | None]) -> Path:
    """BASE with ``files`` replacing (or, with None, removing) some of its files."""
    folder.mkdir(parents=True, exist_ok=True)
    for name, text in {**BASE, **files}.items():
        if text is not None:
            (folder / name).write_bytes(text.encode("utf-8"))
    return folder


def refusal(tmp_path: Path, files: Mapping[str, str | None]) -> str:
    """The one-line error reading the sample feed changed by ``files`` gives (it must fail)."""
    with pytest.raises(InvalidInput) as caught:
        read_feed(write_feed(tmp_path / "feed", files))
    return caught.value.detail


def assert_same_feed(actual: FeedData, expected: FeedData) -> None:
    """Field-by-field equality (the arrays compare element-wise)."""
    for name in FeedData.__dataclass_fields__:
        left, right = getattr(actual, name), getattr(expected, name)
        if isinstance(left, np.ndarray):
            assert left.dtype == right.dtype, name
            np.testing.assert_array_equal(left, right, err_msg=name)
        else:
            assert left == right, name


def shared(folder: str, name: str) -> Path:
    path = SHARED_DATA / folder / name
    assert path.is_file(), f"{path} is missing: the real-feed tests need ../shared/data"
    return path
