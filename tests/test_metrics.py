"""GET /metrics: the Prometheus exposition, summed over gunicorn's workers, behind a token."""

from __future__ import annotations

import datetime as dt
import os
import subprocess
import urllib.error
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
from flask import Flask
from flask.testing import FlaskClient
from prometheus_client.parser import text_string_to_metric_families

from tests.conftest import FIXED_NOW, Runner, free_port, maas_executable, wait_for_http
from tests.test_scans import enrol, scan

TOKEN = "metrics-token-for-the-tests-0123456789"
AUTH = {"Authorization": f"Bearer {TOKEN}"}


def samples(text: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    """Every sample of an exposition by (name, sorted labels), parsed by prometheus_client."""
    return {(sample.name, tuple(sorted(sample.labels.items()))): sample.value
            for family in text_string_to_metric_families(text) for sample in family.samples}


def counter_pids(folder: Path) -> set[str]:
    """The processes that wrote counters under the multiprocess folder."""
    return {path.stem.rsplit("_", 1)[-1] for path in folder.glob("counter_*.db")}


def fetch(url: str, headers: dict[str, str] | None = None) -> tuple[int, str]:
    request = urllib.request.Request(url, headers=headers or {})  # noqa: S310 - loopback
    try:
        with urllib.request.urlopen(request, timeout=10) as response:  # noqa: S310 - loopback
            return response.status, response.read().decode()
    except urllib.error.HTTPError as error:
        return error.code, error.read().decode()


@pytest.mark.server
def test_gunicorn_workers_add_up_in_one_exposition(own_database_url: str,
                                                   tmp_path: Path) -> None:
    # a database of its own: the server commits the first signing keys
    database_url = own_database_url
    port, folder = free_port(), tmp_path / "metrics"
    env = {**os.environ, "MAAS_HOME": str(tmp_path), "MAAS_DATABASE_URL": database_url,
           "MAAS_METRICS_TOKEN": TOKEN, "PROMETHEUS_MULTIPROC_DIR": str(folder),
           "MAAS_LOG_LEVEL": "warning"}
    base = f"http://127.0.0.1:{port}"
    with (tmp_path / "server.log").open("wb") as log:
        process = subprocess.Popen([maas_executable(), "serve", "--port", str(port),
                                    "--workers", "2"], env=env, stdout=log,
                                   stderr=subprocess.STDOUT)
        try:
            wait_for_http(f"{base}/api/v1/health", 90, process)
            # a new connection each, eight at a time, until both workers have answered some
            # (each writes its own files): which worker accepts a connection is the kernel's
            # choice, so one idle worker may take a short sequential run alone
            with ThreadPoolExecutor(8) as pool:
                for _ in range(50):
                    statuses = list(pool.map(lambda _: fetch(f"{base}/api/v1/health")[0],
                                             range(16)))
                    assert statuses == [200] * 16
                    if len(counter_pids(folder)) == 2:
                        break
            for stop in ("a", "b", "c"):
                assert fetch(f"{base}/api/v1/stops/{stop}/departures")[0] == 404
            # wrong principals: nobody, and a wrong token
            assert fetch(f"{base}/metrics")[0] == 401
            status, body = fetch(f"{base}/metrics", {"Authorization": "Bearer wrong"})
            assert status == 401
            assert '"status": 401' in body or '"status":401' in body
            status, text = fetch(f"{base}/metrics", AUTH)
            assert status == 200, text
        finally:
            process.terminate()
            process.wait(timeout=20)
    found = samples(text)
    health = (("endpoint", "/api/v1/health"), ("method", "GET"))
    # the health checks wait_for_http made, plus 16 per round, whichever worker answered each
    served = found[("maas_http_requests_total", tuple(sorted((*health, ("status", "200")))))]
    assert served >= 17
    assert found[("maas_http_request_duration_seconds_count", health)] == served
    inf = tuple(sorted((*health, ("le", "+Inf"))))
    assert found[("maas_http_request_duration_seconds_bucket", inf)] == served
    # the server's warm-up requests (the master's and each worker's /health and /plan) are
    # not counted: this test sent no /plan
    assert not any(dict(labels).get("endpoint") == "/api/v1/plan" for _, labels in found)
    # the URL rule, not the raw path: three stops, one series
    rule = (("endpoint", "/api/v1/stops/<stop_id>/departures"), ("method", "GET"),
            ("status", "404"))
    assert found[("maas_http_requests_total", tuple(sorted(rule)))] == 3
    assert not any("/stops/a/" in str(labels) for _, labels in found)
    # both workers wrote their counts into the folder the master prepared
    pids = counter_pids(folder)
    assert len(pids) == 2, pids
    # read from the database at scrape time
    assert ("maas_worker_lag_seconds", ()) in found
    assert found[("maas_worker_lag_seconds", ())] >= 0


def scrape(client: FlaskClient) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    response = client.get("/metrics", headers=AUTH)
    assert response.status_code == 200, response.get_data(as_text=True)
    assert response.content_type.startswith("text/plain; version=0.0.4")
    return samples(response.get_data(as_text=True))


def test_no_token_configured_means_no_metrics(client: FlaskClient) -> None:
    response = client.get("/metrics", headers=AUTH)
    assert response.status_code == 404
    assert response.mimetype == "application/problem+json"


@pytest.mark.usefixtures("loaded_demo")
def test_scans_verdicts_orders_and_feed_ages(
        database_url: str, shared_home: Path, app: Flask, monkeypatch: pytest.MonkeyPatch) -> None:
    from maas.app import create_app

    metered = create_app({"env": "test", "home": shared_home, "database_url": database_url,
                          "clock": app.extensions["maas"].clock, "metrics_token": TOKEN})
    metered.extensions["maas"] = app.extensions["maas"].__class__(
        **{**app.extensions["maas"].__dict__, "settings": metered.extensions["maas"].settings})
    # the state, and so the bus, is the app fixture's, which register_events subscribed
    client = metered.test_client()
    before = scrape(client)
    device = enrol(Runner(metered, monkeypatch), client)
    at = FIXED_NOW - dt.timedelta(minutes=5)
    batch = [scan(None, at, result="reject"), scan(None, at, result="reject")]
    response = client.post("/api/v1/scans", json={"scans": batch}, headers=device.auth)
    assert response.status_code == 200, response.get_json()
    after = scrape(client)

    def delta(name: str, *labels: tuple[str, str]) -> float:
        key = (name, tuple(sorted(labels)))
        return after.get(key, 0.0) - before.get(key, 0.0)

    assert delta("maas_scans_ingested_total", ("operator", "hokutetsu")) == 2
    assert sum(value - before.get(key, 0.0) for key, value in after.items()
               if key[0] == "maas_verdicts_total") == 2
    # the demo feeds are active: each has an age, and the gauges come from the database
    ages = {labels: value for (name, labels), value in after.items()
            if name == "maas_feed_age_seconds"}
    assert ages
    assert all(value >= 0 for value in ages.values())
    enrol_rule = (("endpoint", "/api/v1/devices/enroll"), ("method", "POST"),
                  ("status", "200"))
    assert delta("maas_http_requests_total", *enrol_rule) == 1


def test_every_observation_counts_under_its_own_label_set() -> None:
    from prometheus_client import REGISTRY

    from maas.metrics import observe_request

    endpoint = "/test/observe-request"

    def value(name: str, **labels: str) -> float:
        found = REGISTRY.get_sample_value(name, {"endpoint": endpoint, "method": "GET",
                                                 **labels})
        return found or 0.0

    # the label sets' children are looked up once and kept: later calls count as the first
    for status, seconds in ((200, 0.003), (200, 0.02), (503, 0.003), (200, 40.0)):
        observe_request(endpoint, "GET", status, seconds)
    assert value("maas_http_requests_total", status="200") == 3
    assert value("maas_http_requests_total", status="503") == 1
    assert value("maas_http_request_duration_seconds_count") == 4
    assert value("maas_http_request_duration_seconds_sum") == pytest.approx(40.026)
    assert value("maas_http_request_duration_seconds_bucket", le="0.005") == 2
    assert value("maas_http_request_duration_seconds_bucket", le="0.025") == 3
    assert value("maas_http_request_duration_seconds_bucket", le="30.0") == 3
    assert value("maas_http_request_duration_seconds_bucket", le="+Inf") == 4
