"""Journeys that combine walking, まちのり bikes, on-demand taxis and transit (pure).

Access and egress alternatives — walk to a stop; walk, ride a bike from a port with bikes to a
port with free docks, walk to a stop; take a taxi to a stop it feeds — are computed for every
stop they reach. The fastest alternative per stop enters **one** RAPTOR search as that stop's
initial label (the paper's multiple sources and targets, each with its own time); journeys are
extracted per number of trips as in :mod:`gtfs.planner`, and their access and egress walks are
replaced by the alternative that set the label. When that search used bike or taxi somewhere,
the plain walking search runs as well (its journeys are the cheap and taxi-free ones that a
faster bike or taxi label would have hidden), and direct trips (walk, bike, taxi door to
door) are added. Of all candidates the result set keeps those not dominated in (arrival,
transfers, price) among journeys using no more of bike and taxi: that always includes the
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
from gtfs.mobility import BikeNetwork, Mobility
from gtfs.ondemand import Service
from gtfs.planner import Endpoint, Journey, Leg, Query
from gtfs.timetable import Timetable, haversine_m, haversine_many, walk_seconds

BIKE_WALK_M = 500.0  # walk to a port at most this far (crow-fly)
PORTS_PER_END = 3  # the nearest usable ports at each end
MAX_RIDE_SECONDS = 45 * 60
ACCESS_MODES = frozenset({"bike", "taxi"})


@dataclasses.dataclass(frozen=True)
class Context:
    """What a multimodal query needs besides the timetable and the query."""

    mobility: Mobility
    now: int  # unix seconds: how old bike availability is
    availability: gbfs.Availability = dataclasses.field(default_factory=gbfs.Availability)
    covered: frozenset[str] = frozenset()  # operator ids a pass covers


@dataclasses.dataclass(frozen=True)
class Option:
    """One way between a journey's end and a stop (either direction).

    ``make`` builds its legs (from time 0) only for the journeys that use it.
    """

    stop: int
    seconds: int
    mode: str
    make: Callable[[], tuple[Leg, ...]]
    service: Service | None = None  # a taxi's

    @property
    def legs(self) -> tuple[Leg, ...]:
        """The legs, starting at time 0."""
        return self.make()


def wants_multimodal(query: Query) -> bool:
    """True when the query asks for bikes or taxis."""
    return query.modes is not None and bool(query.modes & ACCESS_MODES)


def plan(timetable: Timetable, query: Query, context: Context) -> list[Journey]:
    """Journeys for ``query`` using the modes it allows (see the module notes)."""
    modes = query.modes or frozenset()
    day, seconds = planner.service_time(timetable, query.time)
    transit = query.modes is None or bool(modes - {"walk", "bike", "taxi"})
    transit_query = dataclasses.replace(
        query, modes=None if query.modes is None else modes - {"walk", "bike", "taxi"})
    candidates: list[Journey] = []
    ports = {id(network): _Ports.near(network, query, context)
             for network in context.mobility.bikes} if "bike" in modes else {}
    if query.arrive_by or query.window_minutes > 0:
        # ranges keep walking at the ends; bikes and taxis are offered door to door
        if transit:
            candidates += planner.plan(timetable, transit_query)
        else:
            candidates += _walk_only(timetable, query, day, seconds)
    else:
        access = _walk_options(timetable, query.origin, reverse=False)
        egress = _walk_options(timetable, query.destination, reverse=True)
        extra_access: dict[int, Option] = {}
        extra_egress: dict[int, Option] = {}
        for network in context.mobility.bikes if "bike" in modes else ():
            near = ports[id(network)]
            _merge(extra_access, _bike_options(timetable, network, near, context, access,
                                               reverse=False))
            _merge(extra_egress, _bike_options(timetable, network, near, context, egress,
                                               reverse=True))
        if "taxi" in modes:
            for service in context.mobility.taxis:
                _merge(extra_access, _taxi_options(timetable, service, query.origin, day,
                                                   seconds, reverse=False))
                _merge(extra_egress, _taxi_options(timetable, service, query.destination,
                                                   day, seconds, reverse=True))
        if transit:
            view = raptor.day_view(timetable, day)
            combined_access = _merge(dict(access), extra_access)
            combined_egress = _merge(dict(egress), extra_egress)
            found, vehicles = _search(timetable, view, transit_query, combined_access,
                                      combined_egress, day, seconds)
            candidates += found
            if vehicles:  # bike or taxi labels may hide cheaper walking journeys
                candidates += _search(timetable, view, transit_query, access, egress, day,
                                      seconds)[0]
        candidates += _walk_only(timetable, query, day, seconds)
    for network in context.mobility.bikes if "bike" in modes else ():
        direct = _bike_direct(timetable, network, ports[id(network)], query, day, seconds,
                              context)
        if direct is not None:
            candidates.append(direct)
    if "taxi" in modes:
        for service in context.mobility.taxis:
            taxi = _taxi_direct(timetable, service, query, day, seconds)
            if taxi is not None:
                candidates.append(taxi)
    return choose(timetable, candidates, context)


def _walk_only(timetable: Timetable, query: Query, day: dt.date, seconds: int
               ) -> list[Journey]:
    walk = planner.walk_only(timetable, query, day, seconds)
    return [] if walk is None else [walk]


# --- access and egress alternatives --------------------------------------------------------


def _merge(into: dict[int, Option], options: dict[int, Option]) -> dict[int, Option]:
    """Keep the fastest option per stop."""
    for stop, option in options.items():
        current = into.get(stop)
        if current is None or option.seconds < current.seconds:
            into[stop] = option
    return into


def _walk_legs(stop: int, seconds: int, metres: int, reverse: bool) -> tuple[Leg, ...]:
    if seconds == 0:
        return ()
    return ((Leg("walk", 0, seconds, stop, -1, walk_m=metres) if reverse
             else Leg("walk", 0, seconds, -1, stop, walk_m=metres)),)


def _walk_options(timetable: Timetable, end: Endpoint, reverse: bool) -> dict[int, Option]:
    return {stop: Option(stop, seconds, "walk",
                         functools.partial(_walk_legs, stop, seconds, metres, reverse))
            for stop, (seconds, metres) in planner.access_options(timetable, end).items()}


def _port(network: BikeNetwork, index: int) -> Endpoint:
    station = network.system.stations[index]
    return Endpoint(station.lat, station.lon, station.name)


def _bike_leg(timetable: Timetable, network: BikeNetwork, context: Context, pickup: int,
              dropoff: int, start: int) -> Leg:
    """The ride from port ``pickup`` to port ``dropoff`` starting at ``start`` (relative)."""
    metres = haversine_m(float(network.lat[pickup]), float(network.lon[pickup]),
                         float(network.lat[dropoff]), float(network.lon[dropoff]))
    ride = gbfs.ride_seconds(metres)
    system = network.system
    pricing = system.plan()
    pickup_id = system.stations[pickup].station_id
    dropoff_id = system.stations[dropoff].station_id
    as_of = min(gbfs.as_of(system, pickup_id), gbfs.as_of(system, dropoff_id))
    stale = context.now - as_of > context.availability.max_age_seconds
    pickup_status, dropoff_status = system.status[pickup_id], system.status[dropoff_id]
    return Leg(
        "bike", start, start + gbfs.UNLOCK_SECONDS + ride + gbfs.DOCK_SECONDS, -1, -1,
        walk_m=round(metres * gbfs.DETOUR), place_from=_port(network, pickup),
        place_to=_port(network, dropoff),
        fare_yen=None if pricing is None else gbfs.ride_price(pricing, ride),
        operator=system.system_id,
        info={"pickup_station_id": pickup_id, "dropoff_station_id": dropoff_id,
              "system_id": system.system_id, "ride_s": ride,
              "availability": {"bikes_at_pickup": pickup_status.bikes,
                               "docks_at_dropoff": dropoff_status.docks,
                               "as_of": _iso(timetable, as_of), "stale": bool(stale)}},
    )


def _iso(timetable: Timetable, unix: int) -> str:
    return dt.datetime.fromtimestamp(unix, planner.timezone(timetable)).isoformat(
        timespec="seconds")


def _near_ports(network: BikeNetwork, end: Endpoint, usable: npt.NDArray[np.bool_]
                ) -> list[tuple[int, int, int]]:
    """(port, walk seconds, walk metres) of the nearest usable ports within BIKE_WALK_M."""
    if not len(network.lat):
        return []
    distances = haversine_many(end.lat, end.lon, network.lat, network.lon)
    hits = np.flatnonzero((distances <= BIKE_WALK_M) & usable)
    hits = hits[np.argsort(distances[hits], kind="stable")][:PORTS_PER_END]
    return [(int(p), walk_seconds(float(distances[p])), round(float(distances[p]) * 1.3))
            for p in hits]


@dataclasses.dataclass(frozen=True)
class _Ports:
    """A query's usable ports of one system: per port, and the nearest at each end."""

    pick: npt.NDArray[np.bool_]
    drop: npt.NDArray[np.bool_]
    starts: list[tuple[int, int, int]]  # near the origin, with bikes
    finishes: list[tuple[int, int, int]]  # near the destination, with docks

    @classmethod
    def near(cls, network: BikeNetwork, query: Query, context: Context) -> _Ports:
        pick, drop, _ = network.usable(context.availability, context.now)
        return cls(pick, drop, _near_ports(network, query.origin, pick),
                   _near_ports(network, query.destination, drop))


