"""Journeys, stops and departures over HTTP and the CLI, on the bundled Kanazawa demo feed."""

from __future__ import annotations

import datetime as dt
import itertools
import json

import pytest
from flask.testing import FlaskClient

from tests.conftest import Runner

pytestmark = pytest.mark.usefixtures("loaded_demo")
MORNING = "2026-12-01T09:00:00+09:00"  # a Tuesday


def plan(client: FlaskClient, **params: str) -> dict[str, object]:
    response = client.get("/api/v1/plan", query_string=params)
    assert response.status_code == 200, response.get_json()
    body: dict[str, object] = response.get_json()
    return body


def test_station_to_katamachi_rides_the_trunk_line(client: FlaskClient) -> None:
    body = plan(client, **{"from": "stop:kanazawa-sta-east", "to": "stop:katamachi",
                           "depart": MORNING})
    [first, *_] = body["itineraries"]  # type: ignore[misc]
    [leg] = first["legs"]
    assert leg["mode"] == "bus"
    assert leg["route_id"] == "hokutetsu-10"
    assert leg["trip_id"].startswith("hokutetsu-10-wd-0-")  # the weekday timetable
    assert leg["from"]["stop_id"] == "kanazawa-sta-east-6"
    assert leg["to"]["stop_id"] == "katamachi"
    assert leg["departure"] >= MORNING
    assert leg["departure"].endswith("+09:00")
    assert leg["headsign"] == "野町"
    assert leg["fare_yen"] == 210
    assert first["fare"] == {"total_yen": 210, "covered_by_pass": False, "complete": True}
    assert first["transfers"] == 0
    duration = (dt.datetime.fromisoformat(first["arrival"])
                - dt.datetime.fromisoformat(first["departure"])).total_seconds()
    assert first["duration_s"] == duration


def test_coordinates_walk_to_and_from_stops(client: FlaskClient) -> None:
    # from JR Kanazawa station to 兼六園 (Kenroku-en's Katsurazaka gate)
    body = plan(client, **{"from": "36.5781,136.6480", "to": "36.5625,136.6625",
                           "depart": MORNING, "modes": "walk,bus"})
    itineraries = body["itineraries"]
    assert itineraries
    for itinerary in itineraries:  # type: ignore[attr-defined]
        legs = itinerary["legs"]
        assert legs[0]["mode"] == "walk"
        assert legs[0]["from"]["stop_id"] is None
        assert legs[-1]["mode"] == "walk"
        for before, after in itertools.pairwise(legs):
            assert before["arrival"] <= after["departure"]
            if before["mode"] != "walk" and after["mode"] != "walk":
                assert before["to"]["stop_id"] == after["from"]["stop_id"]
        assert itinerary["walk_m"] == sum(leg["distance_m"] or 0 for leg in legs)


def test_after_midnight_bus_of_the_previous_service_day(client: FlaskClient) -> None:
    # buses only: at that hour a bike of the 24-hour まちのり beats waiting for the bus
    body = plan(client, **{"from": "stop:kanazawa-sta-east", "to": "stop:nomachi",
                           "depart": "2026-12-02T00:05:00+09:00", "modes": "walk,bus"})
    [first, *_] = body["itineraries"]  # type: ignore[misc]
    assert first["service_date"] == "2026-12-01"
    assert first["departure"] == "2026-12-02T00:30:00+09:00"  # the 24:30 trunk bus


def test_window_and_arrive_by(client: FlaskClient) -> None:
    query = {"from": "stop:kanazawa-sta-east", "to": "stop:katamachi", "depart": MORNING}
    window = plan(client, **query, window="20")["itineraries"]
    departures = [i["departure"] for i in window]  # type: ignore[attr-defined]
    assert len(departures) >= 3
    assert departures == sorted(departures)
    assert all(MORNING <= d <= "2026-12-01T09:20:00+09:00" for d in departures)
    arrive = plan(client, **{"from": "stop:kanazawa-sta-east", "to": "stop:katamachi",
                             "arrive": "2026-12-01T09:30:00+09:00"})["itineraries"]
    assert arrive
    assert all(i["arrival"] <= "2026-12-01T09:30:00+09:00" for i in arrive)  # type: ignore


