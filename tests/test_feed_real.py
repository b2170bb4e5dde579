"""Real feeds from ../shared/data (read-only): counts from their SOURCE.md."""

from __future__ import annotations

import datetime as dt
import time
from collections import Counter

import numpy as np

from gtfs.feed import (
    FareRule,
    feed_summary,
    read_feed,
)
from gtfs.gtfstime import format_time
from tests.feed_samples import h, shared


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
