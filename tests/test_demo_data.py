"""The bundled Kanazawa demo data: complete, realistic and readable by gtfs-kit."""

from __future__ import annotations

import csv
import datetime as dt
import io
import json
from collections import defaultdict
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from gtfs.gtfstime import parse_time
from gtfs.timetable import haversine_m
from maas.demo import kanazawa
from maas.demo.kanazawa import calendar_window, gbfs_files, gtfs_files, write_demo

TODAY = dt.date(2026, 12, 1)


def rows(text: str) -> list[dict[str, str]]:
    return list(csv.DictReader(io.StringIO(text)))


@pytest.fixture(scope="module")
def feed() -> dict[str, list[dict[str, str]]]:
    return {name: rows(text) for name, text in gtfs_files(TODAY).items()}


def trip_patterns(feed: dict[str, list[dict[str, str]]]) -> dict[str, list[dict[str, str]]]:
    by_trip: dict[str, list[dict[str, str]]] = defaultdict(list)
    for row in feed["stop_times.txt"]:
        by_trip[row["trip_id"]].append(row)
    return by_trip


def test_required_routes_exist(feed: dict[str, list[dict[str, str]]]) -> None:
    names = {route["route_long_name"] for route in feed["routes.txt"]}
    assert "城下まち金沢周遊バス 右回り" in names
    assert "城下まち金沢周遊バス 左回り" in names
    assert sum(name.startswith("金沢ふらっとバス") for name in names) >= 2
    stop_names = {stop["stop_id"]: stop["stop_name"] for stop in feed["stops.txt"]}
    trunk = next(t for t in feed["trips.txt"] if t["route_id"] == "hokutetsu-10"
                 and t["direction_id"] == "0")
    visited = [stop_names[r["stop_id"]] for r in trip_patterns(feed)[trunk["trip_id"]]]
    expected = ["金沢駅東口", "武蔵ヶ辻・近江町市場", "香林坊", "片町", "野町"]
    assert [name for name in visited if name in expected] == expected


def test_loops_visit_a_stop_twice(feed: dict[str, list[dict[str, str]]]) -> None:
    patterns = trip_patterns(feed)
    loop_routes = {"shuyu-rl", "shuyu-ll", "flat-konohana", "flat-nagamachi"}
    for trip in feed["trips.txt"]:
        if trip["route_id"] in loop_routes:
            stops = [row["stop_id"] for row in patterns[trip["trip_id"]]]
            assert stops[0] == stops[-1], trip["trip_id"]


def test_times_increase_and_service_runs_past_midnight(
    feed: dict[str, list[dict[str, str]]],
) -> None:
    latest = 0
    for trip_id, stop_times in trip_patterns(feed).items():
        times = [parse_time(row["arrival_time"]) for row in stop_times]
        assert times == sorted(times), trip_id
        assert [int(r["stop_sequence"]) for r in stop_times] == list(range(1, len(times) + 1))
        latest = max(latest, times[-1])
    assert latest > 24 * 3600


def test_headways_are_realistic(feed: dict[str, list[dict[str, str]]]) -> None:
    weekday_trunk = [t for t in feed["trips.txt"]
                     if t["route_id"] == "hokutetsu-10" and t["service_id"] == "平日"]
    assert 150 <= len(weekday_trunk) <= 400  # 6-minute base headway both ways
    loops = [t for t in feed["trips.txt"] if t["route_id"] == "shuyu-rl"
             and t["service_id"] == "平日"]
    assert 30 <= len(loops) <= 50  # every 15 minutes 08:30-18:00


