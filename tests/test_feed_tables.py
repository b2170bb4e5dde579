"""The small tables: agency, stops, routes, calendars, trips, transfers, fares."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest

from gtfs.feed import (
    FareRule,
    Transfer,
    read_feed,
)
from tests.feed_samples import BASE, WEEK, refusal, write_feed


def test_only_calendar_dates(tmp_path: Path) -> None:
    feed = read_feed(write_feed(tmp_path / "feed", {
        "calendar.txt": None,
        "calendar_dates.txt": (
            "service_id,date,exception_type\n"
            "●,20261205,1\n"
            "平日,20261202,1\n"
            "●,20261206,1\n"
            "平日,20261201,1\n"
        ),
    }))
    assert feed.services == ["●", "平日"]
    assert [trip.service for trip in feed.trips] == [1, 0]
    assert feed.first_date == dt.date(2026, 12, 1)
    assert feed.service_days.tolist() == [
        [False, False, False, False, True, True],
        [True, True, False, False, False, False],
    ]


def test_header_only_calendar_beside_calendar_dates(tmp_path: Path) -> None:
    feed = read_feed(write_feed(tmp_path / "feed", {
        "calendar.txt": f"service_id,{WEEK},start_date,end_date\n",
    }))
    assert feed.services == ["平日", "●"]
    # the dates span 12-03 (a removal: nothing to remove) to 12-10 (an addition)
    assert (feed.first_date, feed.last_date) == (dt.date(2026, 12, 3), dt.date(2026, 12, 10))
    assert feed.service_days.tolist() == [[False] * 8, [False] * 7 + [True]]


def test_trips_on_services_no_calendar_defines_never_run(tmp_path: Path) -> None:
    feed = read_feed(write_feed(tmp_path / "feed", {
        "trips.txt": BASE["trips.txt"].replace("r1,●,t2", "r1,土日祝,t2"),
    }))
    assert feed.services == ["平日", "●", "土日祝"]
    assert feed.trips[1].service == 2
    assert not feed.service_days[2].any()
    assert feed.warnings == [
        "trips.txt: service_id '土日祝' is in neither calendar.txt nor calendar_dates.txt; "
        "those trips never run"
    ]


def test_stations_entrances_nodes_and_boarding_areas(tmp_path: Path) -> None:
    stops = BASE["stops.txt"] + (
        "kanazawa_gate,金沢駅 鼓門,36.5779,136.6479,2,kanazawa,,\n"
        "kanazawa_node,金沢駅 コンコース,,,3,kanazawa,,\n"
        "kanazawa_1a,金沢駅東口 乗車位置,36.57801,136.64851,4,kanazawa_1,,\n"
    )
    feed = read_feed(write_feed(tmp_path / "feed", {"stops.txt": stops}))
    assert [(s.id, s.location_type, s.parent) for s in feed.stops] == [
        ("kanazawa", 1, -1), ("kanazawa_1", 0, 0), ("korinbo", 0, -1), ("katamachi", 0, -1),
        ("kanazawa_gate", 2, 0), ("kanazawa_node", 3, 0), ("kanazawa_1a", 4, 1),
    ]
    station, node = feed.stops[0], feed.stops[5]
    assert (station.lat, station.lon) == (36.5781, 136.6480)
    # a generic node without coordinates is placed at its station
    assert (node.lat, node.lon) == (36.5781, 136.6480)


def test_transfers_and_fares(tmp_path: Path) -> None:
    feed = read_feed(write_feed(tmp_path / "feed", {
        "transfers.txt": (
            "from_stop_id,to_stop_id,transfer_type,min_transfer_time,from_trip_id,to_trip_id\n"
            "kanazawa_1,korinbo,2,180,,\n"
            "korinbo,katamachi,0,,,\n"
            "korinbo,korinbo,1,,t1,t2\n"
            ",,4,,t1,t2\n"
        ),
        "fare_attributes.txt": (
            "fare_id,price,currency_type,payment_method,transfers\n"
            "f210,210,JPY,0,0\n"
            "f100,99.6,JPY,0,\n"
        ),
        "fare_rules.txt": (
            "fare_id,route_id,origin_id,destination_id,contains_id\n"
            "f210,r1,Z1,Z2,\n"
            "f210,,Z2,Z1,\n"
            "f210,r1,,,Z2\n"
        ),
    }))
    assert feed.transfers == [Transfer(1, 2, 2, 180), Transfer(2, 3, 0, -1)]
    assert feed.fares == [
        FareRule("f210", 210, 0, "r1", "Z1", "Z2"),
        FareRule("f210", 210, 0, "", "Z2", "Z1"),
        FareRule("f100", 100, 0),
    ]
    assert feed.warnings == [
        "transfers.txt: 2 rows for particular trips or routes (first on line 4) were ignored",
        "fare_rules.txt: 1 rules with contains_id were ignored",
    ]


def test_feed_with_a_single_agency_without_ids(tmp_path: Path) -> None:
    feed = read_feed(write_feed(tmp_path / "feed", {
        "agency.txt": "agency_name,agency_url,agency_timezone\n北陸鉄道,https://x.jp/,Asia/Tokyo\n",
        "routes.txt": "route_id,route_short_name,route_type\nr1,10,3\n",
    }))
    assert feed.agencies[0].id == ""
    assert feed.routes[0].agency == 0


REJECTED = {
    "unparsable date": (
        {"calendar.txt": BASE["calendar.txt"].replace("20261201,20261207\n●", "2026-12-01,"
                                                      "20261207\n●")},
        "calendar.txt line 2 column start_date: '2026-12-01' is not a GTFS date (YYYYMMDD)",
    ),
    "impossible date": (
        {"calendar_dates.txt": BASE["calendar_dates.txt"].replace("20261210", "20261310")},
        "calendar_dates.txt line 3 column date: '20261310' is not a GTFS date (YYYYMMDD)",
    ),
    "latitude out of range": (
        {"stops.txt": BASE["stops.txt"].replace("36.5613", "136.5613")},
        "stops.txt line 4 column stop_lat: 136.5613 is not a latitude (-90 to 90)",
    ),
    "missing coordinates of a stop": (
        {"stops.txt": BASE["stops.txt"].replace("36.5613,136.6559", ",136.6559")},
        "stops.txt line 4 column stop_lat: empty (required for location_type 0)",
    ),
    "trip on an unknown route": (
        {"trips.txt": BASE["trips.txt"].replace("r1,●", "r2,●")},
        "trips.txt line 3 column route_id: unknown route_id 'r2' (not in routes.txt)",
    ),
    "duplicate stop_id": (
        {"stops.txt": BASE["stops.txt"] + "korinbo,香林坊(2),36.5613,136.6559,0,,,\n"},
        "stops.txt line 6 column stop_id: duplicate stop_id 'korinbo' (first on line 4)",
    ),
    "duplicate trip_id": (
        {"trips.txt": BASE["trips.txt"].replace("r1,●,t2", "r1,●,t1")},
        "trips.txt line 3 column trip_id: duplicate trip_id 't1' (first on line 2)",
    ),
    "unknown parent station": (
        {"stops.txt": BASE["stops.txt"].replace("0,kanazawa,01", "0,kanazawa_st,01")},
        "stops.txt line 3 column parent_station: unknown stop_id 'kanazawa_st' (not in stops.txt)",
    ),
    "bad exception_type": (
        {"calendar_dates.txt": BASE["calendar_dates.txt"].replace("20261210,1", "20261210,3")},
        "calendar_dates.txt line 3 column exception_type: 3 is not one of 1, 2",
    ),
}


@pytest.mark.parametrize(("files", "message"), REJECTED.values(), ids=REJECTED.keys())
def test_rejects_broken_input_naming_file_line_and_column(
    tmp_path: Path, files: dict[str, str | None], message: str
) -> None:
    assert refusal(tmp_path, files) == message
