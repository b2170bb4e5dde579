"""``maas worker``: the one background process of a deployment.

Web workers never start threads; this process keeps what changes by itself current, as a list
of periodic tasks (:func:`tasks`): polling live GBFS systems and GTFS-Realtime feeds, rotating
the issuing keys on schedule (and making sure the signing keys exist), expiring orders whose
payment never came, and adding answered plan requests to the statistics. A new poller is one
more entry.

Several workers may run (one per host, or a spare): only the leader works. On PostgreSQL the
leader holds a session-level advisory lock (``pg_try_advisory_lock``) on a connection of its
own; when it dies its connection closes, the lock is released, and a waiting worker takes over
within :data:`FOLLOWER_RETRY_SECONDS`. On SQLite (one host) the lock is a file lock under
``MAAS_HOME``: run one worker.
"""

from __future__ import annotations

import contextlib
import dataclasses
import datetime as dt
import fcntl
import hashlib
import logging
import os
import signal
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any

import click
from sqlalchemy import Connection, Engine, text
from sqlalchemy.exc import DBAPIError

from maas.core import audit
from maas.core.cli import emit, json_option
from maas.core.clistate import CliState, pass_state
from maas.core.state import AppState

if TYPE_CHECKING:
    from gtfs.limits import FeedLimits

log = logging.getLogger(__name__)

PARENT_CHECK_SECONDS = 1.0
FOLLOWER_RETRY_SECONDS = 2.0
# the advisory lock's key: the first 8 bytes of a hash of a fixed name (a signed bigint)
LOCK_KEY = int.from_bytes(hashlib.sha256(b"kanazawa-maas worker leader").digest()[:8], "big",
                          signed=True)
WORKER_ACTOR = "worker"


class Leadership:
    """Whether this worker leads: a PostgreSQL advisory lock on a dedicated connection, or an
    exclusive file lock under ``home`` on SQLite."""

    def __init__(self, engine: Engine, home: Path) -> None:
        self.engine = engine
        self.home = home
        self._connection: Connection | None = None
        self._file: IO[str] | None = None

    @property
    def held(self) -> bool:
        """True while this process leads."""
        return self._connection is not None or self._file is not None

    def try_acquire(self) -> bool:
        """Take the lead if nobody has it (never waits)."""
        if self.held:
            return True
        if self.engine.dialect.name == "postgresql":
            connection = self.engine.connect().execution_options(isolation_level="AUTOCOMMIT")
            # a connection of its own, never returned to the pool: closing it really ends the
            # database session, and with it the lock
            connection.detach()
            try:
                won = bool(connection.scalar(text("SELECT pg_try_advisory_lock(:key)"),
                                             {"key": LOCK_KEY}))
            except DBAPIError:
                connection.close()
                raise
            if won:
                self._connection = connection
            else:
                connection.close()
            return won
        self.home.mkdir(parents=True, exist_ok=True)
        handle = (self.home / "worker.lock").open("a", encoding="utf-8")
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            handle.close()
            return False
        self._file = handle
        return True

    def still_held(self) -> bool:
        """Check the lock's connection is alive (the lock goes with it); False when lost."""
        if self._connection is None:
            return self._file is not None
        try:
            self._connection.scalar(text("SELECT 1"))
        except DBAPIError:
            log.warning("the worker lost its database connection, and with it the lead")
            self.release()
            return False
        return True

    def release(self) -> None:
        """Give up the lead (closing the connection releases the advisory lock)."""
        if self._connection is not None:
            with contextlib.suppress(DBAPIError):  # already gone: so is the lock
                self._connection.close()
            self._connection = None
        if self._file is not None:
            fcntl.flock(self._file, fcntl.LOCK_UN)
            self._file.close()
            self._file = None


@dataclasses.dataclass
class Task:
    """One periodic job of the leader: ``run`` every ``every`` seconds; what it returns is
    reported by ``--once``."""

    name: str
    every: float
    run: Callable[[], Any]
    due: float = 0.0


