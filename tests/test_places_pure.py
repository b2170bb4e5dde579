"""The place search's pure core: folding across scripts and spellings, the index, the data."""

from __future__ import annotations

import csv
import math
import unicodedata
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from gtfs.languages import LANGUAGES, choose, language_of, localised, negotiate
from gtfs.places.curated import curated_places, document
from gtfs.places.index import EXACT, INSIDE, PREFIX, Place, PlaceIndex
from gtfs.places.text import fold_latin, fold_text, name_keys, romaji, split_port_number
from maas.core.errors import InvalidInput
from maas.core.geo import haversine_m as distance_m

SHARED = Path(__file__).resolve().parents[2] / "shared" / "data"
PORTS_CSV = SHARED / "machinori-stations-2024" / "machinori_kanazawa_stations_20241013.csv"
INDEX = PlaceIndex(curated_places())


def found(query: str, index: PlaceIndex = INDEX, limit: int = 5) -> list[str]:
    return [hit.place.id for hit in index.search(query, limit=limit)]


@pytest.mark.parametrize("query", ["kenroku", "けんろく", "ケンロク", "兼六", "Kenroku-en",
                                   "KENROKUEN", "ｋｅｎｒｏｋｕ", "ｹﾝﾛｸ", "kenrokuen garden",
                                   "겐로쿠", "兼六园", "Kenroku en"])
def test_kenrokuen_is_found_in_every_script_and_width(query: str) -> None:
    assert found(query)[0] == "poi:kenrokuen"


@pytest.mark.parametrize(("query", "expected"), [
    ("omicho", "poi:omicho"), ("Ōmichō", "poi:omicho"), ("oumichou", "poi:omicho"),
    ("おうみちょう", "poi:omicho"), ("higashi chaya", "poi:higashi-chaya"),
    ("東茶屋", "poi:higashi-chaya"), ("ninja", "poi:myoryuji"), ("忍者寺", "poi:myoryuji"),
    ("myouryuuji", "poi:myoryuji"), ("D.T. Suzuki", "poi:dt-suzuki"),
    ("すずきだいせつ", "poi:dt-suzuki"), ("21世紀", "poi:kanazawa21"),
    ("金澤21世紀", "poi:kanazawa21"), ("kazuemachi", "poi:kazuemachi"),
    ("nishi chaya", "poi:nishi-chaya"), ("金沢港", "poi:kanazawa-port"),
    ("tsuzumi", "poi:kanazawa-station"), ("tuzumi", "poi:kanazawa-station"),
])
def test_spellings_meet(query: str, expected: str) -> None:
    assert expected in found(query, limit=3)


def test_romaji_and_latin_folding() -> None:
    assert romaji("けんろくえん") == "kenrokuen"
    assert romaji("ちゃや") == "chaya"
    assert romaji("きっぷ") == "kippu"
    assert romaji("マッチャ") == "matcha"
    assert romaji("センター") == "sentaa"
    assert fold_latin("Ōmichō") == fold_latin("oumichou") == fold_latin("Omicho")
    assert fold_latin("Shimbashi") == fold_latin("Shinbashi")
    assert fold_latin("Tsuzumi-mon") == fold_latin("tuzumimon")
    assert fold_text("ｹﾝﾛｸ・エン") == "けんろくえん"
    assert fold_text("Kenroku-en") == "kenrokuen"
    assert split_port_number("12.兼六園") == ("12", "兼六園")
    assert split_port_number("E07_臨時 からくり記念館")[0] == "E07"
    assert split_port_number("金沢駅") == (None, "金沢駅")


def test_match_quality_orders_results() -> None:
    places = [Place(id=f"poi:{n}", kind="poi", names={"ja": name}, lat=36.5, lon=136.6)
              for n, name in enumerate(["金沢駅", "金沢駅西口", "新金沢駅前"])]
    index = PlaceIndex(places)
    hits = index.search("金沢駅")
    assert [(h.place.names["ja"], h.quality) for h in hits] == [
        ("金沢駅", EXACT), ("金沢駅西口", PREFIX), ("新金沢駅前", INSIDE)]


def test_near_orders_equal_matches_by_distance() -> None:
    places = [Place(id=f"stop:{n}", kind="stop", names={"ja": "片町"}, lat=36.56 + n / 100,
                    lon=136.65) for n in range(3)]
    index = PlaceIndex(places)
    near = (36.58, 136.65)
    hits = index.search("片町", near=near)
    assert [h.place.id for h in hits] == ["stop:2", "stop:1", "stop:0"]
    assert hits[0].distance_m == pytest.approx(distance_m(36.58, 136.65, 36.58, 136.65), abs=1)


