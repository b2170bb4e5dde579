"""Request rate limits (maas.ratelimits): who is counted, the 429 problem, shared counters.

Every test runs on both storages: a real Redis (MAAS_TEST_REDIS_URL, by default db 8 of the
local server, emptied before each test) and ``memory://``, on each database backend.
"""

from __future__ import annotations

import dataclasses
import json
import os
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import redis
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy.orm import Session, sessionmaker

from maas.app import create_app, register_events
from maas.core.config import load_settings
from maas.core.errors import ConfigError
from maas.core.events import Events
from tests.conftest import Runner, fixed_clock

REDIS_URL = os.environ.get("MAAS_TEST_REDIS_URL", "redis://127.0.0.1:6379/8")
PASSWORD = "correct horse battery"

AppFactory = Callable[..., Flask]


@pytest.fixture(params=["redis", "memory"])
def storage(request: pytest.FixtureRequest) -> Iterator[str]:
    """The counters' storage: the test Redis database (emptied first) or process memory."""
    if request.param == "memory":
        yield "memory://"
        return
    server = redis.Redis.from_url(REDIS_URL)
    server.flushdb()  # this test database only (MAAS_TEST_REDIS_URL)
    yield REDIS_URL
    server.flushdb()
    server.close()


@pytest.fixture
def make_app(database_url: str, sessions: sessionmaker[Session], events: Events,
             shared_home: Path, storage: str) -> Iterator[AppFactory]:
    """Apps like the ``app`` fixture's, on the test transaction, with the limits given."""
    made: list[Flask] = []

    def make(**settings: Any) -> Flask:
        app = create_app({"env": "test", "home": shared_home, "database_url": database_url,
                          "clock": fixed_clock, "redis_url": storage, **settings})
        state = app.extensions["maas"]
        app.extensions["maas"] = dataclasses.replace(state, sessions=sessions, events=events)
        register_events(app)
        made.append(app)
        return app

    yield make
    for app in made:
        app.extensions["maas"].engine.dispose()


def assert_throttled(response: Any) -> None:
    """A 429 problem from the registry, with a Retry-After in whole seconds."""
    assert response.status_code == 429, response.get_json()
    assert response.mimetype == "application/problem+json"
    body = response.get_json()
    assert body["type"] == "/problems/too-many-requests"
    assert body["status"] == 429
    assert 1 <= int(response.headers["Retry-After"]) <= 3600  # capped at the window (an hour here)


def sign_in(client: FlaskClient, email: str, password: str = "wrong password",
            **kwargs: Any) -> Any:
    return client.post("/api/v1/auth/token", json={"email": email, "password": password},
                       **kwargs)


# Limits in these tests are "per hour": the sliding-window counter weighs the previous window
# by the time left in it, so requests that straddle a window's edge (one test in ~500 with
# "per minute") count a little under N and let one more through.
def test_sign_ins_are_limited_per_account(make_app: AppFactory) -> None:
    client = make_app(rate_limit_login_account="3 per hour").test_client()
    for _ in range(3):
        assert sign_in(client, "kana@example.jp").status_code == 401
    # the same account however it is spelt; the right password does not get past it either
    assert_throttled(sign_in(client, " KANA@example.jp"))
    # another account from the same address is not this account's business
    assert sign_in(client, "yuki@example.jp").status_code == 401


def test_sign_ins_are_limited_per_address(make_app: AppFactory) -> None:
    client = make_app(rate_limit_login_address="3 per hour").test_client()
    for number in range(3):
        assert sign_in(client, f"rider{number}@example.jp").status_code == 401
    assert_throttled(sign_in(client, "rider9@example.jp"))
    # a forwarded address means nothing without a trusted proxy ...
    spoofed = {"X-Forwarded-For": "203.0.113.7"}
    assert_throttled(sign_in(client, "rider9@example.jp", headers=spoofed))
    # ... and behind one it is the client's address, counted on its own
    behind = make_app(rate_limit_login_address="3 per hour", trusted_proxies=1).test_client()
    assert sign_in(behind, "rider9@example.jp", headers=spoofed).status_code == 401
    assert sign_in(behind, "rider9@example.jp", headers={"X-Forwarded-For": "198.51.100.1"}
                   ).status_code == 401


def test_an_unreadable_sign_in_is_counted_against_its_address(make_app: AppFactory) -> None:
    client = make_app(rate_limit_login_account="2 per hour").test_client()
    for _ in range(2):
        response = client.post("/api/v1/auth/token", data=b"{not json",
                               content_type="application/json")
        assert response.status_code == 422
    assert_throttled(client.post("/api/v1/auth/token", json={"password": "x"}))
    # an e-mail that cannot be encoded (a lone surrogate) is the address's too, never a 500
    unencodable = client.post("/api/v1/auth/token", content_type="application/json",
                              data='{"email": "\\ud800", "password": "x"}')
    assert_throttled(unencodable)
    # a real account is counted on its own
    assert sign_in(client, "kana@example.jp").status_code == 401