def tasks(runtime: AppState, limits: FeedLimits | None = None) -> list[Task]:
    """The leader's periodic jobs, in the order they run (``limits``: the feed limits, by
    default from the settings)."""
    from gtfs.limits import FeedLimits
    from gtfs.network import networks_of
    from gtfs.poller import GbfsPoller, poll_live_gbfs
    from gtfs.realtime.services import poll_due
    from maas.core.journal import Journal
    from maas.core.secrets import key_encryptor
    from maas.stats.services import PlanRecorder, roll_up_plan_requests
    from passes import services as passes
    from passes.bundle import colour_secret
    from passes.keys import KINDS, KeyStore

    settings = runtime.settings
    limits = limits or FeedLimits.from_settings(settings)
    pollers: dict[str, GbfsPoller] = {}
    realtime_polled: dict[str, float] = {}  # feed name -> monotonic time of its last poll

    def gbfs() -> dict[str, bool]:
        return poll_live_gbfs(runtime.sessions, runtime.clock, pollers, limits)

    def realtime() -> dict[str, Any]:
        # each feed at its own interval (``maas realtime add --interval``); this task only
        # looks every second which are due
        return poll_due(runtime.sessions, networks_of(runtime), runtime.clock, realtime_polled,
                        time.monotonic(), limits, settings.realtime_max_age)

    def keys() -> dict[str, Any]:
        now = runtime.clock()
        with runtime.sessions() as session:
            for kind in KINDS:
                KeyStore(session, key_encryptor(settings), kind).ensure(now)
            if not settings.key_rotation_days:
                return {"rotated": False}
            store = KeyStore(session, key_encryptor(settings))
            if not passes.rotation_due(store, now, dt.timedelta(days=settings.key_rotation_days)):
                return {"rotated": False}
            with audit.audited(session, runtime.clock, actor=WORKER_ACTOR,
                               action="keys.rotate", target="issuing") as detail:
                rotated = passes.rotate_keys(session, store, now)
                detail["keys"] = {info.kid: info.state for info in rotated}
        return {"rotated": True}

    def orders() -> int:
        with runtime.sessions() as session:
            return passes.expire_pending_orders(
                session, runtime.clock, dt.timedelta(minutes=settings.order_pending_minutes))

    # the web workers' journals on this host (those of other hosts are stored by their own
    # web workers every few seconds of traffic)
    recorder = PlanRecorder(Journal(settings.journal_dir, "plans"), runtime.sessions)

    def statistics() -> int:
        with runtime.sessions() as session:
            return roll_up_plan_requests(session, recorder)

    def bundle() -> bool:
        with runtime.sessions() as session:
            encryptor = key_encryptor(settings)
            return passes.publish_bundle(
                session, KeyStore(session, encryptor), KeyStore(session, encryptor, "bundle"),
                colour_secret(settings.secret_key), runtime.clock)

    return [Task("gbfs", 5.0, gbfs), Task("realtime", 1.0, realtime), Task("keys", 3600.0, keys),
            Task("bundle", 30.0, bundle), Task("orders", 60.0, orders),
            Task("statistics", 30.0, statistics)]


def run_due(jobs: list[Task], now: float) -> dict[str, Any]:
    """Run every job that is due (a failure is logged; the others still run)."""
    done: dict[str, Any] = {}
    for job in jobs:
        if now < job.due:
            continue
        job.due = now + job.every
        try:
            done[job.name] = job.run()
        except Exception:  # one failing job must not stop the worker or the other jobs
            log.exception("worker task %s failed", job.name)
            done[job.name] = None
    return done


@click.command()
@click.option("--once", is_flag=True,
              help="Run every task once (if no other worker leads) and exit.")
@click.option("--exit-with-parent", is_flag=True, hidden=True,
              help="Stop when the process that started this one ends (maas demo).")
@click.option("--demo-realtime", is_flag=True, hidden=True,
              help="Publish the demo's simulated GTFS-Realtime feeds on 127.0.0.1 and poll "
                   "them (maas demo).")
@json_option
@pass_state
def worker(state: CliState, once: bool, exit_with_parent: bool, demo_realtime: bool,
           as_json: bool) -> None:
    """Keep live feeds, keys, orders and statistics current until stopped (SIGTERM or Ctrl-C).

    One worker leads at a time; start a second one (on another host) as a spare.
    """
    from gtfs.limits import FeedLimits

    runtime = state.runtime()
    limits = FeedLimits.from_settings(runtime.settings)
    publisher = None
    if demo_realtime:
        publisher = _demo_publisher(runtime)
        # the simulator is on 127.0.0.1: this worker may fetch it (only the demo's own feeds
        # are registered there)
        limits = dataclasses.replace(limits, allow_private_urls=True)
    try:
        _lead(runtime, tasks(runtime, limits), once, exit_with_parent, as_json)
    finally:
        if publisher is not None:
            publisher.stop()


def _demo_publisher(runtime: AppState) -> Any:
    """The demo's GTFS-Realtime simulator, serving the active timetable's trips."""
    from gtfs.network import networks_of
    from gtfs.timetable import Timetable
    from maas.demo.services import publish_demo_realtime

    store = networks_of(runtime)

    def timetable() -> Timetable | None:
        with runtime.sessions() as session:
            return store.current(session)

    return publish_demo_realtime(runtime.sessions, timetable, runtime.clock)


def _lead(runtime: AppState, jobs: list[Task], once: bool, exit_with_parent: bool,
          as_json: bool) -> None:
    """Take the lead when nobody has it and run the jobs (once, or until stopped)."""
    leadership = Leadership(runtime.engine, runtime.settings.home)
    if once:
        if not leadership.try_acquire():
            raise click.ClickException("another worker leads: --once does nothing meanwhile")
        try:
            done = run_due(jobs, time.monotonic())
        finally:
            leadership.release()
        emit(as_json, done, "\n".join(f"{name}: {result}" for name, result in done.items()))
        return
    stop = threading.Event()

    def _stop(_signum: int, _frame: Any) -> None:
        stop.set()

    signal.signal(signal.SIGTERM, _stop)
    signal.signal(signal.SIGINT, _stop)
    parent = os.getppid()
    while not stop.is_set():
        if exit_with_parent and os.getppid() != parent:
            break
        if not leadership.held:
            try:
                if leadership.try_acquire():
                    click.echo(f"worker {os.getpid()} leads", err=True)
                    for job in jobs:
                        job.due = 0.0
            except DBAPIError:
                log.warning("database unreachable; trying again")
            if not leadership.held:
                stop.wait(FOLLOWER_RETRY_SECONDS)
                continue
        if not leadership.still_held():
            continue
        run_due(jobs, time.monotonic())
        stop.wait(PARENT_CHECK_SECONDS)
    leadership.release()
