"""Journeys that combine walking, まちのり bikes, on-demand taxis and transit (pure).

Access and egress alternatives — walk to a stop; walk, ride a bike from a port with bikes to a
port with free docks, walk to a stop; take a taxi to a stop it feeds — are computed for every
stop they reach. The fastest alternative per stop enters **one** RAPTOR search as that stop's
initial label (the paper's multiple sources and targets, each with its own time); journeys are
extracted per number of trips as in :mod:`gtfs.planner`, and their access and egress walks are
replaced by the alternative that set the label. The plain walking search runs first (its
journeys are the cheap and taxi-free ones that a faster bike or taxi label would hide); the
multimodal run then starts from its labels (valid upper bounds, as in rRAPTOR) and only
follows what the bike and taxi sources improve. When both bikes and taxis reach stops, a
taxi label can hide a bike one, so one more run without taxi starts from a copy of the
walking labels (that is what guarantees a journey without taxi). Direct trips (walk, bike,
taxi door to door) are added. Of all candidates the result set keeps those not dominated
in (arrival, transfers, price) among journeys using no more of bike and taxi: that includes the
earliest arrival, the fewest transfers, the cheapest and the best journey without taxi (each
tagged so), and the best plain walk-and-transit journeys beside bike and taxi ones.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import functools
from collections.abc import Callable, Collection, Sequence

import numpy as np
import numpy.typing as npt

from gtfs import gbfs, planner, raptor
from gtfs.itinerary import agency_of, leg_fare
from gtfs.mobility import I64, BikeNetwork, Mobility, fastest_links
from gtfs.ondemand import Service
from gtfs.planner import Endpoint, Journey, Leg, Query
from gtfs.timetable import DETOUR, Timetable, haversine_m, walk_seconds

BIKE_WALK_M = 500.0  # walk to a port at most this far (crow-fly)
PORTS_PER_END = 3  # the nearest usable ports at each end
MAX_RIDE_SECONDS = 45 * 60
ACCESS_MODES = frozenset({"bike", "taxi"})
_NOT_TRANSIT = ACCESS_MODES | {"walk"}


@dataclasses.dataclass(frozen=True)
class Context:
    """What a multimodal query needs besides the timetable and the query."""

    mobility: Mobility
    now: int  # unix seconds: how old bike availability is
    availability: gbfs.Availability = dataclasses.field(default_factory=gbfs.Availability)
    covered: frozenset[str] = frozenset()  # operator ids a pass covers


@dataclasses.dataclass(frozen=True)
class Ends:
    """Alternatives of one kind between a journey's end and stops, as arrays.

    ``seconds[i]`` is the time between the end and ``stops[i]`` (unique); ``make(stop, start)``
    builds the legs of the alternative for ``stop`` starting at ``start`` (seconds of the
    service day), only for journeys that use it.
    """

    mode: str
    stops: I64
    seconds: I64
    make: Callable[[int, int], tuple[Leg, ...]]
    service: Service | None = None  # a taxi's
    pairs: dict[int, tuple[int, int]] | None = None  # walking: RAPTOR's own form, as given


def wants_multimodal(query: Query) -> bool:
    """True when the query asks for bikes or taxis."""
    return query.modes is not None and bool(query.modes & ACCESS_MODES)


def plan(timetable: Timetable, query: Query, context: Context) -> list[Journey]:
    """Journeys for ``query`` using the modes it allows (see the module notes)."""
    modes = query.modes or frozenset()
    day, seconds = planner.service_time(timetable, query.time)
    transit_modes = None if query.modes is None else modes - _NOT_TRANSIT
    transit = transit_modes is None or bool(transit_modes)
    transit_query = dataclasses.replace(query, modes=transit_modes)
    candidates: list[Journey] = []
    ports = {id(network): _Ports.near(network, query, context)
             for network in context.mobility.bikes} if "bike" in modes else {}
    ranged = query.arrive_by or query.window_minutes > 0
    if ranged:
        # the walking range search as the transit planner runs it, then one with bikes at the
        # ends (taxis, whose waits and hours depend on the time, only door to door)
        if transit:
            candidates += [j for j in planner.plan(timetable, transit_query)
                           if any(leg.trip >= 0 for leg in j.legs)]
            access = [_walk_ends(planner.access_options(timetable, query.origin), False)]
            egress = [_walk_ends(planner.egress_options(timetable, query.destination), True)]
            for network in context.mobility.bikes if "bike" in modes else ():
                near = ports[id(network)]
                access.append(_bike_ends(timetable, network, near, context, reverse=False))
                egress.append(_bike_ends(timetable, network, near, context, reverse=True))
            if any(len(ends.stops) for ends in (*access[1:], *egress[1:])):
                candidates += _search(timetable, raptor.day_view(timetable, day),
                                      transit_query, access, egress, day, seconds, None)
        candidates += _walk_only(timetable, query, day, seconds)
    else:
        walk_access = planner.access_options(timetable, query.origin)
        walk_egress = planner.egress_options(timetable, query.destination)
        # bike and taxi ends here; the walking ends join them as arrays only when those are
        # searched (a server without bikes or taxis never builds them)
        access = []
        egress = []
        for network in context.mobility.bikes if "bike" in modes else ():
            near = ports[id(network)]
            access.append(_bike_ends(timetable, network, near, context, reverse=False))
            egress.append(_bike_ends(timetable, network, near, context, reverse=True))
        for service in context.mobility.taxis if "taxi" in modes else ():
            access.append(_taxi_ends(timetable, service, query.origin, day, seconds, False))
            egress.append(_taxi_ends(timetable, service, query.destination, day, seconds,
                                     True))
        if transit:
            view = raptor.day_view(timetable, day)
            labels: raptor.Labels | None = None
            if walk_access and walk_egress:
                walking, labels = planner.search(timetable, view, transit_query, walk_access,
                                                 walk_egress, seconds)
                candidates += walking
            used = {ends.mode for ends in (*access, *egress) if len(ends.stops)}
            if used:
                access.insert(0, _walk_ends(walk_access, reverse=False))
                egress.insert(0, _walk_ends(walk_egress, reverse=True))
            if used == {"bike", "taxi"}:
                # a taxi label may hide the bike one at a stop: a journey without taxi from
                # its own copy of the walking labels
                spare = None if labels is None else raptor.copy_labels(labels)
                candidates += _search(timetable, view, transit_query,
                                      [e for e in access if e.mode != "taxi"],
                                      [e for e in egress if e.mode != "taxi"], day, seconds,
                                      spare)
            if used:
                # the same labels, improved from the bike and taxi sources only
                candidates += _search(timetable, view, transit_query, access, egress, day,
                                      seconds, labels)
        candidates += _walk_only(timetable, query, day, seconds)
    for network in context.mobility.bikes if "bike" in modes else ():
        direct = _bike_direct(timetable, network, ports[id(network)], query, day, seconds,
                              context)
        if direct is not None:
            candidates.append(direct)
    for service in context.mobility.taxis if "taxi" in modes else ():
        taxi = _taxi_direct(timetable, service, query, day, seconds)
        if taxi is not None:
            candidates.append(taxi)
    return choose(timetable, candidates, context, ranged)


def _walk_only(timetable: Timetable, query: Query, day: dt.date, seconds: int
               ) -> list[Journey]:
    walk = planner.walk_only(timetable, query, day, seconds)
    return [] if walk is None else [walk]


# --- access and egress alternatives --------------------------------------------------------


def _walk_ends(options: dict[int, tuple[int, int]], reverse: bool) -> Ends:
    def make(stop: int, start: int) -> tuple[Leg, ...]:
        walk, metres = options[stop]
        if walk == 0:
            return ()
        return ((Leg("walk", start, start + walk, stop, -1, walk_m=metres) if reverse
                 else Leg("walk", start, start + walk, -1, stop, walk_m=metres)),)

    count = len(options)
    return Ends("walk", np.fromiter(options, dtype=np.int64, count=count),
                np.fromiter((walk for walk, _ in options.values()), dtype=np.int64,
                            count=count), make, pairs=options)


def _port(network: BikeNetwork, index: int) -> Endpoint:
    station = network.system.stations[index]
    return Endpoint(station.lat, station.lon, station.name)


def _bike_leg(timetable: Timetable, network: BikeNetwork, context: Context, pickup: int,
              dropoff: int, start: int) -> Leg:
    """The ride from port ``pickup`` to port ``dropoff`` starting at ``start``."""
    metres = haversine_m(float(network.lat[pickup]), float(network.lon[pickup]),
                         float(network.lat[dropoff]), float(network.lon[dropoff]))
    ride = int(network.rides()[pickup, dropoff])
    system = network.system
    pricing = system.plan()
    pickup_id = system.stations[pickup].station_id
    dropoff_id = system.stations[dropoff].station_id
    as_of = min(gbfs.as_of(system, pickup_id), gbfs.as_of(system, dropoff_id))
    stale = context.now - as_of > context.availability.max_age_seconds
    return Leg(
        "bike", start, start + gbfs.UNLOCK_SECONDS + ride + gbfs.DOCK_SECONDS, -1, -1,
        walk_m=round(metres * DETOUR), place_from=_port(network, pickup),
        place_to=_port(network, dropoff),
        fare_yen=None if pricing is None else gbfs.ride_price(pricing, ride),
        operator=system.system_id,
        info={"pickup_station_id": pickup_id, "dropoff_station_id": dropoff_id,
              "system_id": system.system_id, "ride_s": ride,
              "availability": {"bikes_at_pickup": system.status[pickup_id].bikes,
                               "docks_at_dropoff": system.status[dropoff_id].docks,
                               "as_of": _iso(timetable, as_of), "stale": bool(stale)}},
    )


_ISO: dict[tuple[int, str], str] = {}


def _iso(timetable: Timetable, unix: int) -> str:
    """A status time as ISO 8601 in the feed's zone (a few distinct values: cached)."""
    zone = str(timetable.meta.get("timezone") or "Asia/Tokyo")
    text = _ISO.get((unix, zone))
    if text is None:
        if len(_ISO) > 4096:
            _ISO.clear()
        text = _ISO[(unix, zone)] = dt.datetime.fromtimestamp(
            unix, planner.timezone(timetable)).isoformat(timespec="seconds")
    return text


