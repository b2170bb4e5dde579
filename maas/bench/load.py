"""``maas bench load``: a city's mix of requests against ``maas serve`` on PostgreSQL and Redis.

Set-up (not timed): a scratch PostgreSQL database on the server ``--database-url`` names (made
and dropped like ``bench logins``'), migrated, with the Kanazawa demo loaded by ``maas demo
--no-serve``; riders registered, validator devices added and enrolled, a partner key made.
Then, for one and for two app instances — each the server ``maas serve`` runs (gunicorn with
``maas.gunicorn_conf``, ``--workers`` workers; the schema check is done once) on its own
MAAS_HOME, one database, one Redis (``--redis-url``: rate limits are
counted there, set high enough never to refuse a bench request, so their cost is in the
figures) — client threads run for ``--duration`` seconds, each one kind of user:

- **rider**: plans a trip (GET /plan between two demo stops), buys a pass (POST /orders), shows
  it (GET /passes/<id> and its QR code, /passes/<id>/qr.svg);
- **validator**: uploads a batch of journaled scans (POST /scans, 20 new scan ids each);
- **partner**: reads statistics (GET /stats/sales and /stats/validations).

Before each run, every worker of every instance is warmed up with untimed plans (it loads
the timetable on its first). Requests go round-robin to the instances. Reported per instance
count: sustained requests per second over the run, and per kind the number of requests, p50
and p99 in ms (:func:`maas.bench.timing.percentiles`) and errors (any status other than the
one expected, or a broken connection). Afterwards the scans table is counted: every scan a
server acknowledged as accepted must be a row (``lost_scans`` is the difference: must be 0).

The second MAAS_HOME starts empty, as a new host's does: keys, feed files and the trust bundle
come from the database, and it compiles the timetable into its own cache (before the timed
run: every worker is warmed up first). The client threads run on the same machine as
the servers and the database, so on a small machine they compete with them for CPU: figures
are for comparing runs, not capacity planning.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import http.client
import json
import os
import random
import subprocess
import sys
import tempfile
import threading
import time
import urllib.parse
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

import click

from maas.bench.logins import _scratch_database, _server
from maas.bench.request import UNLIMITED
from maas.bench.timing import percentiles
from maas.core.cli import emit, json_option
from maas.core.errors import InvalidInput, MaasError

STOPS = ("kanazawa-sta-east", "musashi", "minamicho", "korinbo", "katamachi", "hirokoji",
         "nomachi")
PASSWORD = "bench load password"  # noqa: S105 - scratch accounts of a scratch database
CARD = {"method": "sandbox", "card_number": "4242424242424242"}
BATCH = 20
KINDS = ("rider", "validator", "partner")


def _run_maas(args: list[str], env: dict[str, str]) -> Any:
    maas = str(Path(sys.executable).with_name("maas"))
    done = subprocess.run([maas, *args], env=env, capture_output=True, text=True,  # noqa: S603
                          check=False, timeout=900)
    if done.returncode != 0:
        raise MaasError(f"maas {' '.join(args)}: {done.stderr.strip() or done.stdout.strip()}")
    return json.loads(done.stdout) if "--json" in args else done.stdout


class Client:
    """One keep-alive connection per instance; every request timed and judged."""

    def __init__(self, bases: list[str]) -> None:
        self.connections = [http.client.HTTPConnection(urllib.parse.urlsplit(base).netloc,
                                                       timeout=30) for base in bases]
        self.turn = random.randrange(len(bases))  # noqa: S311 - spreading load, not secrets

    def call(self, method: str, path: str, expect: int, body: Any = None,
             headers: dict[str, str] | None = None) -> tuple[float, bool, Any]:
        """(ms, as expected, parsed JSON or None); the next instance takes the next call."""
        self.turn = (self.turn + 1) % len(self.connections)
        connection = self.connections[self.turn]
        data = None if body is None else json.dumps(body).encode()
        sent = {**(headers or {}), **({"Content-Type": "application/json"} if data else {})}
        started = time.perf_counter()
        try:
            connection.request(method, path, body=data, headers=sent)
            response = connection.getresponse()
            raw = response.read()
        except (OSError, http.client.HTTPException):
            connection.close()
            return (time.perf_counter() - started) * 1000, False, None
        elapsed = (time.perf_counter() - started) * 1000
        parsed = None
        if response.headers.get_content_subtype().endswith("json"):
            parsed = json.loads(raw)
        return elapsed, response.status == expect, parsed


class Tally:
    """Timings and errors per kind, shared by the client threads."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.times: dict[str, list[float]] = {kind: [] for kind in KINDS}
        self.errors: dict[str, int] = dict.fromkeys(KINDS, 0)
        self.scans_accepted = 0

    def add(self, kind: str, elapsed: float, ok: bool) -> None:
        """Record one request."""
        with self.lock:
            self.times[kind].append(elapsed)
            if not ok:
                self.errors[kind] += 1


