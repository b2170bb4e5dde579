"""``maas bench logins``: does a burst of sign-ins starve the other requests?

Starts the real server (gunicorn, as ``maas serve`` does) on a scratch database, times
``GET /api/v1/products`` idle, then again while 12 clients (in another process, so their work
does not share a GIL with the timing loop) repeat ``POST /api/v1/auth/token`` as fast as the
server answers, each for its own account:

- ``right``: every attempt has the right password, so every one costs an argon2 hash — the
  worst case for the CPU, which throttling does not limit;
- ``wrong``: every attempt is a wrong password (a guessing attack), which throttling turns
  into cheap 429s after the first few;
- for reference, the same 12 clients repeating ``GET /products`` itself: what any flood of
  cheap requests costs, whatever the endpoint.

The target (issue 12) is ``GET /products`` p50 within 3× of idle during the burst. The argon2
figures at the chosen parameters and at the library defaults are measured in this process.
"""

from __future__ import annotations

import contextlib
import multiprocessing
import os
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.request
import uuid
from collections import Counter
from collections.abc import Iterator, Mapping
from multiprocessing.synchronize import Event as EventType
from pathlib import Path
from typing import Any

import click

from maas.bench.timing import percentiles
from maas.core.cli import emit, json_option

CLIENTS = 12
PASSWORD = "bench-login-pass"  # noqa: S105 - a scratch database's test password


def _percentiles(samples: list[float]) -> dict[str, float]:
    p50, p99 = percentiles(samples, 50, 99, digits=2)
    return {"p50_ms": p50, "p99_ms": p99}


def argon2_figures(rounds: int = 20) -> dict[str, Any]:
    """Median wall and CPU milliseconds per hash, at our parameters and the library's."""
    from argon2 import PasswordHasher

    from maas.core import auth

    figures: dict[str, Any] = {}
    chosen = PasswordHasher(time_cost=auth.ARGON2_TIME_COST,
                            memory_cost=auth.ARGON2_MEMORY_KIB,
                            parallelism=auth.ARGON2_PARALLELISM)
    for name, hasher in (("chosen", chosen), ("library_default", PasswordHasher())):
        stored = hasher.hash(PASSWORD)
        wall, cpu = [], []
        for _ in range(rounds):
            started, started_cpu = time.perf_counter(), time.process_time()
            hasher.verify(stored, PASSWORD)
            wall.append((time.perf_counter() - started) * 1000)
            cpu.append((time.process_time() - started_cpu) * 1000)
        figures[f"argon2_{name}"] = (f"m={hasher.memory_cost} KiB, t={hasher.time_cost}, "
                                     f"p={hasher.parallelism}")
        figures[f"argon2_{name}_ms"] = percentiles(wall, 50, digits=1)[0]
        figures[f"argon2_{name}_cpu_ms"] = percentiles(cpu, 50, digits=1)[0]
    return figures


@contextlib.contextmanager
def _scratch_database(admin_url: str | None, folder: Path) -> Iterator[str]:
    """A migrated database: SQLite in ``folder``, or a new one on ``admin_url``'s server."""
    from sqlalchemy import create_engine, text
    from sqlalchemy.engine import make_url

    from maas.core.db import create_db_engine, upgrade

    if admin_url is None:
        url = f"sqlite:///{folder / 'bench.sqlite3'}"
        admin = None
    else:
        name = f"maas_bench_{uuid.uuid4().hex[:10]}"
        admin = create_engine(admin_url, isolation_level="AUTOCOMMIT")
        with admin.connect() as connection:
            connection.execute(text(f'CREATE DATABASE "{name}"'))
        url = make_url(admin_url).set(database=name).render_as_string(hide_password=False)
    try:
        engine = create_db_engine(url)
        upgrade(engine)
        engine.dispose()
        yield url
    finally:
        if admin is not None:
            with admin.connect() as connection:
                connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
            admin.dispose()