def _near_ports(network: BikeNetwork, end: Endpoint, pick_up: bool, context: Context
                ) -> list[tuple[int, int, int]]:
    """(port, walk seconds, walk metres) of the nearest usable ports within BIKE_WALK_M."""
    if not len(network.lat):
        return []
    distances = network.distances(end.lat, end.lon)
    hits = sorted((float(distances[p]), p) for p in np.flatnonzero(
        distances <= BIKE_WALK_M).tolist()
        if network.can(p, pick_up, context.availability, context.now))[:PORTS_PER_END]
    return [(p, walk_seconds(metres), round(metres * 1.3)) for metres, p in hits]


class _Ports:
    """A query's usable ports of one system: the nearest at each end; per port on demand."""

    def __init__(self, network: BikeNetwork, query: Query, context: Context) -> None:
        self.network = network
        self.context = context
        self.starts = _near_ports(network, query.origin, True, context)  # with bikes
        self.finishes = _near_ports(network, query.destination, False, context)  # with docks

    @classmethod
    def near(cls, network: BikeNetwork, query: Query, context: Context) -> _Ports:
        """The ports of ``network`` for ``query``."""
        return cls(network, query, context)

    @functools.cached_property
    def usable(self) -> tuple[npt.NDArray[np.bool_], npt.NDArray[np.bool_]]:
        """Per port: can pick up, can drop off."""
        pick, drop, _ = self.network.usable(self.context.availability, self.context.now)
        return pick, drop


