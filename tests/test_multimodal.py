"""Journeys with まちのり bikes and on-demand taxis, over HTTP and the CLI, on the demo data."""

from __future__ import annotations

import itertools
import json
from typing import Any

import pytest
from flask.testing import FlaskClient
from hypothesis import given
from hypothesis import strategies as st

from gtfs import ondemand
from maas.core.errors import InvalidInput
from maas.demo.kanazawa import ondemand_files
from tests.conftest import Runner

pytestmark = pytest.mark.usefixtures("loaded_demo")
MORNING = "2026-12-01T09:00:00+09:00"  # a Tuesday; the demo bike status is from 06:00
STATION = "36.5781,136.6480"  # JR Kanazawa station
KENROKUEN = "36.5625,136.6625"
ONO = "36.6100,136.6000"  # inside the すいっとカナザワ大野町 area
ALL = "walk,bus,bike,taxi"


def plan(client: FlaskClient, **params: str) -> list[dict[str, Any]]:
    response = client.get("/api/v1/plan", query_string=params)
    assert response.status_code == 200, response.get_json()
    itineraries: list[dict[str, Any]] = response.get_json()["itineraries"]
    return itineraries


def modes_of(itinerary: dict[str, Any]) -> set[str]:
    return {leg["mode"] for leg in itinerary["legs"]}


def check_consistent(itinerary: dict[str, Any]) -> None:
    legs = itinerary["legs"]
    assert itinerary["departure"] <= legs[0]["departure"]
    assert itinerary["arrival"] == legs[-1]["arrival"]
    for before, after in itertools.pairwise(legs):
        assert before["arrival"] <= after["departure"]
        assert (before["to"]["lat"], before["to"]["lon"]) == (after["from"]["lat"],
                                                              after["from"]["lon"])
    assert itinerary["fare"]["total_yen"] == sum(leg["fare_yen"] for leg in legs)


def test_bike_legs_name_ports_price_and_availability(client: FlaskClient) -> None:
    itineraries = plan(client, **{"from": STATION, "to": KENROKUEN, "depart": MORNING,
                                  "modes": ALL})
    biking = [i for i in itineraries if "bike" in modes_of(i)]
    assert biking
    for itinerary in itineraries:
        check_consistent(itinerary)
    [bike] = [leg for leg in biking[0]["legs"] if leg["mode"] == "bike"]
    assert bike["pickup_station_id"].startswith("000")
    assert bike["dropoff_station_id"] != bike["pickup_station_id"]
    assert bike["operator_id"] == "machinori"
    assert bike["fare_yen"] == 165  # under 30 minutes
    assert bike["availability"]["as_of"] == "2026-12-01T06:00:00+09:00"
    assert bike["availability"]["stale"] is True
    assert bike["availability"]["bikes_at_pickup"] >= 2  # stale: the margin doubles
    assert bike["availability"]["docks_at_dropoff"] >= 2
    assert "availability as of 06:00" in biking[0]["notes"]
    # a plain walk-and-bus journey is offered beside the bike
    assert any(modes_of(i) <= {"walk", "bus"} and "bus" in modes_of(i) for i in itineraries)
    tags = [tag for i in itineraries for tag in i["tags"]]
    for tag in ("earliest", "fewest_transfers", "cheapest", "no_taxi"):
        assert tags.count(tag) == 1


def test_no_modes_means_every_mode_and_modes_restrict(client: FlaskClient) -> None:
    query = {"from": STATION, "to": KENROKUEN, "depart": MORNING}
    everything = plan(client, **query)
    assert everything == plan(client, **query, modes=ALL)
    assert any("bike" in modes_of(itinerary) for itinerary in everything)
    for itinerary in plan(client, **query, modes="walk,bus"):
        assert modes_of(itinerary) <= {"walk", "bus"}
        # every itinerary says why it is offered (issue 14), transit-only ones too
        assert itinerary["tags"]
        assert itinerary["reason"]


