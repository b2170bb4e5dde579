"""``maas bench http``: GET /api/v1/plan under gunicorn, beside a bare Flask + pynigiri floor.

One run imports the feed into a scratch ``MAAS_HOME`` (SQLite) and draws stop pairs and
departure times between 06:00 and 20:59 of the date *in the feed's own time zone*. Then:

- in-process: the request path without a socket (:meth:`maas.bench.request.PlanCalls.
  request_path`) on those queries, one after the other;
- for each worker class asked for (``--worker-class``, default ``linger`` — the server's own,
  :mod:`maas.gunicorn_worker` — and gunicorn's ``gthread`` it is built on), our
  server (``maas:create_app()`` under ``maas.gunicorn_conf``: preloaded, prepared before fork)
  and, with the first class, the floor (:mod:`maas.bench.floor`, the same gunicorn settings):
  the first ``/plan`` after start, sequential keep-alive latency, then requests per second at
  each ``--connections`` count for ``/plan`` (and ``/api/v1/health`` for ours) with ``wrk``
  (Debian's package) when it is installed, else with this module's own keep-alive client;
  every server's workers' private memory (``/proc/PID/smaps_rollup``) after the load.

Servers log as in production (INFO, JSON lines to a file); the floor logs nothing. p50 and
p90 are :func:`maas.bench.timing.percentiles`.
"""

from __future__ import annotations

import contextlib
import dataclasses
import datetime as dt
import functools
import http.client
import os
import random
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.parse
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import click

from gtfs.network import NetworkStore
from gtfs.planner import timezone
from maas.bench.plan import feed_options, parse_day
from maas.bench.request import PLAN_PATH, UNLIMITED, PlanCalls
from maas.bench.timing import percentiles, timed
from maas.core.cli import emit, progress
from maas.core.db import create_db_engine, session_factory
from maas.core.errors import InvalidInput, MaasError

HEALTH_PATH = "/api/v1/health"
FLOOR_PATH = "/plan"
WORKERS = 2
THREADS = 8  # MAAS_THREADS' default
# the names --worker-class takes: ours (maas.gunicorn_worker, the server's default with
# threads), gunicorn's gthread it is built on, and gunicorn's sync (no keep-alive)
WORKER_CLASSES = {"linger": "maas.gunicorn_worker.ThreadWorker", "gthread": "gthread",
                  "sync": "sync"}


@dataclasses.dataclass(frozen=True)
class Server:
    """One gunicorn configuration: whose app, which worker class, how many threads."""

    name: str  # "ours" or "floor"
    worker_class: str
    threads: int

    @property
    def label(self) -> str:
        """``ours linger×8``."""
        return f"{self.name} {self.worker_class}" + (
            f"×{self.threads}" if self.threads > 1 else "")

    @property
    def gunicorn_class(self) -> str:
        """What gunicorn's ``--worker-class`` is given for :attr:`worker_class`."""
        return WORKER_CLASSES[self.worker_class]


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def _queries(home: Path, url: str, day: dt.date, count: int, seed: int
             ) -> list[dict[str, str]]:
    """Query strings of stop pairs at times of ``day`` in the feed's time zone."""
    engine = create_db_engine(url)
    try:
        with session_factory(engine)() as session:
            timetable = NetworkStore(home).current(session)
    finally:
        engine.dispose()
    if timetable is None:
        raise InvalidInput("nothing to route on")
    zone = timezone(timetable)
    rng = random.Random(seed)  # noqa: S311 - reproducible query sample
    served = sorted({int(s) for s in timetable.pattern_stops.tolist()})
    ids = timetable.meta["stop_ids"]
    queries = []
    for _ in range(count):
        origin, destination = rng.sample(served, 2)
        moment = dt.datetime.combine(day, dt.time(rng.randint(6, 20), rng.randint(0, 59)),
                                     tzinfo=zone)
        queries.append({"from": f"stop:{ids[origin]}", "to": f"stop:{ids[destination]}",
                        "depart": moment.isoformat()})
    return queries