NEVER = 2**40


def _bike_ends(timetable: Timetable, network: BikeNetwork, near: _Ports, context: Context,
               reverse: bool) -> Ends:
    """Walk, ride, walk between a journey's end and stops near ports (the fastest per stop).

    One compiled pass over (port near the end) × (port–stop link), see
    :func:`gtfs.mobility.fastest_links`; where walking is as fast, the walk wins when the
    alternatives are combined.
    """
    empty = np.zeros(0, dtype=np.int64)
    ends = near.finishes if reverse else near.starts
    if not ends:
        return Ends("bike", empty, empty, _no_legs)
    link_ports, link_stops, link_walks, link_metres = network.links(timetable)
    stops, best, which, links = fastest_links(
        np.asarray([port for port, _, _ in ends], dtype=np.int64),
        np.asarray([walk for _, walk, _ in ends], dtype=np.int64),
        link_ports, link_stops, link_walks, near.usable[0 if reverse else 1],
        network.rides(), gbfs.UNLOCK_SECONDS + gbfs.DOCK_SECONDS, MAX_RIDE_SECONDS,
        timetable.n_stops)

    def make(stop: int, start: int) -> tuple[Leg, ...]:
        column = int(np.searchsorted(stops, stop))
        port, walk, walk_m = ends[int(which[column])]
        link = int(links[column])
        other, link_walk, link_m = (int(link_ports[link]), int(link_walks[link]),
                                    int(link_metres[link]))
        if reverse:  # stop -> walk -> port(other) -> ride -> port -> walk -> end
            first = Leg("walk", start, start + link_walk, stop, -1, walk_m=link_m,
                        place_to=_port(network, other))
            bike = _bike_leg(timetable, network, context, other, port, first.arrival)
            last = Leg("walk", bike.arrival, bike.arrival + walk, -1, -1, walk_m=walk_m,
                       place_from=_port(network, port))
        else:  # end -> walk -> port -> ride -> port(other) -> walk -> stop
            first = Leg("walk", start, start + walk, -1, -1, walk_m=walk_m,
                        place_to=_port(network, port))
            bike = _bike_leg(timetable, network, context, port, other, first.arrival)
            last = Leg("walk", bike.arrival, bike.arrival + link_walk, -1, stop,
                       walk_m=link_m, place_from=_port(network, other))
        return tuple(leg for leg in (first, bike, last)
                     if leg.arrival > leg.departure or leg.mode == "bike")

    return Ends("bike", stops, best, make)