def _bike_options(timetable: Timetable, network: BikeNetwork, near: _Ports, context: Context,
                  walking: dict[int, Option], reverse: bool) -> dict[int, Option]:
    """Walk, ride, walk between a journey's end and stops near ports (the fastest per stop).

    Vectorised over (port near the end) × (port–stop link); legs are built lazily.
    """
    pick, drop = near.pick, near.drop
    ends = near.finishes if reverse else near.starts
    if not ends:
        return {}
    link_ports, link_stops, link_walks, link_metres = network.links(timetable)
    keep = np.flatnonzero(pick[link_ports] if reverse else drop[link_ports])
    if not len(keep):
        return {}
    ports = link_ports[keep]
    end_ports = np.asarray([port for port, _, _ in ends], dtype=np.int64)
    end_walks = np.asarray([walk for _, walk, _ in ends], dtype=np.int64)
    ride = network.rides()[end_ports[:, None], ports[None, :]]  # (ends, links)
    total = (end_walks[:, None] + (gbfs.UNLOCK_SECONDS + gbfs.DOCK_SECONDS) + ride
             + link_walks[keep][None, :])
    total[(ride > MAX_RIDE_SECONDS) | (end_ports[:, None] == ports[None, :])] = 2**40
    which = total.argmin(axis=0)
    best = total[which, np.arange(len(keep))]
    if walking:  # a ride to a stop one walks to as fast is never needed
        on_foot = np.full(timetable.n_stops, 2**40, dtype=np.int64)
        on_foot[np.fromiter(walking, dtype=np.int64, count=len(walking))] = np.fromiter(
            (option.seconds for option in walking.values()), dtype=np.int64,
            count=len(walking))
        best = np.where(best < on_foot[link_stops[keep]], best, 2**40)
    order = np.lexsort((best, link_stops[keep]))
    stops = link_stops[keep][order]
    first = np.flatnonzero(np.r_[True, stops[1:] != stops[:-1]] & (best[order] < 2**40))
    options = {}
    for position in first.tolist():
        column = int(order[position])
        seconds = int(best[column])
        if seconds >= 2**40:
            continue
        stop = int(stops[position])
        link = int(keep[column])
        port, walk, walk_m = ends[int(which[column])]
        options[stop] = Option(stop, seconds, "bike", functools.partial(
            _bike_legs, timetable, network, context, stop, port, walk, walk_m,
            int(link_ports[link]), int(link_walks[link]), int(link_metres[link]), reverse))
    return options


