"""Every error is RFC 9457 problem+json; request ids are accepted or made, and echoed."""

from __future__ import annotations

import io
import json
import logging
from pathlib import Path

import pytest
from flask import Flask
from flask.testing import FlaskClient

from maas.app import create_app
from maas.core import errors
from maas.core.config import load_settings
from maas.core.logs import JsonFormatter, RequestIdFilter, configure_logging, request_id_var
from maas.core.problems import PROBLEM_REGISTRY, status_for

PROBLEM = "application/problem+json"


def assert_problem(response: object, status: int) -> dict[str, object]:
    """Check the problem shape and return the body."""
    assert response.status_code == status  # type: ignore[attr-defined]
    assert response.mimetype == PROBLEM  # type: ignore[attr-defined]
    body: dict[str, object] = response.get_json(force=True)  # type: ignore[attr-defined]
    assert body["status"] == status
    assert {"type", "title", "status", "detail"} <= body.keys()
    assert body["detail"]
    return body


def test_unknown_path_is_404_problem(client: FlaskClient) -> None:
    body = assert_problem(client.get("/api/v1/no-such-thing"), 404)
    assert body["type"] == "about:blank"
    assert body["title"] == "Not Found"
    assert body["instance"] == "/api/v1/no-such-thing"


def test_wrong_method_is_405_problem_with_allow(client: FlaskClient) -> None:
    response = client.delete("/api/v1/health")
    body = assert_problem(response, 405)
    assert "GET" in response.headers["Allow"]
    assert "DELETE is not allowed" in str(body["detail"])


def test_invalid_query_is_422_listing_the_field(client: FlaskClient) -> None:
    body = assert_problem(client.get("/api/v1/operators?mode=plane&colour=red"), 422)
    assert body["type"] == "/problems/invalid-input"
    fields = {error["field"] for error in body["errors"]}  # type: ignore[attr-defined]
    assert fields == {"mode", "colour"}


def test_domain_error_maps_through_the_registry(client: FlaskClient) -> None:
    body = assert_problem(client.get("/api/v1/products/no-such-pass"), 404)
    assert body["type"] == "/problems/not-found"
    assert "no-such-pass" in str(body["detail"])


def test_registry_covers_subclasses() -> None:
    class PassRevoked(errors.Conflict):
        pass

    assert status_for(PassRevoked("x")) == (409, "conflict")
    assert all(400 <= status < 600 for status, _ in PROBLEM_REGISTRY.values())


def test_unexpected_exception_is_500_problem_without_internals(
    app: Flask, client: FlaskClient, caplog: pytest.LogCaptureFixture
) -> None:
    @app.get("/boom")
    def boom() -> str:
        raise RuntimeError("secret internal state")

    with caplog.at_level(logging.ERROR):
        response = client.get("/boom", headers={"X-Request-ID": "req-500"})
    body = assert_problem(response, 500)
    assert "secret internal state" not in response.get_data(as_text=True)
    assert body["request_id"] == "req-500"
    assert any("secret internal state" in (r.exc_text or "") for r in caplog.records)


def test_database_unreachable_is_503(tmp_path: Path) -> None:
    app = create_app(
        {
            "env": "test",
            "home": tmp_path,
            # nothing listens on port 1: the connection is refused at once
            "database_url": "postgresql+psycopg://postgres@127.0.0.1:1/none",
        }
    )
    client = app.test_client()
    for path in ("/api/v1/operators", "/api/v1/health"):
        response = client.get(path)
        body = assert_problem(response, 503)
        assert body["type"] == "/problems/service-unavailable"
        assert "unreachable" in str(body["detail"])


def test_request_id_is_echoed_or_generated(client: FlaskClient) -> None:
    given = client.get("/api/v1/health", headers={"X-Request-ID": "abc-123"})
    assert given.headers["X-Request-ID"] == "abc-123"
    made = client.get("/api/v1/health")
    assert len(made.headers["X-Request-ID"]) == 32
    hostile = client.get("/api/v1/health", headers={"X-Request-ID": "a b <script>"})
    assert hostile.headers["X-Request-ID"] != "a b <script>"
    assert len(hostile.headers["X-Request-ID"]) == 32


def test_json_log_lines_carry_the_request_id() -> None:
    record = logging.makeLogRecord(
        {"name": "maas.access", "levelno": logging.INFO, "levelname": "INFO",
         "msg": "GET %s", "args": ("/x",), "status": 200}
    )
    token = request_id_var.set("rid-1")
    try:
        RequestIdFilter().filter(record)
    finally:
        request_id_var.reset(token)
    line = json.loads(JsonFormatter().format(record))
    assert line["message"] == "GET /x"
    assert line["request_id"] == "rid-1"
    assert line["status"] == 200
    assert line["level"] == "info"


def test_production_logging_writes_json(monkeypatch: pytest.MonkeyPatch) -> None:
    stream = io.StringIO()
    monkeypatch.setattr("sys.stderr", stream)
    root = logging.getLogger()
    before = list(root.handlers), root.level
    try:
        configure_logging(load_settings({"log_format": "json"}, environ={}))
        logging.getLogger("maas.test").warning("hello %s", "金沢")
    finally:
        for handler in list(root.handlers):
            if handler not in before[0]:
                root.removeHandler(handler)
        root.setLevel(before[1])
    line = json.loads(stream.getvalue().splitlines()[-1])
    assert line["message"] == "hello 金沢"
    assert line["logger"] == "maas.test"