def _variants(name: str) -> list[str]:
    """Ways a rider might type a name: as is, NFKC, full-width, katakana↔hiragana, upper."""
    nfkc = unicodedata.normalize("NFKC", name)
    full = "".join(chr(ord(c) + 0xFEE0) if "!" <= c <= "~" else c for c in nfkc)
    kata = "".join(chr(ord(c) + 0x60) if "\u3041" <= c <= "\u3096" else c for c in nfkc)
    hira = "".join(chr(ord(c) - 0x60) if "\u30a1" <= c <= "\u30f6" else c for c in nfkc)
    return [name, nfkc, full, kata, hira, nfkc.upper()]


NAMES = [(place.id, name) for place in curated_places() for code, name in place.names.items()]


@settings(max_examples=150, deadline=None)
@given(st.sampled_from(NAMES), st.integers(0, 5), st.data())
def test_any_curated_name_variant_and_prefix_finds_its_place(
        entry: tuple[str, str], variant: int, data: st.DataObject) -> None:
    place_id, name = entry
    typed = _variants(name)[variant]
    assert place_id in found(typed, limit=50)
    # a prefix of the folded name (at least two letters) finds it too
    folded = fold_text(typed)
    cut = data.draw(st.integers(min(2, len(folded)), len(folded)))
    assert place_id in found(folded[:cut], limit=len(INDEX))


QUERY = st.text(alphabet=st.sampled_from(list("kenrouaimchsyt-ｹﾝﾛｸけんろくえん金沢駅兼六園 21")),
                min_size=1, max_size=6)


@settings(max_examples=200, deadline=None)
@given(QUERY, st.one_of(st.none(), st.tuples(st.floats(36.5, 36.7), st.floats(136.5, 136.8))))
def test_index_agrees_with_a_linear_scan(query: str, near: tuple[float, float] | None) -> None:
    if not name_keys(query):
        return
    limit = len(INDEX)
    fast = INDEX.search(query, near=near, limit=limit)
    slow = INDEX.linear_search(query, near=near, limit=limit)
    assert [(h.place.id, h.quality) for h in fast] == [(h.place.id, h.quality) for h in slow]


def test_curated_file_is_complete_and_says_where_coordinates_come_from() -> None:
    entries = document()["places"]
    assert len(entries) >= 40
    assert len({entry["id"] for entry in entries}) == len(entries)
    kinds = set(document()["source_kinds"])
    for entry in entries:
        assert set(entry["names"]) == {"ja", "kana", "en", "zh-Hans", "zh-Hant", "ko"}, entry
        assert all(entry["names"].values()), entry["id"]
        kana = fold_text(entry["names"]["kana"])
        assert kana
        assert all("\u3041" <= c <= "\u309f" or c == "ー" for c in kana), entry["id"]
        assert 36.50 < entry["lat"] < 36.65, entry["id"]
        assert 136.55 < entry["lon"] < 136.75, entry["id"]
        assert entry["source"]["kind"] in kinds, entry["id"]
        assert entry["source"]["ref"], entry["id"]
    required = {"兼六園", "金沢21世紀美術館", "ひがし茶屋街", "近江町市場", "金沢城公園",
                "長町武家屋敷跡", "鈴木大拙館", "石川県立美術館", "にし茶屋街", "金沢駅",
                "尾山神社", "国立工芸館"}
    assert required <= {entry["names"]["ja"] for entry in entries}
    assert {"妙立寺", "主計町", "金沢港"} <= {a for e in entries for a in e["aliases"]}


def test_port_sourced_coordinates_are_the_ports() -> None:
    """Every ``gbfs_port`` coordinate is the named port's of the stored GBFS list, and every
    ``published`` one lies within 300 m of a port (a coarse check of the numbers typed in)."""
    with PORTS_CSV.open(encoding="utf-8") as stream:
        ports = {row["station_id"]: row for row in csv.DictReader(stream)}
    for entry in document()["places"]:
        source = entry["source"]
        if source["kind"] == "gbfs_port":
            station = source["ref"].split("station_id ")[1].split(")")[0]
            assert (entry["lat"], entry["lon"]) == (float(ports[station]["lat"]),
                                                    float(ports[station]["lon"]))
        else:
            nearest = min(distance_m(entry["lat"], entry["lon"], float(p["lat"]),
                                     float(p["lon"])) for p in ports.values())
            assert nearest < 300, entry["id"]
            assert f"{round(nearest)} m" in source["check"]


