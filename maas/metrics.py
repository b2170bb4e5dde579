"""``GET /metrics``: the Prometheus text format, from every gunicorn worker at once.

Two kinds of figures:

- **Counted as things happen**, in the process they happen in, with ``prometheus_client`` in
  multiprocess mode: gunicorn's master (maas.gunicorn_conf) gives every worker one folder,
  ``PROMETHEUS_MULTIPROC_DIR``, where each writes its values to memory-mapped files; a scrape,
  answered by any worker, adds them all up. These are request latency per endpoint (the URL
  rule, ``/api/v1/passes/<pass_id>``, never the raw path, so the label set stays bounded),
  requests by status, plan latency, scans ingested and the server's verdicts by code.
- **Read from the database at scrape time** by the worker answering it (so every host shows
  the fleet's figures): orders by state, the age of each active feed version and of each live
  snapshot, and the worker's lag — how far the oldest live snapshot is past its ttl (the worker
  should have polled it again by then; 0 when it keeps up).

Access: ``Authorization: Bearer $MAAS_METRICS_TOKEN``; without a token configured ``/metrics``
does not exist (404). Outside gunicorn (tests, ``flask run``) the figures are this process's.

The request path pays one histogram observation and one counter increment per request (a
dictionary look-up and a write to a memory-mapped file each); see docs/deploy.md for the figure.
"""

from __future__ import annotations

import datetime as dt
import functools
import hmac
import os
import shutil
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

from flask import Flask, Response, current_app, g, request
from sqlalchemy import func, select

from maas.core.errors import NotFound, Unauthorized
from maas.core.state import EXTENSION, AppState

if TYPE_CHECKING:
    from prometheus_client import Counter, Histogram
    from prometheus_client.core import Metric
    from sqlalchemy.orm import Session

    from validators.events import ScansIngested

MULTIPROC_ENV = "PROMETHEUS_MULTIPROC_DIR"
CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"
# seconds; the planner answers in milliseconds to a second, a request within the 30 s timeout
LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0)
METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})


def prepare_multiprocess_dir() -> Path:
    """Make ``PROMETHEUS_MULTIPROC_DIR`` an empty folder before any worker starts.

    Called by gunicorn's master before prometheus_client is imported anywhere (the library
    picks its value store at import). A folder given in the environment is emptied (values
    of an earlier run would be added to this one's); otherwise a fresh temporary one is made.
    """
    given = os.environ.get(MULTIPROC_ENV, "").strip()
    if given:
        folder = Path(given)
        if folder.is_dir():
            for stale in folder.glob("*.db"):
                stale.unlink()
        folder.mkdir(parents=True, exist_ok=True)
    else:
        folder = Path(tempfile.mkdtemp(prefix="maas-metrics-"))
        os.environ[MULTIPROC_ENV] = str(folder)
    return folder


def worker_exited(pid: int) -> None:
    """Forget a dead worker's live gauges (gunicorn's ``child_exit``); its counts remain."""
    from prometheus_client import multiprocess

    if os.environ.get(MULTIPROC_ENV):
        multiprocess.mark_process_dead(pid)  # type: ignore[no-untyped-call]  # untyped library


def remove_multiprocess_dir(folder: Path) -> None:
    """Remove a temporary folder :func:`prepare_multiprocess_dir` made (gunicorn's on_exit)."""
    if folder.name.startswith("maas-metrics-"):
        shutil.rmtree(folder, ignore_errors=True)


class Instruments:
    """The metrics counted as things happen (one set per process)."""

    def __init__(self) -> None:
        from prometheus_client import Counter, Histogram

        self.request_seconds = Histogram(
            "maas_http_request_duration_seconds", "Time to answer a request, per URL rule",
            ["endpoint", "method"], buckets=LATENCY_BUCKETS)
        self.requests = Counter("maas_http_requests", "Requests answered, by URL rule and status",
                                ["endpoint", "method", "status"])
        self.plan_seconds = Histogram("maas_plan_duration_seconds",
                                      "Time to answer GET /api/v1/plan (any status)",
                                      buckets=LATENCY_BUCKETS)
        self.scans = Counter("maas_scans_ingested", "Scans stored (first upload of each)",
                             ["operator"])
        self.verdicts = Counter("maas_verdicts", "The server's verdict on each stored scan",
                                ["code"])
        # (endpoint, method, status) -> its latency histogram and request counter, as
        # ``labels`` gives them (a label set's child is made once and kept by its metric):
        # ``labels`` checks and converts its arguments under a lock on every call
        self._answered: dict[tuple[str, str, int], tuple[Histogram, Counter]] = {}

    def observe_request(self, endpoint: str, method: str, status: int, seconds: float) -> None:
        """Count one answered request (see :func:`observe_request`)."""
        key = (endpoint, method, status)
        children = self._answered.get(key)
        if children is None:
            # two threads may both get here: ``labels`` hands both the same children
            children = self._answered[key] = (self.request_seconds.labels(endpoint, method),
                                               self.requests.labels(endpoint, method,
                                                                    str(status)))
        children[0].observe(seconds)
        children[1].inc()

    def on_scans(self, _session: Session, event: ScansIngested) -> None:
        """Count newly stored scans and the server's verdicts on them."""
        for scan in event.scans:
            self.scans.labels(scan.operator_id).inc()
            self.verdicts.labels(scan.code).inc()