def test_stops_are_at_real_places(feed: dict[str, list[dict[str, str]]]) -> None:
    by_name = {stop["stop_name"]: stop for stop in feed["stops.txt"]}
    for name in ("金沢駅東口", "武蔵ヶ辻・近江町市場", "香林坊", "兼六園下・金沢城",
                 "広坂・21世紀美術館", "片町", "東山"):
        assert name in by_name
    for stop in feed["stops.txt"]:
        assert 36.50 < float(stop["stop_lat"]) < 36.65
        assert 136.55 < float(stop["stop_lon"]) < 136.72
    station = by_name["金沢駅東口"]
    # JR Kanazawa station (Tsuzumi-mon) lies at 36.5781 N 136.6480 E
    assert haversine_m(float(station["stop_lat"]), float(station["stop_lon"]),
                                36.5781, 136.6480) < 200
    children = [s for s in feed["stops.txt"] if s["parent_station"] == "kanazawa-sta-east"]
    assert len(children) >= 3


def test_every_stop_has_english_and_kana(feed: dict[str, list[dict[str, str]]]) -> None:
    translated = defaultdict(set)
    for row in feed["translations.txt"]:
        if row["table_name"] == "stops":
            translated[row["record_id"]].add(row["language"])
    for stop in feed["stops.txt"]:
        assert translated[stop["stop_id"]] >= {"en", "ja-Hrkt"}, stop["stop_id"]


def test_holidays_run_the_weekend_timetable(feed: dict[str, list[dict[str, str]]]) -> None:
    exceptions = {(r["service_id"], r["date"], r["exception_type"])
                  for r in feed["calendar_dates.txt"]}
    # 2027-01-11 成人の日 (Monday) and the year-end break
    for day in ("20270111", "20261231", "20270101"):
        assert ("平日", day, "2") in exceptions
        assert ("土日祝", day, "1") in exceptions


@settings(max_examples=60)
@given(st.dates(min_value=dt.date(2025, 1, 1), max_value=dt.date(2035, 12, 31)))
def test_calendar_window_covers_today_and_months_ahead(today: dt.date) -> None:
    start, end = calendar_window(today)
    assert start <= today - dt.timedelta(days=28)
    assert end >= today + dt.timedelta(days=300)
    assert start.day == 1
    assert calendar_window(today.replace(day=1)) == (start, end)  # stable within a month


def test_gbfs_snapshot_is_consistent() -> None:
    files = gbfs_files(TODAY)
    assert {doc["version"] for doc in files.values()} == {"2.3"}
    stations = files["station_information.json"]["data"]["stations"]
    statuses = {s["station_id"]: s for s in files["station_status.json"]["data"]["stations"]}
    assert len(stations) >= 15
    for station in stations:
        status = statuses[station["station_id"]]
        assert (status["num_bikes_available"] + status["num_docks_available"]
                + status["num_bikes_disabled"]) == station["capacity"]
        assert 36.5 < station["lat"] < 36.7
    capacity = {s["name"]: s["capacity"] for s in stations}
    assert capacity["金沢駅"] == 73
    feeds = {f["name"] for f in files["gbfs.json"]["data"]["ja"]["feeds"]}
    assert {"station_information", "station_status", "system_information"} <= feeds
    assert gbfs_files(TODAY) == files  # the same day gives the same snapshot


def test_written_files_load_in_gtfs_kit(tmp_path: Path) -> None:
    import gtfs_kit

    parts = write_demo(tmp_path, TODAY)
    feed = gtfs_kit.read_feed(parts["gtfs"], dist_units="km")
    assert len(feed.stops) == len(kanazawa.STOPS)
    assert "20261201" in feed.get_dates()
    description = dict(feed.describe(sample_date="20261201").values.tolist())
    assert description["num_trips"] > 1000
    assert description["agencies"] == ["北陸鉄道", "西日本ジェイアールバス", "金沢ふらっとバス"]
    quality = dict(feed.assess_quality().values.tolist())
    assert quality["assessment"] == "good feed", quality
    services = json.loads((parts["ondemand"] / "services.json").read_text(encoding="utf-8"))
    area = services["services"][0]["area"]["coordinates"][0]
    assert area[0] == area[-1]  # a closed GeoJSON ring
    products = json.loads(parts["products"].read_text(encoding="utf-8"))
    day_pass = next(p for p in products if p["code"] == "kanazawa-1day")
    assert (day_pass["adult_yen"], day_pass["child_yen"]) == (800, 400)