def test_languages() -> None:
    assert negotiate("zh-TW,zh;q=0.8,en;q=0.5") == "zh-Hant"
    assert negotiate("fr-FR, en;q=0.3, ko;q=0.9") == "ko"
    assert negotiate("de") == "ja"
    assert negotiate(None) == "ja"
    assert language_of("zh-Hans-CN") == "zh-Hans"
    assert language_of("en-GB") == "en"
    assert choose("ko", "en") == "ko"
    assert choose(None, "en-US") == "en"
    with pytest.raises(InvalidInput) as raised:
        choose("xx", None)
    assert raised.value.errors[0].field == "lang"
    names = {"ja": "兼六園", "en": "Kenroku-en"}
    assert [localised(names, lang) for lang in LANGUAGES] == [
        "兼六園", "Kenroku-en", "兼六園", "兼六園", "Kenroku-en"]


def test_distance_is_haversine() -> None:
    assert distance_m(36.0, 136.0, 37.0, 136.0) == pytest.approx(
        6_371_000 * math.radians(1), rel=1e-9)


TRANSLATIONS = (
    "table_name,field_name,language,translation,record_id,record_sub_id,field_value\n"
    "stops,stop_name,en,Kanazawa Station,,,金沢駅\n"
    "stops,stop_name,zh-Hans,金泽站,kanazawa,,\n"
    "stops,stop_name,zh-TW,金澤站,kanazawa,,\n"
    "stops,stop_name,ko,가나자와역,,,金沢駅\n"
    "stops,stop_name,ko,가타마치,katamachi,,\n"
    "stops,stop_name,zh-Hans,片町,katamachi,,\n"
    "trips,trip_headsign,ko,가타마치 행,,,片町\n"
    "routes,route_long_name,zh-Hans,金泽站–片町,r1,,\n"
)


def test_translations_give_stops_routes_and_headsigns_every_language(tmp_path: Path) -> None:
    """Names in zh-Hans, zh-Hant and ko come from translations.txt into the compiled network,
    the place search and the plan document."""
    import datetime as dt

    from gtfs.feed import read_feed
    from gtfs.itinerary import plan_document
    from gtfs.places.sources import stop_places
    from gtfs.planner import Endpoint, Query, plan
    from gtfs.timetable import compile_feeds
    from tests.feed_samples import write_feed

    feed = read_feed(write_feed(tmp_path / "feed", {"translations.txt": TRANSLATIONS}))
    assert feed.stops[0].names == {"zh-Hans": "金泽站", "zh-Hant": "金澤站", "ko": "가나자와역"}
    assert feed.trips[0].headsigns == {"ko": "가타마치 행"}
    timetable = compile_feeds([("sample", feed)])
    places = {place.id: place for place in stop_places(timetable)}
    station = places["stop:kanazawa"]
    assert [station.name(lang) for lang in LANGUAGES] == [
        "金沢駅", "Kanazawa Station", "金泽站", "金澤站", "가나자와역"]
    assert "stop:kanazawa_1" not in places  # the platform folds into its station
    index = PlaceIndex(places.values())
    assert index.search("가나자와")[0].place.id == "stop:kanazawa"
    assert index.search("金泽")[0].place.id == "stop:kanazawa"
    origin = Endpoint(36.5781, 136.6480, "金沢駅", timetable.stop_index("kanazawa"),
                      "stop:kanazawa")
    destination = Endpoint(36.5581, 136.6508, "片町", timetable.stop_index("katamachi"),
                           "stop:katamachi")
    journeys = plan(timetable, Query(origin, destination, dt.datetime(
        2026, 12, 1, 7, 30, tzinfo=dt.timezone(dt.timedelta(hours=9)))))
    document = plan_document(timetable, journeys, origin, destination, language="ko")
    [ride] = [leg for i in document["itineraries"] for leg in i["legs"] if leg["trip_id"]]
    assert ride["headsign"] == "가타마치 행"
    assert ride["to"]["name"] == "가타마치"
    assert ride["route_long_name"] == "金沢駅–片町"  # no Korean: the Japanese name (fallback)
    assert ride["from"]["stop_id"] == "kanazawa_1"
    chinese = plan_document(timetable, journeys, origin, destination, language="zh-Hans")
    [ride] = [leg for i in chinese["itineraries"] for leg in i["legs"] if leg["trip_id"]]
    assert ride["route_long_name"] == "金泽站–片町"
    assert ride["to"]["name"] == "片町"