def rider_auth(client: FlaskClient, email: str) -> dict[str, str]:
    assert client.post("/api/v1/riders", json={"email": email, "password": PASSWORD}
                       ).status_code == 201
    token = sign_in(client, email, PASSWORD).get_json()["access_token"]
    return {"Authorization": f"Bearer {token}"}


@pytest.mark.usefixtures("loaded_demo")
def test_orders_are_limited_per_rider(make_app: AppFactory) -> None:
    client = make_app(rate_limit_orders="2 per hour").test_client()
    first, second = rider_auth(client, "a@example.jp"), rider_auth(client, "b@example.jp")
    body = {"product": "kanazawa-1day", "service_date": "2026-12-02", "category": "adult",
            "payment": {"method": "sandbox", "card_number": "4242424242424242"}}
    for number in range(2):
        response = client.post("/api/v1/orders", json=body,
                               headers={**first, "Idempotency-Key": f"k{number}"})
        assert response.status_code == 201, response.get_json()
    assert_throttled(client.post("/api/v1/orders", json=body,
                                 headers={**first, "Idempotency-Key": "k9"}))
    # another rider, from the same address, still buys
    assert client.post("/api/v1/orders", json=body,
                       headers={**second, "Idempotency-Key": "k0"}).status_code == 201
    # a forged token is not the rider it names: refused as unauthenticated, not as throttled
    forged = {"Authorization": first["Authorization"][:-4] + "AAAA", "Idempotency-Key": "k8"}
    assert client.post("/api/v1/orders", json=body, headers=forged).status_code == 401


def test_plans_are_limited_per_address(make_app: AppFactory) -> None:
    client = make_app(rate_limit_plan="2 per hour").test_client()
    for _ in range(2):
        assert client.get("/api/v1/plan").status_code == 422
    assert_throttled(client.get("/api/v1/plan"))
    other = make_app(rate_limit_plan="2 per hour", trusted_proxies=1).test_client()
    assert other.get("/api/v1/plan", headers={"X-Forwarded-For": "198.51.100.2"}
                     ).status_code == 422
    # other endpoints are not limited
    assert client.get("/api/v1/health").status_code == 200


def test_enrolments_are_limited_per_address(make_app: AppFactory) -> None:
    client = make_app(rate_limit_enroll="2 per hour").test_client()
    for _ in range(2):
        assert client.post("/api/v1/devices/enroll", json={"code": "x" * 20}
                           ).status_code == 401
    assert_throttled(client.post("/api/v1/devices/enroll", json={"code": "x" * 20}))


def enrol(app: Flask, runner: Runner, client: FlaskClient) -> dict[str, str]:
    added = runner.invoke("devices", "add", "--operator", "hokutetsu", "--vehicle", "bus-1",
                          "--json")
    assert added.exit_code == 0, added.output
    code = json.loads(added.stdout)["enrollment_code"]
    body = client.post("/api/v1/devices/enroll", json={"code": code}).get_json()
    return {"Authorization": f"Bearer {body['token']}"}


@pytest.mark.usefixtures("loaded_demo")
def test_scans_are_limited_per_device(make_app: AppFactory,
                                      monkeypatch: pytest.MonkeyPatch) -> None:
    app = make_app(rate_limit_scans="2 per hour")
    client, runner = app.test_client(), Runner(app, monkeypatch)
    first, second = enrol(app, runner, client), enrol(app, runner, client)
    for _ in range(2):
        response = client.post("/api/v1/scans", json={"scans": []}, headers=first)
        assert response.status_code == 200, response.get_json()
    assert_throttled(client.post("/api/v1/scans", json={"scans": []}, headers=first))
    # the other device, on the same address, is counted on its own
    assert client.post("/api/v1/scans", json={"scans": []}, headers=second).status_code == 200
    # an unknown token is refused as such and counted against its address, not a device
    unknown = {"Authorization": "Bearer not-a-device-token"}
    for _ in range(2):
        assert client.post("/api/v1/scans", json={"scans": []}, headers=unknown
                           ).status_code == 401
    assert_throttled(client.post("/api/v1/scans", json={"scans": []}, headers=unknown))
    assert client.post("/api/v1/scans", json={"scans": []}, headers=second).status_code == 200


