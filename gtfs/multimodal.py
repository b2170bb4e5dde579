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
from collections.abc import Collection, Sequence

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
    """One way between a journey's end and a stop (either direction): its legs from time 0."""

    stop: int
    seconds: int
    mode: str
    legs: tuple[Leg, ...]
    service: Service | None = None  # a taxi's


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
    access = _walk_options(timetable, query.origin, reverse=False)
    egress = _walk_options(timetable, query.destination, reverse=True)
    if query.arrive_by or query.window_minutes > 0:
        # ranges keep walking at the ends; bikes and taxis are offered door to door
        if transit:
            candidates += planner.plan(timetable, transit_query)
        else:
            candidates += _walk_only(timetable, query, day, seconds)
    else:
        extra_access: dict[int, Option] = {}
        extra_egress: dict[int, Option] = {}
        if "bike" in modes:
            for network in context.mobility.bikes:
                _merge(extra_access, _bike_options(timetable, network, query.origin, context,
                                                   reverse=False))
                _merge(extra_egress, _bike_options(timetable, network, query.destination,
                                                   context, reverse=True))
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
            candidates += _search(timetable, view, transit_query, combined_access,
                                  combined_egress, day, seconds)
            if _differs(combined_access, access) or _differs(combined_egress, egress):
                candidates += _search(timetable, view, transit_query, access, egress, day,
                                      seconds)
        candidates += _walk_only(timetable, query, day, seconds)
    if "bike" in modes:
        for network in context.mobility.bikes:
            direct = _bike_direct(timetable, network, query, day, seconds, context)
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


def _differs(combined: dict[int, Option], walking: dict[int, Option]) -> bool:
    """True when some stop is reached by bike or taxi (faster than on foot, or only so)."""
    return any(walking.get(stop) is not option for stop, option in combined.items())


# --- access and egress alternatives --------------------------------------------------------


def _merge(into: dict[int, Option], options: dict[int, Option]) -> dict[int, Option]:
    """Keep the fastest option per stop."""
    for stop, option in options.items():
        current = into.get(stop)
        if current is None or option.seconds < current.seconds:
            into[stop] = option
    return into


def _walk_options(timetable: Timetable, end: Endpoint, reverse: bool) -> dict[int, Option]:
    options = {}
    for stop, (seconds, metres) in planner.access_options(timetable, end).items():
        legs = () if seconds == 0 else (
            Leg("walk", 0, seconds, stop, -1, walk_m=metres) if reverse
            else Leg("walk", 0, seconds, -1, stop, walk_m=metres),)
        options[stop] = Option(stop, seconds, "walk", legs)
    return options


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


def _bike_options(timetable: Timetable, network: BikeNetwork, end: Endpoint, context: Context,
                  reverse: bool) -> dict[int, Option]:
    """Walk, ride, walk between ``end`` and the stops near ports (the fastest per stop)."""
    pick, drop, _ = network.usable(context.availability, context.now)
    ends = _near_ports(network, end, drop if reverse else pick)
    if not ends:
        return {}
    link_ports, link_stops, link_walks, link_metres = network.links(timetable)
    keep = pick[link_ports] if reverse else drop[link_ports]
    ports, stops = link_ports[keep], link_stops[keep]
    walks, metres = link_walks[keep], link_metres[keep]
    best: dict[int, tuple[int, int, int, int, int]] = {}  # stop -> seconds, end, link ...
    for port, walk, _walk_m in ends:
        distance = haversine_many(float(network.lat[port]), float(network.lon[port]),
                                  network.lat[ports], network.lon[ports])
        ride = np.ceil(distance * gbfs.DETOUR / gbfs.BIKE_SPEED_MPS).astype(np.int64)
        total = walk + gbfs.UNLOCK_SECONDS + gbfs.DOCK_SECONDS + ride + walks
        ok = (ports != port) & (ride <= MAX_RIDE_SECONDS)
        for link in np.flatnonzero(ok)[np.argsort(total[ok], kind="stable")].tolist():
            stop = int(stops[link])
            if stop not in best or total[link] < best[stop][0]:
                best[stop] = (int(total[link]), port, walk, link, _walk_m)
    options = {}
    for stop, (_, port, walk, link, walk_m) in best.items():
        other = int(ports[link])
        link_walk, link_m = int(walks[link]), int(metres[link])
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
        legs = tuple(leg for leg in (first, bike, last) if leg.arrival > leg.departure
                     or leg.mode == "bike")
        options[stop] = Option(stop, legs[-1].arrival, "bike", legs)
    return options


def _bike_direct(timetable: Timetable, network: BikeNetwork, query: Query, day: dt.date,
                 seconds: int, context: Context) -> Journey | None:
    """The whole trip by bike, when it beats walking it."""
    pick, drop, _ = network.usable(context.availability, context.now)
    starts = _near_ports(network, query.origin, pick)
    ends = _near_ports(network, query.destination, drop)
    best: tuple[int, int, int, int, int, int, int] | None = None
    for port, walk, walk_m in starts:
        for other, walk2, walk2_m in ends:
            if port == other:
                continue
            ride = gbfs.ride_seconds(haversine_m(
                float(network.lat[port]), float(network.lon[port]),
                float(network.lat[other]), float(network.lon[other])))
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
        options[stop] = Option(stop, leg.arrival, "taxi", (leg,), service)
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
            seconds: int) -> list[Journey]:
    """One RAPTOR run with every alternative's stop as a source or target."""
    if not access or not egress:
        return []
    access_pairs = {stop: (option.seconds, 0) for stop, option in access.items()}
    egress_pairs = {stop: (option.seconds, 0) for stop, option in egress.items()}
    found = planner._single(timetable, view, query, access_pairs, egress_pairs, seconds)
    journeys = []
    for journey in found:
        legs = list(journey.legs)
        if legs[0].from_stop < 0 and legs[0].trip < 0:  # the access walk the search added
            legs.pop(0)
        first = next(leg for leg in legs if leg.trip >= 0)
        last = legs[-1]
        if last.to_stop < 0 and last.trip < 0:
            legs.pop()
        last_ride = legs[-1]
        start = [_shift(leg, seconds) for leg in access[first.from_stop].legs]
        end_option = egress[last_ride.to_stop]
        end = [_shift(leg, last_ride.arrival) for leg in end_option.legs]
        if end_option.service is not None \
                and not end_option.service.operates(day, last_ride.arrival):
            continue  # the taxi found at the query's time no longer runs then
        journeys.append(Journey(day, (*start, *legs, *end)))
    return journeys


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
