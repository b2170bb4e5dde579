"""The plan document is built from plain data on the request path; it must stay exactly what
the pydantic models (and so the OpenAPI schema) declare, for every kind of leg."""

from __future__ import annotations

from typing import Any

import jsonschema
import pytest
from flask import Flask
from flask.testing import FlaskClient
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from gtfs.itinerary import LegOut, PlanOut
from gtfs.network import networks_of
from maas.core.http import db_session

pytestmark = pytest.mark.usefixtures("loaded_demo")
DAY = "2026-12-01"  # a Tuesday; the demo bike status is from 06:00
# coordinates around the demo network: the station, Kenroku-en, the taxi area, Nomachi
PLACES = ["36.5781,136.6480", "36.5625,136.6625", "36.6100,136.6000", "36.5530,136.6450"]
MODES = [None, "walk,bus", "walk,bus,bike", "walk,bus,taxi", "walk,bus,bike,taxi", "walk,bike"]
PASSES = [None, "kanazawa-1day", "kanazawa-1day-machinori"]


def demo_stops(app: Flask) -> list[str]:
    with app.test_request_context():
        timetable = networks_of(app.extensions["maas"]).current(db_session())
    assert timetable is not None
    return sorted({timetable.meta["stop_ids"][int(s)]
                   for s in timetable.pattern_stops.tolist()})


def schema_validator(client: FlaskClient) -> jsonschema.protocols.Validator:
    spec = client.get("/api/v1/openapi.json").get_json()
    plan_ref = (spec["paths"]["/api/v1/plan"]["get"]["responses"]["200"]["content"]
                ["application/json"]["schema"])
    root = {**spec, "$ref": plan_ref["$ref"]}
    validator: jsonschema.protocols.Validator = jsonschema.Draft202012Validator(root)
    return validator


def check_document(body: dict[str, Any], validator: jsonschema.protocols.Validator) -> None:
    """The document is what PlanOut dumps after validating it (every field, in order, of the
    declared type: a missing, extra or renamed field fails) and valid under the OpenAPI
    schema."""
    model = PlanOut.model_validate(body)
    assert model.model_dump(mode="json", by_alias=True) == body
    fields = [field.alias or name for name, field in LegOut.model_fields.items()]
    for itinerary in body["itineraries"]:
        for leg in itinerary["legs"]:
            assert list(leg) == fields  # the order the models dump, too
    validator.validate(body)


@settings(max_examples=60, deadline=None,
          # the app and its demo data are the same for every example: nothing to reset
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.data())
def test_generated_plans_match_the_models_and_the_schema(
        app: Flask, client: FlaskClient, data: st.DataObject) -> None:
    stops = [f"stop:{stop}" for stop in demo_stops(app)]
    ends = st.sampled_from(stops + PLACES)
    origin, destination = data.draw(ends), data.draw(ends)
    hour, minute = data.draw(st.integers(0, 23)), data.draw(st.integers(0, 59))
    query = {"from": origin, "to": destination,
             "depart" if data.draw(st.booleans()) else "arrive":
             f"{DAY}T{hour:02d}:{minute:02d}:00+09:00"}
    modes, product = data.draw(st.sampled_from(MODES)), data.draw(st.sampled_from(PASSES))
    if modes is not None:
        query["modes"] = modes
    if product is not None:
        query["pass"] = product
    if data.draw(st.booleans()):
        query["window"] = "30"
    response = client.get("/api/v1/plan", query_string=query)
    assert response.status_code == 200, response.get_json()
    assert response.mimetype == "application/json"
    check_document(response.get_json(), schema_validator(client))


def test_every_kind_of_leg_is_covered(client: FlaskClient) -> None:
    """Walk, bus, bike and taxi legs (with pass coverage) each pass the same checks."""
    validator = schema_validator(client)
    seen: set[str] = set()
    for destination in PLACES[1:]:
        for product in PASSES:
            query = {"from": PLACES[0], "to": destination, "depart": f"{DAY}T09:00:00+09:00",
                     "modes": "walk,bus,bike,taxi", **({"pass": product} if product else {})}
            body = client.get("/api/v1/plan", query_string=query).get_json()
            check_document(body, validator)
            seen |= {leg["mode"] for i in body["itineraries"] for leg in i["legs"]}
    assert seen >= {"walk", "bus", "bike", "taxi"}


def test_a_drifted_document_fails_the_check(client: FlaskClient) -> None:
    """The check above can fail: a leg without one field, or with one more, is caught."""
    validator = schema_validator(client)
    body = client.get("/api/v1/plan", query_string={
        "from": PLACES[0], "to": PLACES[1], "depart": f"{DAY}T09:00:00+09:00"}).get_json()
    check_document(body, validator)
    leg = body["itineraries"][0]["legs"][0]
    for drift in ({k: v for k, v in leg.items() if k != "headsign"}, {**leg, "extra": 1},
                  {**leg, "duration_s": "long"}):
        body["itineraries"][0]["legs"][0] = drift
        with pytest.raises((AssertionError, ValueError, jsonschema.ValidationError)):
            check_document(body, validator)