def _bike_legs(timetable: Timetable, network: BikeNetwork, context: Context, stop: int,
               port: int, walk: int, walk_m: int, other: int, link_walk: int, link_m: int,
               reverse: bool) -> tuple[Leg, ...]:
    """The legs of a bike option: ``port`` is near the journey's end, ``other`` near ``stop``."""
    if reverse:  # stop -> walk -> port(other) -> ride -> port -> walk -> end
        first = Leg("walk", 0, link_walk, stop, -1, walk_m=link_m,
                    place_to=_port(network, other))
        bike = _bike_leg(timetable, network, context, other, port, link_walk)
        last = Leg("walk", bike.arrival, bike.arrival + walk, -1, -1, walk_m=walk_m,
                   place_from=_port(network, port))
    else:  # end -> walk -> port -> ride -> port(other) -> walk -> stop
        first = Leg("walk", 0, walk, -1, -1, walk_m=walk_m, place_to=_port(network, port))
        bike = _bike_leg(timetable, network, context, port, other, walk)
        last = Leg("walk", bike.arrival, bike.arrival + link_walk, -1, stop, walk_m=link_m,
                   place_from=_port(network, other))
    return tuple(leg for leg in (first, bike, last)
                 if leg.arrival > leg.departure or leg.mode == "bike")


