"""gtfs.feed.read_feed: synthetic feeds (tolerated quirks, rejections) and the real feeds."""

from __future__ import annotations

import datetime as dt
import tempfile
import time
import zipfile
from collections import Counter
from collections.abc import Mapping
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from gtfs.feed import (
    Agency,
    FareRule,
    FeedData,
    Route,
    Stop,
    Transfer,
    Trip,
    _clock_times,
    feed_summary,
    read_feed,
)
from gtfs.gtfstime import format_time, parse_time
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


def assert_same_feed(actual: FeedData, expected: FeedData) -> None:
    """Field-by-field equality (the arrays compare element-wise)."""
    for name in FeedData.__dataclass_fields__:
        left, right = getattr(actual, name), getattr(expected, name)
        if isinstance(left, np.ndarray):
            assert left.dtype == right.dtype, name
            np.testing.assert_array_equal(left, right, err_msg=name)
        else:
            assert left == right, name


# --- a clean feed, exactly ------------------------------------------------------------------------


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


def test_tolerates_bom_spaces_crlf_column_order_and_blank_lines(tmp_path: Path) -> None:
    clean = read_feed(write_feed(tmp_path / "clean", {}))
    bom = "\ufeff"
    messy = {
        "agency.txt": bom + (
            " agency_timezone , agency_name,agency_id ,agency_url\r\n"
            " Asia/Tokyo , 北陸鉄道 , hokutetsu ,https://www.hokutetsu.co.jp/\r\n"
        ),
        "stops.txt": bom + (
            "zone_id, stop_lat ,stop_id , stop_lon,stop_name,parent_station,location_type,"
            "platform_code\n"
            ",  36.5781 , kanazawa,136.6480,金沢駅,,1,\n"
            "\n"
            " Z1 ,36.5780,kanazawa_1 ,136.6485, 金沢駅東口 , kanazawa , 0 , 01 \n"
            "Z2,36.5613,korinbo,136.6559,香林坊,,,\n"
            "   \n"
            "Z2,36.5581,katamachi,136.6508,片町,,0,\n"
        ),
        "routes.txt": bom + (
            "route_type,route_color,route_long_name,route_short_name,agency_id,route_id\n"
            "3,E60012,金沢駅–片町,10,hokutetsu, r1\n"
        ),
        "trips.txt": (
            "trip_id , service_id , route_id,direction_id,trip_headsign\n"
            " t1 , 平日 ,r1,0, 片町\n"
            "t2,●, r1 ,,片町 \n"
        ),
        "stop_times.txt": bom + (
            "stop_sequence,stop_id,departure_time,arrival_time,trip_id,drop_off_type,pickup_type\n"
            "3, katamachi , 07:55:00 ,07:55:00,t1,0,1\r\n"
            "1,kanazawa_1,7:42:00, 7:42:00 , t1 ,1,0\r\n"
            "2,korinbo,07:51:00,07:50:00,t1,,\r\n"
            "\r\n"
            "1,kanazawa_1,24:50:00,24:50:00,t2,1,0\r\n"
            "3,katamachi,25:10:00,25:10:00,t2,0,1\r\n"
            "2,korinbo,25:00:00,25:00:00,t2,0,0\r\n"
        ),
        "calendar.txt": bom + (
            "end_date,friday,monday,saturday,service_id,start_date,sunday,thursday,tuesday,"
            "wednesday\n"
            "20261207,1,1,0, 平日 ,20261201,0,1,1,1\n"
            " 20261207 ,0,0,1,●, 20261201,1,0,0,0\n"
        ),
        "calendar_dates.txt": bom + (
            "date,service_id,exception_type\n"
            " 20261203,平日, 2\n"
            "20261210 , ● ,1\n"
        ),
    }
    assert_same_feed(read_feed(write_feed(tmp_path / "messy", messy)), clean)


def test_a_delimiter_ending_every_line_does_not_shift_columns(tmp_path: Path) -> None:
    stops = "".join(line + ",\n" for line in BASE["stops.txt"].splitlines())
    feed = read_feed(write_feed(tmp_path / "feed", {"stops.txt": stops}))
    assert [(stop.id, stop.lat, stop.platform_code) for stop in feed.stops][:2] == [
        ("kanazawa", 36.5781, ""), ("kanazawa_1", 36.5780, "01")
    ]


