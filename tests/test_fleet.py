"""Two app hosts on one PostgreSQL database: state is shared, nothing is copied between hosts.

Two real ``maas serve`` instances (gunicorn) with separate MAAS_HOMEs share only the database
URL and the secrets: a feed imported through one is served by both (the other compiles it from
the stored copy), a key rotation through one is published and used by both, a validator
enrolled through one syncs through the other, a rate limit counts the requests to both (in one
Redis, database 7), and of two ``maas worker`` processes only one leads (polling a local GBFS
server) until it is killed and the other takes over.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import functools
import http.server
import json
import os
import subprocess
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import jwt
import pytest
import redis
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
from sqlalchemy import Engine, func, select, text

from maas.core.clock import TOKYO
from maas.core.db import create_db_engine, session_factory, upgrade
from maas.demo.kanazawa import write_demo
from passes import credential
from passes.services import load_products
from tests.conftest import free_port, maas_executable, wait_for_http
from validators.device import Device
from validators.models import Scan

KEK = "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8="
REDIS_URL = "redis://127.0.0.1:6379/7"


@dataclasses.dataclass
class Host:
    """One app host: its own MAAS_HOME and environment, and its server."""

    name: str
    home: Path
    env: dict[str, str]
    url: str = ""
    process: subprocess.Popen[bytes] | None = None

    def cli(self, *args: str) -> Any:
        """``maas ARGS --json`` run on this host; the parsed output."""
        done = subprocess.run([maas_executable(), *args, "--json"], env=self.env,
                              capture_output=True, timeout=300, check=False)
        assert done.returncode == 0, done.stderr.decode()
        return json.loads(done.stdout)

    def call(self, method: str, path: str, body: Any = None,
             headers: dict[str, str] | None = None) -> tuple[int, Any]:
        """An HTTP request to this host's server; status and parsed JSON body."""
        data = None if body is None else json.dumps(body).encode()
        request = urllib.request.Request(  # noqa: S310 - loopback only
            self.url + path, data=data, method=method,
            headers={"Content-Type": "application/json", **(headers or {})})
        try:
            with urllib.request.urlopen(request, timeout=60) as response:  # noqa: S310
                return response.status, json.loads(response.read() or b"null")
        except urllib.error.HTTPError as error:
            return error.code, json.loads(error.read() or b"null")


class CountingGbfs(http.server.SimpleHTTPRequestHandler):
    """Serves a GBFS folder and counts the requests."""

    requests: list[float]

    def do_GET(self) -> None:
        """Count, then serve the file."""
        self.requests.append(time.monotonic())
        super().do_GET()

    def log_message(self, format: str, *args: Any) -> None:
        """Quiet."""


@pytest.fixture(scope="module")
def fleet(tmp_path_factory: pytest.TempPathFactory, request: pytest.FixtureRequest
          ) -> Iterator[tuple[Host, Host, str]]:
    """Two serving hosts on a fresh PostgreSQL database, and the database URL (started once
    for the module: each takes tens of seconds to start on a busy machine)."""
    if not os.environ.get("MAAS_TEST_DATABASE_URL"):
        # scripts/test sets it whenever PostgreSQL answers, and CI must (CI=true fails without)
        pytest.skip("needs PostgreSQL (MAAS_TEST_DATABASE_URL)")
    tmp_path = tmp_path_factory.mktemp("fleet")
    make: Callable[[], str] = request.getfixturevalue("make_postgres_database")
    url = make()
    engine = create_db_engine(url)
    upgrade(engine)
    engine.dispose()
    redis.Redis.from_url(REDIS_URL).flushdb()  # this test's own Redis database
    hosts = []
    for name in ("a", "b"):
        home = tmp_path / name
        home.mkdir()
        env = {**os.environ, "MAAS_ENV": "production", "MAAS_HOME": str(home),
               "MAAS_DATABASE_URL": url, "MAAS_SECRET_KEY": "s" * 40,
               "MAAS_KEY_ENCRYPTION_KEY": KEK, "MAAS_PAYMENT_PROVIDER": "sandbox",
               "MAAS_ALLOW_SANDBOX_PAYMENTS": "1", "MAAS_ALLOW_PRIVATE_URLS": "1",
               "MAAS_LOG_FORMAT": "text", "MAAS_REDIS_URL": REDIS_URL,
               "MAAS_RATE_LIMIT_ORDERS": "4 per hour"}
        hosts.append(Host(name, home, env))
    try:
        for host in hosts:
            port = free_port()
            host.url = f"http://127.0.0.1:{port}"
            with (host.home / "server.log").open("wb") as log:
                host.process = subprocess.Popen(
                    [maas_executable(), "serve", "--port", str(port), "--workers", "1"],
                    env=host.env, stdout=log, stderr=subprocess.STDOUT)
        for host in hosts:
            assert host.process is not None
            wait_for_http(f"{host.url}/api/v1/health", 180, host.process)
        yield hosts[0], hosts[1], url
    finally:
        for host in hosts:
            if host.process is not None:
                host.process.terminate()
                host.process.wait(timeout=30)