def _rider_plan(client: Client, tally: Tally, rng: random.Random, day: dt.date) -> None:
    origin, destination = rng.sample(STOPS, 2)
    depart = dt.datetime.combine(day, dt.time(rng.randint(7, 19), rng.randint(0, 59)),
                                 tzinfo=dt.timezone(dt.timedelta(hours=9)))
    query = urllib.parse.urlencode({"from": f"stop:{origin}", "to": f"stop:{destination}",
                                    "depart": depart.isoformat()})
    tally.add("rider", *client.call("GET", f"/api/v1/plan?{query}", 200)[:2])


def _rider(client: Client, tally: Tally, auth: dict[str, str], rng: random.Random,
           day: dt.date) -> None:
    _rider_plan(client, tally, rng, day)
    body = {"product": "kanazawa-1day", "service_date": day.isoformat(), "category": "adult",
            "payment": CARD}
    elapsed, ok, bought = client.call("POST", "/api/v1/orders", 201, body,
                                      {**auth, "Idempotency-Key": uuid.uuid4().hex})
    tally.add("rider", elapsed, ok)
    pass_id = ((bought or {}).get("pass") or {}).get("id") if ok else None
    if pass_id:
        tally.add("rider", *client.call("GET", f"/api/v1/passes/{pass_id}", 200,
                                        headers=auth)[:2])
        tally.add("rider", *client.call("GET", f"/api/v1/passes/{pass_id}/qr.svg", 200,
                                        headers=auth)[:2])


def _validator(client: Client, tally: Tally, auth: dict[str, str], at: dt.datetime) -> None:
    scans = [{"id": str(uuid.uuid4()), "result": "reject", "code": "expired", "pass_id": None,
              "product": "kanazawa-1day", "category": "adult",
              "service_date": at.date().isoformat(), "scanned_at": at.isoformat()}
             for _ in range(BATCH)]
    elapsed, ok, answer = client.call("POST", "/api/v1/scans", 200, {"scans": scans}, auth)
    tally.add("validator", elapsed, ok)
    if ok and answer is not None:
        with tally.lock:
            tally.scans_accepted += int(answer["accepted"])


def _partner(client: Client, tally: Tally, auth: dict[str, str], day: dt.date) -> None:
    window = urllib.parse.urlencode({"from": (day - dt.timedelta(days=7)).isoformat(),
                                     "to": day.isoformat()})
    for path in ("/api/v1/stats/sales", "/api/v1/stats/validations"):
        tally.add("partner", *client.call("GET", f"{path}?{window}", 200, headers=auth)[:2])


def _drive(bases: list[str], principals: dict[str, list[dict[str, str]]], duration: float,
           ) -> tuple[Tally, float]:
    """Every principal in its own thread until ``duration`` has passed; (tally, seconds)."""
    tally, stop = Tally(), threading.Event()
    day = dt.datetime.now(dt.timezone(dt.timedelta(hours=9))).date()
    at = dt.datetime.now(dt.UTC) - dt.timedelta(minutes=1)

    def loop(step: Callable[[Client], None], client: Client) -> None:
        while not stop.is_set():
            step(client)

    threads = []
    for index, auth in enumerate(principals["rider"]):
        rng = random.Random(index)  # noqa: S311 - reproducible choice of stops
        threads.append(threading.Thread(target=loop, args=(
            lambda c, a=auth, r=rng: _rider(c, tally, a, r, day), Client(bases))))
    for auth in principals["validator"]:
        threads.append(threading.Thread(target=loop, args=(
            lambda c, a=auth: _validator(c, tally, a, at), Client(bases))))
    for auth in principals["partner"]:
        threads.append(threading.Thread(target=loop, args=(
            lambda c, a=auth: _partner(c, tally, a, day), Client(bases))))
    started = time.perf_counter()
    for thread in threads:
        thread.start()
    with click.progressbar(length=int(duration), label="load", file=sys.stderr) as bar:
        for _ in range(int(duration)):
            time.sleep(1)
            bar.update(1)
    stop.set()
    for thread in threads:
        thread.join()
    return tally, time.perf_counter() - started