def test_reads_a_zip_with_the_files_in_a_subfolder(tmp_path: Path) -> None:
    folder = write_feed(tmp_path / "feed", {})
    archive = tmp_path / "feed.zip"
    with zipfile.ZipFile(archive, "w") as zipped:
        for path in sorted(folder.iterdir()):
            zipped.write(path, f"gtfs_20261201/{path.name}")
        zipped.writestr("__MACOSX/gtfs_20261201/._stops.txt", b"\x00\x05")
    assert_same_feed(read_feed(archive), read_feed(folder))


def test_reads_a_folder_with_the_files_in_a_subfolder(tmp_path: Path) -> None:
    write_feed(tmp_path / "feed" / "gtfs", {})
    assert_same_feed(read_feed(tmp_path / "feed"), read_feed(tmp_path / "feed" / "gtfs"))


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


def test_one_time_given_is_used_for_both(tmp_path: Path) -> None:
    stop_times = BASE["stop_times.txt"].replace(
        "t1,07:50:00,07:51:00,korinbo", "t1,,07:51:00,korinbo"
    ).replace("t1,07:55:00,07:55:00,katamachi", "t1,07:55:00,,katamachi")
    feed = read_feed(write_feed(tmp_path / "feed", {"stop_times.txt": stop_times}))
    assert feed.st_arrival[:3].tolist() == [h("7:42:00"), h("7:51:00"), h("7:55:00")]
    assert feed.st_departure[:3].tolist() == [h("7:42:00"), h("7:51:00"), h("7:55:00")]
    assert feed.warnings == [
        "stop_times.txt: 2 stop times give only one of arrival_time and departure_time "
        "(first on line 3); it was used for both"
    ]


def test_stop_times_without_times_are_interpolated(tmp_path: Path) -> None:
    stops = BASE["stops.txt"] + "musashi,武蔵ヶ辻,36.5700,136.6530,0,,,\n"
    stop_times = (
        "trip_id,arrival_time,departure_time,stop_id,stop_sequence,timepoint,"
        "shape_dist_traveled\n"
        # by stop count: two untimed stops split 08:00–08:09 into thirds
        "t1,08:00:00,08:00:00,kanazawa_1,1,1,\n"
        "t1,,,musashi,2,0,\n"
        "t1,,,korinbo,3,0,\n"
        "t1,08:09:00,08:09:00,katamachi,4,1,\n"
        # by distance: 0.5 km of 2.0 km between 09:00 and 09:10
        "t2,09:00:00,09:00:00,kanazawa_1,1,1,0.0\n"
        "t2,,,musashi,2,0,0.5\n"
        "t2,09:10:00,09:10:00,katamachi,3,1,2.0\n"
    )
    feed = read_feed(write_feed(tmp_path / "feed", {"stops.txt": stops,
                                                   "stop_times.txt": stop_times}))
    assert feed.st_arrival.tolist() == [h("8:00:00"), h("8:03:00"), h("8:06:00"),
                                        h("8:09:00"), h("9:00:00"), h("9:02:30"),
                                        h("9:10:00")]
    np.testing.assert_array_equal(feed.st_departure, feed.st_arrival)
    assert feed.warnings == [
        "stop_times.txt: 3 stop times without arrival_time and departure_time (first on line 3) "
        "were interpolated between the timed stops around them"
    ]


def test_frequencies_expand_into_timed_trips(tmp_path: Path) -> None:
    frequencies = (
        "trip_id,start_time,end_time,headway_secs,exact_times\n"
        "t1,7:00:00,7:30:00,600,1\n"
        "t1,23:50:00,24:10:00,1200,\n"
    )
    feed = read_feed(write_feed(tmp_path / "feed", {"frequencies.txt": frequencies}))
    assert [trip.id for trip in feed.trips] == [
        "t1#07:00:00", "t1#07:10:00", "t1#07:20:00", "t1#23:50:00", "t2"
    ]
    assert {trip.route for trip in feed.trips} == {0}
    assert [trip.service for trip in feed.trips] == [0, 0, 0, 0, 1]
    assert feed.st_trip.tolist() == [0] * 3 + [1] * 3 + [2] * 3 + [3] * 3 + [4] * 3
    # the template runs 07:42 → 07:50/07:51 → 07:55: +8/+9 and +13 minutes
    assert feed.st_arrival[:12].tolist() == [
        h("7:00:00"), h("7:08:00"), h("7:13:00"),
        h("7:10:00"), h("7:18:00"), h("7:23:00"),
        h("7:20:00"), h("7:28:00"), h("7:33:00"),
        h("23:50:00"), h("23:58:00"), h("24:03:00"),
    ]
    assert feed.st_departure[:3].tolist() == [h("7:00:00"), h("7:09:00"), h("7:13:00")]
    assert feed.st_dropoff[:6].tolist() == [1, 0, 0, 1, 0, 0]