def _bike_direct(timetable: Timetable, network: BikeNetwork, near: _Ports, query: Query,
                 day: dt.date, seconds: int, context: Context) -> Journey | None:
    """The whole trip by bike, when it beats walking it."""
    starts, ends = near.starts, near.finishes
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


def _taxi_leg(service: Service, start: int, from_stop: int, to_stop: int, metres: float,
              from_place: Endpoint | None = None, to_place: Endpoint | None = None) -> Leg:
    wait = service.wait_seconds(start)
    ride = service.ride_seconds(metres)
    return Leg("taxi", start + wait, start + wait + ride, from_stop, to_stop,
               walk_m=round(metres * 1.3), place_from=from_place, place_to=to_place,
               fare_yen=service.fare.price(metres * 1.3), operator=service.operator_id,
               info={"service_id": service.service_id, "wait_s": wait,
                     "booking": service.booking})


def _taxi_options(timetable: Timetable, service: Service, end: Endpoint, day: dt.date,
                  seconds: int, reverse: bool) -> dict[int, Option]:
    """Taxi between ``end`` (inside the area) and the stops the service feeds."""
    if not service.covers(end.lat, end.lon) or not service.operates(day, seconds):
        return {}
    options = {}
    for stop_id in service.feeds_stops:
        stop = timetable.stop_index(stop_id)
        if stop < 0:
            continue
        metres = haversine_m(end.lat, end.lon, float(timetable.stop_lat[stop]),
                             float(timetable.stop_lon[stop]))
        if metres < service.min_ride_m:
            continue  # walked, never driven
        leg = (_taxi_leg(service, 0, stop, -1, metres) if reverse
               else _taxi_leg(service, 0, -1, stop, metres))
        options[stop] = Option(stop, leg.arrival, "taxi", functools.partial(tuple, (leg,)),
                               service)
    return options


def _taxi_direct(timetable: Timetable, service: Service, query: Query, day: dt.date,
                 seconds: int) -> Journey | None:
    o, d = query.origin, query.destination
    metres = haversine_m(o.lat, o.lon, d.lat, d.lon)
    if not (service.covers(o.lat, o.lon) and service.covers(d.lat, d.lon)) \
            or metres < service.min_ride_m:
        return None
    leg = _taxi_leg(service, 0, o.stop, d.stop, metres)
    start = seconds - leg.arrival if query.arrive_by else seconds
    if not service.operates(day, start + leg.departure):
        return None
    return Journey(day, (_shift(leg, start),))


# --- the search ----------------------------------------------------------------------------


def _shift(leg: Leg, by: int) -> Leg:
    return dataclasses.replace(leg, departure=leg.departure + by, arrival=leg.arrival + by)


