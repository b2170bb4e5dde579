"""``maas realtime add|list|remove|poll``: thin commands over :mod:`gtfs.realtime.services`."""

from __future__ import annotations

import click

from gtfs.limits import FeedLimits
from gtfs.network import networks_of
from gtfs.realtime import core, services
from maas.core.cli import MaasGroup, emit, json_option
from maas.core.clistate import CliState, pass_state


@click.group(cls=MaasGroup)
def realtime() -> None:
    """GTFS-Realtime feeds (trip updates, vehicle positions, alerts), polled by `maas worker`."""


@realtime.command("add")
@click.argument("source", metavar="URL_OR_PATH")
@click.option("--feed", "gtfs_name", required=True, metavar="GTFS_NAME",
              help="The loaded GTFS feed the realtime feed describes.")
@click.option("--kind", required=True, help=f"One of {', '.join(core.KINDS)}.")
@click.option("--interval", default=30, show_default=True, type=int,
              help="Seconds between polls (5-3600).")
@click.option("--header", "headers", multiple=True, metavar="'K: V'",
              help="An HTTP header to send (an API key); repeatable.")
@click.option("--name", help="Feed name (default: GTFS_NAME-KIND).")
@json_option
@pass_state
def add(state: CliState, source: str, gtfs_name: str, kind: str, interval: int,
        headers: tuple[str, ...], name: str | None, as_json: bool) -> None:
    """Register a realtime feed; the worker polls it from its next rescan."""
    with state.session() as session:
        row = services.add_feed(session, source, gtfs_name, kind, interval, headers, name)
        document = services.describe(row)
    emit(as_json, document, f"{document['name']}: {kind} of {gtfs_name} every {interval} s "
                            f"from {source}")


@realtime.command("list")
@json_option
@pass_state
def list_command(state: CliState, as_json: bool) -> None:
    """The registered realtime feeds and their last poll."""
    with state.session() as session:
        feeds = [services.describe(row) for row in services.list_feeds(session)]
    lines = [f"{f['name']}: {f['kind']} of {f['feed']} every {f['interval']} s, last poll "
             f"{f['polled_at'] or 'never'} ({f['matched'] or 0} matched, "
             f"{f['unmatched'] or 0} unmatched, {f['error_count'] or 0} errors) {f['url']}"
             for f in feeds]
    emit(as_json, {"feeds": feeds}, "\n".join(lines) or "no realtime feeds")


@realtime.command("remove")
@click.argument("name")
@json_option
@pass_state
def remove(state: CliState, name: str, as_json: bool) -> None:
    """Stop polling a realtime feed and drop its snapshot."""
    with state.session() as session:
        services.remove_feed(session, name)
    emit(as_json, {"removed": name}, f"{name}: removed")


@realtime.command("poll")
@click.argument("name")
@json_option
@pass_state
def poll(state: CliState, name: str, as_json: bool) -> None:
    """Poll one feed now (what the worker does every interval) and show the outcome."""
    runtime = state.runtime()
    with state.session() as session:
        timetable = networks_of(runtime).current(session)
        outcome = services.poll(session, name, timetable, runtime.clock,
                                FeedLimits.from_settings(runtime.settings),
                                runtime.settings.realtime_max_age)
    networks_of(runtime).realtime.forget()  # this process serves the new snapshot at once
    document = {"name": name, **outcome.as_dict()}
    emit(as_json, document, "\n".join(f"{key}: {value}" for key, value in document.items()))