def _warm_up(bases: list[str], workers: int) -> None:
    """Untimed plans on every instance until each worker has loaded its timetable (a worker
    takes whichever connection comes: several new connections per worker)."""
    rng = random.Random(0)  # noqa: S311 - any stops will do
    day = dt.datetime.now(dt.timezone(dt.timedelta(hours=9))).date()
    tally = Tally()
    for base in bases:
        for _ in range(workers * 4):
            _rider_plan(Client([base]), tally, rng, day)


def _principals(base: str, env: dict[str, str], riders: int, validators: int,
                ) -> dict[str, list[dict[str, str]]]:
    client = Client([base])
    found: dict[str, list[dict[str, str]]] = {"rider": [], "validator": [], "partner": []}
    for number in range(riders):
        email = f"load{number}-{uuid.uuid4().hex[:6]}@example.jp"
        credentials = {"email": email, "password": PASSWORD}
        client.call("POST", "/api/v1/riders", 201, credentials)
        _, ok, token = client.call("POST", "/api/v1/auth/token", 200, credentials)
        if not ok:
            raise MaasError(f"could not sign {email} in")
        found["rider"].append({"Authorization": f"Bearer {token['access_token']}"})
    for number in range(validators):
        added = _run_maas(["devices", "add", "--operator", "hokutetsu", "--vehicle",
                           f"bus-{number}", "--json"], env)
        client = Client([base])  # the command took longer than gunicorn's keep-alive
        _, ok, enrolled = client.call("POST", "/api/v1/devices/enroll", 200,
                                      {"code": added["enrollment_code"]})
        if not ok:
            raise MaasError(f"could not enrol a bench device: {enrolled}")
        found["validator"].append({"Authorization": f"Bearer {enrolled['token']}"})
    partner = _run_maas(["partners", "add", "bench partner", "--admin", "--json"], env)
    found["partner"].append({"Authorization": f"Bearer {partner['api_key']}"})
    return found


def _count_scans(url: str) -> int:
    from sqlalchemy import func, select

    from maas.core.db import create_db_engine
    from validators.models import Scan

    engine = create_db_engine(url)
    with engine.connect() as connection:
        count = int(connection.scalar(select(func.count()).select_from(Scan)) or 0)
    engine.dispose()
    return count


