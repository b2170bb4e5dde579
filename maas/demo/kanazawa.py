"""Generator of the bundled Kanazawa demo data (authored here, not copied from any feed).

It writes, under one folder:

- ``gtfs/`` — a GTFS-JP feed: 城下まち金沢周遊バス 右回り/左回り, 金沢ふらっとバス 此花ルート and
  長町ルート (loops), the 北鉄 trunk line 金沢駅–武蔵ヶ辻–香林坊–片町–野町 (service past 24:00),
  a 西日本JRバス line to 小立野 and a 北鉄 line to 金石・大野; stops at their real places,
  平日 / 土日祝 calendars over a rolling window with national holidays, English and kana
  translations, fares;
- ``gbfs/`` — a GBFS 2.3 snapshot of 18 まちのり ports at their real locations and capacities;
- ``ondemand/services.json`` — one on-demand taxi service area (すいっとカナザワ大野町);
- ``products.json`` — the pass products.

Stop positions are the real bus stop places to within a few tens of metres; timetables and
headways are realistic but invented. Run ``python -m maas.demo.kanazawa OUTDIR`` to write them.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import itertools
import json
import random
import sys
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from gtfs.gtfstime import format_time
from gtfs.holidays import japanese_holidays
from gtfs.timetable import haversine_m
from maas.core.clock import TOKYO

WEEKDAY = "平日"
HOLIDAY = "土日祝"
BUS_SPEED_KMH = 14.0  # average including dwell, Kanazawa city centre
ROAD_FACTOR = 1.3


@dataclass(frozen=True)
class Stop:
    """A bus stop (or a parent station when ``station`` is true)."""

    id: str
    name: str
    kana: str
    en: str
    lat: float
    lon: float
    parent: str = ""
    station: bool = False
    platform: str = ""


STOPS: tuple[Stop, ...] = (
    # 金沢駅東口 bus terminal: a parent station with its platforms (のりば)
    Stop("kanazawa-sta-east", "金沢駅東口", "かなざわえきひがしぐち", "Kanazawa Station East Exit",
         36.57770, 136.64890, station=True),
    *(
        Stop(f"kanazawa-sta-east-{platform}", "金沢駅東口", "かなざわえきひがしぐち",
             "Kanazawa Station East Exit", lat, lon, parent="kanazawa-sta-east",
             platform=platform)
        for platform, lat, lon in (("3", 36.57786, 136.64862), ("6", 36.57752, 136.64905),
                                   ("7", 36.57741, 136.64931))
    ),
    Stop("kanazawa-sta-west", "金沢駅西口", "かなざわえきにしぐち", "Kanazawa Station West Exit",
         36.57905, 136.64617),
    # 武蔵ヶ辻・近江町市場: one pole each side of the street
    Stop("musashi", "武蔵ヶ辻・近江町市場", "むさしがつじ・おうみちょういちば",
         "Musashigatsuji / Omicho Market", 36.57160, 136.65610, station=True),
    Stop("musashi-s", "武蔵ヶ辻・近江町市場", "むさしがつじ・おうみちょういちば",
         "Musashigatsuji / Omicho Market", 36.57176, 136.65588, parent="musashi", platform="南行"),
    Stop("musashi-n", "武蔵ヶ辻・近江町市場", "むさしがつじ・おうみちょういちば",
         "Musashigatsuji / Omicho Market", 36.57145, 136.65633, parent="musashi", platform="北行"),
    Stop("minamicho", "南町・尾山神社", "みなみちょう・おやまじんじゃ", "Minamicho / Oyama Shrine",
         36.56625, 136.65525),
    Stop("korinbo", "香林坊", "こうりんぼう", "Korinbo", 36.56130, 136.65400, station=True),
    Stop("korinbo-s", "香林坊", "こうりんぼう", "Korinbo", 36.56150, 136.65385,
         parent="korinbo", platform="南行"),
    Stop("korinbo-n", "香林坊", "こうりんぼう", "Korinbo", 36.56112, 136.65420,
         parent="korinbo", platform="北行"),
    Stop("katamachi", "片町", "かたまち", "Katamachi", 36.55930, 136.65140),
    Stop("hirokoji", "広小路", "ひろこうじ", "Hirokoji", 36.55450, 136.64730),
    Stop("nomachi", "野町", "のまち", "Nomachi", 36.55400, 136.64480),
    Stop("hondamachi", "本多町", "ほんだまち", "Hondamachi", 36.55750, 136.65920),
    Stop("dewamachi", "出羽町", "でわまち", "Dewamachi", 36.55920, 136.66250),
    Stop("hirosaka", "広坂・21世紀美術館", "ひろさか・にじゅういっせいきびじゅつかん",
         "Hirosaka / 21st Century Museum", 36.56160, 136.65840),
    Stop("kenrokuen-shita", "兼六園下・金沢城", "けんろくえんした・かなざわじょう",
         "Kenrokuen-shita / Kanazawa Castle", 36.56550, 136.66060),
    Stop("hashibacho", "橋場町", "はしばちょう", "Hashibacho (Higashi Chaya District)",
         36.57060, 136.66300),
    Stop("owaricho", "尾張町", "おわりちょう", "Owaricho", 36.56980, 136.65980),
    Stop("higashiyama", "東山", "ひがしやま", "Higashiyama", 36.57250, 136.66570),
    Stop("kobashi", "小橋", "こばし", "Kobashi", 36.57590, 136.66100),
    Stop("hikosomachi", "彦三町", "ひこそまち", "Hikosomachi", 36.57400, 136.65970),
    Stop("konohanamachi", "此花町", "このはなまち", "Konohanamachi", 36.57480, 136.65210),
    Stop("nagamachi", "長町武家屋敷跡", "ながまちぶけやしきあと", "Nagamachi Samurai District",
         36.56290, 136.64960),
    Stop("nagadohei", "長土塀", "ながどへい", "Nagadohei", 36.56690, 136.64520),
    Stop("nishi-chaya", "にし茶屋街", "にしちゃやがい", "Nishi Chaya District",
         36.55720, 136.64790),
    Stop("ishibiki", "石引", "いしびき", "Ishibiki", 36.55590, 136.66870),
    Stop("kodatsuno", "小立野", "こだつの", "Kodatsuno", 36.55370, 136.67380),
    Stop("sainen", "西念", "さいねん", "Sainen", 36.58620, 136.63850),
    Stop("muryoji", "無量寺", "むりょうじ", "Muryoji", 36.59970, 136.61790),
    Stop("kanaiwa", "金石", "かないわ", "Kanaiwa", 36.60090, 136.59460),
    Stop("ono", "大野", "おおの", "Ono", 36.61240, 136.60330),
)
STOP_BY_ID = {stop.id: stop for stop in STOPS}


@dataclass(frozen=True)
class Route:
    """A route with one stop pattern per direction and its headways by time band."""

    id: str
    agency: str
    short_name: str
    long_name: str
    long_name_en: str
    color: str
    patterns: tuple[tuple[str, tuple[str, ...]], ...]  # (headsign, stop ids) per direction
    weekday: tuple[tuple[str, str, int], ...]  # (first departure, last departure, headway min)
    holiday: tuple[tuple[str, str, int], ...]


LOOP_RIGHT = (
    "kanazawa-sta-east-7", "musashi-s", "owaricho", "hashibacho", "kenrokuen-shita", "hirosaka",
    "dewamachi", "hondamachi", "hirokoji", "katamachi", "korinbo-n", "minamicho", "musashi-n",
    "kanazawa-sta-east-7",
)
ROUTES: tuple[Route, ...] = (
    Route("shuyu-rl", "hokutetsu", "RL", "城下まち金沢周遊バス 右回り",
          "Castle Town Kanazawa Loop Bus (Right Loop)", "C0392B",
          (("周遊 右回り 金沢駅東口", LOOP_RIGHT),),
          (("08:30", "18:00", 15),), (("08:30", "18:00", 12),)),
    Route("shuyu-ll", "hokutetsu", "LL", "城下まち金沢周遊バス 左回り",
          "Castle Town Kanazawa Loop Bus (Left Loop)", "1F6FB2",
          (("周遊 左回り 金沢駅東口", tuple(reversed(LOOP_RIGHT))),),
          (("08:35", "18:05", 15),), (("08:35", "18:05", 12),)),
    Route("flat-konohana", "flatbus", "此花", "金沢ふらっとバス 此花ルート",
          "Kanazawa Flat Bus Konohana Route", "2E8B57",
          (("此花ルート 金沢駅東口", ("kanazawa-sta-east-3", "konohanamachi", "hikosomachi",
                                 "kobashi", "higashiyama", "hashibacho", "owaricho",
                                 "musashi-n", "kanazawa-sta-east-3")),),
          (("08:40", "18:40", 15),), (("08:40", "18:40", 15),)),
    Route("flat-nagamachi", "flatbus", "長町", "金沢ふらっとバス 長町ルート",
          "Kanazawa Flat Bus Nagamachi Route", "E67E22",
          (("長町ルート 香林坊", ("korinbo-s", "nagamachi", "nagadohei", "nishi-chaya",
                              "katamachi", "korinbo-s")),),
          (("08:45", "18:15", 15),), (("08:45", "18:15", 20),)),
    Route("hokutetsu-10", "hokutetsu", "10", "金沢駅東口〜香林坊〜片町〜野町",
          "Kanazawa Sta. - Korinbo - Katamachi - Nomachi", "7F8C8D",
          (("野町", ("kanazawa-sta-east-6", "musashi-s", "minamicho", "korinbo-s", "katamachi",
                    "hirokoji", "nomachi")),
           ("金沢駅東口", ("nomachi", "hirokoji", "katamachi", "korinbo-n", "minamicho",
                       "musashi-n", "kanazawa-sta-east-6"))),
          (("06:00", "06:50", 10), ("07:00", "19:56", 6), ("20:00", "23:30", 15),
           ("24:00", "24:30", 30)),
          (("06:30", "22:50", 10), ("23:10", "24:10", 30))),
    Route("jrbus-kodatsuno", "jrbus", "91", "金沢駅東口〜兼六園下〜小立野",
          "Kanazawa Sta. - Kenrokuen-shita - Kodatsuno", "0B5394",
          (("小立野", ("kanazawa-sta-east-3", "musashi-s", "hashibacho", "kenrokuen-shita",
                     "dewamachi", "ishibiki", "kodatsuno")),
           ("金沢駅東口", ("kodatsuno", "ishibiki", "dewamachi", "kenrokuen-shita",
                       "hashibacho", "musashi-n", "kanazawa-sta-east-3"))),
          (("07:00", "21:00", 20),), (("07:30", "20:30", 30),)),
    Route("hokutetsu-60", "hokutetsu", "60", "金沢駅西口〜金石〜大野",
          "Kanazawa Sta. West - Kanaiwa - Ono", "8E44AD",
          (("大野", ("kanazawa-sta-west", "sainen", "muryoji", "kanaiwa", "ono")),
           ("金沢駅西口", ("ono", "kanaiwa", "muryoji", "sainen", "kanazawa-sta-west"))),
          (("06:30", "22:00", 30),), (("07:00", "21:00", 30),)),
)

AGENCIES: tuple[dict[str, str], ...] = (
    {"agency_id": "hokutetsu", "agency_name": "北陸鉄道", "en": "Hokuriku Railroad",
     "kana": "ほくりくてつどう", "agency_url": "https://www.hokutetsu.co.jp/",
     "agency_phone": "076-237-5115", "fare": "210"},
    {"agency_id": "jrbus", "agency_name": "西日本ジェイアールバス", "en": "West JR Bus",
     "kana": "にしにほんじぇいあーるばす", "agency_url": "https://www.nishinihonjrbus.co.jp/",
     "agency_phone": "076-231-1223", "fare": "210"},
    {"agency_id": "flatbus", "agency_name": "金沢ふらっとバス", "en": "Kanazawa Flat Bus",
     "kana": "かなざわふらっとばす", "agency_url": "https://www4.city.kanazawa.lg.jp/",
     "agency_phone": "076-220-2038", "fare": "100"},
)


@dataclass(frozen=True)
class Port:
    """A まちのり port (real station id, place and dock count, 2024)."""

    id: str
    number: str
    name: str
    en: str
    lat: float
    lon: float
    capacity: int


PORTS: tuple[Port, ...] = (
    Port("00089001", "01", "金沢駅", "Kanazawa Station", 36.577185, 136.647628, 73),
    Port("00089002", "02", "金沢駅東", "Kanazawa Station East", 36.5764, 136.649842, 18),
    Port("00089003", "03", "武蔵", "Musashi", 36.573312, 136.654419, 14),
    Port("00089004", "04", "近江町市場", "Omicho Market", 36.570722, 136.656975, 21),
    Port("00089005", "05", "金沢蓄音器館", "Kanazawa Phonograph Museum", 36.571198, 136.662652,
         10),
    Port("00089007", "07", "東山Ａ・秋聲のみち", "Higashiyama A", 36.571636, 136.665979, 25),
    Port("00089011", "11", "尾山神社前", "Oyama Shrine", 36.566031, 136.654564, 10),
    Port("00089012", "12", "兼六園", "Kenrokuen", 36.563685, 136.663071, 16),
    Port("00089013", "13", "長町", "Nagamachi", 36.563054, 136.650498, 17),
    Port("00089014", "14", "香林坊せせらぎ", "Korinbo Seseragi", 36.562019, 136.652486, 10),
    Port("00089017", "17", "金沢21世紀美術館", "21st Century Museum", 36.561477, 136.657446, 23),
    Port("00089018", "18", "本多の森公園・国立工芸館", "Honda no Mori Park / Crafts Museum",
         36.558578, 136.661897, 15),
    Port("00089023", "23", "にし茶屋街", "Nishi Chaya District", 36.557199, 136.647826, 12),
    Port("00089026", "26", "野町駅", "Nomachi Station", 36.554072, 136.644416, 8),
    Port("00089033", "33", "片町・ホテルアマネク金沢", "Katamachi", 36.560481, 136.650635, 6),
    Port("00089034", "34", "兼六駐車場", "Kenroku Parking", 36.565477, 136.663783, 22),
    Port("00089041", "41", "金沢駅西", "Kanazawa Station West", 36.579579, 136.646037, 15),
    Port("00000779", "70", "金沢市役所", "Kanazawa City Hall", 36.560594, 136.656572, 12),
)

# すいっとカナザワ大野町 (AI on-demand since 2025-04): the 大野・金石 coastal district
ONDEMAND_AREA: tuple[tuple[float, float], ...] = (
    (136.5860, 36.5930), (136.6230, 36.5930), (136.6270, 36.6120),
    (136.6120, 36.6290), (136.5900, 36.6200), (136.5860, 36.5930),
)

PRODUCTS: tuple[dict[str, Any], ...] = (
    {"code": "kanazawa-1day", "name": "金沢市内1日フリー乗車券",
     "name_en": "Kanazawa City 1-Day Free Pass", "adult_yen": 800, "child_yen": 400,
     "operators": ["hokutetsu", "jrbus", "flatbus"], "valid_from": "04:00",
     "day_boundary": "03:00", "max_days_ahead": 30, "static_allowed": True},
    {"code": "kanazawa-1day-machinori", "name": "金沢市内1日フリー乗車券＋まちのり",
     "name_en": "Kanazawa 1-Day Bus + Machinori Bike Pass", "adult_yen": 1300,
     "child_yen": 650, "operators": ["hokutetsu", "jrbus", "flatbus", "machinori"],
     "valid_from": "04:00", "day_boundary": "03:00", "max_days_ahead": 30,
     "static_allowed": False},
)


def calendar_window(today: dt.date) -> tuple[dt.date, dt.date]:
    """The service window: from the first day of last month, for 400 days.

    Aligned to months, so the generated feed (and its content hash) only changes monthly.
    """
    first = today.replace(day=1)
    start = (first - dt.timedelta(days=1)).replace(day=1)
    return start, start + dt.timedelta(days=399)


def _minutes(hhmm: str) -> int:
    hours, minutes = hhmm.split(":")
    return int(hours) * 60 + int(minutes)


def _hop_metres(pattern: Sequence[str]) -> list[float]:
    """Road distance (crow-fly × road factor) of each hop of ``pattern``."""
    return [
        haversine_m(STOP_BY_ID[a].lat, STOP_BY_ID[a].lon, STOP_BY_ID[b].lat, STOP_BY_ID[b].lon)
        * ROAD_FACTOR
        for a, b in itertools.pairwise(pattern)
    ]


def _run_seconds(pattern: Sequence[str]) -> list[int]:
    """Seconds from the first stop to each stop of ``pattern`` (rounded to whole minutes)."""
    offsets = [0]
    for metres in _hop_metres(pattern):
        minutes = max(1, round(metres / (BUS_SPEED_KMH * 1000 / 60)))
        offsets.append(offsets[-1] + minutes * 60)
    return offsets


def _distances_km(pattern: Sequence[str]) -> list[float]:
    """Road distance from the first stop, in km to 3 decimals."""
    return [round(metres / 1000, 3) for metres in itertools.accumulate(_hop_metres(pattern),
                                                                 initial=0.0)]


def _departures(bands: Iterable[tuple[str, str, int]]) -> list[int]:
    result: list[int] = []
    for first, last, headway in bands:
        result.extend(range(_minutes(first) * 60, _minutes(last) * 60 + 1, headway * 60))
    return result


def _csv(header: Sequence[str], rows: Iterable[Sequence[Any]]) -> str:
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(header)
    writer.writerows(rows)
    return buffer.getvalue()


def gtfs_files(today: dt.date) -> dict[str, str]:
    """The GTFS-JP feed as ``{file name: CSV text}``."""
    start, end = calendar_window(today)
    files: dict[str, str] = {}
    files["agency.txt"] = _csv(
        ["agency_id", "agency_name", "agency_url", "agency_timezone", "agency_lang",
         "agency_phone"],
        [(a["agency_id"], a["agency_name"], a["agency_url"], "Asia/Tokyo", "ja",
          a["agency_phone"]) for a in AGENCIES],
    )
    files["agency_jp.txt"] = _csv(
        ["agency_id", "agency_official_name", "agency_zip_number", "agency_address"],
        [(a["agency_id"], a["agency_name"], "", "石川県金沢市") for a in AGENCIES],
    )
    files["stops.txt"] = _csv(
        ["stop_id", "stop_name", "stop_lat", "stop_lon", "location_type", "parent_station",
         "platform_code", "zone_id"],
        [(s.id, s.name, f"{s.lat:.6f}", f"{s.lon:.6f}", 1 if s.station else 0, s.parent,
          s.platform, "" if s.station else s.id) for s in STOPS],
    )
    files["routes.txt"] = _csv(
        ["route_id", "agency_id", "route_short_name", "route_long_name", "route_type",
         "route_color", "route_text_color"],
        [(r.id, r.agency, r.short_name, r.long_name, 3, r.color, "FFFFFF") for r in ROUTES],
    )
    trips: list[tuple[str, ...]] = []
    stop_times: list[tuple[Any, ...]] = []
    shapes: list[tuple[Any, ...]] = []
    for route in ROUTES:
        for direction, (_, pattern) in enumerate(route.patterns):
            shape_id = f"{route.id}-{direction}"
            for sequence, (stop_id, km) in enumerate(
                zip(pattern, _distances_km(pattern), strict=True), start=1
            ):
                stop = STOP_BY_ID[stop_id]
                shapes.append((shape_id, f"{stop.lat:.6f}", f"{stop.lon:.6f}", sequence, km))
        for service_id, bands in ((WEEKDAY, route.weekday), (HOLIDAY, route.holiday)):
            service_tag = "wd" if service_id == WEEKDAY else "hd"
            for direction, (headsign, pattern) in enumerate(route.patterns):
                offsets = _run_seconds(pattern)
                distances = _distances_km(pattern)
                for departure in _departures(bands):
                    hhmm = format_time(departure)[:5].replace(":", "")
                    trip_id = f"{route.id}-{service_tag}-{direction}-{hhmm}"
                    trips.append((route.id, service_id, trip_id, headsign, str(direction),
                                  f"{route.id}-{direction}"))
                    for sequence, (stop_id, offset, km) in enumerate(
                        zip(pattern, offsets, distances, strict=True), start=1
                    ):
                        clock = format_time(departure + offset)
                        stop_times.append((trip_id, clock, clock, stop_id, sequence, km))
    files["trips.txt"] = _csv(
        ["route_id", "service_id", "trip_id", "trip_headsign", "direction_id", "shape_id"], trips
    )
    files["stop_times.txt"] = _csv(
        ["trip_id", "arrival_time", "departure_time", "stop_id", "stop_sequence",
         "shape_dist_traveled"],
        stop_times,
    )
    files["shapes.txt"] = _csv(
        ["shape_id", "shape_pt_lat", "shape_pt_lon", "shape_pt_sequence", "shape_dist_traveled"],
        shapes,
    )
    files["calendar.txt"] = _csv(
        ["service_id", "monday", "tuesday", "wednesday", "thursday", "friday", "saturday",
         "sunday", "start_date", "end_date"],
        [(WEEKDAY, 1, 1, 1, 1, 1, 0, 0, f"{start:%Y%m%d}", f"{end:%Y%m%d}"),
         (HOLIDAY, 0, 0, 0, 0, 0, 1, 1, f"{start:%Y%m%d}", f"{end:%Y%m%d}")],
    )
    files["calendar_dates.txt"] = _csv(
        ["service_id", "date", "exception_type"], _holiday_exceptions(start, end)
    )
    files["fare_attributes.txt"] = _csv(
        ["agency_id", "fare_id", "price", "currency_type", "payment_method", "transfers"],
        [(a["agency_id"], f"{a['agency_id']}-flat", a["fare"], "JPY", 0, 0) for a in AGENCIES],
    )
    files["fare_rules.txt"] = _csv(
        ["fare_id", "route_id"],
        [(f"{route.agency}-flat", route.id) for route in ROUTES],
    )
    files["translations.txt"] = _csv(
        ["table_name", "field_name", "language", "translation", "record_id", "record_sub_id",
         "field_value"],
        _translations(),
    )
    files["feed_info.txt"] = _csv(
        ["feed_publisher_name", "feed_publisher_url", "feed_lang", "feed_start_date",
         "feed_end_date", "feed_version"],
        [("kanazawa-maas demo (not an official feed)", "https://github.com/", "ja",
          f"{start:%Y%m%d}", f"{end:%Y%m%d}", f"demo-{start:%Y%m}")],
    )
    return files


def _holiday_exceptions(start: dt.date, end: dt.date) -> list[tuple[str, str, int]]:
    """Holidays and the year-end break on weekdays run the 土日祝 timetable."""
    rows: list[tuple[str, str, int]] = []
    day = start
    while day <= end:
        year_end = (day.month == 12 and day.day >= 29) or (day.month == 1 and day.day <= 3)
        if day.weekday() < 5 and (year_end or day in japanese_holidays(day.year)):
            rows.append((WEEKDAY, f"{day:%Y%m%d}", 2))
            rows.append((HOLIDAY, f"{day:%Y%m%d}", 1))
        day += dt.timedelta(days=1)
    return rows


def _translations() -> list[tuple[str, ...]]:
    rows: list[tuple[str, ...]] = []
    for stop in STOPS:
        rows.append(("stops", "stop_name", "en", stop.en, stop.id, "", ""))
        rows.append(("stops", "stop_name", "ja-Hrkt", stop.kana, stop.id, "", ""))
    for route in ROUTES:
        rows.append(("routes", "route_long_name", "en", route.long_name_en, route.id, "", ""))
    for agency in AGENCIES:
        rows.append(("agency", "agency_name", "en", agency["en"], agency["agency_id"], "", ""))
        rows.append(("agency", "agency_name", "ja-Hrkt", agency["kana"], agency["agency_id"],
                     "", ""))
    headsigns = {headsign for route in ROUTES for headsign, _ in route.patterns}
    english = {stop.name: stop.en for stop in STOPS}
    for headsign in sorted(headsigns):
        destination = headsign.split(" ")[-1]
        if destination in english:
            rows.append(("trips", "trip_headsign", "en", english[destination], "", "",
                         headsign))
    return rows


def gbfs_files(today: dt.date) -> dict[str, Any]:
    """A GBFS 2.3 snapshot of the demo まちのり ports, as ``{file name: JSON document}``.

    The snapshot is taken at 06:00 of ``today`` (Tokyo), so regenerating it on the same day
    gives the same files.
    """
    taken = dt.datetime.combine(today, dt.time(6), tzinfo=TOKYO)
    stamp = int(taken.timestamp())
    rng = random.Random(today.toordinal())  # noqa: S311 - demo availability, not security

    def envelope(data: Any, ttl: int = 60) -> dict[str, Any]:
        return {"last_updated": stamp, "ttl": ttl, "version": "2.3", "data": data}

    names = ("system_information", "station_information", "station_status", "vehicle_types",
             "system_pricing_plans")
    statuses = []
    for port in PORTS:
        bikes = rng.randint(0, port.capacity)
        disabled = 1 if port.capacity > 10 and rng.random() < 0.2 else 0
        bikes = min(bikes, port.capacity - disabled)
        statuses.append({
            "station_id": port.id, "num_bikes_available": bikes,
            "vehicle_types_available": [{"vehicle_type_id": "machinori-bike", "count": bikes}],
            "num_bikes_disabled": disabled,
            "num_docks_available": port.capacity - bikes - disabled,
            "is_installed": True, "is_renting": True, "is_returning": True,
            "last_reported": stamp,
        })
    return {
        "gbfs.json": envelope({"ja": {"feeds": [{"name": n, "url": f"{n}.json"}
                                                for n in names]}}),
        "system_information.json": envelope({
            "system_id": "machinori", "language": "ja", "name": "まちのり",
            "short_name": "まちのり", "operator": "金沢市 / まちのり事務局",
            "url": "https://www.machi-nori.jp/", "timezone": "Asia/Tokyo",
            "phone_number": "0120-3190-47",
        }, ttl=86400),
        "station_information.json": envelope({"stations": [
            {"station_id": p.id, "name": p.name, "short_name": p.number, "lat": p.lat,
             "lon": p.lon, "capacity": p.capacity, "region_id": "1",
             "rental_methods": ["key", "transitcard", "phone"]}
            for p in PORTS]}, ttl=86400),
        "station_status.json": envelope({"stations": statuses}),
        "vehicle_types.json": envelope({"vehicle_types": [
            {"vehicle_type_id": "machinori-bike", "form_factor": "bicycle",
             "propulsion_type": "human_assisted", "max_range_meters": 30000,
             "name": "電動アシスト自転車"}]}, ttl=86400),
        "system_pricing_plans.json": envelope({"plans": [
            {"plan_id": "single-use", "name": "1回会員", "currency": "JPY", "price": 0,
             "is_taxable": False,
             "description": "最初の30分165円、以降30分ごとに165円、1日上限2,200円",
             "per_min_pricing": [{"start": 0, "rate": 165, "interval": 30}],
             "daily_cap": 2200}]}, ttl=86400),
    }


def ondemand_files() -> dict[str, Any]:
    """The on-demand taxi service definition (GTFS-Flex concepts, our JSON shape)."""
    return {"services.json": {
        "version": 1,
        "services": [{
            "id": "suitto-onomachi",
            "name": "すいっとカナザワ大野町",
            "name_en": "Suitto Kanazawa Ono-machi (AI on-demand)",
            "operator": {"id": "suitto", "name": "すいっとカナザワ",
                         "name_en": "Suitto Kanazawa"},
            "area": {"type": "Polygon", "coordinates": [[list(p) for p in ONDEMAND_AREA]]},
            "hours": [{"days": ["mon", "tue", "wed", "thu", "fri", "sat", "sun"],
                       "start": "08:00", "end": "19:00"}],
            "booking_lead_minutes": 10,
            "expected_wait_minutes": {"08": 12, "09": 10, "12": 8, "17": 15, "default": 10},
            "speed_kmh": 25,
            "fare": {"type": "flat", "adult_yen": 300, "child_yen": 150},
            "feeds_stops": ["kanaiwa", "ono", "muryoji"],
        }],
    }}


def products_file() -> list[dict[str, Any]]:
    """The pass products."""
    return [dict(product) for product in PRODUCTS]


def write_demo(directory: Path, today: dt.date) -> dict[str, Path]:
    """Write every demo file under ``directory``; returns the folder of each part."""
    parts = {name: directory / name for name in ("gtfs", "gbfs", "ondemand")}
    for folder in parts.values():
        folder.mkdir(parents=True, exist_ok=True)
    for name, text in gtfs_files(today).items():
        _write_if_changed(parts["gtfs"] / name, text)
    for name, document in gbfs_files(today).items():
        _write_if_changed(parts["gbfs"] / name, _json(document))
    for name, document in ondemand_files().items():
        _write_if_changed(parts["ondemand"] / name, _json(document))
    products = directory / "products.json"
    _write_if_changed(products, _json(products_file()))
    return {**parts, "products": products}


def _json(document: Any) -> str:
    return json.dumps(document, ensure_ascii=False, indent=1) + "\n"


def _write_if_changed(path: Path, text: str) -> None:
    """Write atomically, and not at all when the content is the same (keeps mtimes stable)."""
    data = text.encode("utf-8")
    if path.exists() and path.read_bytes() == data:
        return
    temporary = path.with_suffix(path.suffix + ".tmp")
    temporary.write_bytes(data)
    temporary.replace(path)


def main(argv: Sequence[str] | None = None) -> int:
    """``python -m maas.demo.kanazawa OUTDIR``: write the demo data for today."""
    args = list(sys.argv[1:] if argv is None else argv)
    if len(args) != 1:
        print("usage: python -m maas.demo.kanazawa OUTDIR", file=sys.stderr)
        return 2
    today = dt.datetime.now(TOKYO).date()
    for name, path in write_demo(Path(args[0]), today).items():
        print(f"{name}: {path}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
