"""``maas bench http``: what GET /api/v1/plan adds over the in-process query, under gunicorn.

The same stop pairs and times are planned in this process (the service call that the view
makes: planner plus plan document) and over HTTP/1.1 keep-alive on loopback against a real
``maas serve`` (gunicorn, preloaded app, one worker so every request hits a warm process).
p50 and p90 are :func:`maas.bench.timing.percentiles` of both series.
"""

from __future__ import annotations

import datetime as dt
import functools
import http.client
import os
import random
import socket
import subprocess
import sys
import tempfile
import time
import urllib.parse
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from gtfs.itinerary import dump
from gtfs.network import NetworkStore
from gtfs.services import PlanRequest, import_gtfs, plan_trip
from maas.bench.plan import feed_options, parse_day
from maas.bench.timing import percentiles, timed
from maas.core.cli import emit
from maas.core.clock import system_clock
from maas.core.db import create_db_engine, session_factory, upgrade
from maas.core.errors import InvalidInput

if TYPE_CHECKING:
    from sqlalchemy.orm import Session


@dataclass(frozen=True)
class HttpBench:
    """Medians and p90s in milliseconds; ``overhead_p50_ms`` is the difference of medians."""

    queries: int
    inprocess_p50_ms: float
    inprocess_p90_ms: float
    http_p50_ms: float
    http_p90_ms: float
    overhead_p50_ms: float
    workers: int

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready fields."""
        return asdict(self)


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def run_http_bench(feed: Path, day: dt.date, queries: int, seed: int) -> HttpBench:
    """Import ``feed`` into a scratch MAAS_HOME, then time both paths on the same queries."""
    if not feed.exists():
        raise InvalidInput(f"{feed}: no such file or folder")
    with tempfile.TemporaryDirectory(prefix="maas-bench-") as scratch:
        home = Path(scratch)
        url = f"sqlite:///{home / 'bench.sqlite3'}"
        engine = create_db_engine(url)
        upgrade(engine)
        store = NetworkStore(home)
        with session_factory(engine)() as session:
            import_gtfs(session, store, str(feed), "bench", system_clock)
            timetable = store.current(session)
            if timetable is None:
                raise InvalidInput(f"{feed}: nothing to route on")
            rng = random.Random(seed)  # noqa: S311 - reproducible query sample
            served = sorted({int(s) for s in timetable.pattern_stops.tolist()})
            ids = timetable.meta["stop_ids"]
            zone = dt.timezone(dt.timedelta(hours=9)) if timetable.meta.get(
                "timezone") == "Asia/Tokyo" else dt.UTC
            requests = []
            for _ in range(queries):
                origin, destination = rng.sample(served, 2)
                moment = dt.datetime.combine(day, dt.time(rng.randint(6, 20), rng.randint(0, 59)),
                                             tzinfo=zone)
                requests.append(PlanRequest(f"stop:{ids[origin]}", f"stop:{ids[destination]}",
                                            moment))
            for request in requests[:3]:
                plan_trip(session, store, request)  # warm the kernels and the day view
            local = [timed(functools.partial(_plan_document, session, store, request))[0]
                     for request in requests]
        engine.dispose()
        remote = _time_over_http(home, url, requests)
    local_p50, local_p90 = percentiles(local, 50, 90)
    remote_p50, remote_p90 = percentiles(remote, 50, 90)
    return HttpBench(
        queries=queries,
        inprocess_p50_ms=round(local_p50, 3),
        inprocess_p90_ms=round(local_p90, 3),
        http_p50_ms=round(remote_p50, 3),
        http_p90_ms=round(remote_p90, 3),
        overhead_p50_ms=round(remote_p50 - local_p50, 3),
        workers=1,
    )


def _plan_document(session: Session, store: NetworkStore, request: PlanRequest) -> bytes:
    """What the view does in-process: plan, then the JSON document."""
    return dump(plan_trip(session, store, request))


def _time_over_http(home: Path, url: str, requests: list[PlanRequest]) -> list[float]:
    port = _free_port()
    env = {**os.environ, "MAAS_HOME": str(home), "MAAS_DATABASE_URL": url,
           "MAAS_LOG_LEVEL": "warning", "MAAS_ENV": "demo"}
    maas = str(Path(sys.executable).with_name("maas"))
    with (home / "server.log").open("wb") as log:
        server = subprocess.Popen([maas, "serve", "--port", str(port), "--workers", "1"],  # noqa: S603 - our own CLI
                                  env=env, stdout=log, stderr=subprocess.STDOUT)
        try:
            connection = _connect(port, server)
            timings = []
            for index, request in enumerate([*requests[:3], *requests]):
                query = urllib.parse.urlencode({"from": request.origin,
                                                "to": request.destination,
                                                "depart": request.time.isoformat()})
                elapsed, response = timed(functools.partial(_get, connection,
                                                            f"/api/v1/plan?{query}"))
                if response.status != 200:
                    raise InvalidInput(f"server answered {response.status} to {query}")
                if index >= 3:
                    timings.append(elapsed)
            connection.close()
            return timings
        finally:
            server.terminate()
            server.wait(timeout=20)


def _get(connection: http.client.HTTPConnection, path: str) -> http.client.HTTPResponse:
    """One GET on the kept-alive connection, its body read."""
    connection.request("GET", path)
    response = connection.getresponse()
    response.read()
    return response


def _connect(port: int, server: subprocess.Popen[bytes]) -> http.client.HTTPConnection:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if server.poll() is not None:
            raise InvalidInput("the benchmark server exited before answering")
        connection = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
        try:
            connection.request("GET", "/api/v1/health")
            response = connection.getresponse()
            response.read()
            if response.status == 200:
                return connection
        except OSError:
            pass
        connection.close()
        time.sleep(0.2)
    raise InvalidInput("the benchmark server did not answer within 30 s")


@click.command("http")
@feed_options(queries=300)
def http_command(feed_path: Path, day: str, queries: int, seed: int, as_json: bool) -> None:
    """What GET /api/v1/plan adds over the in-process query, under gunicorn on loopback."""
    result = run_http_bench(feed_path, parse_day(day), queries, seed).as_dict()
    emit(as_json, result, "\n".join(f"{key:>18}  {value}" for key, value in result.items()))
