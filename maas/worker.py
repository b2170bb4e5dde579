"""``maas worker``: the one background process of a deployment.

Web workers never start threads; this process keeps what changes by itself current: the live
GBFS systems (a poller per feed, each fetching about once per the feed's ttl) and the
GTFS-Realtime feeds (a poller per feed, every its interval; ``maas realtime add``). The issue
"Run as a fleet" adds key rotation, bundles and leader election.
"""

from __future__ import annotations

import dataclasses
import os
import signal
import threading
import time
from typing import Any

import click

from maas.core.cli import emit, json_option
from maas.core.clistate import CliState, pass_state

RESCAN_SECONDS = 60.0
PARENT_CHECK_SECONDS = 2.0


@click.command()
@click.option("--once", is_flag=True, help="Poll every live feed once and exit.")
@click.option("--exit-with-parent", is_flag=True, hidden=True,
              help="Stop when the process that started this one ends (maas demo).")
@click.option("--demo-realtime", is_flag=True, hidden=True,
              help="Publish the demo's simulated GTFS-Realtime feeds on 127.0.0.1 and poll "
                   "them (maas demo).")
@json_option
@pass_state
def worker(state: CliState, once: bool, exit_with_parent: bool, demo_realtime: bool,
           as_json: bool) -> None:
    """Keep live feeds current until stopped (SIGTERM or Ctrl-C)."""
    from gtfs.limits import FeedLimits
    from gtfs.network import networks_of
    from gtfs.poller import GbfsPoller, live_gbfs_feeds, start_pollers
    from gtfs.realtime.services import RealtimePoller, poll_due, sync_pollers
    from gtfs.timetable import Timetable

    runtime = state.runtime()
    limits = FeedLimits.from_settings(runtime.settings)
    store = networks_of(runtime)
    max_age = runtime.settings.realtime_max_age
    publisher = None
    if demo_realtime:
        from maas.demo.services import publish_demo_realtime

        def timetable() -> Timetable | None:
            with runtime.sessions() as session:
                return store.current(session)

        publisher = publish_demo_realtime(runtime.sessions, timetable, runtime.clock)
        # the simulator is on 127.0.0.1: this worker may fetch it (the demo's own feeds only
        # are registered there)
        limits = dataclasses.replace(limits, allow_private_urls=True)
    if once:
        with runtime.sessions() as session:
            feeds = live_gbfs_feeds(session)
        polled = {name: GbfsPoller(runtime.sessions, name, url, runtime.clock,
                                     limits).poll_once()
                  for name, url in sorted(feeds.items())}
        outcomes = poll_due(runtime.sessions, store, runtime.clock, {}, time.monotonic(),
                            limits, max_age)
        lines = [f"gbfs {name}: {'fetched' if done else 'fresh or failed'}"
                 for name, done in polled.items()]
        lines += [f"realtime {name}: {o['matched']} matched, {o['unmatched']} unmatched, "
                  f"{o['stale']} stale, {o['error_count']} errors"
                  for name, o in outcomes.items()]
        if publisher is not None:
            publisher.stop()
        emit(as_json, {"gbfs": polled, "realtime": outcomes}, "\n".join(lines)
             or "no live feeds")
        return
    stop = threading.Event()

    def _stop(_signum: int, _frame: Any) -> None:
        stop.set()

    signal.signal(signal.SIGTERM, _stop)
    signal.signal(signal.SIGINT, _stop)
    parent = os.getppid()
    running: dict[str, GbfsPoller] = {}
    realtime_running: dict[str, RealtimePoller] = {}
    rescan_at = 0.0
    while not stop.is_set():
        if time.monotonic() >= rescan_at:
            for name in start_pollers(runtime.sessions, runtime.clock, running, limits):
                click.echo(f"polling gbfs {name}", err=True)
            started, stopped = sync_pollers(runtime.sessions, store, runtime.clock,
                                            realtime_running, limits, max_age)
            for name in started:
                click.echo(f"polling realtime {name}", err=True)
            for name in stopped:
                click.echo(f"stopped polling realtime {name}", err=True)
            rescan_at = time.monotonic() + RESCAN_SECONDS
        if exit_with_parent and os.getppid() != parent:
            break
        stop.wait(PARENT_CHECK_SECONDS)
    for poller in running.values():
        poller.stop()
    for realtime_poller in realtime_running.values():
        realtime_poller.stop()
    if publisher is not None:
        publisher.stop()