def test_modes_restrict_transit(client: FlaskClient) -> None:
    body = plan(client, **{"from": "stop:kanazawa-sta-east", "to": "stop:katamachi",
                           "depart": MORNING, "modes": "walk,rail"})
    assert all(leg["mode"] == "walk" for i in body["itineraries"]  # type: ignore[attr-defined]
               for leg in i["legs"])


@pytest.mark.parametrize(
    ("params", "field"),
    [
        ({"from": "stop:nowhere", "to": "stop:katamachi"}, "from"),
        ({"from": "stop:katamachi", "to": "91,200"}, "to"),
        ({"from": "stop:katamachi", "to": "stop:nomachi", "modes": "bus,plane"}, "modes"),
        ({"from": "stop:katamachi", "to": "stop:nomachi", "max_transfers": "-1"},
         "max_transfers"),
        ({"from": "stop:katamachi", "to": "stop:nomachi", "depart": MORNING,
          "arrive": MORNING}, "body"),
        ({"to": "stop:nomachi"}, "from"),
    ],
)
def test_bad_plan_requests_name_the_field(
    client: FlaskClient, params: dict[str, str], field: str
) -> None:
    response = client.get("/api/v1/plan", query_string=params)
    assert response.status_code == 422
    assert response.mimetype == "application/problem+json"
    fields = [error["field"] for error in response.get_json().get("errors", [])]
    assert field in fields or field == "body", fields


def test_stop_search_in_three_scripts(client: FlaskClient) -> None:
    for q in ("香林坊", "korinbo", "こうりんぼう"):
        stops = client.get("/api/v1/stops", query_string={"q": q}).get_json()
        assert stops[0]["stop_id"] == "korinbo", q
        assert stops[0]["name_en"] == "Korinbo"
        assert stops[0]["location_type"] == 1
    assert client.get("/api/v1/stops?q=").status_code == 422


def test_stops_near_and_departures(client: FlaskClient) -> None:
    near = client.get("/api/v1/stops/near?lat=36.5613&lon=136.6540&radius=150").get_json()
    assert {s["stop_id"] for s in near} >= {"korinbo-s", "korinbo-n"}
    assert near == sorted(near, key=lambda s: s["distance_m"])
    body = client.get("/api/v1/stops/korinbo/departures",
                      query_string={"at": MORNING, "limit": 8}).get_json()
    rows = body["departures"]
    assert len(rows) == 8
    assert [r["departure"] for r in rows] == sorted(r["departure"] for r in rows)
    assert rows[0]["departure"] >= MORNING
    assert {r["stop_id"] for r in rows} <= {"korinbo-s", "korinbo-n"}
    assert {r["headsign"] for r in rows} & {"野町", "金沢駅東口", "長町ルート 香林坊"}
    missing = client.get("/api/v1/stops/nowhere/departures")
    assert missing.status_code == 404


def test_cli_plan_json_is_the_http_document(runner: Runner, client: FlaskClient) -> None:
    args = ["--from", "stop:kanazawa-sta-east", "--to", "stop:hirosaka", "--depart", MORNING]
    result = runner.invoke("plan", *args, "--json")
    assert result.exit_code == 0, result.output
    http = plan(client, **{"from": "stop:kanazawa-sta-east", "to": "stop:hirosaka",
                           "depart": MORNING})
    assert json.loads(result.stdout) == http
    text = runner.invoke("plan", *args)
    assert "金沢駅東口" in text.stdout
    bad = runner.invoke("plan", "--from", "stop:nowhere", "--to", "stop:hirosaka")
    assert bad.exit_code == 1
    assert bad.stderr == "Error: from: unknown stop 'nowhere'\n"
