"""read_feed as a whole: a clean feed exactly, and what makes it refuse a feed."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import numpy as np
import pytest

from gtfs.feed import (
    Agency,
    Route,
    Stop,
    Trip,
    feed_summary,
    read_feed,
)
from maas.core.errors import InvalidInput
from tests.feed_samples import h, refusal, write_feed


def test_reads_a_clean_feed_exactly(tmp_path: Path) -> None:
    feed = read_feed(write_feed(tmp_path / "feed", {}))

    assert feed.agencies == [
        Agency("hokutetsu", "北陸鉄道", "https://www.hokutetsu.co.jp/", "Asia/Tokyo")
    ]
    assert feed.stops == [
        Stop("kanazawa", "金沢駅", 36.5781, 136.6480, location_type=1),
        Stop("kanazawa_1", "金沢駅東口", 36.5780, 136.6485, parent=0, platform_code="01",
             zone_id="Z1"),
        Stop("korinbo", "香林坊", 36.5613, 136.6559, zone_id="Z2"),
        Stop("katamachi", "片町", 36.5581, 136.6508, zone_id="Z2"),
    ]
    assert feed.routes == [Route("r1", 0, "10", "金沢駅–片町", 3, color="E60012")]
    assert feed.trips == [
        Trip("t1", route=0, service=0, headsign="片町", direction_id=0),
        Trip("t2", route=0, service=1, headsign="片町", direction_id=-1),
    ]
    assert feed.services == ["平日", "●"]
    assert feed.first_date == dt.date(2026, 12, 1)
    assert feed.last_date == dt.date(2026, 12, 10)
    # Tue 1 … Thu 10; 平日 loses Thursday the 3rd, ● gains Thursday the 10th
    assert feed.service_days.tolist() == [
        [True, True, False, True, False, False, True, False, False, False],
        [False, False, False, False, True, True, False, False, False, True],
    ]
    assert feed.st_trip.dtype == np.int32
    assert feed.st_pickup.dtype == np.int8
    assert feed.st_trip.tolist() == [0, 0, 0, 1, 1, 1]
    assert feed.st_stop.tolist() == [1, 2, 3, 1, 2, 3]
    assert feed.st_arrival.tolist() == [h("7:42:00"), h("7:50:00"), h("7:55:00"),
                                        h("24:50:00"), h("25:00:00"), h("25:10:00")]
    assert feed.st_departure.tolist() == [h("7:42:00"), h("7:51:00"), h("7:55:00"),
                                          h("24:50:00"), h("25:00:00"), h("25:10:00")]
    assert feed.st_pickup.tolist() == [0, 0, 1, 0, 0, 1]
    assert feed.st_dropoff.tolist() == [1, 0, 0, 1, 0, 0]
    assert feed.transfers == []
    assert feed.fares == []
    assert feed.warnings == []
    assert feed_summary(feed) == {
        "agencies": 1, "stops": 4, "routes": 1, "trips": 2, "stop_times": 6,
        "service_start": "2026-12-01", "service_end": "2026-12-10", "warnings": 0,
    }


@pytest.mark.parametrize(
    "name", ["agency.txt", "stops.txt", "routes.txt", "trips.txt", "stop_times.txt"]
)
def test_rejects_a_missing_required_file(tmp_path: Path, name: str) -> None:
    with pytest.raises(InvalidInput) as caught:
        read_feed(write_feed(tmp_path / "feed", {name: None}))
    assert caught.value.detail == f"{name}: required file is missing"


def test_rejects_a_feed_without_any_calendar(tmp_path: Path) -> None:
    with pytest.raises(InvalidInput) as caught:
        read_feed(write_feed(tmp_path / "feed", {"calendar.txt": None,
                                                "calendar_dates.txt": None}))
    assert caught.value.detail == (
        "calendar.txt: required file is missing (a feed needs calendar.txt or calendar_dates.txt)"
    )


REJECTED = {
    "stops without stop_lat": (
        {"stops.txt": "stop_id,stop_name,stop_lon\nkanazawa,金沢駅,136.6480\n"},
        "stops.txt line 1 column stop_lat: required column is missing",
    ),
    "stop_times without any time column": (
        {"stop_times.txt": "trip_id,stop_id,stop_sequence\nt1,korinbo,1\n"},
        "stop_times.txt line 1 column arrival_time: required column is missing",
    ),
    "required file without rows": (
        {"trips.txt": "route_id,service_id,trip_id\n"},
        "trips.txt: the file has no data rows",
    ),
}


@pytest.mark.parametrize(("files", "message"), REJECTED.values(), ids=REJECTED.keys())
def test_rejects_broken_input_naming_file_line_and_column(
    tmp_path: Path, files: dict[str, str | None], message: str
) -> None:
    assert refusal(tmp_path, files) == message