def run_http_bench(feed: Path, day: dt.date, queries: int, seed: int, *,
                   classes: Sequence[str] = ("linger", "gthread"),
                   connections: Sequence[int] = (1, 4, 16), seconds: float = 5.0,
                   step: Any = None) -> dict[str, Any]:
    """Every figure of the module notes, as one JSON-ready document.

    All servers run side by side and are measured in turns (query by query for latency, load
    by load for throughput), so a change in the machine's load touches them alike.
    """
    from maas.bench.request import scratch_home

    with scratch_home(feed) as (home, url):
        requests = _queries(home, url, day, queries, seed)
        inprocess = _inprocess(home, url, requests)
        servers = [Server("ours", cls, 1 if cls == "sync" else THREADS) for cls in classes]
        servers.insert(1, Server("floor", classes[0], servers[0].threads))
        with contextlib.ExitStack() as stack:
            running = []
            for server in servers:
                if step is not None:
                    step(f"starting {server.label}")
                port, master = stack.enter_context(_gunicorn(server, home, url, day))
                running.append((server, port, master))
            results = _measure(running, requests, connections, seconds)
    return _summary(feed, day, queries, inprocess, results, connections, seconds)


def _inprocess(home: Path, url: str, requests: list[dict[str, str]]) -> list[float]:
    """Milliseconds of the request path without a socket, query by query."""
    from maas.app import create_app

    app = create_app({"home": home, "database_url": url, "env": "demo",
                      "log_level": "WARNING", "testing": True, "rate_limit_plan": UNLIMITED})
    try:
        calls = PlanCalls(app)
        for args in requests[:3]:
            calls.request_path(args)  # warm the kernels, day view and caches
        return [timed(functools.partial(calls.request_path, args))[0] for args in requests]
    finally:
        app.extensions["maas"].engine.dispose()


def _paths(server: Server, requests: list[dict[str, str]]) -> list[str]:
    plan_path = PLAN_PATH if server.name == "ours" else FLOOR_PATH
    return [f"{plan_path}?{urllib.parse.urlencode(args)}" for args in requests]


def _measure(running: list[tuple[Server, int, int]], requests: list[dict[str, str]],
             connections: Sequence[int], seconds: float) -> list[dict[str, Any]]:
    """First /plan, sequential latency and loads of every server, in turns."""
    paths = [_paths(server, requests) for server, _, _ in running]
    clients = [http.client.HTTPConnection("127.0.0.1", port, timeout=30)
               for _, port, _ in running]
    first = [timed(functools.partial(_get, client, server_paths[0]))[0]
             for client, server_paths in zip(clients, paths, strict=True)]
    latency: list[list[float]] = [[] for _ in running]
    for index in range(len(requests)):
        for client, server_paths, times in zip(clients, paths, latency, strict=True):
            times.append(timed(functools.partial(_get, client, server_paths[index]))[0])
    for client in clients:
        client.close()
    plan_rps: list[dict[int, float]] = [{} for _ in running]
    health_rps: list[dict[int, float]] = [{} for _ in running]
    for count in connections:
        for (server, port, _), server_paths, rps, health in zip(
                running, paths, plan_rps, health_rps, strict=True):
            rps[count] = _load(port, server_paths, count, seconds)
            if server.name == "ours":
                health[count] = _load(port, [HEALTH_PATH], count, seconds)
    return [{
        "server": server.label, "first_plan_ms": round(first_ms, 3),
        "plan_p50_ms": round(percentiles(times, 50)[0], 3),
        "plan_p90_ms": round(percentiles(times, 90)[0], 3),
        "plan_rps": rps, "health_rps": health,
        "worker_private_mb": [_private_mb(pid) for pid in _children(master)],
    } for (server, _, master), first_ms, times, rps, health in zip(
        running, first, latency, plan_rps, health_rps, strict=True)]


