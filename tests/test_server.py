"""Real servers: `maas demo` and `maas serve` (gunicorn) answering over HTTP."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest

from tests.conftest import RunningServer, free_port, maas_executable, wait_for_http

pytestmark = pytest.mark.server


def get(url: str, headers: dict[str, str] | None = None) -> tuple[int, dict[str, str], bytes]:
    request = urllib.request.Request(url, headers=headers or {})  # noqa: S310 - loopback only
    try:
        with urllib.request.urlopen(request, timeout=5) as response:  # noqa: S310
            return response.status, dict(response.headers), response.read()
    except urllib.error.HTTPError as error:
        return error.code, dict(error.headers), error.read()


def test_demo_answers_health_with_its_database_and_feeds(demo_server: RunningServer) -> None:
    # how fast it starts is reported by the closing notes' measurements, not asserted here
    status, _, body = get(f"{demo_server.base_url}/api/v1/health")
    assert status == 200
    health = json.loads(body)
    assert health["database"]["backend"] == "sqlite"
    assert {feed["kind"] for feed in health["feeds"]} == {"gtfs", "gbfs", "ondemand"}
    assert (demo_server.home / "maas.sqlite3").exists()


def test_every_worker_warms_up_before_it_says_ready(demo_server: RunningServer) -> None:
    deadline = time.monotonic() + 60  # the server answers once one worker is ready
    while True:
        log = (demo_server.home / "server.log").read_text(encoding="utf-8")
        ready = [int(pid) for pid in re.findall(r"gunicorn\.error: READY worker (\d+)", log)]
        if len(ready) >= 2 or time.monotonic() > deadline:
            break
        time.sleep(0.1)
    children = Path(f"/proc/{demo_server.process.pid}/task/{demo_server.process.pid}/children")
    assert len(set(ready)) == len(ready) == 2  # demo: two workers, each once
    assert set(ready) <= {int(pid) for pid in children.read_text().split()}
    # the master's, then each worker's own /health and /plan (a real plan: 200), all before
    # the last READY line, under request id warm-up
    before_ready = log[:log.rindex("READY worker")]
    warm = re.findall(r"\[warm-up\] maas\.access: GET (/api/v1/\w+)\S* (\d+)", before_ready)
    assert warm == [("/api/v1/health", "200"), ("/api/v1/plan", "200")] * 3
    # no control socket at gunicorn's one path per user, which every other server would take
    assert "Control socket" not in log


def test_demo_serves_problems_openapi_and_pages(demo_server: RunningServer) -> None:
    status, headers, body = get(f"{demo_server.base_url}/no/such/page",
                                {"X-Request-ID": "e2e-404"})
    assert status == 404
    assert headers["Content-Type"] == "application/problem+json"
    assert headers["X-Request-ID"] == "e2e-404"
    assert json.loads(body)["status"] == 404
    status, _, body = get(f"{demo_server.base_url}/api/v1/openapi.json")
    assert status == 200
    assert json.loads(body)["openapi"] == "3.1.0"
    for page in ("/app", "/driver", "/partners"):
        status, headers, body = get(demo_server.base_url + page)
        assert status == 200, page
        assert "金沢MaaS" in body.decode()
    # the browser libraries, from the run's one vendor folder (MAAS_ASSETS_DIR), not the package
    wasm = "/static/vendor/zxing-wasm/zxing_reader.wasm"
    status, headers, body = get(demo_server.base_url + wasm)
    assert status == 200
    assert headers["Content-Type"] == "application/wasm"
    assert body[:4] == b"\0asm"
    status, headers, _ = get(f"{demo_server.base_url}/static/vendor/qrcode-generator/qrcode.mjs")
    assert status == 200
    assert headers["Content-Type"] == "text/javascript; charset=utf-8"


def test_second_demo_run_reuses_database(demo_server: RunningServer) -> None:
    env = {**os.environ, "MAAS_HOME": str(demo_server.home)}
    env.pop("MAAS_DATABASE_URL", None)
    result = subprocess.run(
        [maas_executable(), "demo", "--no-serve", "--json"],
        env=env, capture_output=True, text=True, timeout=60, check=False,
    )
    assert result.returncode == 0, result.stderr
    document = json.loads(result.stdout)
    assert not any(feed["new"] for feed in document["feeds"].values())
    assert document["database"].endswith(str(demo_server.home / "maas.sqlite3"))


def test_serve_runs_gunicorn_on_the_configured_database(own_database_url: str,
                                                        tmp_path: Path) -> None:
    database_url = own_database_url
    port = free_port()
    env = {**os.environ, "MAAS_HOME": str(tmp_path), "MAAS_DATABASE_URL": database_url,
           "MAAS_ENV": "production", "MAAS_SECRET_KEY": "s" * 40,
           "MAAS_KEY_ENCRYPTION_KEY": "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=",
           "MAAS_PAYMENT_PROVIDER": "sandbox", "MAAS_ALLOW_SANDBOX_PAYMENTS": "1",
           "MAAS_REDIS_URL": "memory://"}
    process = subprocess.Popen(
        [maas_executable(), "serve", "--port", str(port), "--workers", "2"],
        env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
    )
    try:
        wait_for_http(f"http://127.0.0.1:{port}/api/v1/health", 90, process)
        status, _, body = get(f"http://127.0.0.1:{port}/api/v1/health")
        assert status == 200
        assert json.loads(body)["database"]["backend"] == database_url.split("+")[0].split(":")[0]
        # as in the image: MAAS_ASSETS_DIR names a folder outside MAAS_HOME and the package
        status, headers, _ = get(f"http://127.0.0.1:{port}/static/vendor/chart.js/chart.umd.js")
        assert status == 200
        assert set(headers["Cache-Control"].split(", ")) == {"public", "no-cache"}
    finally:
        process.terminate()
        output, _ = process.communicate(timeout=20)
    lines = [line for line in output.decode().splitlines() if line.startswith("{")]
    assert lines, "production logs are JSON lines"
    records = [json.loads(line) for line in lines]
    access = [r for r in records if r.get("logger") == "maas.access"]
    # the server's own warm-up requests say so; each client request got an id of its own
    warm_up = [r["message"] for r in access if r["request_id"] == "warm-up"]
    # no feed is active: the warm-up plan is refused before planning
    assert set(warm_up) == {"GET /api/v1/health 200", "GET /api/v1/plan 422"}
    clients = [r for r in access if r["request_id"] != "warm-up"]
    assert clients
    assert all(len(r["request_id"]) == 32 for r in clients)


def test_a_gthread_worker_starts_all_its_threads_before_it_says_ready(
        own_database_url: str, tmp_path: Path) -> None:
    env = {**os.environ, "MAAS_HOME": str(tmp_path), "MAAS_DATABASE_URL": own_database_url,
           "MAAS_LOG_LEVEL": "info", "MAAS_THREADS": "4"}
    log_path = tmp_path / "server.log"
    with log_path.open("wb") as log:
        process = subprocess.Popen(
            [maas_executable(), "serve", "--port", str(free_port()), "--workers", "1"],
            env=env, stdout=log, stderr=subprocess.STDOUT)
        try:
            deadline = time.monotonic() + 90
            ready: list[str] = []
            while not ready and time.monotonic() < deadline and process.poll() is None:
                time.sleep(0.1)
                ready = re.findall(r"READY worker (\d+)", log_path.read_text(encoding="utf-8"))
            assert ready, log_path.read_text(encoding="utf-8")
            # no request has come: the main thread and the pool's four, all started
            assert len(list(Path(f"/proc/{ready[0]}/task").iterdir())) >= 5
        finally:
            process.terminate()
            process.wait(timeout=20)


def test_serve_refuses_an_unmigrated_database(tmp_path: Path) -> None:
    env = {**os.environ, "MAAS_HOME": str(tmp_path)}
    env.pop("MAAS_DATABASE_URL", None)
    result = subprocess.run(
        [maas_executable(), "serve", "--port", str(free_port())],
        env=env, capture_output=True, text=True, timeout=60, check=False,
    )
    assert result.returncode == 1
    assert result.stderr.strip().splitlines() == [
        f"Error: database schema is at nothing, need {_head()}: run `maas db upgrade` first"
    ]


def _head() -> str:
    from maas.core.db import head_revision

    revision = head_revision()
    assert revision is not None
    return revision


def test_serving_plans_never_imports_pandas(demo_server: RunningServer) -> None:
    script = (
        "import sys\n"
        "from maas import create_app\n"
        "client = create_app().test_client()\n"
        "r = client.get('/api/v1/plan', query_string={'from': 'stop:korinbo',"
        " 'to': 'stop:nomachi', 'depart': '2026-12-01T09:00:00+09:00'})\n"
        "assert r.status_code == 200, r.get_data(as_text=True)\n"
        "print(sorted(m for m in ('pandas', 'gtfs_kit', 'geopandas') if m in sys.modules))\n"
    )
    env = {**os.environ, "MAAS_HOME": str(demo_server.home), "MAAS_LOG_LEVEL": "warning"}
    env.pop("MAAS_DATABASE_URL", None)
    result = subprocess.run([sys.executable, "-c", script], env=env, capture_output=True,
                            text=True, timeout=120, check=False)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "[]"
