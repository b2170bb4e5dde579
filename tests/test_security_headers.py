"""Security headers on every response (issue 12, item 6), and the limits of the real server.

The browser side (the pages work under the policy, with no violation) is tests/test_csp_browser.py.
"""

from __future__ import annotations

import http.client
import json
import socket
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient

from maas.app import CONTENT_SECURITY_POLICY, SecurityHeaders, create_app, security_headers
from maas.core.config import load_settings
from maas.core.limits import (
    GUNICORN_LIMIT_REQUEST_FIELD_SIZE,
    GUNICORN_LIMIT_REQUEST_LINE,
    MAX_HEADER_FIELD_BYTES,
    MAX_URL_BYTES,
)
from tests.conftest import RunningServer, fixed_clock

PROBLEM = "application/problem+json"
EXPECTED = {
    "Content-Security-Policy": CONTENT_SECURITY_POLICY,
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "Cross-Origin-Opener-Policy": "same-origin",
    "X-Frame-Options": "DENY",
}


def test_the_policy_is_strict() -> None:
    directives = dict(d.split(" ", 1) for d in CONTENT_SECURITY_POLICY.split("; "))
    assert directives == {
        "default-src": "'self'",
        "script-src": "'self' 'wasm-unsafe-eval'",
        "style-src": "'self'",
        "img-src": "'self' data: blob:",
        "connect-src": "'self'",
        "worker-src": "'self'",
        "object-src": "'none'",
        "base-uri": "'none'",
        "form-action": "'self'",
        "frame-ancestors": "'none'",
    }
    assert "unsafe-inline" not in CONTENT_SECURITY_POLICY
    assert "'unsafe-eval'" not in CONTENT_SECURITY_POLICY


@pytest.mark.parametrize("path", [
    "/app", "/driver", "/partners", "/app/sw.js", "/driver/sw.js", "/static/maas.css",
    "/static/driver.js", "/api/v1/health", "/api/v1/openapi.json", "/.well-known/jwks.json",
    "/api/v1/no-such-thing", "/api/v1/stats/me", "/", "/api/v1/health?" + "a" * MAX_URL_BYTES,
])
def test_every_kind_of_response_carries_the_headers(client: FlaskClient, path: str) -> None:
    with client.get(path) as response:
        for name, value in EXPECTED.items():
            assert response.headers.get(name) == value, (path, name)
        assert response.headers["Permissions-Policy"].startswith("camera=(self)")
        assert "Strict-Transport-Security" not in response.headers  # not production


def test_every_route_of_the_url_map_carries_the_headers(app: Flask,
                                                         client: FlaskClient) -> None:
    for rule in app.url_map.iter_rules():
        path = rule.rule.replace("<path:filename>", "maas.js")
        for argument in rule.arguments:
            path = path.replace(f"<{argument}>", "x")
        for method in (rule.methods or set()) - {"OPTIONS"}:
            with client.open(path, method=method) as response:
                assert response.headers.get("Content-Security-Policy") == \
                    CONTENT_SECURITY_POLICY, (method, path)


@pytest.mark.parametrize("own", [
    [],
    [("Content-Type", "text/html"), ("Content-Length", "3")],
    [("Content-Type", "text/html"), ("x-frame-options", "SAMEORIGIN")],  # any case
    [("Content-Security-Policy", "default-src 'none'"), ("Referrer-Policy", "origin"),
     ("X-Request-ID", "abc")],
    [(name, "own") for name in EXPECTED],
], ids=["none", "others", "one-lower-case", "two", "all"])
def test_the_wrapper_adds_what_the_response_does_not_set(own: list[tuple[str, str]]) -> None:
    headers = security_headers(load_settings(environ={}))
    seen: list[list[tuple[str, str]]] = []

    def inner(_environ: Any, start_response: Any) -> list[bytes]:
        start_response("200 OK", list(own))
        return [b"ok"]

    def server(_status: str, response_headers: list[tuple[str, str]], _exc: Any = None) -> Any:
        seen.append(response_headers)

    for _ in range(2):
        assert SecurityHeaders(inner, headers)({}, server) == [b"ok"]
    present = {name.lower() for name, _ in own}
    expected = own + [(name, value) for name, value in headers.items()
                      if name.lower() not in present]
    assert seen == [expected, expected]


def test_the_camera_and_location_are_for_this_origin_only() -> None:
    policy = dict(item.split("=") for item in
                  security_headers(load_settings(environ={}))["Permissions-Policy"].split(", "))
    assert policy == {"camera": "(self)", "geolocation": "(self)", "microphone": "()",
                      "payment": "()", "usb": "()"}


def test_hsts_only_in_production(database_url: str, shared_home: Path) -> None:
    for env in ("demo", "development", "test"):
        headers = security_headers(load_settings({"env": env}, environ={}))
        assert "Strict-Transport-Security" not in headers
    production = {"env": "production", "testing": True, "home": shared_home,
                  "database_url": database_url, "secret_key": "k" * 40,
                  "key_encryption_key": "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=",
                  "payment_provider": "sandbox", "allow_sandbox_payments": True,
                  "redis_url": "memory://", "clock": fixed_clock}
    app = create_app(production)
    try:
        with app.test_client().get("/api/v1/health") as response:
            assert response.headers["Strict-Transport-Security"] == (
                "max-age=63072000; includeSubDomains")
            assert response.headers["Content-Security-Policy"] == CONTENT_SECURITY_POLICY
    finally:
        app.extensions["maas"].engine.dispose()


# --- the real server: gunicorn and the app -----------------------------------------------------

def _raw(server: RunningServer, request: bytes) -> tuple[int, dict[str, str], bytes]:
    host, port = server.base_url.removeprefix("http://").split(":")
    with socket.create_connection((host, int(port)), timeout=10) as sock:
        sock.sendall(request)
        response = http.client.HTTPResponse(sock)
        response.begin()
        return response.status, {k.lower(): v for k, v in response.getheaders()}, \
            response.read()


@pytest.mark.server
def test_the_server_answers_problems_at_every_limit(demo_server: RunningServer) -> None:
    cases = [
        # (target length, header length, expected status, answered by the app)
        (MAX_URL_BYTES + 100, 10, 414, True),
        (GUNICORN_LIMIT_REQUEST_LINE + 100, 10, 414, False),
        (10, MAX_HEADER_FIELD_BYTES + 100, 431, True),
        (10, GUNICORN_LIMIT_REQUEST_FIELD_SIZE + 100, 431, False),
    ]
    for target, header, status, by_app in cases:
        path = "/api/v1/health?" + "a" * target
        request = (f"GET {path} HTTP/1.1\r\nHost: x\r\nX-Padding: {'p' * header}\r\n"
                   "Connection: close\r\n\r\n").encode()
        got, headers, body = _raw(demo_server, request)
        assert (got, headers["content-type"]) == (status, PROBLEM), (target, header, body[:200])
        problem = json.loads(body)
        assert problem["status"] == status
        assert headers["x-content-type-options"] == "nosniff"
        # the app's own answers carry the request id and every security header
        assert ("x-request-id" in headers) is by_app
        assert ("content-security-policy" in headers) is by_app
    # a malformed request gunicorn refuses is problem+json as well
    got, headers, body = _raw(demo_server, b"GET /\x01 HTTP/1.1\r\nHost: x\r\n\r\n")
    assert (got, headers["content-type"]) == (400, PROBLEM)
