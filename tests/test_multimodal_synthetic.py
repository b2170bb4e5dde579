"""The multimodal planner on a tiny synthetic network: one bus line, two ports, one taxi area."""

from __future__ import annotations

import dataclasses
import datetime as dt
import itertools

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from gtfs import gbfs, ondemand
from gtfs.mobility import BikeNetwork, Mobility
from gtfs.multimodal import Context, plan
from gtfs.planner import Endpoint, Journey, Query
from gtfs.planner import plan as transit_plan
from gtfs.timetable import Timetable, compile_feeds
from maas.core.clock import TOKYO
from tests.test_planner import build_feed

# stop 0 (a station) is unused; the bus runs stop 1 -> stop 2 every 30 min from 08:10
STOPS = [(36.50, 136.50, -2), (36.550, 136.600, -1), (36.600, 136.600, -1)]
TRIPS = [([1, 2], 8 * 3600 + 600 + 1800 * k, [900], 0, [0, 0], [0, 0]) for k in range(6)]
ORIGIN = Endpoint(36.540, 136.600, "home")  # 1.1 km south of stop 1: beyond walking reach
DESTINATION = Endpoint(36.600, 136.600, "work")  # at stop 2
EIGHT = dt.datetime(2026, 12, 1, 8, 0, tzinfo=TOKYO)
PLAN = gbfs.PricingPlan("single", "1回", "JPY", 0, (gbfs.PerMinute(0, 165, 30),), 2200)


@pytest.fixture(scope="module")
def timetable() -> Timetable:
    return compile_feeds([("line", build_feed(STOPS, TRIPS, [[True, True, True]], []))])


def bikes(home_bikes: int = 5, stop_docks: int = 5, *, renting: bool = True,
          reported: dt.datetime = EIGHT) -> Mobility:
    """Port "home" 50 m from the origin, port "stop" 20 m from stop 1."""
    stamp = int(reported.timestamp())
    system = gbfs.BikeSystem(
        system_id="bikes", name="Bikes", version="2.3",
        stations=(gbfs.Station("home", "Home port", 36.5405, 136.600, 10),
                  gbfs.Station("stop", "Stop port", 36.5502, 136.600, 10)),
        status={"home": gbfs.StationStatus(home_bikes, 10 - home_bikes, renting=renting,
                                           last_reported=stamp),
                "stop": gbfs.StationStatus(10 - stop_docks, stop_docks, last_reported=stamp)},
        plans=(PLAN,), vehicle_types=(), last_updated=stamp, ttl=60)
    return Mobility(bikes=(BikeNetwork.build("bikes", system),))


def taxi(**change: object) -> ondemand.Service:
    definition = {
        "id": "taxi", "name": "Taxi", "operator": {"id": "cab", "name": "Cab"},
        "area": {"type": "Polygon", "coordinates": [[[136.59, 36.53], [136.61, 36.53],
                                                     [136.61, 36.56], [136.59, 36.56],
                                                     [136.59, 36.53]]]},
        "hours": [{"days": ["mon", "tue", "wed", "thu", "fri"], "start": "07:00",
                   "end": "09:00"}],
        "booking_lead_minutes": 5, "expected_wait_minutes": {"default": 5},
        "speed_kmh": 30, "fare": {"type": "flat", "adult_yen": 300}, "feeds_stops": ["s1"],
        **change,
    }
    [service] = ondemand.read_services({"services": [definition]}, "services.json")
    return service


def query(modes: str, moment: dt.datetime = EIGHT) -> Query:
    return Query(ORIGIN, DESTINATION, moment, modes=frozenset(modes.split(",")))


def context(mobility: Mobility, moment: dt.datetime = EIGHT, **kwargs: object) -> Context:
    return Context(mobility, int(moment.timestamp()), **kwargs)  # type: ignore[arg-type]


def modes(journey: Journey) -> list[str]:
    return [leg.mode for leg in journey.legs]


def check(journey: Journey) -> None:
    for before, after in itertools.pairwise(journey.legs):
        assert before.arrival <= after.departure


def test_bike_first_mile_reaches_the_bus(timetable: Timetable) -> None:
    journeys = plan(timetable, query("walk,bus,bike"), context(bikes()))
    riding = [j for j in journeys if "bus" in modes(j)]
    assert [modes(j) for j in riding] == [["walk", "bike", "walk", "bus"]]
    [journey] = riding
    check(journey)
    bike = journey.legs[1]
    assert bike.info is not None
    assert (bike.info["pickup_station_id"], bike.info["dropoff_station_id"]) == ("home", "stop")
    assert bike.fare_yen == 165
    assert journey.legs[-1].departure == 8 * 3600 + 600  # the 08:10 bus
    assert "earliest" in journey.tags
    # walking cannot reach the line (1.1 km): without bikes only a long walk is left
    assert all("bus" not in modes(j) for j in transit_plan(timetable, query("walk,bus")))


@pytest.mark.parametrize(("mobility", "margin"), [
    (bikes(home_bikes=0), 1),
    (bikes(stop_docks=0), 1),
    (bikes(home_bikes=2), 3),
    (bikes(renting=False), 1),
    (bikes(home_bikes=1, reported=EIGHT - dt.timedelta(hours=1)), 1),  # stale: needs 2
])
def test_no_bike_without_bikes_docks_or_a_working_port(timetable: Timetable,
                                                       mobility: Mobility,
                                                       margin: int) -> None:
    journeys = plan(timetable, query("walk,bus,bike"),
                    context(mobility, availability=gbfs.Availability(margin, 600)))
    assert all("bike" not in modes(j) for j in journeys)


