"""Validator devices: enrolment codes, device tokens and the signed trust bundle."""

from __future__ import annotations

import json
from typing import Any

import jwt
import pytest
from flask.testing import FlaskClient

from passes import bundle
from tests.conftest import FIXED_NOW, Runner

pytestmark = pytest.mark.usefixtures("loaded_demo")


def add(runner: Runner, *args: str) -> Any:
    return runner.invoke("devices", "add", *args, "--json")


def test_enrol_then_fetch_the_bundle(runner: Runner, client: FlaskClient) -> None:
    created = add(runner, "--operator", "hokutetsu", "--vehicle", "bus-101")
    assert created.exit_code == 0, created.output
    code = json.loads(created.stdout)["enrollment_code"]
    enrolled = client.post("/api/v1/devices/enroll", json={"code": code})
    assert enrolled.status_code == 200, enrolled.get_json()
    body = enrolled.get_json()
    assert body["operator"] == "hokutetsu"
    assert client.post("/api/v1/devices/enroll", json={"code": code}).status_code == 401
    pinned = {k["kid"]: jwt.algorithms.ECAlgorithm.from_jwk(json.dumps(k))
              for k in body["bundle_keys"]}
    auth = {"Authorization": f"Bearer {body['token']}"}
    fetched = client.get("/api/v1/validators/bundle", headers=auth)
    assert fetched.status_code == 200
    document = bundle.open_bundle(fetched.get_json()["bundle"], pinned, FIXED_NOW)
    assert "kanazawa-1day" in document["products"]
    assert fetched.headers["ETag"] == f'"{document["version"]}"'
    unchanged = client.get("/api/v1/validators/bundle",
                           headers={**auth, "If-None-Match": fetched.headers["ETag"]})
    assert unchanged.status_code == 304


def test_bundle_refuses_other_principals(runner: Runner, client: FlaskClient) -> None:
    assert client.get("/api/v1/validators/bundle").status_code == 401
    bad = client.get("/api/v1/validators/bundle", headers={"Authorization": "Bearer nope"})
    assert bad.status_code == 401
    client.post("/api/v1/riders", json={"email": "r@example.jp", "password": "correct horse"})
    rider = client.post("/api/v1/auth/token", json={"email": "r@example.jp",
                                                    "password": "correct horse"}).get_json()
    as_rider = client.get("/api/v1/validators/bundle",
                          headers={"Authorization": f"Bearer {rider['access_token']}"})
    assert as_rider.status_code == 401
    created = json.loads(add(runner, "--operator", "jrbus", "--stop", "korinbo").stdout)
    # a device that never enrolled has no token; its enrolment code is not one
    as_code = client.get("/api/v1/validators/bundle",
                         headers={"Authorization": f"Bearer {created['enrollment_code']}"})
    assert as_code.status_code == 401


def test_bad_device_registrations(runner: Runner) -> None:
    unknown = add(runner, "--operator", "nobody", "--vehicle", "x")
    assert unknown.exit_code == 1
    assert "no operator 'nobody'" in unknown.stderr
    both = add(runner, "--operator", "hokutetsu", "--vehicle", "x", "--stop", "y")
    assert both.exit_code == 1
    assert "exactly one" in both.stderr or "--vehicle or --stop" in both.stderr
