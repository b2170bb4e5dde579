"""GET /api/v1/places and ``maas places``: stops, まちのり ports and points of interest on the
demo data, operators' own places, and place ids in /plan."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from flask.testing import FlaskClient
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from gtfs.places.models import PlaceRow
from tests.conftest import Runner

pytestmark = pytest.mark.usefixtures("loaded_demo")
STATION = "36.5781,136.6480"
MORNING = "2026-12-01T09:00:00+09:00"


def places(client: FlaskClient, headers: dict[str, str] | None = None,
           **params: Any) -> list[dict[str, Any]]:
    response = client.get("/api/v1/places", query_string=params, headers=headers or {})
    assert response.status_code == 200, response.get_json()
    found: list[dict[str, Any]] = response.get_json()
    return found


def problem(client: FlaskClient, path: str, **params: Any) -> dict[str, Any]:
    response = client.get(path, query_string=params)
    assert response.status_code == 422, response.get_json()
    assert response.mimetype == "application/problem+json"
    body: dict[str, Any] = response.get_json()
    return body


@pytest.mark.parametrize("q", ["けんろく", "ケンロク", "kenroku", "兼六", "Kenroku-en",
                               "ｋｅｎｒｏｋｕ"])
def test_kenrokuen_first_in_any_script(client: FlaskClient, q: str) -> None:
    found = places(client, q=q)
    assert found[0]["id"] == "poi:kenrokuen"
    assert found[0]["kind"] == "poi"
    assert found[0]["name"] == "兼六園"
    assert found[0]["category"] == "garden"
    kinds = {place["kind"] for place in found}
    assert {"poi", "stop", "bike_station"} <= kinds  # 兼六園下 stop, 兼六園 port


def test_one_search_over_stops_ports_and_places(client: FlaskClient) -> None:
    found = places(client, q="近江町", limit=20)
    by_kind = {place["kind"]: place for place in reversed(found)}
    assert by_kind["poi"]["id"] == "poi:omicho"
    assert by_kind["stop"]["id"] == "stop:musashi"
    assert by_kind["stop"]["stop_id"] == "musashi"
    assert by_kind["bike_station"]["id"] == "bike:machinori:00089004"
    assert by_kind["bike_station"]["system_id"] == "machinori"
    assert by_kind["bike_station"]["station_id"] == "00089004"
    assert by_kind["poi"]["stop_id"] is None


def test_platforms_fold_into_their_station(client: FlaskClient) -> None:
    found = places(client, q="香林坊", kinds="stop", limit=50)
    assert [place["id"] for place in found] == ["stop:korinbo"]
    station = places(client, q="kanazawa station east", kinds="stop")[0]
    assert station["stop_id"] == "kanazawa-sta-east"


def test_names_follow_lang_and_accept_language(client: FlaskClient) -> None:
    assert places(client, q="けんろくえん", lang="en")[0]["name"] == "Kenroku-en Garden"
    assert places(client, q="けんろくえん", lang="ko")[0]["name"] == "겐로쿠엔"
    assert places(client, q="近江町市場", lang="zh-Hans")[0]["name"] == "近江町市场"
    assert places(client, q="近江町市場", headers={"Accept-Language": "zh-TW,en;q=0.5"}
                  )[0]["name"] == "近江町市場"
    first = places(client, q="kenroku", headers={"Accept-Language": "en-GB"})[0]
    assert first["name"] == "Kenroku-en Garden"
    assert first["names"]["kana"] == "けんろくえん"
    # a stop has the feed's English name (translations.txt)
    stop = places(client, q="香林坊", kinds="stop", lang="en")[0]
    assert stop["name"] == "Korinbo"
    # a port named after a known place gets that place's names
    port = places(client, q="尾山神社", kinds="bike_station", lang="en")[0]
    assert port["name"] == "Oyama Shrine"


def test_near_puts_the_closest_of_equal_matches_first(client: FlaskClient) -> None:
    # every port with 駅 in its name matches equally well (inside the name)
    far = places(client, q="駅", kinds="bike_station", near="36.5540,136.6440")
    close = places(client, q="駅", kinds="bike_station", near="36.5796,136.6460")
    assert close[0]["id"] == "bike:machinori:00089041"  # 金沢駅西, by the west exit
    assert close[0]["distance_m"] < 100
    assert far[0]["id"] == "bike:machinori:00089026"  # 野町駅
    assert [p["distance_m"] for p in far] == sorted(p["distance_m"] for p in far)
    assert {p["match"] for p in far} == {"substring"}


@pytest.mark.parametrize(("params", "field"), [
    ({}, "q"), ({"q": ""}, "q"), ({"q": "x" * 101}, "q"), ({"q": "・・"}, "q"),
    ({"q": "kenroku", "near": "north"}, "near"), ({"q": "kenroku", "near": "91,0"}, "near"),
    ({"q": "kenroku", "lang": "fr"}, "lang"), ({"q": "kenroku", "limit": "0"}, "limit"),
    ({"q": "kenroku", "limit": "51"}, "limit"), ({"q": "kenroku", "kinds": "shops"}, "kinds"),
    ({"q": "kenroku", "colour": "red"}, "colour"),
])
def test_bad_queries_are_problems_naming_the_field(client: FlaskClient, params: dict[str, str],
                                                   field: str) -> None:
    body = problem(client, "/api/v1/places", **params)
    assert field in {error["field"] for error in body["errors"]}, body


def test_plan_accepts_place_ids(client: FlaskClient) -> None:
    response = client.get("/api/v1/plan", query_string={
        "from": "place:stop:kanazawa-sta-east", "to": "place:poi:kenrokuen",
        "depart": MORNING, "modes": "walk,bus"})
    assert response.status_code == 200, response.get_json()
    itineraries = response.get_json()["itineraries"]
    assert itineraries
    for itinerary in itineraries:
        assert itinerary["legs"][-1]["to"]["name"] == "兼六園"
    body = problem(client, "/api/v1/plan", **{"from": "place:poi:nowhere", "to": STATION})
    assert body["errors"][0]["field"] == "from"
    body = problem(client, "/api/v1/plan", **{"from": STATION, "to": "place:"})
    assert body["errors"][0]["field"] == "to"


def test_plan_from_a_bike_port_place(client: FlaskClient) -> None:
    response = client.get("/api/v1/plan", query_string={
        "from": "place:bike:machinori:00089001", "to": "place:poi:omicho", "depart": MORNING,
        "modes": "walk,bus"})
    assert response.status_code == 200, response.get_json()
    itinerary = response.get_json()["itineraries"][0]
    assert itinerary["legs"][0]["from"]["name"] == "金沢駅"
    assert itinerary["legs"][-1]["to"]["name"] == "近江町市場"


CSV_TEXT = """id,name_ja,name_en,name_kana,lat,lon,category
hotel-sakura,ホテル桜 金沢,Hotel Sakura Kanazawa,ほてるさくら,36.5700,136.6500,hotel
gallery-one,ギャラリー壱,,,36.5650,136.6600,
"""


def test_import_csv_then_search_it(runner: Runner, client: FlaskClient, tmp_path: Path,
                                   db_session: Session) -> None:
    path = tmp_path / "hotels.csv"
    path.write_text(CSV_TEXT, encoding="utf-8")
    result = runner.invoke("places", "import", str(path), "--json")
    assert result.exit_code == 0, result.output
    assert json.loads(result.output) == {"file": str(path), "places": 2, "created": 2,
                                         "updated": 0, "removed": 0}
    found = places(client, q="sakura", lang="en")
    assert found[0]["id"] == "poi:hotel-sakura"
    assert found[0]["name"] == "Hotel Sakura Kanazawa"
    assert found[0]["category"] == "hotel"
    assert places(client, q="さくら")[0]["id"] == "poi:hotel-sakura"
    # importing again updates; --replace removes what the file no longer has
    path.write_text(CSV_TEXT.splitlines()[0] + "\n" + CSV_TEXT.splitlines()[1] + "\n",
                    encoding="utf-8")
    result = runner.invoke("places", "import", str(path), "--replace", "--json")
    assert result.exit_code == 0, result.output
    assert json.loads(result.output)["removed"] == 1
    assert db_session.scalar(select(func.count()).select_from(PlaceRow)) == 1


def test_import_geojson_and_plan_to_it(runner: Runner, client: FlaskClient,
                                       tmp_path: Path) -> None:
    path = tmp_path / "venues.geojson"
    path.write_text(json.dumps({"type": "FeatureCollection", "features": [
        {"type": "Feature", "id": "hall-7",
         "geometry": {"type": "Point", "coordinates": [136.6540, 36.5610]},
         "properties": {"name": "第七ホール", "name_en": "Hall Seven", "name_ko": "제7홀"}},
    ]}), encoding="utf-8")
    result = runner.invoke("places", "import", str(path))
    assert result.exit_code == 0, result.output
    assert "1 new" in result.output
    [hall] = places(client, q="hall seven", lang="ko")
    assert (hall["id"], hall["name"], hall["lat"], hall["lon"]) == (
        "poi:hall-7", "제7홀", 36.5610, 136.6540)
    response = client.get("/api/v1/plan", query_string={
        "from": STATION, "to": "place:poi:hall-7", "depart": MORNING, "lang": "en"})
    assert response.status_code == 200, response.get_json()
    assert response.get_json()["itineraries"][0]["legs"][-1]["to"]["name"] == "Hall Seven"


@pytest.mark.parametrize(("name", "content", "message"), [
    ("p.csv", "id,name,lat,lon\nok,良い,36.5,136.6\nBAD ID,悪い,36.5,136.6\n",
     "p.csv: line 3: id:"),
    ("p.csv", "id,name,lat,lon\nok,良い,36.5,east\n", "p.csv: line 2: lon: expected a number"),
    ("p.csv", "id,name,lat,lon\nok,良い,95,136.6\n", "p.csv: line 2: lat:"),
    ("p.csv", "id,name,lat,lon\nok,,36.5,136.6\n", "p.csv: line 2: name:"),
    ("p.csv", "id,lat,lon\nok,36.5,136.6\n", "p.csv: line 1: missing column"),
    ("p.csv", "id,name,lat,lon\na,甲,36.5,136.6\na,乙,36.5,136.6\n", "line 3: id: 'a' is also"),
    ("p.geojson", '{"type": "FeatureCollection", "features": [{"type": "Feature", '
                  '"geometry": {"type": "LineString", "coordinates": [[1, 2]]}, '
                  '"properties": {"id": "x", "name": "x"}}]}',
     "p.geojson: features[0]: geometry: expected a Point"),
    ("p.geojson", '{"type": "FeatureCollection", "features": [', "p.geojson: line 1"),
    ("p.txt", "id,name,lat,lon\n", "expected a .geojson, .json or .csv file"),
    ("p.csv", "id,name,lat,lon\n", "no places in the file"),
])
def test_bad_files_are_refused_whole_with_the_place_named(
        runner: Runner, tmp_path: Path, db_session: Session, name: str, content: str,
        message: str) -> None:
    path = tmp_path / name
    path.write_text(content, encoding="utf-8")
    result = runner.invoke("places", "import", str(path))
    assert result.exit_code == 1
    assert message in result.output, result.output
    assert "Traceback" not in result.output
    assert db_session.scalar(select(func.count()).select_from(PlaceRow)) == 0


def test_cli_search(runner: Runner) -> None:
    result = runner.invoke("places", "search", "ひがしちゃや", "--lang", "en", "--json")
    assert result.exit_code == 0, result.output
    assert json.loads(result.output)["places"][0]["name"] == "Higashi Chaya District"
    result = runner.invoke("places", "search", "ninja", "--near", "nowhere")
    assert result.exit_code == 1
    assert "near" in result.output