@functools.cache
def instruments() -> Instruments:
    """This process's instruments, made on first use (metrics register once per process).

    A process outside gunicorn may inherit PROMETHEUS_MULTIPROC_DIR before any master made
    the folder (``maas serve`` checks the database before it starts gunicorn): make it.
    """
    folder = os.environ.get(MULTIPROC_ENV, "").strip()
    if folder:
        Path(folder).mkdir(parents=True, exist_ok=True)
    return Instruments()


class DatabaseCollector:
    """The figures read from the database when a scrape comes (see the module docstring)."""

    def __init__(self, state: AppState) -> None:
        self.state = state

    def collect(self) -> Iterator[Metric]:
        """Orders by state, feed and snapshot ages, worker lag."""
        from prometheus_client.core import GaugeMetricFamily

        from gtfs.models import Feed, FeedSnapshot
        from passes.models import Order

        now = self.state.clock()
        orders = GaugeMetricFamily("maas_orders", "Orders by state", labels=["state"])
        feeds = GaugeMetricFamily("maas_feed_age_seconds",
                                  "Seconds since the active version of each feed was loaded",
                                  labels=["kind", "name"])
        snapshots = GaugeMetricFamily("maas_snapshot_age_seconds",
                                      "Seconds since each live snapshot was fetched",
                                      labels=["kind", "name"])
        lag = GaugeMetricFamily("maas_worker_lag_seconds",
                                "How far the stalest live snapshot is past its ttl (0: on time)")
        behind = 0.0
        with self.state.sessions() as session:
            for status, count in session.execute(
                    select(Order.status, func.count()).group_by(Order.status)):
                orders.add_metric([status], count)
            for kind, name, loaded in session.execute(
                    select(Feed.kind, Feed.name, Feed.loaded_at).where(Feed.active)):
                feeds.add_metric([kind, name], _age(now, loaded))
            for kind, name, fetched, ttl in session.execute(
                    select(FeedSnapshot.kind, FeedSnapshot.name, FeedSnapshot.fetched_at,
                           FeedSnapshot.ttl)):
                age = _age(now, fetched)
                snapshots.add_metric([kind, name], age)
                if ttl > 0:
                    behind = max(behind, age - ttl)
        lag.add_metric([], behind)
        yield from (orders, feeds, snapshots, lag)


def _age(now: dt.datetime, then: dt.datetime) -> float:
    if then.tzinfo is None:  # SQLite hands back naive UTC
        then = then.replace(tzinfo=dt.UTC)
    return max(0.0, (now - then).total_seconds())


def exposition(state: AppState) -> bytes:
    """Every worker's counted figures and the database's, in the Prometheus text format."""
    from prometheus_client import REGISTRY, CollectorRegistry, generate_latest, multiprocess

    counted = REGISTRY  # this process only (no gunicorn master gave a folder)
    if os.environ.get(MULTIPROC_ENV):
        counted = CollectorRegistry(auto_describe=False)
        multiprocess.MultiProcessCollector(counted)  # type: ignore[no-untyped-call]  # untyped
    database = CollectorRegistry(auto_describe=False)
    database.register(DatabaseCollector(state))
    return generate_latest(counted) + generate_latest(database)


# set in the WSGI environ of a request the server makes to itself while preparing
WARM_UP = "maas.warm_up"


def observe_request(endpoint: str, method: str, status: int, seconds: float) -> None:
    """Count one answered request of a URL rule (a request answered in front of Flask, as
    ``maas.app.QuickHealth`` answers the health check, counts itself here)."""
    instruments().observe_request(endpoint, method, status, seconds)


def register_metrics(app: Flask) -> None:
    """Time every request by URL rule, and serve ``GET /metrics`` to the token's holder."""
    meter = instruments()
    token = app.extensions[EXTENSION].settings.metrics_token

    @app.before_request
    def _start() -> None:
        # the master's warm-up requests before fork (maas.app.prepare_workers) are no
        # client's: not counted (and the master writes no metrics files of its own)
        if not request.environ.get(WARM_UP):
            g.metrics_started = time.perf_counter()

    @app.after_request
    def _observe(response: Response) -> Response:
        started = g.get("metrics_started")
        if started is not None:
            elapsed = time.perf_counter() - started
            rule = request.url_rule
            endpoint = rule.rule if rule is not None else "<unmatched>"
            method = request.method if request.method in METHODS else "OTHER"
            observe_request(endpoint, method, response.status_code, elapsed)
            if request.endpoint == "gtfs.plan":
                meter.plan_seconds.observe(elapsed)
        return response

    @app.get("/metrics")
    def metrics() -> Response:
        """The exposition, for a bearer of MAAS_METRICS_TOKEN."""
        if not token:
            raise NotFound("no resource at /metrics (set MAAS_METRICS_TOKEN to serve it)")
        scheme, _, given = request.headers.get("Authorization", "").partition(" ")
        if scheme.lower() != "bearer" or not hmac.compare_digest(given.strip().encode(),
                                                                token.encode()):
            raise Unauthorized("send Authorization: Bearer <MAAS_METRICS_TOKEN>")
        return Response(exposition(current_app.extensions[EXTENSION]), mimetype=None,
                        content_type=CONTENT_TYPE)


def subscribe(state: AppState) -> None:
    """Count what the domains announce on ``state``'s bus (scans and verdicts)."""
    from validators.events import ScansIngested

    state.events.subscribe(ScansIngested, instruments().on_scans)