def _no_legs(stop: int, start: int) -> tuple[Leg, ...]:
    raise AssertionError(f"no alternative reaches stop {stop} (at {start})")


def _bike_direct(timetable: Timetable, network: BikeNetwork, near: _Ports, query: Query,
                 day: dt.date, seconds: int, context: Context) -> Journey | None:
    """The whole trip by bike, when it beats walking it."""
    starts, ends = near.starts, near.finishes
    if not starts or not ends:
        return None
    best: tuple[int, int, int, int, int, int, int] | None = None
    for port, walk, walk_m in starts:
        for other, walk2, walk2_m in ends:
            if port == other:
                continue
            ride = int(network.rides()[port, other])
            total = walk + gbfs.UNLOCK_SECONDS + ride + gbfs.DOCK_SECONDS + walk2
            if ride <= MAX_RIDE_SECONDS and (best is None or total < best[0]):
                best = (total, port, walk, walk_m, other, walk2, walk2_m)
    o, d = query.origin, query.destination
    if best is None or best[0] >= walk_seconds(haversine_m(o.lat, o.lon, d.lat, d.lon)):
        return None
    total, port, walk, walk_m, other, walk2, walk2_m = best
    start = seconds - total if query.arrive_by else seconds
    bike = _bike_leg(timetable, network, context, port, other, start + walk)
    legs = [Leg("walk", start, start + walk, o.stop, -1, walk_m=walk_m,
                place_to=_port(network, port)) if walk else None, bike,
            Leg("walk", bike.arrival, bike.arrival + walk2, -1, d.stop, walk_m=walk2_m,
                place_from=_port(network, other)) if walk2 else None]
    return Journey(day, tuple(leg for leg in legs if leg is not None))


def _taxi_leg(service: Service, start: int, from_stop: int, to_stop: int, metres: float
              ) -> Leg:
    """Asked for at ``start``: the pick-up after the expected wait, then the ride."""
    wait = service.wait_seconds(start)
    ride = service.ride_seconds(metres)
    return Leg("taxi", start + wait, start + wait + ride, from_stop, to_stop,
               walk_m=round(metres * 1.3), fare_yen=service.fare.price(metres * 1.3),
               operator=service.operator_id,
               info={"service_id": service.service_id, "wait_s": wait,
                     "booking": service.booking})