def test_translations_in_the_gtfs_shape(tmp_path: Path) -> None:
    translations = (
        "table_name,field_name,language,translation,record_id,record_sub_id,field_value\n"
        "agency,agency_name,en,Hokuriku Railroad,hokutetsu,,\n"
        "agency,agency_name,ja-Hrkt,ほくりくてつどう,hokutetsu,,\n"
        "stops,stop_name,en,Kanazawa Station,,,金沢駅\n"
        "stops,stop_name,EN,Kanazawa Sta. East Gate,kanazawa_1,,\n"
        "stops,stop_name,ja-Hrkt,こうりんぼう,korinbo,,\n"
        "stops,stop_name,ko,가타마치,katamachi,,\n"
        "routes,route_long_name,en,Kanazawa Sta. – Katamachi,r1,,\n"
        "trips,trip_headsign,en,Katamachi,,,片町\n"
        "trips,trip_headsign,en,For Katamachi,t2,,\n"
        "stop_times,stop_headsign,en,Katamachi,t1,1,\n"
    )
    feed = read_feed(write_feed(tmp_path / "feed", {"translations.txt": translations}))
    assert (feed.agencies[0].name_en, feed.agencies[0].name_kana) == (
        "Hokuriku Railroad", "ほくりくてつどう"
    )
    assert [(s.name_en, s.name_kana) for s in feed.stops] == [
        ("Kanazawa Station", None), ("Kanazawa Sta. East Gate", None),
        (None, "こうりんぼう"), (None, None),
    ]
    assert feed.routes[0].long_name_en == "Kanazawa Sta. – Katamachi"
    assert [trip.headsign_en for trip in feed.trips] == ["Katamachi", "For Katamachi"]


def test_translations_in_the_gtfs_jp_v2_shape(tmp_path: Path) -> None:
    translations = (
        "\ufefftrans_id,lang,translation\r\n"
        "北陸鉄道,en,Hokuriku Railroad\r\n"
        "金沢駅,ja,金沢駅\r\n"
        "金沢駅,ja-Hrkt,かなざわえき\r\n"
        "金沢駅,en,Kanazawa Sta.\r\n"
        " 片町 , en , Katamachi \r\n"
        "金沢駅–片町,en,Kanazawa Sta. – Katamachi\r\n"
    )
    feed = read_feed(write_feed(tmp_path / "feed", {"translations.txt": translations}))
    assert feed.agencies[0].name_en == "Hokuriku Railroad"
    assert feed.agencies[0].name_kana is None
    assert [(s.name_en, s.name_kana) for s in feed.stops] == [
        ("Kanazawa Sta.", "かなざわえき"), (None, None), (None, None), ("Katamachi", None),
    ]
    assert feed.routes[0].long_name_en == "Kanazawa Sta. – Katamachi"
    assert [trip.headsign_en for trip in feed.trips] == ["Katamachi", "Katamachi"]


def test_gtfs_jp_extras_are_ignored(tmp_path: Path) -> None:
    feed = read_feed(write_feed(tmp_path / "feed", {
        "agency_jp.txt": "agency_id,agency_official_name\nhokutetsu,北陸鉄道株式会社\n",
        "office_jp.txt": "office_id,office_name\n1,金沢営業所\n",
        "routes_jp.txt": "route_id,route_update_date,origin_stop\nr1,20260401,金沢駅\n",
    }))
    assert len(feed.routes) == 1
    assert feed.warnings == []


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