def _until(check: Callable[[], Any], seconds: float, what: str) -> Any:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        result = check()
        if result:
            return result
        time.sleep(0.2)
    raise AssertionError(f"{what}: not within {seconds} s")


def _kid(token: str) -> str:
    kid: str = jwt.get_unverified_header(token)["kid"]
    return kid


@pytest.fixture
def fleet_engine(fleet: tuple[Host, Host, str]) -> Iterator[Engine]:
    """An engine of the test's own on the hosts' database."""
    engine = create_db_engine(fleet[2])
    yield engine
    engine.dispose()


def test_two_hosts_share_feeds_keys_and_devices(fleet: tuple[Host, Host, str], fleet_engine: Engine,
                                                 tmp_path: Path) -> None:
    a, b, _url = fleet
    now = dt.datetime.now(dt.UTC)
    today = now.astimezone(TOKYO).date()
    plan = (f"/api/v1/plan?from=stop:kanazawa-sta-east&to=stop:kenrokuen-shita"
            f"&depart={today.isoformat()}T10:00:00%2B09:00")
    assert b.call("GET", plan)[0] == 404  # no feed yet

    # --- a feed imported through one host is served by both
    parts = write_demo(tmp_path / "demo", today)
    imported = a.cli("gtfs", "import", str(parts["gtfs"]), "--name", "kanazawa-demo")
    with session_factory(fleet_engine)() as session:
        load_products(session, parts["products"])
        session.commit()
    answers = [_until(lambda host=host: (lambda r: r[1] if r[0] == 200 else None)(
        host.call("GET", plan)), 60, f"host {host.name} serves the feed") for host in (a, b)]
    assert answers[0] == answers[1]
    assert answers[0]["itineraries"]
    # host b compiled its own copy from the database; it never saw host a's files
    assert (b.home / "feeds" / "gtfs" / f"{imported['version']}.zip").exists()
    assert any((b.home / "timetables").glob("*/meta.json"))

    # --- a key rotation through one host is published and used by both
    b.cli("keys", "list")  # the first keys, made once for every host
    before = [host.call("GET", "/.well-known/jwks.json")[1] for host in (a, b)]
    assert before[0] == before[1]
    assert len(before[0]["keys"]) == 2
    rotated = {k["state"]: k["kid"] for k in a.cli("keys", "rotate")["keys"]}
    after = [host.call("GET", "/.well-known/jwks.json")[1] for host in (a, b)]
    assert after[0] == after[1]
    assert {k["kid"] for k in after[0]["keys"]} == set(rotated.values())
    tomorrow = (today + dt.timedelta(days=1)).isoformat()
    for host in (a, b):
        email = f"rider-{host.name}@example.jp"
        host.call("POST", "/api/v1/riders", {"email": email, "password": "correct horse"})
        token = host.call("POST", "/api/v1/auth/token",
                          {"email": email, "password": "correct horse"})[1]["access_token"]
        status, bought = host.call(
            "POST", "/api/v1/orders",
            {"product": "kanazawa-1day", "service_date": tomorrow, "category": "adult",
             "payment": {"method": "sandbox", "card_number": "4242424242424242"}},
            {"Authorization": f"Bearer {token}", "Idempotency-Key": f"k-{host.name}"})
        assert status == 201, bought
        assert _kid(bought["pass"]["token"]) == rotated["current"]

    # --- a validator enrolled through one host syncs through the other
    device = b.cli("devices", "add", "--operator", "hokutetsu", "--vehicle", "bus-fleet")
    validator = Device(tmp_path / "validator")
    validator.enrol(a.url, device["enrollment_code"])
    phone = ec.generate_private_key(ec.SECP256R1())
    (tmp_path / "phone.pem").write_bytes(phone.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo))
    issued = a.cli("passes", "issue", "--product", "kanazawa-1day", "--date",
                   today.isoformat(), "--device-key", str(tmp_path / "phone.pem"))
    boarding = dt.datetime.combine(today, dt.time(10, 30), TOKYO)
    checked = validator.check(credential.present(issued["token"], phone, boarding), boarding)
    assert checked.result.code == "accept", checked
    saved = json.loads((tmp_path / "validator" / "device.json").read_text())
    (tmp_path / "validator" / "device.json").write_text(json.dumps({**saved, "server": b.url}))
    report = Device(tmp_path / "validator").sync()
    assert report.uploaded == 1
    with session_factory(fleet_engine)() as session:
        statuses = session.execute(select(Scan.status, func.count()).group_by(Scan.status))
        assert dict(statuses.all()) == {"confirmed": 1}