def _taxi_ends(timetable: Timetable, service: Service, end: Endpoint, day: dt.date,
               seconds: int, reverse: bool) -> Ends:
    """Taxi between ``end`` (inside the area) and the stops the service feeds."""
    found: dict[int, tuple[int, float]] = {}
    if service.covers(end.lat, end.lon) and service.operates(day, seconds):
        for stop_id in service.feeds_stops:
            stop = timetable.stop_index(stop_id)
            if stop < 0:
                continue
            metres = haversine_m(end.lat, end.lon, float(timetable.stop_lat[stop]),
                                 float(timetable.stop_lon[stop]))
            if metres >= service.min_ride_m:  # shorter trips are walked, never driven
                found[stop] = (_taxi_leg(service, seconds, -1, -1, metres).arrival - seconds,
                               metres)

    def make(stop: int, start: int) -> tuple[Leg, ...]:
        metres = found[stop][1]
        return ((_taxi_leg(service, start, stop, -1, metres) if reverse
                 else _taxi_leg(service, start, -1, stop, metres)),)

    stops = sorted(found)
    return Ends("taxi", np.asarray(stops, dtype=np.int64),
                np.asarray([found[s][0] for s in stops], dtype=np.int64), make, service)


def _taxi_direct(timetable: Timetable, service: Service, query: Query, day: dt.date,
                 seconds: int) -> Journey | None:
    o, d = query.origin, query.destination
    metres = haversine_m(o.lat, o.lon, d.lat, d.lon)
    if not (service.covers(o.lat, o.lon) and service.covers(d.lat, d.lon)) \
            or metres < service.min_ride_m:
        return None
    leg = _taxi_leg(service, seconds, o.stop, d.stop, metres)
    if query.arrive_by:
        leg = _taxi_leg(service, seconds - (leg.arrival - seconds), o.stop, d.stop, metres)
    if not service.operates(day, leg.departure):
        return None
    return Journey(day, (leg,))


# --- the search ----------------------------------------------------------------------------


def _combine(alternatives: Sequence[Ends]) -> tuple[dict[int, tuple[int, int]],
                                                     dict[int, Ends]]:
    """The fastest alternative per stop: RAPTOR's (stop -> (seconds, metres)) and its owner.

    The walking alternative comes first and is taken as it is; the few stops of the others
    are merged in plain Python (cheaper than array set-up at this size).
    """
    walking = alternatives[0]
    pairs = dict(walking.pairs or {})
    owner: dict[int, Ends] = {}
    for ends in alternatives[1:]:
        for stop, seconds in zip(ends.stops.tolist(), ends.seconds.tolist(), strict=True):
            if stop not in pairs or seconds < pairs[stop][0]:
                pairs[stop] = (seconds, 0)
                owner[stop] = ends
    return pairs, owner


def _search(timetable: Timetable, view: raptor.DayView, query: Query,
            access: Sequence[Ends], egress: Sequence[Ends], day: dt.date, seconds: int,
            labels: raptor.Labels | None) -> list[Journey]:
    """One RAPTOR run with every alternative's stop as a source or target (for an arrive-by
    or window query, the rRAPTOR runs over the range).

    ``labels`` are the walking search's: every journey they hold is possible here too, so
    the run only follows what bike and taxi sources improve.
    """
    access_pairs, access_owner = _combine(access)
    egress_pairs, egress_owner = _combine(egress)
    if not access_pairs or not egress_pairs:
        return []
    if query.arrive_by or query.window_minutes > 0:
        found = planner.ranged(timetable, view, query, access_pairs, egress_pairs, seconds)
    else:
        found, _ = planner.search(timetable, view, query, access_pairs, egress_pairs,
                                  seconds, labels)
    journeys = []
    for journey in found:
        legs = list(journey.legs)
        begin = legs[0].departure  # leaving the origin (the search's access walk, or a trip)
        if legs[0].from_stop < 0 and legs[0].trip < 0:  # the access walk the search added
            legs.pop(0)
        if legs[-1].to_stop < 0 and legs[-1].trip < 0:
            legs.pop()
        first, last = legs[0], legs[-1]  # the first and the last trip
        start = access_owner.get(first.from_stop, access[0])
        finish = egress_owner.get(last.to_stop, egress[0])
        if finish.service is not None and not finish.service.operates(day, last.arrival):
            continue  # the taxi found at the query's time no longer runs then
        journeys.append(Journey(day, (*start.make(first.from_stop, begin), *legs,
                                      *finish.make(last.to_stop, last.arrival))))
    return journeys


