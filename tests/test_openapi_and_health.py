"""The OpenAPI 3.1 document and the health endpoint."""

from __future__ import annotations

import re

from flask import Flask
from flask.testing import FlaskClient
from openapi_spec_validator import validate

from maas.core.http import ENDPOINTS


def test_openapi_is_a_valid_3_1_document(client: FlaskClient) -> None:
    response = client.get("/api/v1/openapi.json")
    assert response.status_code == 200
    spec = response.get_json()
    assert spec["openapi"] == "3.1.0"
    validate(spec)  # raises on any violation of the OpenAPI 3.1 schema


def test_every_endpoint_is_documented_with_its_models(app: Flask, client: FlaskClient) -> None:
    spec = client.get("/api/v1/openapi.json").get_json()
    documented = {
        (path, method) for path, operations in spec["paths"].items() for method in operations
    }
    for rule in app.url_map.iter_rules():
        if app.view_functions[rule.endpoint] in ENDPOINTS:
            path = re.sub(r"<([^>]+)>", r"{\1}", rule.rule)
            for method in (rule.methods or set()) - {"HEAD", "OPTIONS"}:
                assert (path, method.lower()) in documented, (path, method)
    operators = spec["paths"]["/api/v1/operators"]["get"]
    mode = next(p for p in operators["parameters"] if p["name"] == "mode")
    assert mode["in"] == "query"
    assert "plane" not in str(mode["schema"])
    assert "bike" in str(mode["schema"])
    assert operators["responses"]["422"]["content"]["application/problem+json"]["schema"] == {
        "$ref": "#/components/schemas/Problem"
    }
    product = spec["paths"]["/api/v1/products/{code}"]["get"]
    assert product["parameters"][0] == {
        "name": "code", "in": "path", "required": True, "schema": {"type": "string"}
    }
    assert "404" in product["responses"]
    assert "ProductOut" in spec["components"]["schemas"]


def test_health_reports_database_and_active_feeds(
    client: FlaskClient, loaded_demo: None, database_url: str
) -> None:
    response = client.get("/api/v1/health")
    assert response.status_code == 200
    body = response.get_json()
    assert body["status"] == "ok"
    assert body["time"] == "2026-12-01T09:03:00+09:00"
    assert body["database"]["status"] == "ok"
    assert body["database"]["backend"] == database_url.split(":")[0].split("+")[0]
    kinds = {feed["kind"]: feed for feed in body["feeds"]}
    assert set(kinds) == {"gtfs", "gbfs", "ondemand"}
    gtfs = kinds["gtfs"]
    assert gtfs["service_start"] <= "2026-12-01" <= gtfs["service_end"]
    assert len(gtfs["version"]) == 12


def test_health_is_503_when_schema_is_behind(tmp_path: object) -> None:
    from maas.app import create_app

    app = create_app({"env": "test", "home": tmp_path})  # a new, never migrated SQLite file
    response = app.test_client().get("/api/v1/health")
    assert response.status_code == 503
    assert "maas db upgrade" in response.get_json()["detail"]