def run_load_bench(admin_url: str, redis_url: str, duration: float, riders: int,
                   validators: int, workers: int, instances: tuple[int, ...]) -> dict[str, Any]:
    """Set up once, then drive the mix against each instance count in ``instances``."""
    if not admin_url.startswith("postgresql"):
        raise InvalidInput("--database-url: give a PostgreSQL server URL "
                           "(postgresql+psycopg://USER@HOST/DB); the bench makes its own "
                           "database there and drops it after")
    if not redis_url.startswith(("redis://", "rediss://")):
        raise InvalidInput("--redis-url: give a Redis URL (redis://HOST:PORT/DB)")
    runs = []
    with tempfile.TemporaryDirectory(prefix="maas-bench-load-") as scratch:
        folder = Path(scratch)
        with _scratch_database(admin_url, folder) as url:
            first = folder / "home-1"
            env = {**os.environ, "MAAS_HOME": str(first), "MAAS_DATABASE_URL": url,
                   "MAAS_ENV": "development", "MAAS_REDIS_URL": redis_url}
            click.echo("loading the Kanazawa demo into a scratch database ...", err=True)
            _run_maas(["demo", "--no-serve", "--json"], env)
            # a second host's own MAAS_HOME, empty: all it needs is in the database
            second = folder / "home-2"
            second.mkdir()
            homes = [first, second]
            limits = {"MAAS_REDIS_URL": redis_url, **{
                f"MAAS_RATE_LIMIT_{name}": UNLIMITED for name in (
                    "LOGIN_ACCOUNT", "LOGIN_ADDRESS", "ORDERS", "PLAN", "ENROLL", "SCANS")}}
            principals: dict[str, list[dict[str, str]]] | None = None
            for count in instances:
                with contextlib.ExitStack() as stack:
                    bases = [stack.enter_context(_server(url, home, workers, None, limits))
                             for home in homes[:count]]
                    if principals is None:
                        principals = _principals(bases[0], env, riders, validators)
                    _warm_up(bases, workers)
                    before = _count_scans(url)
                    tally, seconds = _drive(bases, principals, duration)
                    stored = _count_scans(url) - before
                runs.append(_summary(count, workers, tally, seconds, stored))
    return {"duration_s": duration, "riders": riders, "validators": validators,
            "partners": 1, "cpus": os.cpu_count(), "runs": runs}


def _summary(count: int, workers: int, tally: Tally, seconds: float,
             stored: int) -> dict[str, Any]:
    total = sum(len(values) for values in tally.times.values())
    kinds = {}
    for kind, values in tally.times.items():
        p50, p99 = percentiles(values, 50, 99, digits=1, empty=0.0)
        kinds[kind] = {"requests": len(values), "p50_ms": p50, "p99_ms": p99,
                       "errors": tally.errors[kind]}
    return {"instances": count, "workers_each": workers,
            "requests_per_s": round(total / seconds, 1), "requests": total,
            "errors": sum(tally.errors.values()), "kinds": kinds,
            "scans_accepted": tally.scans_accepted, "scans_stored": stored,
            "lost_scans": tally.scans_accepted - stored}


def _table(document: dict[str, Any]) -> str:
    lines = [f"{document['duration_s']:.0f} s per run, {document['riders']} riders, "
             f"{document['validators']} validators, 1 partner; {document['cpus']} CPUs"]
    for run in document["runs"]:
        lines.append(f"{run['instances']} instance(s) x {run['workers_each']} workers: "
                     f"{run['requests_per_s']} req/s, {run['errors']} errors, "
                     f"scans accepted {run['scans_accepted']} stored {run['scans_stored']} "
                     f"lost {run['lost_scans']}")
        for kind, row in run["kinds"].items():
            lines.append(f"  {kind:10} {row['requests']:>7} req  p50 {row['p50_ms']:>8.1f} ms"
                         f"  p99 {row['p99_ms']:>8.1f} ms  errors {row['errors']}")
    return "\n".join(lines)


@click.command("load")
@click.option("--database-url", envvar="MAAS_TEST_DATABASE_URL", required=True,
              help="A PostgreSQL server to make the scratch database on "
                   "(default MAAS_TEST_DATABASE_URL).")
@click.option("--redis-url", default="redis://127.0.0.1:6379/0", show_default=True,
              help="The Redis the instances count rate limits in.")
@click.option("--duration", type=click.FloatRange(1, 3600), default=20, show_default=True,
              help="Seconds of load per instance count.")
@click.option("--riders", type=click.IntRange(1, 200), default=6, show_default=True)
@click.option("--validators", type=click.IntRange(1, 200), default=3, show_default=True)
@click.option("--workers", type=click.IntRange(1, 16), default=2, show_default=True,
              help="gunicorn workers of each instance.")
@click.option("--instances", type=click.Choice(["1", "2", "both"]), default="both",
              show_default=True)
@json_option
def bench_load(database_url: str, redis_url: str, duration: float, riders: int,
               validators: int, workers: int, instances: str, as_json: bool) -> None:
    """Riders, validators and partners at once against 1 and 2 app instances."""
    counts = (1, 2) if instances == "both" else (int(instances),)
    document = run_load_bench(database_url, redis_url, duration, riders, validators, workers,
                              counts)
    emit(as_json, document, _table(document))
