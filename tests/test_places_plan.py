"""Plans that speak to people (issue 14): the first and last legs carry the place the rider
chose, names follow lang= or Accept-Language, bike ports have English names, and every
itinerary says why it is offered."""

from __future__ import annotations

import re
from typing import Any

import pytest
from flask.testing import FlaskClient

from gtfs.itinerary import PlanOut
from tests.conftest import Runner

pytestmark = pytest.mark.usefixtures("loaded_demo")
MORNING = "2026-12-01T09:00:00+09:00"
STATION_EAST = {"kanazawa-sta-east", "kanazawa-sta-east-3", "kanazawa-sta-east-6",
                "kanazawa-sta-east-7"}
COORDINATES = re.compile(r"^-?\d+\.\d+,-?\d+\.\d+$")


def plan(client: FlaskClient, headers: dict[str, str] | None = None,
         **params: str) -> list[dict[str, Any]]:
    response = client.get("/api/v1/plan", query_string={"depart": MORNING, **params},
                          headers=headers or {})
    assert response.status_code == 200, response.get_json()
    body = response.get_json()
    PlanOut.model_validate(body)  # fields added, none removed: the declared document
    itineraries: list[dict[str, Any]] = body["itineraries"]
    assert itineraries
    return itineraries


def ends(itinerary: dict[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
    return itinerary["legs"][0]["from"], itinerary["legs"][-1]["to"]


@pytest.mark.parametrize("origin", ["stop:kanazawa-sta-east", "place:stop:kanazawa-sta-east"])
def test_a_stop_the_rider_chose_is_the_first_legs_stop(client: FlaskClient, origin: str) -> None:
    for itinerary in plan(client, **{"from": origin, "to": "place:poi:kenrokuen",
                                     "modes": "walk,bus"}):
        start, end = ends(itinerary)
        assert start["stop_id"] in STATION_EAST
        assert start["name"] == "金沢駅東口"
        assert start["place_id"] == "stop:kanazawa-sta-east"
        assert (end["name"], end["place_id"], end["stop_id"]) == ("兼六園", "poi:kenrokuen",
                                                                  None)
        assert itinerary["tags"]
        assert itinerary["reason"]


def test_the_last_leg_names_the_stop_asked_for(client: FlaskClient) -> None:
    for itinerary in plan(client, **{"from": "36.5781,136.6480", "to": "stop:korinbo",
                                     "modes": "walk,bus"}):
        start, end = ends(itinerary)
        assert end["stop_id"] in {"korinbo", "korinbo-s", "korinbo-n"}
        assert end["place_id"] == "stop:korinbo"
        assert start["place_id"] is None  # a coordinate, not a place
        assert COORDINATES.match(start["name"])


def test_names_follow_lang(client: FlaskClient) -> None:
    query = {"from": "place:stop:kanazawa-sta-east", "to": "place:poi:kenrokuen",
             "modes": "walk,bus"}
    english = plan(client, **query, lang="en")
    japanese = plan(client, **query)
    assert len(english) == len(japanese)
    for itinerary in english:
        start, end = ends(itinerary)
        assert start["name"] == "Kanazawa Station East Exit"
        assert end["name"] == "Kenroku-en Garden"
        for leg in itinerary["legs"]:
            for place in (leg["from"], leg["to"]):
                assert not COORDINATES.match(place["name"])
                assert place["name"].isascii(), place
        assert itinerary["reason"].isascii()
    rides = [leg for itinerary in english for leg in itinerary["legs"] if leg["trip_id"]]
    assert rides
    assert all(leg["headsign"].isascii() for leg in rides)
    korean = plan(client, headers={"Accept-Language": "ko-KR,ko;q=0.9"}, **query)
    assert ends(korean[0])[1]["name"] == "겐로쿠엔"
    assert re.search("[가-힣]", korean[0]["reason"])
    chinese = plan(client, **query, lang="zh-Hant")
    assert ends(chinese[0])[1]["name"] == "兼六園"


def test_bike_ports_have_english_names(client: FlaskClient) -> None:
    itineraries = plan(client, **{"from": "place:poi:kanazawa-station",
                                  "to": "place:poi:kenrokuen", "modes": "walk,bike"},
                       lang="ja")
    bikes = [leg for itinerary in itineraries for leg in itinerary["legs"]
             if leg["mode"] == "bike"]
    assert bikes
    for leg in bikes:
        for port in (leg["from"], leg["to"]):
            assert port["name_en"]
            assert port["name_en"].isascii() or "·" in port["name_en"]
    english = plan(client, **{"from": "place:poi:kanazawa-station",
                              "to": "place:poi:kenrokuen", "modes": "walk,bike"}, lang="en")
    names = {leg["from"]["name"] for itinerary in english for leg in itinerary["legs"]
             if leg["mode"] == "bike"}
    assert "Kanazawa Station" in names  # port 01 金沢駅, named by the curated place


def test_every_itinerary_says_why(client: FlaskClient) -> None:
    for modes in ("walk,bus", "walk,bus,bike,taxi"):
        itineraries = plan(client, **{"from": "36.6100,136.6000", "to": "stop:korinbo",
                                      "modes": modes}, lang="en")
        for itinerary in itineraries:
            assert itinerary["tags"]
            assert itinerary["reason"]
        tags = {tag for itinerary in itineraries for tag in itinerary["tags"]}
        assert "earliest" in tags


def test_bad_lang_is_a_problem(client: FlaskClient) -> None:
    response = client.get("/api/v1/plan", query_string={
        "from": "stop:korinbo", "to": "place:poi:kenrokuen", "lang": "klingon"})
    assert response.status_code == 422
    assert response.get_json()["errors"][0]["field"] == "lang"


def test_cli_plan_between_places_in_english(runner: Runner) -> None:
    result = runner.invoke("plan", "--from", "place:poi:kanazawa-station", "--to",
                           "place:poi:omicho", "--depart", MORNING, "--modes", "walk,bus",
                           "--lang", "en")
    assert result.exit_code == 0, result.output
    assert "Omicho Market" in result.output
    result = runner.invoke("plan", "--from", "place:poi:atlantis", "--to", "stop:korinbo")
    assert result.exit_code == 1
    assert "unknown place" in result.output
