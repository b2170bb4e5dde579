"""The OpenAPI 3.1 document and the health endpoint."""

from __future__ import annotations

import re
from pathlib import Path

import sqlalchemy
from flask import Flask
from flask.testing import FlaskClient
from openapi_spec_validator import validate
from sqlalchemy import Connection, Engine

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


def count_statements(*engines: Engine) -> list[str]:
    """SQL statements the ``engines`` execute from now on."""
    seen: list[str] = []
    for engine in engines:
        sqlalchemy.event.listen(engine, "before_cursor_execute",
                                lambda _c, _cur, statement, *_: seen.append(statement))
    return seen


def test_health_asks_the_database_once_then_only_when_deep(
        app: Flask, client: FlaskClient, loaded_demo: None, connection: Connection) -> None:
    first = client.get("/api/v1/health")
    assert first.status_code == 200
    # the ping uses the application's engine, sessions join the test's connection
    statements = count_statements(connection.engine, app.extensions["maas"].engine)
    again = client.get("/api/v1/health")
    assert again.status_code == 200
    assert again.get_json()["feeds"] == first.get_json()["feeds"]
    assert again.get_json()["database"] == first.get_json()["database"]
    assert statements == []  # the schema check passed once; the feeds are fresh enough
    deep = client.get("/api/v1/health", query_string={"deep": "1"})
    assert deep.status_code == 200
    assert deep.get_json() == again.get_json()
    assert any("SELECT 1" in s for s in statements)  # the ping
    assert any("feeds" in s for s in statements)
    bad = client.get("/api/v1/health", query_string={"deep": "maybe"})
    assert bad.status_code == 422
    assert [e["field"] for e in bad.get_json()["errors"]] == ["deep"]


def test_a_failed_schema_check_is_not_kept(tmp_path: Path) -> None:
    from maas.app import create_app
    from maas.core.db import upgrade

    app = create_app({"env": "test", "home": tmp_path})  # a new, never migrated SQLite file
    client = app.test_client()
    assert client.get("/api/v1/health").status_code == 503
    upgrade(app.extensions["maas"].engine)
    assert client.get("/api/v1/health").status_code == 200
    app.extensions["maas"].engine.dispose()
