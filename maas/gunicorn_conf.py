"""gunicorn settings for ``maas serve`` and the Docker image, all derived from ``MAAS_*``.

Usage: ``gunicorn --config python:maas.gunicorn_conf 'maas:create_app()'``.
The app is preloaded once in the master (the compiled timetable is then shared by the forked
workers); each worker drops the database connections it inherited.
"""

from __future__ import annotations

import contextlib
import gc
import json
import threading
from typing import Any

from gunicorn import util
from gunicorn.glogging import Logger

from maas.core import limits
from maas.core.config import load_settings


class AppLogsAccess(Logger):  # type: ignore[misc]  # gunicorn ships no type information
    """gunicorn's logger without its access log: the app writes one line per request."""

    def access(self, resp: Any, req: Any, environ: Any, request_time: Any) -> None:
        """Do nothing (see ``maas.app.register_request_id``)."""


def write_problem(sock: Any, status_int: int, reason: str, mesg: str) -> None:
    """gunicorn's error answer (a request it refused to parse: a request line or header field
    over its limits, a malformed request) as RFC 9457 problem+json instead of HTML."""
    body = json.dumps({"type": "about:blank", "title": reason, "status": status_int,
                       "detail": mesg or reason}).encode()
    head = (f"HTTP/1.1 {status_int} {reason}\r\nConnection: close\r\n"
            "Content-Type: application/problem+json\r\nX-Content-Type-Options: nosniff\r\n"
            f"Content-Length: {len(body)}\r\n\r\n")
    util.write_nonblock(sock, head.encode("latin-1") + body)


# the workers call util.write_error for what they refuse before the app sees it
util.write_error = write_problem

_settings = load_settings()

bind = f"{_settings.host}:{_settings.port}"
workers = _settings.workers
# gthread workers (threads > 1): sign-ins wait for a hashing slot without holding up the
# worker's other requests (see maas.core.auth.HashGate and docs/security.md, "Logins")
threads = _settings.threads
# gthread whose request thread answers a kept-alive connection's next request itself when it
# comes at once (maas.gunicorn_worker); one thread: gunicorn's sync worker
worker_class = "maas.gunicorn_worker.ThreadWorker" if threads > 1 else "sync"
preload_app = True
timeout = 30
graceful_timeout = 10
keepalive = 5
# gunicorn 25.1+ opens a control socket at one fixed path per user (~/.gunicorn/gunicorn.ctl):
# every server started on a host (a demo beside the tests, a benchmark's two servers) would
# take over the others', and nothing here uses gunicornc to resize or reload workers
control_socket_disable = True
# above the application's own limits (maas.core.limits), which answer problem+json 414/431 first
limit_request_line = limits.GUNICORN_LIMIT_REQUEST_LINE
limit_request_field_size = limits.GUNICORN_LIMIT_REQUEST_FIELD_SIZE
limit_request_fields = limits.GUNICORN_LIMIT_REQUEST_FIELDS
accesslog = None  # the app logs each request once, with its request id
# gunicorn builds access-log fields for every request whenever a logging config is given,
# even with no access log; this logger class skips that work
logger_class = "maas.gunicorn_conf.AppLogsAccess"
errorlog = "-"
loglevel = _settings.log_level.lower()
proc_name = "kanazawa-maas"
logconfig_dict: dict[str, Any] = {
    "version": 1,
    "disable_existing_loggers": False,
    "filters": {"request_id": {"()": "maas.core.logs.RequestIdFilter"}},
    "formatters": {
        "json": {"()": "maas.core.logs.JsonFormatter"},
        "text": {"format": "%(asctime)s %(levelname)-7s [%(process)d] %(name)s: %(message)s",
                 "datefmt": "%H:%M:%S"},
    },
    "handlers": {
        "stderr": {"class": "logging.StreamHandler", "stream": "ext://sys.stderr",
                   "formatter": _settings.log_format, "filters": ["request_id"]},
    },
    # gunicorn merges this over its defaults key by key, so root and both of its loggers are
    # named here: the root logger is the app's (create_app installs its handler there), and
    # access lines are the app's own, which carry the request id
    "root": {"handlers": [], "level": loglevel.upper()},
    "loggers": {
        "gunicorn.error": {"handlers": ["stderr"], "level": loglevel.upper(),
                           "propagate": False, "qualname": "gunicorn.error"},
        "gunicorn.access": {"handlers": [], "level": "WARNING", "propagate": False,
                            "qualname": "gunicorn.access"},
    },
}


def when_ready(server: Any) -> None:
    """Compile the planner's kernels once in the master, and build the network, today's day
    views and the health check's schema state there (``maas.app.prepare_workers``): forked
    workers share all of it copy-on-write instead of building it each (see docs/planner.md,
    "The request path")."""
    from gtfs.raptor import warm_up
    from maas.app import prepare_workers

    warm_up()
    app = server.app.wsgi()
    if "maas" in getattr(app, "extensions", {}):  # not the HTTP benchmark's bare floor app
        prepare_workers(app)
    # everything built so far is kept out of the workers' garbage collections: a collection
    # touches every object it tracks, which copies the pages shared with the master into
    # each worker (its private memory)
    gc.collect()
    gc.freeze()


def post_fork(server: Any, worker: Any) -> None:
    """Give each worker its own database connections (never share sockets across fork), read
    what a request re-reads every few seconds and send the worker's own warm-up requests
    before it takes any (``maas.app.prepare_worker``)."""
    state = getattr(worker.app.wsgi(), "extensions", {}).get("maas")
    if state is not None:  # not the HTTP benchmark's bare floor app
        state.engine.dispose(close=False)
        from maas.app import prepare_worker

        prepare_worker(worker.app.wsgi())


READY = "READY"


def post_worker_init(worker: Any) -> None:
    """Start a gthread worker's request threads (:func:`start_threads`), then say that this
    worker is about to take requests: one line ``READY worker PID`` in the server's log
    (``maas bench http`` waits for every worker's before it measures)."""
    start_threads(worker)
    worker.log.info("%s worker %d", READY, worker.pid)


def start_threads(worker: Any) -> None:
    """Every thread of a gthread worker's pool, started now: the pool starts one per request
    until it has them all, and ``Thread.start`` waits for the new thread to be scheduled —
    on a loaded machine, milliseconds of a rider's first requests. Each of ``threads`` tasks
    waits at a barrier until all have started, so the pool makes every thread."""
    pool = getattr(worker, "tpool", None)
    count = int(getattr(worker.cfg, "threads", 1))
    if pool is None or count <= 1:
        return
    barrier = threading.Barrier(count)

    def meet() -> None:
        with contextlib.suppress(threading.BrokenBarrierError):
            barrier.wait(timeout=10)

    for started in [pool.submit(meet) for _ in range(count)]:
        started.result()


# /metrics (maas.metrics): every worker writes its counts under PROMETHEUS_MULTIPROC_DIR, made
# (or emptied) here in the master before the preloaded app imports prometheus_client
from maas import metrics as _metrics  # noqa: E402 - only after the settings above are loaded

_metrics_dir = _metrics.prepare_multiprocess_dir()


def child_exit(server: Any, worker: Any) -> None:
    """A worker ended: drop its live gauges from /metrics (its counts stay in the sums)."""
    _metrics.worker_exited(worker.pid)


def on_exit(server: Any) -> None:
    """The server stops: remove the metrics folder if it was a temporary one made above."""
    _metrics.remove_multiprocess_dir(_metrics_dir)