def test_taxi_first_mile_and_a_journey_without_taxi(client: FlaskClient) -> None:
    itineraries = plan(client, **{"from": ONO, "to": "stop:korinbo", "depart": MORNING,
                                  "modes": ALL})
    taxi_trips = [i for i in itineraries if "taxi" in modes_of(i)]
    assert taxi_trips
    [taxi] = [leg for leg in taxi_trips[0]["legs"] if leg["mode"] == "taxi"]
    assert taxi["service_id"] == "suitto-onomachi"
    assert taxi["operator_id"] == "suitto"
    assert taxi["wait_s"] == 10 * 60  # the expected wait at 09 o'clock
    assert taxi["fare_yen"] == 300
    assert "book" in taxi["booking"]
    assert taxi["to"]["stop_id"] in {"kanaiwa", "ono", "muryoji"}
    without = [i for i in itineraries if "no_taxi" in i["tags"]]
    assert len(without) == 1
    assert "taxi" not in modes_of(without[0])
    earliest = min(i["arrival"] for i in itineraries)
    assert next(i for i in itineraries if "earliest" in i["tags"])["arrival"] == earliest


def test_taxi_only_in_its_hours_and_area(client: FlaskClient) -> None:
    evening = plan(client, **{"from": ONO, "to": "stop:korinbo",
                              "depart": "2026-12-01T20:00:00+09:00", "modes": ALL})
    assert evening
    assert not any("taxi" in modes_of(i) for i in evening)
    outside = plan(client, **{"from": STATION, "to": KENROKUEN, "depart": MORNING,
                              "modes": "walk,bus,taxi"})
    assert not any("taxi" in modes_of(i) for i in outside)


def test_no_taxi_shorter_than_the_walk_threshold(client: FlaskClient) -> None:
    # 大野 stop itself is fed by the taxi, but a few hundred metres are walked
    near_ono = "36.6110,136.6040"
    for itinerary in plan(client, **{"from": near_ono, "to": "stop:ono", "depart": MORNING,
                                     "modes": ALL}):
        assert "taxi" not in modes_of(itinerary)


def test_taxi_door_to_door(client: FlaskClient) -> None:
    itineraries = plan(client, **{"from": ONO, "to": "36.5990,136.5960", "depart": MORNING,
                                  "modes": "walk,taxi"})
    assert [modes_of(i) for i in itineraries if "taxi" in modes_of(i)] == [{"taxi"}]


def test_modes_restrict(client: FlaskClient) -> None:
    bike_only = plan(client, **{"from": STATION, "to": KENROKUEN, "depart": MORNING,
                                "modes": "walk,bike"})
    assert bike_only
    assert all(modes_of(i) <= {"walk", "bike"} for i in bike_only)
    assert any("bike" in modes_of(i) for i in bike_only)


def test_a_pass_makes_covered_legs_free(client: FlaskClient) -> None:
    query = {"from": STATION, "to": KENROKUEN, "depart": MORNING, "modes": ALL}
    bus_pass = plan(client, **query, **{"pass": "kanazawa-1day"})
    for itinerary in bus_pass:
        for leg in itinerary["legs"]:
            if leg["mode"] == "bus":
                assert leg["covered_by_pass"]
                assert leg["fare_yen"] == 0
            if leg["mode"] == "bike":
                assert not leg["covered_by_pass"]
                assert leg["fare_yen"] == 165
        bus_only = modes_of(itinerary) <= {"walk", "bus"} and "bus" in modes_of(itinerary)
        assert itinerary["fare"]["covered_by_pass"] == bus_only
    both = plan(client, **query, **{"pass": "kanazawa-1day-machinori"})
    assert all(i["fare"]["total_yen"] == 0 for i in both)
    assert all(i["fare"]["covered_by_pass"] for i in both if modes_of(i) != {"walk"})


def test_an_unknown_pass_names_the_field(client: FlaskClient) -> None:
    response = client.get("/api/v1/plan", query_string={
        "from": STATION, "to": KENROKUEN, "depart": MORNING, "pass": "no-such-pass"})
    assert response.status_code == 422
    assert response.content_type == "application/problem+json"
    assert [e["field"] for e in response.get_json()["errors"]] == ["pass"]