def test_a_rate_limit_counts_requests_to_both_hosts(
        fleet: tuple[Host, Host, str], fleet_engine: Engine, tmp_path: Path) -> None:
    a, b, _url = fleet
    parts = write_demo(tmp_path / "demo", dt.datetime.now(TOKYO).date())
    with session_factory(fleet_engine)() as session:
        load_products(session, parts["products"])  # the same products again: no change
        session.commit()
    a.call("POST", "/api/v1/riders", {"email": "limit@example.jp", "password": "correct horse"})
    token = b.call("POST", "/api/v1/auth/token",
                   {"email": "limit@example.jp", "password": "correct horse"})[1]["access_token"]
    tomorrow = (dt.datetime.now(TOKYO).date() + dt.timedelta(days=1)).isoformat()
    statuses = []
    for number, host in enumerate((a, b, a, b, a, b)):
        statuses.append(host.call(
            "POST", "/api/v1/orders",
            {"product": "kanazawa-1day", "service_date": tomorrow, "category": "child",
             "payment": {"method": "sandbox", "card_number": "4242424242424242"}},
            {"Authorization": f"Bearer {token}", "Idempotency-Key": f"limit-{number}"})[0])
    # 4 per hour per rider, counted in the one Redis: two on each host, then refused on both
    assert statuses == [201, 201, 201, 201, 429, 429]


def test_one_worker_polls_and_another_takes_over(
        fleet: tuple[Host, Host, str], fleet_engine: Engine, tmp_path: Path) -> None:
    a, b, _url = fleet
    parts = write_demo(tmp_path / "demo", dt.datetime.now(TOKYO).date())
    status_file = parts["gbfs"] / "station_status.json"
    document = json.loads(status_file.read_text(encoding="utf-8"))
    document["ttl"] = 0  # poll as often as the worker allows (every 5 s)
    status_file.write_text(json.dumps(document), encoding="utf-8")
    handler = type("Counting", (CountingGbfs,), {"requests": []})
    server = http.server.ThreadingHTTPServer(
        ("127.0.0.1", 0), functools.partial(handler, directory=str(parts["gbfs"])))
    threading.Thread(target=server.serve_forever, daemon=True).start()
    workers: dict[str, subprocess.Popen[bytes]] = {}
    try:
        a.cli("gbfs", "import", f"http://127.0.0.1:{server.server_address[1]}/gbfs.json",
              "--name", "live")
        per_poll = len(handler.requests)  # one import fetches every file once
        for host in (a, b):
            with (host.home / "worker.log").open("wb") as log:
                workers[host.name] = subprocess.Popen([maas_executable(), "worker"],
                                                      env=host.env, stderr=log)

        def leaders() -> list[str]:
            return [host.name for host in (a, b)
                    if "leads" in (host.home / "worker.log").read_text(errors="replace")]

        first = _until(leaders, 60, "a worker leads")
        assert len(first) == 1
        with fleet_engine.connect() as connection:
            held = connection.scalar(text(
                "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND granted"))
        assert held == 1
        started = len(handler.requests)
        time.sleep(12)
        polled = len(handler.requests) - started
        # one poller every 5 s: 2 or 3 polls in 12 s, each fetching the feed's files once
        assert per_poll <= polled <= 3 * per_poll
        assert len(leaders()) == 1  # the other worker still waits
        workers[first[0]].kill()
        workers[first[0]].wait(timeout=30)
        follower = next(name for name in ("a", "b") if name != first[0])
        _until(lambda: follower in leaders(), 30, "the other worker takes over")
        taken_over = len(handler.requests)
        _until(lambda: len(handler.requests) > taken_over, 30, "the new leader polls")
    finally:
        for process in workers.values():
            if process.poll() is None:
                process.terminate()
                process.wait(timeout=30)
        server.shutdown()
        server.server_close()