@contextmanager
def _gunicorn(server: Server, home: Path, url: str, day: dt.date
              ) -> Iterator[tuple[int, int]]:
    """A gunicorn of ``server`` on a free port: (port, master pid); stopped afterwards."""
    port = _free_port()
    env = {**os.environ, "MAAS_HOME": str(home), "MAAS_DATABASE_URL": url,
           "MAAS_ENV": "demo", "MAAS_LOG_LEVEL": "INFO", "MAAS_LOG_FORMAT": "json",
           "MAAS_BENCH_DATE": day.isoformat(),
           # one client address sends every request: the per-address /plan limit would answer
           # 429 to most of them (the limiter still counts each request, as in production)
           "MAAS_RATE_LIMIT_PLAN": UNLIMITED}
    app = "maas:create_app()" if server.name == "ours" else \
        "maas.bench.floor:create_floor_app()"
    argv = [sys.executable, "-P", "-m", "gunicorn", "--config", "python:maas.gunicorn_conf",
            "--bind", f"127.0.0.1:{port}", "--workers", str(WORKERS),
            "--worker-class", server.gunicorn_class, "--threads", str(server.threads), app]
    log_path = home / f"{server.name}-{server.worker_class}.log"
    with log_path.open("wb") as log:
        process = subprocess.Popen(argv, env=env, cwd=home,  # noqa: S603 - our own server
                                   stdout=log, stderr=subprocess.STDOUT)
        try:
            _wait_ready(port, process, FLOOR_PATH if server.name == "floor" else HEALTH_PATH,
                        log_path)
            _wait_workers_ready(process, log_path, WORKERS)
            yield port, process.pid
        finally:
            stop_server(process)


def stop_server(process: subprocess.Popen[bytes]) -> None:
    """Stop a benchmark's server: SIGTERM (gunicorn's graceful stop), SIGKILL after 20 s."""
    process.send_signal(signal.SIGTERM)
    try:
        process.wait(timeout=20)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


def _wait_ready(port: int, process: subprocess.Popen[bytes], path: str, log: Path) -> None:
    """Until ``path`` answers (ours: /health 200; the floor: its /plan, 400 without a query),
    so that the first /plan measured is the first after start, not after boot."""
    deadline = time.monotonic() + 180
    while time.monotonic() < deadline:
        if process.poll() is not None:
            last = log.read_text(encoding="utf-8", errors="replace").strip().splitlines()[-1:]
            raise MaasError(f"the benchmark server exited ({process.returncode}) before "
                            f"answering: {' '.join(last) or 'no output'}")
        connection = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
        try:
            connection.request("GET", path)
            response = connection.getresponse()
            response.read()
            if response.status in (200, 400):
                return
        except OSError:
            time.sleep(0.1)
        finally:
            connection.close()
    raise MaasError(f"the benchmark server did not answer {path} within 180 s")


# the line maas.gunicorn_conf.post_worker_init logs (that module is a gunicorn config: importing
# it would prepare a metrics folder in this process)
_READY = re.compile(r"\bREADY worker (\d+)")