# --- what is rejected -----------------------------------------------------------------------------


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
    "unparsable time (the blank line counts)": (
        {"stop_times.txt": BASE["stop_times.txt"].replace(
            "t1,07:50:00,07:51:00", "\nt1,7:4x:00,07:51:00")},
        "stop_times.txt line 4 column arrival_time: '7:4x:00' is not a GTFS time (H:MM:SS)",
    ),
    "unparsable departure time": (
        {"stop_times.txt": BASE["stop_times.txt"].replace("25:10:00,25:10:00", "25:10:00,25:1")},
        "stop_times.txt line 7 column departure_time: '25:1' is not a GTFS time (H:MM:SS)",
    ),
    "unparsable date": (
        {"calendar.txt": BASE["calendar.txt"].replace("20261201,20261207\n●", "2026-12-01,"
                                                      "20261207\n●")},
        "calendar.txt line 2 column start_date: '2026-12-01' is not a GTFS date (YYYYMMDD)",
    ),
    "impossible date": (
        {"calendar_dates.txt": BASE["calendar_dates.txt"].replace("20261210", "20261310")},
        "calendar_dates.txt line 3 column date: '20261310' is not a GTFS date (YYYYMMDD)",
    ),
    "unparsable latitude": (
        {"stops.txt": BASE["stops.txt"].replace("36.5613", "36,5613").replace(
            "korinbo,香林坊,36,5613", "korinbo,香林坊,north")},
        "stops.txt line 4 column stop_lat: 'north' is not a number",
    ),
    "unparsable longitude": (
        {"stops.txt": BASE["stops.txt"].replace("136.6508", "136.65.08")},
        "stops.txt line 5 column stop_lon: '136.65.08' is not a number",
    ),
    "latitude out of range": (
        {"stops.txt": BASE["stops.txt"].replace("36.5613", "136.5613")},
        "stops.txt line 4 column stop_lat: 136.5613 is not a latitude (-90 to 90)",
    ),
    "missing coordinates of a stop": (
        {"stops.txt": BASE["stops.txt"].replace("36.5613,136.6559", ",136.6559")},
        "stops.txt line 4 column stop_lat: empty (required for location_type 0)",
    ),
    "stop time at an unknown stop": (
        {"stop_times.txt": BASE["stop_times.txt"].replace("25:00:00,korinbo", "25:00:00,omicho")},
        "stop_times.txt line 6 column stop_id: unknown stop_id 'omicho' (not in stops.txt)",
    ),
    "stop time of an unknown trip": (
        {"stop_times.txt": BASE["stop_times.txt"].replace("t1,07:55:00", "t3,07:55:00")},
        "stop_times.txt line 4 column trip_id: unknown trip_id 't3' (not in trips.txt)",
    ),
    "trip on an unknown route": (
        {"trips.txt": BASE["trips.txt"].replace("r1,●", "r2,●")},
        "trips.txt line 3 column route_id: unknown route_id 'r2' (not in routes.txt)",
    ),
    "arrival before the previous departure": (
        {"stop_times.txt": BASE["stop_times.txt"].replace("07:50:00,07:51", "07:41:00,07:51")},
        "stop_times.txt line 3 column arrival_time: 07:41:00 is before the departure 07:42:00 "
        "from the previous stop (trip 't1')",
    ),
    "departure before arrival": (
        {"stop_times.txt": BASE["stop_times.txt"].replace("07:50:00,07:51", "07:50:00,07:49")},
        "stop_times.txt line 3 column departure_time: 07:49:00 is before the arrival 07:50:00 "
        "at the same stop (trip 't1')",
    ),
    "duplicate stop_id": (
        {"stops.txt": BASE["stops.txt"] + "korinbo,香林坊(2),36.5613,136.6559,0,,,\n"},
        "stops.txt line 6 column stop_id: duplicate stop_id 'korinbo' (first on line 4)",
    ),
    "duplicate trip_id": (
        {"trips.txt": BASE["trips.txt"].replace("r1,●,t2", "r1,●,t1")},
        "trips.txt line 3 column trip_id: duplicate trip_id 't1' (first on line 2)",
    ),
    "duplicate stop_sequence": (
        {"stop_times.txt": BASE["stop_times.txt"].replace("07:55:00,katamachi,3",
                                                          "07:55:00,katamachi,2")},
        "stop_times.txt line 4 column stop_sequence: duplicate stop_sequence 2 in trip 't1' "
        "(first on line 3)",
    ),
    "first stop without times": (
        {"stop_times.txt": BASE["stop_times.txt"].replace("t2,24:50:00,24:50:00", "t2,,")},
        "stop_times.txt line 5 column arrival_time: empty at the first or last stop of a trip "
        "(only stops between timed stops can be interpolated)",
    ),
    "unknown parent station": (
        {"stops.txt": BASE["stops.txt"].replace("0,kanazawa,01", "0,kanazawa_st,01")},
        "stops.txt line 3 column parent_station: unknown stop_id 'kanazawa_st' (not in stops.txt)",
    ),
    "bad exception_type": (
        {"calendar_dates.txt": BASE["calendar_dates.txt"].replace("20261210,1", "20261210,3")},
        "calendar_dates.txt line 3 column exception_type: 3 is not one of 1, 2",
    ),
    "fractional stop_sequence": (
        {"stop_times.txt": BASE["stop_times.txt"].replace("korinbo,2,,", "korinbo,2.5,,")},
        "stop_times.txt line 3 column stop_sequence: '2.5' is not an integer",
    ),
    "too many fields": (
        {"routes.txt": BASE["routes.txt"] + "r2,hokutetsu,11,x,3,FFFFFF,extra\n"},
        "routes.txt line 3: 7 fields, but the header has 6",
    ),
    "zero headway": (
        {"frequencies.txt": "trip_id,start_time,end_time,headway_secs\nt1,7:00:00,8:00:00,0\n"},
        "frequencies.txt line 2 column headway_secs: 0 is not a positive number of seconds",
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
    with pytest.raises(InvalidInput) as caught:
        read_feed(write_feed(tmp_path / "feed", files))
    assert caught.value.detail == message


def test_rejects_text_that_is_not_utf8(tmp_path: Path) -> None:
    folder = write_feed(tmp_path / "feed", {})
    (folder / "stops.txt").write_bytes(BASE["stops.txt"].encode("shift_jis"))
    with pytest.raises(InvalidInput) as caught:
        read_feed(folder)
    assert caught.value.detail == "stops.txt line 2: not UTF-8 text (byte 0x8b)"


def test_rejects_an_unterminated_quote_naming_the_file(tmp_path: Path) -> None:
    routes = BASE["routes.txt"].replace(",10,", ',"10,')
    with pytest.raises(InvalidInput) as caught:
        read_feed(write_feed(tmp_path / "feed", {"routes.txt": routes}))
    # pandas gives no line here; its own words follow the file name
    assert caught.value.detail.startswith("routes.txt: unreadable (")


def test_rejects_a_damaged_zip(tmp_path: Path) -> None:
    folder = write_feed(tmp_path / "feed", {})
    archive = tmp_path / "feed.zip"
    with zipfile.ZipFile(archive, "w", zipfile.ZIP_DEFLATED) as zipped:
        for path in sorted(folder.iterdir()):
            zipped.writestr(path.name, path.read_bytes() * 50)
    data = bytearray(archive.read_bytes())
    data[200:260] = bytes(60)
    archive.write_bytes(bytes(data))
    with pytest.raises(InvalidInput) as caught:
        read_feed(archive)
    assert caught.value.detail.startswith("feed.zip: damaged zip archive (")


def test_rejects_what_is_not_a_feed(tmp_path: Path) -> None:
    (tmp_path / "feed.txt").write_text("hello")
    with pytest.raises(InvalidInput) as caught:
        read_feed(tmp_path / "feed.txt")
    assert caught.value.detail == f"{tmp_path / 'feed.txt'}: neither a GTFS zip nor a folder"


# --- property: what a valid feed says is what we read --------------------------------------------

trip_plans = st.lists(
    st.lists(st.tuples(st.integers(0, 900), st.integers(0, 120)), min_size=2, max_size=5),
    min_size=1,
    max_size=3,
)


@settings(max_examples=25, deadline=None)
@given(
    start=st.integers(0, 30 * 3600),
    plans=trip_plans,
    style=st.sampled_from(["padded", "short", "spaced", "arrival only", "departure only"]),
)
def test_times_of_valid_feeds_round_trip(
    start: int, plans: list[list[tuple[int, int]]], style: str
) -> None:
    def text(seconds: int) -> str:
        formatted = format_time(seconds)
        if style == "short" and formatted.startswith("0"):
            return formatted[1:]
        return f" {formatted} " if style == "spaced" else formatted

    rows, trips, arrivals, departures = [], [], [], []
    for number, plan in enumerate(plans):
        trips.append(f"r1,平日,trip{number},\n")
        clock = start
        for sequence, (travel, dwell) in enumerate(plan):
            arrival = clock + travel
            departure = arrival if style.endswith("only") else arrival + dwell
            clock = departure
            arrivals.append(arrival)
            departures.append(departure)
            given_arrival = "" if style == "departure only" else text(arrival)
            given_departure = "" if style == "arrival only" else text(departure)
            rows.append(f"trip{number},{given_arrival},{given_departure},korinbo,{sequence}\n")
    with tempfile.TemporaryDirectory() as folder:
        feed = read_feed(write_feed(Path(folder), {
            "trips.txt": "route_id,service_id,trip_id,trip_headsign\n" + "".join(trips),
            "stop_times.txt": "trip_id,arrival_time,departure_time,stop_id,stop_sequence\n"
            + "".join(rows),
        }))
    assert feed.st_arrival.tolist() == arrivals
    assert feed.st_departure.tolist() == departures
    assert feed.st_trip.tolist() == [n for n, plan in enumerate(plans) for _ in plan]


@given(st.text(alphabet="0123456789:７ x", max_size=10) | st.integers(0, 200 * 3600).map(
    format_time))
def test_vectorised_time_parsing_agrees_with_parse_time(text: str) -> None:
    fast = int(_clock_times([text])[0])
    try:
        expected = parse_time(text)
    except ValueError:
        expected = -1
    # the fast path either agrees or leaves the text to parse_time (-1) …
    assert fast in (expected, -1)
    # … and it does take every plain ASCII H:MM:SS and HH:MM:SS
    if len(text) in (7, 8) and expected >= 0 and text.isascii():
        assert fast == expected


# --- real feeds (../shared/data, read-only) -------------------------------------------------------


def shared(folder: str, name: str) -> Path:
    path = SHARED_DATA / folder / name
    assert path.is_file(), f"{path} is missing: the real-feed tests need ../shared/data"
    return path


def test_rinko_bus_sample() -> None:
    # SOURCE.md: 48 stops (46 poles + 2 stations), 2 routes, 6 trips, 129 stop_times,
    # 4 services 2017-04-01 → 30, trips on the 20 weekdays; times like 7:42:00
    feed = read_feed(shared("rinko-bus-mlit-sample-2017", "rinko_bus_gtfs_jp_sample.zip"))
    summary = feed_summary(feed)
    assert summary == {
        "agencies": 1, "stops": 48, "routes": 2, "trips": 6, "stop_times": 129,
        "service_start": "2017-04-01", "service_end": "2017-04-30", "warnings": 0,
    }
    assert Counter(stop.location_type for stop in feed.stops) == {0: 46, 1: 2}
    assert feed.services == ["平日（月～金）", "土曜", "日曜", "祝日"]
    assert {trip.service for trip in feed.trips} == {0}
    assert int(feed.service_days[0].sum()) == 20
    assert h("7:42:00") in feed.st_departure.tolist()
    station = next(stop for stop in feed.stops if stop.id == "1510")
    assert (station.name, station.name_en, station.name_kana, station.location_type) == (
        "川崎駅西口", "Kawasaki Station West Gate", "かわさきえきにしぐち", 1
    )
    platform = next(stop for stop in feed.stops if stop.id == "1510-51")
    assert feed.stops[platform.parent] == station
    assert len(feed.fares) == 211
    assert FareRule("F_210", 210, 0, "25000-1", "Z_210", "Z_210") in feed.fares


def test_kumagaya_yuyubus() -> None:
    # SOURCE.md: 395 stops (all location_type 0), 11 routes, 120 trips, 2,998 stop_times,
    # max departure 20:45, some service every day 2024-04-01 … 2025-03-31, 毎日 off 1/1–1/3
    feed = read_feed(shared("kumagaya-yuyubus-2024", "kumagaya_yuyubus_gtfs_jp_20240401.zip"))
    assert feed_summary(feed) == {
        "agencies": 1, "stops": 395, "routes": 11, "trips": 120, "stop_times": 2998,
        "service_start": "2024-04-01", "service_end": "2025-03-31", "warnings": 0,
    }
    assert feed.agencies[0].name == "熊谷市ゆうゆうバス"
    assert format_time(int(feed.st_departure.max())) == "20:45:00"
    assert int(feed.service_days.any(axis=0).sum()) == 365
    daily = feed.service_days[feed.services.index("毎日")]
    new_year = (dt.date(2025, 1, 1) - feed.first_date).days
    assert daily[new_year - 1]
    assert not daily[new_year : new_year + 3].any()
    assert Counter(feed.services[trip.service] for trip in feed.trips) == {
        "毎日": 79, "平日": 17, "土日祝": 12, "除日曜": 12
    }
    assert feed.fares == [FareRule("JPY_200", 200, 0)]


def test_unobus_okayama() -> None:
    # SOURCE.md: 628 stops, 54 routes, 612 trips, 30,199 stop_times, max departure 24:18:00,
    # 平日/土日祝 2019-07-08 → 2020-07-07 with service every day; translations (ja-Hrkt, en)
    feed = read_feed(shared("unobus-okayama-2019", "unobus_gtfs_jp_20190708.zip"))
    assert feed_summary(feed) == {
        "agencies": 1, "stops": 628, "routes": 54, "trips": 612, "stop_times": 30199,
        "service_start": "2019-07-08", "service_end": "2020-07-07", "warnings": 0,
    }
    assert feed.services == ["平日", "土日祝"]
    assert format_time(int(feed.st_departure.max())) == "24:18:00"
    assert int(feed.service_days.any(axis=0).sum()) == 366
    okayama = [stop for stop in feed.stops if stop.name == "岡山駅"]
    assert okayama
    assert {(s.name_en, s.name_kana) for s in okayama} == {
        ("Okayama Sta.", "おかやまえき")
    }
    assert all(stop.name_kana for stop in feed.stops)
    assert {t.headsign_en for t in feed.trips if t.headsign == "岡山後楽園（県立美術館 経由）"} == {
        "Okayama-Korakuen (Okayama Prefectural Museum)"
    }
    assert len(feed.fares) == 79158


def test_kobe_subway() -> None:
    # SOURCE.md: 53 stops = 26 stations + 27 platforms, 2 routes (route_type 1), 1,151 trips,
    # 15,427 stop_times, max departure 25:05:00; calendar.txt columns in alphabetical order,
    # w/h services 2006-12-01 → 2017-11-17 with service every day; no agency_id anywhere
    feed = read_feed(shared("kobe-subway-2017", "kobe_subway_gtfs.zip"))
    assert feed_summary(feed) == {
        "agencies": 1, "stops": 53, "routes": 2, "trips": 1151, "stop_times": 15427,
        "service_start": "2006-12-01", "service_end": "2017-11-17", "warnings": 0,
    }
    assert Counter(stop.location_type for stop in feed.stops) == {1: 26, 0: 27}
    assert all(feed.stops[s.parent].location_type == 1 for s in feed.stops if s.location_type == 0)
    assert {route.route_type for route in feed.routes} == {1}
    assert feed.services == ["w", "h"]
    assert format_time(int(feed.st_departure.max())) == "25:05:00"
    assert bool(feed.service_days.any(axis=0).all())
    weekday = (dt.date(2017, 8, 16) - feed.first_date).days  # a Wednesday
    assert feed.service_days[:, weekday].tolist() == [True, False]


def test_bronx_bus_scale() -> None:
    # SOURCE.md: 1,889 stops, 307 routes, 41,156 trips, 1,160,378 stop_times, max departure
    # 26:36:00, 15 services in calendar.txt 2026-09-05 → 2027-01-02 (calendar_dates.txt adds
    # 4 more that only run on listed dates), service every day
    started = time.perf_counter()
    feed = read_feed(shared("mta-nyc-bus-bronx-2026", "mta_bus_bronx_gtfs.zip"))
    seconds = time.perf_counter() - started
    assert feed_summary(feed) == {
        "agencies": 1, "stops": 1889, "routes": 307, "trips": 41156, "stop_times": 1160378,
        "service_start": "2026-09-05", "service_end": "2027-01-02", "warnings": 0,
    }
    assert len(feed.services) == 19
    assert bool(feed.service_days.any(axis=0).all())
    assert format_time(int(feed.st_departure.max())) == "26:36:00"
    order = np.lexsort((np.arange(feed.st_trip.size), feed.st_trip))
    np.testing.assert_array_equal(order, np.arange(feed.st_trip.size))  # grouped by trip
    assert bool((feed.st_departure >= feed.st_arrival).all())
    assert seconds < 20, f"reading the Bronx feed took {seconds:.1f} s"