def test_two_apps_on_one_redis_share_a_counter(make_app: AppFactory, storage: str) -> None:
    one = make_app(rate_limit_plan="3 per hour").test_client()
    two = make_app(rate_limit_plan="3 per hour").test_client()
    assert one.get("/api/v1/plan").status_code == 422
    assert two.get("/api/v1/plan").status_code == 422
    assert one.get("/api/v1/plan").status_code == 422
    if storage == "memory://":  # the demo: every process counts for itself
        assert two.get("/api/v1/plan").status_code == 422
    else:
        assert_throttled(two.get("/api/v1/plan"))
        assert_throttled(one.get("/api/v1/plan"))


def test_an_unreachable_redis_falls_back_to_counting_in_memory(
        make_app: AppFactory, caplog: pytest.LogCaptureFixture) -> None:
    client = make_app(redis_url="redis://127.0.0.1:1/0", rate_limit_plan="2 per hour"
                      ).test_client()
    for _ in range(2):
        assert client.get("/api/v1/plan").status_code == 422
    assert_throttled(client.get("/api/v1/plan"))
    assert "falling back to in-memory storage" in caplog.text


def test_the_openapi_document_names_each_limited_429(make_app: AppFactory) -> None:
    paths = make_app().test_client().get("/api/v1/openapi.json").get_json()["paths"]
    for path, method in (("/api/v1/auth/token", "post"), ("/api/v1/orders", "post"),
                         ("/api/v1/plan", "get"), ("/api/v1/devices/enroll", "post"),
                         ("/api/v1/scans", "post")):
        assert "429" in paths[path][method]["responses"], path
    assert "429" not in paths["/api/v1/health"]["get"]["responses"]


@pytest.mark.parametrize(("variable", "value", "message"), [
    ("MAAS_RATE_LIMIT_PLAN", "lots", "is not a rate limit"),
    ("MAAS_RATE_LIMIT_SCANS", "10 per fortnight", "is not a rate limit"),
    ("MAAS_RATE_LIMIT_ORDERS", "0 per minute", "is not a rate limit"),
    ("MAAS_REDIS_URL", "http://cache:6379", "is not a Redis URL"),
    ("MAAS_REDIS_URL", "localhost:6379", "is not a Redis URL"),
])
def test_bad_limit_settings_name_their_variable(variable: str, value: str,
                                                message: str) -> None:
    with pytest.raises(ConfigError, match=f"{variable}: .*{message}"):
        load_settings(environ={variable: value})


def test_production_needs_a_shared_counter_store() -> None:
    environ = {"MAAS_ENV": "production", "MAAS_SECRET_KEY": "s" * 40,
               "MAAS_DATABASE_URL": "postgresql://maas@db/maas", "MAAS_PAYMENT_PROVIDER": "x",
               "MAAS_KEY_ENCRYPTION_KEY": "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8="}
    with pytest.raises(ConfigError, match="MAAS_REDIS_URL: must be set in production"):
        load_settings(environ=environ)
    settings = load_settings(environ={**environ, "MAAS_REDIS_URL": "redis://cache:6379/0",
                                      "MAAS_RATE_LIMIT_PLAN": "5/second; 100 per minute"})
    assert settings.redis_url == "redis://cache:6379/0"
    assert settings.rate_limit_plan == "5/second; 100 per minute"


def test_memory_counts_start_no_thread_and_sweep_in_line(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import threading

    import limits.storage.memory

    from maas.ratelimits import LIMITER, ProcessCounts

    # memory:// (the demo's): the plan query is refused before the database is asked
    app = create_app({"env": "test", "home": tmp_path, "redis_url": "memory://",
                      "rate_limit_plan": "3 per hour"})
    counts = app.extensions[LIMITER].storage
    assert isinstance(counts, ProcessCounts)
    assert hasattr(limits.storage.memory.MemoryStorage, "_MemoryStorage__schedule_expiry")
    started: list[threading.Thread] = []
    monkeypatch.setattr(threading.Thread, "start", lambda thread: started.append(thread))
    counts.timer = threading.Timer(0.01, lambda: None)  # limits' timer, ended (never alive)
    client = app.test_client()
    for _ in range(3):  # each would have started limits' expiry timer
        assert client.get("/api/v1/plan").status_code == 422
    assert_throttled(client.get("/api/v1/plan"))
    assert started == []
    # expired counts are dropped by the count that finds the sweep due
    counts.expirations = dict.fromkeys(counts.expirations, 0.0)
    counts.next_sweep = 0.0
    counts.incr("someone-else", 60)
    assert set(counts.storage) == {"someone-else"}
    assert counts.next_sweep > 0.0
    app.extensions["maas"].engine.dispose()