def _wait_workers_ready(process: subprocess.Popen[bytes], log: Path, workers: int,
                        timeout: float = 180) -> None:
    """Until all ``workers`` have logged their READY line (``maas.gunicorn_conf.
    post_worker_init``, after the warm-up): one answering does not mean the other is (the
    master forks them one after the other), and the first /plan measured may go to either."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise MaasError(f"the benchmark server exited ({process.returncode}) before its "
                            "workers were ready")
        text = log.read_text(encoding="utf-8", errors="replace")
        try:
            running = set(_children(process.pid))
        except FileNotFoundError:  # it has just exited: the next poll says so
            continue
        if len(running) == workers and running <= {int(pid) for pid in _READY.findall(text)}:
            return
        time.sleep(0.05)
    raise MaasError(f"the benchmark server's workers were not ready within {timeout:g} s "
                    f"(no READY line in {log})")


def _get(connection: http.client.HTTPConnection, path: str) -> int:
    """One GET on the kept-alive connection, its body read; refuses anything but 200."""
    connection.request("GET", path)
    response = connection.getresponse()
    body = response.read()
    if response.status != 200:
        raise MaasError(f"server answered {response.status} to {path}: {body[:200]!r}")
    return len(body)


def _load(port: int, paths: list[str], connections: int, seconds: float) -> float:
    """Requests per second over ``connections`` kept-alive connections cycling ``paths``."""
    wrk = shutil.which("wrk")
    if wrk is not None:
        return _wrk(wrk, port, paths, connections, seconds)
    return _own_load(port, paths, connections, seconds)


_WRK_SCRIPT = """
local paths = {}
for line in io.lines(os.getenv("MAAS_BENCH_PATHS")) do paths[#paths + 1] = line end
local i = 0
request = function()
  i = i % #paths + 1
  return wrk.format("GET", paths[i])
end
"""


def _wrk(wrk: str, port: int, paths: list[str], connections: int, seconds: float) -> float:
    with tempfile.TemporaryDirectory(prefix="maas-wrk-") as folder:
        listing = Path(folder) / "paths.txt"
        listing.write_text("\n".join(paths) + "\n", encoding="ascii")
        script = Path(folder) / "paths.lua"
        script.write_text(_WRK_SCRIPT, encoding="ascii")
        done = subprocess.run(  # noqa: S603 - wrk from Debian, our arguments
            [wrk, "-t", str(min(connections, 2)), "-c", str(connections),
             "-d", f"{max(1, round(seconds))}s", "--timeout", "30s", "-s", str(script),
             f"http://127.0.0.1:{port}"],
            env={**os.environ, "MAAS_BENCH_PATHS": str(listing)}, capture_output=True,
            text=True, check=False, timeout=seconds + 60)
    if done.returncode != 0:
        raise MaasError(f"wrk failed: {done.stderr.strip() or done.stdout.strip()}")
    if "Non-2xx" in done.stdout or "Socket errors" in done.stdout:
        raise MaasError(f"wrk saw failed requests:\n{done.stdout}")
    found = re.search(r"Requests/sec:\s+([0-9.]+)", done.stdout)
    if found is None:
        raise MaasError(f"cannot read wrk's output:\n{done.stdout}")
    return round(float(found.group(1)), 1)


def _own_load(port: int, paths: list[str], connections: int, seconds: float) -> float:
    """The fallback client: one thread per connection, each cycling ``paths``."""
    counts = [0] * connections
    errors: list[BaseException] = []
    deadline = time.monotonic() + seconds

    def client(index: int) -> None:
        connection = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
        try:
            position = index
            while time.monotonic() < deadline:
                _get(connection, paths[position % len(paths)])
                counts[index] += 1
                position += connections
        except (OSError, MaasError) as exc:
            errors.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=client, args=(i,)) for i in range(connections)]
    started = time.monotonic()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    if errors:
        raise MaasError(f"the load client failed: {errors[0]}")
    return round(sum(counts) / (time.monotonic() - started), 1)


def _children(pid: int) -> list[int]:
    """The worker processes of a gunicorn master."""
    text = Path(f"/proc/{pid}/task/{pid}/children").read_text(encoding="ascii")
    return [int(child) for child in text.split()]


def _private_mb(pid: int) -> float:
    """Private (clean + dirty) memory of a process in MB: what it does not share."""
    fields = {}
    for line in Path(f"/proc/{pid}/smaps_rollup").read_text(encoding="ascii").splitlines():
        name, _, rest = line.partition(":")
        if rest.strip().endswith("kB"):
            fields[name] = int(rest.split()[0])
    return round((fields.get("Private_Clean", 0) + fields.get("Private_Dirty", 0)) / 1024, 1)


def _summary(feed: Path, day: dt.date, queries: int, inprocess: list[float],
             results: list[dict[str, Any]], connections: Sequence[int],
             seconds: float) -> dict[str, Any]:
    floor = next(r for r in results if r["server"].startswith("floor"))
    ours = [r for r in results if r["server"].startswith("ours")]
    p50, p90 = percentiles(inprocess, 50, 90)
    return {
        "feed": str(feed), "date": day.isoformat(), "queries": queries,
        "seconds_per_load": seconds, "workers": WORKERS,
        "client": "wrk" if shutil.which("wrk") else "maas.bench.http",
        "inprocess_p50_ms": round(p50, 3), "inprocess_p90_ms": round(p90, 3),
        "servers": results,
        # the targets: ours ≥ the floor at every connection count, /health ≥ 5 × /plan
        "plan_over_floor": {r["server"]: {c: round(r["plan_rps"][c] / floor["plan_rps"][c], 3)
                                          for c in connections} for r in ours},
        "health_over_plan": {r["server"]: {c: round(r["health_rps"][c] / r["plan_rps"][c], 2)
                                           for c in connections} for r in ours},
    }


def _table(d: dict[str, Any]) -> str:
    counts = list(d["servers"][0]["plan_rps"])
    lines = [
        f"{d['feed']} on {d['date']}: {d['queries']} queries, {d['workers']} workers, "
        f"{d['seconds_per_load']:g} s per load with {d['client']}",
        f"in-process request path p50 {d['inprocess_p50_ms']} ms, "
        f"p90 {d['inprocess_p90_ms']} ms",
        f"{'server':18}{'first ms':>10}{'p50 ms':>9}{'p90 ms':>9}"
        + "".join(f"{f'plan/s c={c}':>14}" for c in counts)
        + "".join(f"{f'health/s c={c}':>16}" for c in counts) + "  private MB/worker",
    ]
    for r in d["servers"]:
        lines.append(
            f"{r['server']:18}{r['first_plan_ms']:>10.1f}{r['plan_p50_ms']:>9.2f}"
            f"{r['plan_p90_ms']:>9.2f}"
            + "".join(f"{r['plan_rps'][c]:>14.1f}" for c in counts)
            + "".join(f"{r['health_rps'].get(c, float('nan')):>16.1f}" for c in counts)
            + f"  {', '.join(str(m) for m in r['worker_private_mb'])}")
    for server, ratios in d["plan_over_floor"].items():
        lines.append(f"{server} /plan over the floor: "
                     + ", ".join(f"c={c} {v}" for c, v in ratios.items()))
    for server, ratios in d["health_over_plan"].items():
        lines.append(f"{server} /health over /plan: "
                     + ", ".join(f"c={c} {v}" for c, v in ratios.items()))
    return "\n".join(lines)


@click.command("http")
@feed_options(queries=300)
@click.option("--worker-class", "classes", default="linger,gthread", show_default=True,
              help="Worker classes to compare (comma-separated; the first also serves the "
                   "floor): linger (maas.gunicorn_worker, the server's own), gthread, sync.")
@click.option("--connections", default="1,4,16", show_default=True,
              help="Concurrent keep-alive connections of each load (comma-separated).")
@click.option("--seconds", type=click.FloatRange(1, 120), default=5, show_default=True,
              help="Duration of each load.")
def http_command(feed_path: Path, day: str, queries: int, seed: int, as_json: bool,
                 classes: str, connections: str, seconds: float) -> None:
    """GET /api/v1/plan under gunicorn beside a bare Flask + pynigiri floor, per worker
    class and connection count."""
    chosen = [c.strip() for c in classes.split(",") if c.strip()]
    unknown = set(chosen) - set(WORKER_CLASSES)
    if unknown or not chosen:
        raise InvalidInput(f"--worker-class: use {', '.join(WORKER_CLASSES)}, not "
                           f"{', '.join(sorted(unknown)) or 'nothing'}")
    try:
        counts = [int(c) for c in connections.split(",") if c.strip()]
    except ValueError:
        counts = []
    if not counts or not all(1 <= c <= 256 for c in counts):
        raise InvalidInput(f"--connections: {connections!r} is not a list of counts 1-256")
    with progress(len(chosen) + 1, "importing the feed", quiet=as_json) as step:
        result = run_http_bench(feed_path, parse_day(day), queries, seed, classes=chosen,
                                connections=counts, seconds=seconds, step=step)
    emit(as_json, result, _table(result))