def _populate(url: str, accounts: int) -> list[str]:
    """Two products (so ``/products`` has rows to serialise) and ``accounts`` riders."""
    from sqlalchemy import text

    from maas.accounts.services import register_rider
    from maas.core.clock import system_clock
    from maas.core.db import create_db_engine, session_factory
    from maas.core.events import Events

    engine = create_db_engine(url)
    emails = [f"bench{i}@example.jp" for i in range(accounts)]
    with session_factory(engine, Events())() as session:
        for code, yen in (("kanazawa-1day", 800), ("kanazawa-bike-1day", 1200)):
            session.execute(text(
                "INSERT INTO products (code, name, name_en, adult_yen, child_yen, operators, "
                "valid_from_minutes, day_boundary_minutes, max_days_ahead, static_allowed, "
                "active) VALUES (:code, '金沢市内1日フリー乗車券', 'Kanazawa 1-day pass', :yen, "
                """:half, '["hokutetsu", "jrbus"]', 240, 180, 30, false, true)"""),
                {"code": code, "yen": yen, "half": yen // 2})
        session.commit()
        for email in emails:
            register_rider(session, email, PASSWORD, system_clock)
    engine.dispose()
    return emails


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@contextlib.contextmanager
def _server(url: str, home: Path, workers: int, threads: int | None,
            extra: Mapping[str, str] | None = None) -> Iterator[str]:
    """gunicorn with the production configuration (``maas.gunicorn_conf``); ``extra`` adds
    to its environment."""
    port = _free_port()
    env = {**os.environ, "MAAS_HOME": str(home), "MAAS_DATABASE_URL": url,
           "MAAS_PORT": str(port), "MAAS_HOST": "127.0.0.1", "MAAS_WORKERS": str(workers),
           "MAAS_ENV": "development", "MAAS_LOG_LEVEL": "warning"}
    if threads is not None:
        env["MAAS_THREADS"] = str(threads)
    env.update(extra or {})
    argv = [sys.executable, "-P", "-m", "gunicorn", "--config", "python:maas.gunicorn_conf",
            "maas:create_app()"]
    base = f"http://127.0.0.1:{port}"
    with (home / "server.log").open("wb") as log:
        process = subprocess.Popen(argv, env=env, cwd=home, stdout=log,  # noqa: S603
                                   stderr=subprocess.STDOUT)
        try:
            deadline = time.monotonic() + 120
            while True:
                if process.poll() is not None:
                    raise click.ClickException(
                        f"the server exited with {process.returncode}; see {home}/server.log")
                try:
                    with urllib.request.urlopen(base + "/api/v1/health",  # noqa: S310
                                                timeout=2):
                        break
                except OSError:
                    if time.monotonic() > deadline:
                        raise click.ClickException(
                            "the server did not answer in 120 s") from None
                    time.sleep(0.2)
            yield base
        finally:
            process.send_signal(signal.SIGTERM)
            try:
                process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()


def _get_ms(url: str) -> float:
    started = time.perf_counter()
    with urllib.request.urlopen(url, timeout=30) as response:  # noqa: S310 - loopback
        response.read()
    return (time.perf_counter() - started) * 1000


def _probe(base: str, requests: int) -> list[float]:
    """``requests`` sequential GET /products, 10 ms apart (a rider, not a flood)."""
    samples = []
    for _ in range(requests):
        samples.append(_get_ms(base + "/api/v1/products"))
        time.sleep(0.01)
    return samples


def _sign_in(base: str, email: str, password: str) -> int:
    body = f'{{"email": "{email}", "password": "{password}"}}'.encode()
    request = urllib.request.Request(base + "/api/v1/auth/token", data=body,  # noqa: S310
                                     headers={"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(request, timeout=30) as response:  # noqa: S310
            response.read()
            return int(response.status)
    except urllib.error.HTTPError as error:
        error.read()
        return int(error.code)


def _get_status(url: str) -> int:
    with urllib.request.urlopen(url, timeout=30) as response:  # noqa: S310 - loopback
        response.read()
        return int(response.status)


def _hammer(base: str, emails: list[str], mode: str, stop: EventType, results: Any) -> None:
    """One process: a thread per account repeating its request until ``stop``."""
    counts: Counter[int] = Counter()
    lock = threading.Lock()

    def client(email: str) -> None:
        n = 0
        while not stop.is_set():
            password = PASSWORD if mode == "right" else f"wrong-guess-{n}"
            try:
                if mode == "products":
                    status = _get_status(base + "/api/v1/products")
                else:
                    status = _sign_in(base, email, password)
            except urllib.error.HTTPError as error:
                status = error.code
            except OSError:
                status = 0
            n += 1
            with lock:
                counts[status] += 1

    threads = [threading.Thread(target=client, args=(email,)) for email in emails]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    results.put(dict(counts))


def burst(base: str, emails: list[str], mode: str, requests: int) -> dict[str, Any]:
    """Probe ``/products`` while ``len(emails)`` clients repeat sign-ins (or, for reference,
    ``GET /products`` itself)."""
    context = multiprocessing.get_context("spawn")
    stop = context.Event()
    results = context.Queue()
    hammer = context.Process(target=_hammer, args=(base, emails, mode, stop, results))
    hammer.start()
    time.sleep(2.0)  # let the burst reach its steady state
    started = time.monotonic()
    samples = _probe(base, requests)
    seconds = time.monotonic() - started
    stop.set()
    counts: dict[int, int] = results.get(timeout=60)
    hammer.join(timeout=60)
    return {**_percentiles(samples), "requests": sum(counts.values()),
            "requests_per_s": round(sum(counts.values()) / (seconds + 2.0), 1),
            "statuses": {str(k): v for k, v in sorted(counts.items())}}


@click.command("logins")
@click.option("--database-url", default=None,
              help="A PostgreSQL server URL to create a scratch database on (default: SQLite "
                   "in a temporary folder).")
@click.option("--workers", default=2, show_default=True, help="gunicorn workers.")
@click.option("--threads", type=int, default=None,
              help="Threads per worker (default MAAS_THREADS or 8; 1: sync workers).")
@click.option("--requests", default=300, show_default=True,
              help="GET /products timed in each phase.")
@click.option("--clients", default=CLIENTS, show_default=True, help="Sign-in clients.")
@json_option
def bench_logins(database_url: str | None, workers: int, threads: int | None, requests: int,
                 clients: int, as_json: bool) -> None:
    """GET /products p50/p99 idle and during a burst of sign-ins, on a real server."""
    from maas.core.config import load_settings

    if threads is None:
        threads = load_settings().threads
    document: dict[str, Any] = {"workers": workers, "threads": threads, "clients": clients,
                                **argon2_figures()}
    with tempfile.TemporaryDirectory(prefix="maas-bench-logins-") as folder:
        home = Path(folder)
        with _scratch_database(database_url, home) as url:
            document["database"] = url.split(":", 1)[0].split("+", 1)[0]
            emails = _populate(url, clients)
            with _server(url, home, workers, threads) as base:
                _probe(base, 20)  # warm up both workers' connections
                idle = _probe(base, requests)
                document["idle"] = _percentiles(idle)
                # the wrong passwords come last: they leave the address throttled
                for name, mode in (("right_passwords", "right"), ("wrong_passwords", "wrong"),
                                   ("reference_products_flood", "products")):
                    phase = burst(base, emails, mode, requests)
                    phase["p50_ratio"] = round(phase["p50_ms"] / document["idle"]["p50_ms"], 2)
                    document[name] = phase
    lines = [f"{key:>28}  {value}" for key, value in document.items()]
    emit(as_json, document, "\n".join(lines))
