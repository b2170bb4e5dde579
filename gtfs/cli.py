"""``maas gtfs import`` and ``maas plan``: thin commands over :mod:`gtfs.services`."""

from __future__ import annotations

import datetime as dt

import click

from gtfs import services
from gtfs.gbfs import Availability
from gtfs.languages import choose
from gtfs.limits import FeedLimits
from gtfs.network import PASS_COVERAGE, networks_of
from maas.core.cli import MaasGroup, emit, json_option, progress
from maas.core.clistate import CliState, pass_state
from maas.core.clock import TOKYO
from maas.core.errors import InvalidInput


@click.group(cls=MaasGroup)
def gtfs() -> None:
    """GTFS / GTFS-JP timetables."""


@click.group(cls=MaasGroup)
def gbfs() -> None:
    """GBFS bike share systems (まちのり)."""


@gbfs.command("import")
@click.argument("source", metavar="URL_OR_DIR")
@click.option("--name", help="Feed name (default: the folder name or the URL's host).")
@json_option
@pass_state
def gbfs_import(state: CliState, source: str, name: str | None, as_json: bool) -> None:
    """Import a GBFS 2.x/3.0 system: a folder is a snapshot; a URL is then polled by its ttl
    by the servers."""
    runtime = state.runtime()
    with state.audited("feeds.import", f"gbfs {name or '-'} {source}") as (session, detail):
        result = services.import_gbfs(session, source, name, runtime.clock,
                                      FeedLimits.from_settings(runtime.settings))
        detail.update(name=result.feed.name, version=result.feed.version, new=result.created)
        stations = services.bike_stations(session, networks_of(runtime), runtime.clock(),
                                          _availability(state), system=result.feed.name)
    feed = result.feed
    document = {"name": feed.name, "version": feed.version, "new": result.created,
                **feed.summary,
                "bikes_available": sum(s["bikes_available"] or 0 for s in stations),
                "as_of": max((s["as_of"] for s in stations), default=None)}
    lines = [f"{feed.name}: version {feed.version[:12]} "
             f"({'imported' if result.created else 'unchanged; status refreshed'})"]
    lines += [f"  {key}: {value}" for key, value in document.items()
              if key not in ("name", "version", "new")]
    emit(as_json, document, "\n".join(lines))


def _availability(state: CliState) -> Availability:
    config = state.runtime().settings
    return Availability(margin=config.bike_margin, max_age_seconds=config.bike_status_max_age)


@gtfs.command("import")
@click.argument("source", metavar="PATH_OR_URL")
@click.option("--name", help="Feed name (default: the file or folder name).")
@json_option
@pass_state
def import_command(state: CliState, source: str, name: str | None, as_json: bool) -> None:
    """Import a GTFS zip or folder; it serves only once fully read and compiled."""
    runtime = state.runtime()
    with progress(1, f"reading and compiling {source}", quiet=as_json) as step, \
            state.audited("feeds.import", f"gtfs {name or '-'} {source}") as (session, detail):
        result = services.import_gtfs(session, networks_of(runtime), source, name, runtime.clock,
                                      FeedLimits.from_settings(runtime.settings))
        detail.update(name=result.feed.name, version=result.feed.version, new=result.created)
        step("done")
    feed = result.feed
    document = {"name": feed.name, "version": feed.version, "new": result.created,
                **feed.summary}
    lines = [f"{feed.name}: version {feed.version[:12]} "
             f"({'imported' if result.created else 'unchanged'})"]
    lines += [f"  {key}: {value}" for key, value in feed.summary.items()]
    emit(as_json, document, "\n".join(lines))


def _moment(text: str, option: str) -> dt.datetime:
    try:
        moment = dt.datetime.fromisoformat(text)
    except ValueError:
        raise InvalidInput(f"{option}: {text!r} is not an ISO 8601 date-time") from None
    return moment if moment.tzinfo else moment.replace(tzinfo=TOKYO)


@click.command()
@click.option("--from", "origin", required=True,
              help="LAT,LON, stop:STOP_ID or place:PLACE_ID")
@click.option("--to", "destination", required=True,
              help="LAT,LON, stop:STOP_ID or place:PLACE_ID")
@click.option("--depart", help="Departure, ISO 8601 (default: now).")
@click.option("--arrive", help="Arrive by, ISO 8601.")
@click.option("--modes", help="Comma-separated: walk,bus,tram,rail,subway,ferry,bike,taxi.")
@click.option("--min-transfer-seconds", type=click.IntRange(0, 1800), default=60,
              show_default=True)
@click.option("--max-transfers", type=click.IntRange(0, 10), default=5, show_default=True)
@click.option("--window", type=click.IntRange(0, 240), default=0, show_default=True,
              help="Minutes: the best journeys departing within this window.")
@click.option("--pass", "pass_product", help="A one-day pass product: covered legs cost ¥0.")
@click.option("--lang", help="Names in ja, en, zh-Hans, zh-Hant or ko (default ja).")
@json_option
@pass_state
def plan(state: CliState, origin: str, destination: str, depart: str | None,
         arrive: str | None, modes: str | None, min_transfer_seconds: int,
         max_transfers: int, window: int, pass_product: str | None, lang: str | None,
         as_json: bool) -> None:
    """Plan a journey (the same document as GET /api/v1/plan with --json)."""
    if depart and arrive:
        raise InvalidInput("give --depart or --arrive, not both")
    runtime = state.runtime()
    moment = (_moment(arrive, "--arrive") if arrive else
              _moment(depart, "--depart") if depart else runtime.clock())
    request = services.PlanRequest(
        origin=origin, destination=destination, time=moment, arrive_by=bool(arrive),
        modes=services.parse_modes(modes), min_transfer_seconds=min_transfer_seconds,
        max_transfers=max_transfers, window_minutes=window, pass_product=pass_product,
        language=choose(lang, None),
    )
    with state.session() as session:
        document = services.plan_trip(session, networks_of(runtime), request,
                                      coverage=runtime.domains.get(PASS_COVERAGE),
                                      now=runtime.clock(), availability=_availability(state))
    lines = []
    for itinerary in document["itineraries"]:
        lines.append(f"{itinerary['departure'][11:16]} → {itinerary['arrival'][11:16]}  "
                     f"{itinerary['duration_s'] // 60} min, {itinerary['transfers']} "
                     f"transfer(s), walk {itinerary['walk_m']} m, "
                     f"¥{itinerary['fare']['total_yen']}")
        for leg in itinerary["legs"]:
            what = (f"{leg['route_short_name']} {leg['headsign']}" if leg["trip_id"] else
                    f"{leg['mode']} {leg['distance_m'] or 0} m"
                    + (f", ¥{leg['fare_yen']}" if leg["mode"] in ("bike", "taxi") else ""))
            lines.append(f"    {leg['departure'][11:16]} {leg['from']['name']} → "
                         f"{leg['arrival'][11:16]} {leg['to']['name']}  ({what})")
    emit(as_json, document, "\n".join(lines) or "no journey found")