def test_stale_status_is_said(timetable: Timetable) -> None:
    mobility = bikes(home_bikes=2, reported=EIGHT - dt.timedelta(minutes=65))
    [journey] = [j for j in plan(timetable, query("walk,bus,bike"), context(mobility))
                 if "bus" in modes(j)]
    assert "availability as of 06:55" in journey.notes
    assert journey.legs[1].info is not None
    assert journey.legs[1].info["availability"]["stale"] is True


def test_taxi_first_mile_in_area_and_hours(timetable: Timetable) -> None:
    mobility = Mobility(taxis=(taxi(),))
    [journey] = [j for j in plan(timetable, query("walk,bus,taxi"), context(mobility))
                 if "bus" in modes(j)]
    assert modes(journey) == ["taxi", "bus"]
    ride = journey.legs[0]
    assert ride.info is not None
    assert ride.info["wait_s"] == 300
    assert ride.departure == 8 * 3600 + 300  # picked up after the wait
    assert ride.fare_yen == 300
    late = dt.datetime(2026, 12, 1, 9, 30, tzinfo=TOKYO)
    assert all("taxi" not in modes(j)
               for j in plan(timetable, query("walk,bus,taxi", late),
                             context(mobility, late)))
    saturday = dt.datetime(2026, 12, 5, 8, 0, tzinfo=TOKYO)
    assert all("taxi" not in modes(j)
               for j in plan(timetable, query("walk,bus,taxi", saturday),
                             context(mobility, saturday)))


def test_taxi_never_shorter_than_the_walk_threshold(timetable: Timetable) -> None:
    mobility = Mobility(taxis=(taxi(min_ride_m=2000),))
    assert all("taxi" not in modes(j)
               for j in plan(timetable, query("walk,bus,taxi"), context(mobility)))


def test_the_result_set_offers_each_kind(timetable: Timetable) -> None:
    mobility = dataclasses.replace(bikes(), taxis=(taxi(),))
    journeys = plan(timetable, query("walk,bus,bike,taxi"), context(mobility))
    tagged = {tag: j for j in journeys for tag in j.tags}
    assert set(tagged) == {"earliest", "fewest_transfers", "cheapest", "no_taxi"}
    assert tagged["earliest"].arrival == min(j.arrival for j in journeys)
    assert "taxi" not in modes(tagged["no_taxi"])
    covered = plan(timetable, query("walk,bus,bike,taxi"),
                   context(mobility, covered=frozenset({"a", "bikes", "cab"})))
    assert any(j.tags for j in covered)


def test_modes_without_transit_give_direct_trips(timetable: Timetable) -> None:
    journeys = plan(timetable, query("walk,bike"), context(bikes()))
    assert all("bus" not in modes(j) for j in journeys)


@settings(max_examples=40, deadline=None)
@given(home=st.integers(0, 10), docks=st.integers(0, 10), minute=st.integers(0, 150),
       use_taxi=st.booleans())
def test_more_modes_never_arrive_later(timetable: Timetable, home: int, docks: int,
                                       minute: int, use_taxi: bool) -> None:
    moment = EIGHT + dt.timedelta(minutes=minute)
    mobility = dataclasses.replace(bikes(home, docks), taxis=(taxi(),) if use_taxi else ())
    walking = transit_plan(timetable, query("walk,bus", moment))
    journeys = plan(timetable, query("walk,bus,bike,taxi", moment), context(mobility, moment))
    if walking:
        assert min(j.arrival for j in journeys) <= min(j.arrival for j in walking)
    for journey in journeys:
        check(journey)
        assert journey.departure >= 8 * 3600 + minute * 60
        for leg in journey.legs:
            if leg.mode == "bike":
                assert leg.fare_yen is not None
                assert 165 <= leg.fare_yen <= 2200


def test_ends_beyond_walking_reach_of_any_stop(timetable: Timetable) -> None:
    # from "home" (no stop within walking reach) to a place 1 km beyond stop 2: bike and bus
    # in, nothing walkable at either end
    far = Endpoint(36.610, 136.600, "far")
    mobility = bikes()
    journeys = plan(timetable, Query(ORIGIN, far, EIGHT, modes=frozenset({"walk", "bus",
                                                                         "bike"})),
                    context(mobility))
    for journey in journeys:
        check(journey)
    no_ports = plan(timetable, Query(Endpoint(36.0, 136.0, "nowhere"), far, EIGHT,
                                     modes=frozenset({"walk", "bus", "bike", "taxi"})),
                    context(dataclasses.replace(mobility, taxis=(taxi(),))))
    assert no_ports == []


def test_arrive_by_and_windows_use_bikes_too(timetable: Timetable) -> None:
    by = dt.datetime(2026, 12, 1, 9, 0, tzinfo=TOKYO)
    arrive = dataclasses.replace(query("walk,bus,bike", by), arrive_by=True)
    journeys = plan(timetable, arrive, context(bikes(), by))
    riding = [j for j in journeys if "bus" in modes(j)]
    assert [modes(j) for j in riding] == [["walk", "bike", "walk", "bus"]]
    [journey] = riding
    check(journey)
    assert journey.arrival <= 9 * 3600
    assert journey.legs[-1].departure == 8 * 3600 + 600 + 1800  # the 08:40 bus, arriving 08:55
    assert journey.legs[-2].arrival <= journey.legs[-1].departure
    window = dataclasses.replace(query("walk,bus,bike"), window_minutes=60)
    departures = sorted(j.legs[-1].departure for j in plan(timetable, window, context(bikes()))
                        if "bus" in modes(j))
    assert departures == [8 * 3600 + 600, 8 * 3600 + 600 + 1800]