# --- choosing ------------------------------------------------------------------------------


# a journey's criteria: (arrival, transfers, price, uses bike, uses taxi, -departure); a
# journey only dominates one that uses as many of bike and taxi
Score = tuple[int, int, int, bool, bool, int]


def price(timetable: Timetable, journey: Journey, covered: Collection[str]) -> int:
    """Yen the rider pays for ``journey`` (legs of ``covered`` operators are free)."""
    total = 0
    for leg in journey.legs:
        if leg.trip >= 0:
            fare = None if covered and agency_of(timetable, leg.trip) in covered \
                else leg_fare(timetable, leg)
        elif leg.mode == "walk":
            continue
        else:
            fare = None if leg.operator in covered else leg.fare_yen
        total += fare or 0
    return total


def score(timetable: Timetable, journey: Journey, covered: Collection[str]) -> Score:
    """The criteria of one journey."""
    bike = taxi = False
    for leg in journey.legs:
        if leg.mode == "bike":
            bike = True
        elif leg.mode == "taxi":
            taxi = True
    return (journey.arrival, journey.transfers, price(timetable, journey, covered), bike, taxi,
            -journey.departure)


def _dominates(a: Score, b: Score, ranged: bool) -> bool:
    return (a[0] <= b[0] and a[1] <= b[1] and a[2] <= b[2] and a[3] <= b[3] and a[4] <= b[4]
            and (not ranged or a[5] <= b[5]) and a != b)


def choose(timetable: Timetable, candidates: Sequence[Journey], context: Context,
           ranged: bool = False) -> list[Journey]:
    """The non-dominated journeys, tagged; earliest departure first.

    For an arrive-by or window query leaving later also counts (as in the transit planner).
    """
    scored = [(score(timetable, j, context.covered), j) for j in candidates]
    kept: list[tuple[Score, Journey]] = []
    seen: set[Score] = set()
    for s, j in scored:
        if s in seen or any(_dominates(o, s, ranged) for o, _ in scored):
            continue
        seen.add(s)
        kept.append((s, j))
    if not kept:
        return []
    tags: dict[int, list[str]] = {}
    for name, best in (
        ("earliest", min(kept, key=lambda x: x[0][:3])),  # (arrival, transfers, price)
        ("fewest_transfers", min(kept, key=lambda x: (x[0][1], x[0][0], x[0][2]))),
        ("cheapest", min(kept, key=lambda x: (x[0][2], x[0][0], x[0][1]))),
        ("no_taxi", min((x for x in kept if not x[0][4]), key=lambda x: x[0][:3],
                        default=None)),
    ):
        if best is not None:
            tags.setdefault(id(best[1]), []).append(name)
    result = []
    for _, j in kept:
        tagged, notes = tuple(tags.get(id(j), ())), _notes(j)
        result.append(j if tagged == j.tags and notes == j.notes
                      else Journey(j.day, j.legs, tagged, notes))
    result.sort(key=lambda j: (j.departure, j.arrival, j.transfers))
    return result


def _notes(journey: Journey) -> tuple[str, ...]:
    notes = []
    for leg in journey.legs:
        if leg.mode == "bike" and leg.info is not None:
            availability = leg.info["availability"]
            if availability["stale"]:
                notes.append(f"availability as of {availability['as_of'][11:16]}")
        if leg.mode == "taxi" and leg.info is not None:
            notes.append(str(leg.info["booking"]))
    return tuple(notes)
