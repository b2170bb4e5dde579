"""GeoJSON for the rider's map: leg lines on /plan?geometry=1 and GET /api/v1/map/network."""

from __future__ import annotations

from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient

from gtfs.maps.geojson import cut, line
from gtfs.network import networks_of
from maas.core.http import db_session

pytestmark = pytest.mark.usefixtures("loaded_demo")
MORNING = "2026-12-01T09:00:00+09:00"


def test_cut_follows_the_shape_between_two_points() -> None:
    shape = [(0.0, 0.0), (1.0, 0.0), (1.0, 1.0), (2.0, 1.0), (2.0, 2.0), (3.0, 2.0)]
    assert cut(shape, (0.9, 0.1), (2.1, 1.9)) == [(0.9, 0.1), (1.0, 1.0), (2.0, 1.0),
                                                   (2.1, 1.9)]
    # the end is looked for after the start: a loop back past the start is not cut short
    loop = [(0.0, 0.0), (1.0, 0.0), (1.0, 1.0), (0.0, 1.0), (0.0, 0.1)]
    assert cut(loop, (0.0, 0.0), (0.0, 0.1))[1:-1] == [(1.0, 0.0), (1.0, 1.0), (0.0, 1.0)]
    assert line([(1.0, 2.0)]) == {"type": "LineString", "coordinates": [[1.0, 2.0], [1.0, 2.0]]}


def plan(client: FlaskClient, **params: str) -> list[dict[str, Any]]:
    response = client.get("/api/v1/plan", query_string={"depart": MORNING, **params})
    assert response.status_code == 200, response.get_json()
    itineraries: list[dict[str, Any]] = response.get_json()["itineraries"]
    assert itineraries
    return itineraries


def test_legs_carry_lines_only_when_asked(app: Flask, client: FlaskClient) -> None:
    query = {"from": "place:poi:kanazawa-station", "to": "place:poi:kenrokuen"}
    for itinerary in plan(client, **query):
        assert all(leg["geometry"] is None for leg in itinerary["legs"])
    with app.test_request_context():
        timetable = networks_of(app.extensions["maas"]).current(db_session())
    assert timetable is not None
    meta = timetable.meta
    rides = 0
    for itinerary in plan(client, **query, geometry="1", modes="walk,bus,bike"):
        for leg in itinerary["legs"]:
            geometry = leg["geometry"]
            assert geometry["type"] == "LineString"
            coordinates = geometry["coordinates"]
            assert len(coordinates) >= 2
            assert coordinates[0] == pytest.approx([leg["from"]["lon"], leg["from"]["lat"]],
                                                   abs=1e-6)
            assert coordinates[-1] == pytest.approx([leg["to"]["lon"], leg["to"]["lat"]],
                                                    abs=1e-6)
            if leg["trip_id"] is None:
                assert len(coordinates) == 2  # walks and bikes: straight
                continue
            rides += 1
            # the demo's shapes pass through the stops: a ride's line runs through every
            # stop it passes
            trip = meta["trip_ids"].index(leg["trip_id"])
            pattern = int(timetable.trip_pattern[trip])
            offset = int(timetable.pattern_stop_offset[pattern])
            stops = timetable.pattern_stops[offset:int(timetable.pattern_stop_offset[
                pattern + 1])].tolist()
            board = stops.index(meta["stop_ids"].index(leg["from"]["stop_id"]))
            ridden = stops[board:board + leg["stops"] + 1]
            assert len(coordinates) == len(ridden)
            for position, stop in zip(coordinates, ridden, strict=True):
                assert position == pytest.approx([float(timetable.stop_lon[stop]),
                                                  float(timetable.stop_lat[stop])], abs=1e-6)
    assert rides


def network(client: FlaskClient, **params: str) -> tuple[dict[str, Any], str]:
    response = client.get("/api/v1/map/network", query_string=params)
    assert response.status_code == 200, response.get_json()
    assert response.mimetype == "application/json"
    assert response.headers["Cache-Control"].startswith("public")
    document: dict[str, Any] = response.get_json(force=True)
    return document, response.headers["ETag"]


def test_network_features(client: FlaskClient) -> None:
    document, etag = network(client)
    assert document["type"] == "FeatureCollection"
    assert document["truncated"] is False
    by_kind: dict[str, list[dict[str, Any]]] = {}
    for feature in document["features"]:
        by_kind.setdefault(feature["properties"]["kind"], []).append(feature)
    assert set(by_kind) == {"route", "stop", "bike_station", "ondemand_area"}
    for route in by_kind["route"]:
        assert route["geometry"]["type"] == "LineString"
        assert route["properties"]["route_id"]
        assert route["properties"]["colour"].startswith("#")
        assert route["properties"]["along_shape"] is True
    stops = {f["properties"]["stop_id"]: f for f in by_kind["stop"]}
    assert "korinbo" in stops
    assert "korinbo-s" not in stops  # platforms fold into their station
    port = next(f for f in by_kind["bike_station"]
                if f["properties"]["station_id"] == "00089012")
    assert port["geometry"]["type"] == "Point"
    properties = port["properties"]
    assert isinstance(properties["bikes"], int)
    assert isinstance(properties["docks"], int)
    assert properties["as_of"] == "2026-12-01T06:00:00+09:00"
    assert properties["name_en"] == "Kenroku-en Garden"
    [area] = by_kind["ondemand_area"]
    assert area["geometry"]["type"] == "Polygon"
    assert area["properties"]["service_id"] == "suitto-onomachi"
    # cacheable: the same ETag again, and 304 when the client has it
    again = client.get("/api/v1/map/network", headers={"If-None-Match": etag})
    assert again.status_code == 304
    assert again.headers["ETag"] == etag
    assert again.data == b""


def test_network_in_english_and_in_a_box(client: FlaskClient) -> None:
    english, etag = network(client, lang="en")
    _, japanese_etag = network(client)
    assert etag != japanese_etag
    names = {f["properties"]["name"] for f in english["features"]
             if f["properties"]["kind"] == "stop"}
    assert "Korinbo" in names
    everything = len(english["features"])
    boxed, _ = network(client, lang="en", bbox="136.645,36.555,136.660,36.565")
    assert 0 < len(boxed["features"]) < everything
    for feature in boxed["features"]:
        if feature["geometry"]["type"] == "Point":
            lon, lat = feature["geometry"]["coordinates"]
            assert 136.645 <= lon <= 136.660
            assert 36.555 <= lat <= 36.565


@pytest.mark.parametrize("bbox", ["1,2,3", "west,south,east,north", "10,50,5,60", "0,95,1,96"])
def test_bad_box_is_a_problem_naming_it(client: FlaskClient, bbox: str) -> None:
    response = client.get("/api/v1/map/network", query_string={"bbox": bbox})
    assert response.status_code == 422
    assert response.get_json()["errors"][0]["field"] == "bbox"