def _search(timetable: Timetable, view: raptor.DayView, query: Query,
            access: dict[int, Option], egress: dict[int, Option], day: dt.date,
            seconds: int) -> tuple[list[Journey], bool]:
    """One RAPTOR run with every alternative's stop as a source or target.

    Returns the journeys and whether one of them rides a bike or a taxi at an end.
    """
    if not access or not egress:
        return [], False
    access_pairs = {stop: (option.seconds, 0) for stop, option in access.items()}
    egress_pairs = {stop: (option.seconds, 0) for stop, option in egress.items()}
    found = planner._single(timetable, view, query, access_pairs, egress_pairs, seconds)
    journeys = []
    vehicles = False
    for journey in found:
        legs = list(journey.legs)
        if legs[0].from_stop < 0 and legs[0].trip < 0:  # the access walk the search added
            legs.pop(0)
        first = next(leg for leg in legs if leg.trip >= 0)
        last = legs[-1]
        if last.to_stop < 0 and last.trip < 0:
            legs.pop()
        last_ride = legs[-1]
        start_option = access[first.from_stop]
        start = [_shift(leg, seconds) for leg in start_option.legs]
        end_option = egress[last_ride.to_stop]
        end = [_shift(leg, last_ride.arrival) for leg in end_option.legs]
        if end_option.service is not None \
                and not end_option.service.operates(day, last_ride.arrival):
            continue  # the taxi found at the query's time no longer runs then
        vehicles = vehicles or start_option.mode != "walk" or end_option.mode != "walk"
        journeys.append(Journey(day, (*start, *legs, *end)))
    return journeys, vehicles


# --- choosing ------------------------------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class Score:
    """What the result set is chosen on."""

    arrival: int
    transfers: int
    price: int
    taxi: bool
    vehicles: frozenset[str]  # bike, taxi: a journey only dominates one that uses as many


def price(timetable: Timetable, journey: Journey, covered: Collection[str]) -> int:
    """Yen the rider pays for ``journey`` (legs of ``covered`` operators are free)."""
    total = 0
    for leg in journey.legs:
        if leg.trip >= 0:
            fare = None if agency_of(timetable, leg.trip) in covered \
                else leg_fare(timetable, leg)
        else:
            fare = None if leg.operator in covered else leg.fare_yen
        total += fare or 0
    return total


def score(timetable: Timetable, journey: Journey, covered: Collection[str]) -> Score:
    """The criteria of one journey."""
    vehicles = frozenset(leg.mode for leg in journey.legs if leg.mode in ACCESS_MODES)
    return Score(journey.arrival, journey.transfers, price(timetable, journey, covered),
                 "taxi" in vehicles, vehicles)


def _dominates(a: Score, b: Score) -> bool:
    return (a.arrival <= b.arrival and a.transfers <= b.transfers and a.price <= b.price
            and a.vehicles <= b.vehicles and a != b)


def choose(timetable: Timetable, candidates: Sequence[Journey], context: Context
           ) -> list[Journey]:
    """The non-dominated journeys, tagged; earliest departure first."""
    scored = [(score(timetable, j, context.covered), j) for j in candidates]
    kept: list[tuple[Score, Journey]] = []
    seen: set[tuple[int, int, int, bool, int]] = set()
    for s, j in scored:
        key = (s.arrival, s.transfers, s.price, s.taxi, j.departure)
        if key in seen or any(_dominates(o, s) for o, _ in scored):
            continue
        seen.add(key)
        kept.append((s, j))
    if not kept:
        return []
    earliest = min(kept, key=lambda x: (x[0].arrival, x[0].transfers, x[0].price))
    fewest = min(kept, key=lambda x: (x[0].transfers, x[0].arrival, x[0].price))
    cheapest = min(kept, key=lambda x: (x[0].price, x[0].arrival, x[0].transfers))
    no_taxi = min((x for x in kept if not x[0].taxi),
                  key=lambda x: (x[0].arrival, x[0].transfers, x[0].price), default=None)
    result = []
    for _, j in kept:
        tags = tuple(name for name, chosen in (("earliest", earliest), ("fewest_transfers",
                                                                        fewest),
                                               ("cheapest", cheapest), ("no_taxi", no_taxi))
                     if chosen is not None and chosen[1] is j)
        result.append(dataclasses.replace(j, tags=tags, notes=_notes(j)))
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