def test_bike_stations_endpoint(client: FlaskClient) -> None:
    response = client.get("/api/v1/bikes/stations")
    assert response.status_code == 200
    stations = response.get_json()["stations"]
    assert len(stations) == 18
    kanazawa = next(s for s in stations if s["station_id"] == "00089001")
    assert kanazawa["name"] == "金沢駅"
    assert kanazawa["capacity"] == 73
    assert kanazawa["as_of"] == "2026-12-01T06:00:00+09:00"
    assert kanazawa["stale"] is True  # the clock says 09:03
    for station in stations:
        assert station["can_pick_up"] == (station["bikes_available"] >= 2)
    assert client.get("/api/v1/bikes/stations?system=nope").get_json() == {"stations": []}
    bad = client.get("/api/v1/bikes/stations?colour=red")
    assert bad.status_code == 422


def test_openapi_documents_the_bike_endpoint(client: FlaskClient) -> None:
    spec = client.get("/api/v1/openapi.json").get_json()
    assert "/api/v1/bikes/stations" in spec["paths"]
    plan_parameters = {p["name"] for p in spec["paths"]["/api/v1/plan"]["get"]["parameters"]}
    assert "pass" in plan_parameters


def test_cli_plan_prints_the_same_document(runner: Runner, client: FlaskClient) -> None:
    result = runner.invoke("plan", "--from", STATION, "--to", KENROKUEN, "--depart", MORNING,
                           "--modes", ALL, "--pass", "kanazawa-1day", "--json")
    assert result.exit_code == 0, result.output
    api = plan(client, **{"from": STATION, "to": KENROKUEN, "depart": MORNING, "modes": ALL,
                          "pass": "kanazawa-1day"})
    assert json.loads(result.stdout)["itineraries"] == api
    text = runner.invoke("plan", "--from", STATION, "--to", KENROKUEN, "--depart", MORNING,
                         "--modes", ALL)
    assert "bike" in text.stdout
    assert "¥165" in text.stdout


def test_arrive_by_offers_bike_door_to_door(client: FlaskClient) -> None:
    itineraries = plan(client, **{"from": STATION, "to": KENROKUEN,
                                  "arrive": "2026-12-01T10:00:00+09:00", "modes": ALL})
    assert itineraries
    assert all(i["arrival"] <= "2026-12-01T10:00:00+09:00" for i in itineraries)
    assert any("bike" in modes_of(i) for i in itineraries)


# --- on-demand service definitions (pure) ---------------------------------------------------


def service() -> ondemand.Service:
    [one] = ondemand.read_services(ondemand_files()["services.json"], "services.json")
    return one


def test_service_definition_round_trip_and_rules() -> None:
    suitto = service()
    assert ondemand.from_document(ondemand.to_document([suitto])) == (suitto,)
    assert suitto.covers(36.6100, 136.6000)
    assert not suitto.covers(36.5781, 136.6480)
    import datetime as dt

    tuesday = dt.date(2026, 12, 1)
    assert suitto.operates(tuesday, 8 * 3600)
    assert not suitto.operates(tuesday, 19 * 3600)
    assert suitto.wait_seconds(9 * 3600) == 10 * 60
    assert suitto.wait_seconds(17 * 3600 + 5) == 15 * 60
    assert suitto.wait_seconds(14 * 3600) == 10 * 60  # the default


@pytest.mark.parametrize(("change", "field"), [
    ({"hours": [{"days": ["mon"], "start": "19:00", "end": "08:00"}]}, r"\.hours\[0\]\.end"),
    ({"fare": {"type": "free"}}, r"\.fare\.type"),
    ({"area": {"type": "Point", "coordinates": [0, 0]}}, r"\.area"),
    ({"speed_kmh": 0}, r"\.speed_kmh"),
    ({"expected_wait_minutes": {"25": 3, "default": 1}}, r"\.expected_wait_minutes\.25"),
])
def test_bad_service_definitions_name_the_field(change: dict[str, Any], field: str) -> None:
    document = ondemand_files()["services.json"]
    document["services"][0].update(change)
    with pytest.raises(InvalidInput, match=r"services\.json: services\[0\]" + field):
        ondemand.read_services(document, "services.json")


@given(st.floats(0, 50_000), st.floats(0, 50_000))
def test_metered_fares_are_monotone(a: float, b: float) -> None:
    fare = ondemand.Fare("metered", 600, 1000, 250, 100)
    low, high = sorted((a, b))
    assert 600 <= fare.price(low) <= fare.price(high)
