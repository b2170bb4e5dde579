"""GTFS-Realtime trip updates in the planner (pure): protobuf built with gtfs-realtime-bindings.

The property test compares the planner under a realtime overlay with the independent
connection scan of tests/test_planner.py run on the same feed rewritten with the estimated
times (a rewritten trip runs only on the updated day; canceled trips are removed; skipped stops
lose their pick-up and drop-off).
"""

from __future__ import annotations

import dataclasses
import datetime as dt
from pathlib import Path

import numpy as np
import pytest
from google.transit import gtfs_realtime_pb2 as rt
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from gtfs.feed import FeedData
from gtfs.planner import (
    Endpoint,
    Query,
    access_options,
    departures_after,
    egress_options,
    plan,
    service_time,
)
from gtfs.raptor import DAY
from gtfs.realtime import core
from gtfs.timetable import Timetable, compile_feeds
from maas.core.errors import InvalidInput
from tests.test_planner import (
    TOKYO,
    build_feed,
    check_feasible,
    forbidden_walks,
    members,
    networks,
    reference,
)

NOW = int(dt.datetime(2026, 12, 1, 7, 50, tzinfo=TOKYO).timestamp())
MIDNIGHT = int(dt.datetime(2026, 12, 1, 0, 0, tzinfo=TOKYO).timestamp())
FAR = [(36.50, 136.50, -2), (36.55, 136.60, -1), (36.60, 136.65, -1), (36.65, 136.70, -1),
       (36.70, 136.75, -1)]  # ~7 km apart: no footpaths


def message(stamp: int = NOW) -> rt.FeedMessage:
    """An empty FeedMessage with a header."""
    feed = rt.FeedMessage()
    feed.header.gtfs_realtime_version = "2.0"
    feed.header.timestamp = stamp
    return feed


def update(feed: rt.FeedMessage, trip_id: str, stops: list[tuple[str, int]] | None = None,
           canceled: bool = False, skipped: tuple[str, ...] = (), day: str = "20261201",
           stamp: int | None = None) -> rt.FeedMessage:
    """Add a trip update: ``stops`` are (stop_id, departure delay) pairs."""
    entity = feed.entity.add()
    entity.id = f"e{len(feed.entity)}"
    trip = entity.trip_update.trip
    trip.trip_id = trip_id
    trip.start_date = day
    if stamp is not None:
        entity.trip_update.timestamp = stamp
    if canceled:
        trip.schedule_relationship = rt.TripDescriptor.CANCELED
    for stop_id, delay in stops or []:
        stu = entity.trip_update.stop_time_update.add()
        stu.stop_id = stop_id
        stu.departure.delay = delay
    for stop_id in skipped:
        stu = entity.trip_update.stop_time_update.add()
        stu.stop_id = stop_id
        stu.schedule_relationship = rt.TripUpdate.StopTimeUpdate.SKIPPED
    return feed


def attach(timetable: Timetable, feed: rt.FeedMessage, now: int = NOW,
           max_age: int = 600) -> core.Outcome:
    """Decode (as the poller does), build and attach the overlay."""
    decoded = core.decode(feed.SerializeToString(), "test", now)
    overlay, outcome = core.trip_updates(timetable, "rt", decoded, now, max_age)
    timetable.meta["_realtime"] = overlay
    return outcome


def transfer_network() -> Timetable:
    """A→B at 08:00 (10 min), then B→C at 08:15 or 08:45."""
    trips = [([1, 2], 8 * 3600, [600], 0, [0, 0], [0, 0]),
             ([2, 3], 8 * 3600 + 900, [600], 0, [0, 0], [0, 0]),
             ([2, 3], 8 * 3600 + 2700, [600], 0, [0, 0], [0, 0])]
    return compile_feeds([("rt", build_feed(FAR, trips, [[True, True, True]], []))])


def query(origin: int, destination: int, hour: int = 7, minute: int = 50) -> Query:
    return Query(Endpoint(0, 0, "o", origin), Endpoint(0, 0, "d", destination),
                 dt.datetime(2026, 12, 1, hour, minute, tzinfo=TOKYO))


def rides(timetable: Timetable, q: Query) -> list[list[int]]:
    return [[leg.trip for leg in j.legs if leg.trip >= 0] for j in plan(timetable, q)
            if any(leg.trip >= 0 for leg in j.legs)]


def test_delay_breaks_transfer_and_next_connection_is_taken() -> None:
    timetable = transfer_network()
    assert rides(timetable, query(1, 3)) == [[0, 1]]
    outcome = attach(timetable, update(message(), "t0", [("s1", 600)]))
    assert (outcome.matched, outcome.unmatched, outcome.stale) == (1, 0, 0)
    [journey] = [j for j in plan(timetable, query(1, 3)) if j.legs[0].trip >= 0]
    assert [leg.trip for leg in journey.legs] == [0, 2]
    first = journey.legs[0]
    # the delay carries down to the alighting stop: 08:20 instead of 08:10
    assert (first.departure, first.arrival, first.realtime) == (8 * 3600 + 600, 8 * 3600 + 1200,
                                                               True)
    assert journey.legs[1].realtime is False


def test_canceled_trip_is_never_offered() -> None:
    timetable = transfer_network()
    attach(timetable, update(message(), "t1", canceled=True))
    assert rides(timetable, query(2, 3)) == [[2]]
    moment = dt.datetime(2026, 12, 1, 8, 0, tzinfo=TOKYO)
    today = [d.trip for d in departures_after(timetable, 2, moment, 5) if d.seconds < DAY]
    assert today == [2]


def test_cancellation_on_another_day_leaves_today_alone() -> None:
    timetable = transfer_network()
    attach(timetable, update(message(), "t1", canceled=True, day="20261202"))
    assert rides(timetable, query(2, 3)) == [[1]]


def test_skipped_stop_is_neither_boarded_nor_left() -> None:
    trips = [([1, 2, 3], 8 * 3600, [600, 600], 0, [0] * 3, [0] * 3),
             ([1, 2, 3], 9 * 3600, [600, 600], 0, [0] * 3, [0] * 3)]
    timetable = compile_feeds([("rt", build_feed(FAR, trips, [[True, True, True]], []))])
    attach(timetable, update(message(), "t0", skipped=("s2",)))
    # not left at s2: the later trip
    assert rides(timetable, query(1, 2)) == [[1]]
    # not boarded at s2 either
    assert rides(timetable, query(2, 3)) == [[1]]
    # passing through is fine
    assert rides(timetable, query(1, 3)) == [[0]]
    moment = dt.datetime(2026, 12, 1, 7, 0, tzinfo=TOKYO)
    today = [d.trip for d in departures_after(timetable, 2, moment, 5) if d.seconds < DAY]
    assert today == [1]


def test_delayed_trip_overtaken_is_not_taken_first() -> None:
    # two trips of one pattern; the first is delayed 40 minutes and the second overtakes it
    trips = [([1, 2, 3], 8 * 3600, [600, 600], 0, [0] * 3, [0] * 3),
             ([1, 2, 3], 8 * 3600 + 1200, [600, 600], 0, [0] * 3, [0] * 3)]
    timetable = compile_feeds([("rt", build_feed(FAR, trips, [[True, True, True]], []))])
    attach(timetable, update(message(), "t0", [("s2", 2400)]))  # late from s2 on
    [journey] = [j for j in plan(timetable, query(2, 3)) if j.legs[0].trip >= 0]
    assert journey.legs[0].trip == 1  # 08:40 from s2, not the delayed t0 (09:10)
    [journey] = [j for j in plan(timetable, query(1, 3)) if j.legs[0].trip >= 0]
    assert journey.legs[0].trip == 1  # arrives 08:50; t0 arrives 09:20


def test_previous_day_trip_delayed_past_midnight_is_offered_today() -> None:
    # t0 runs 23:40 -> 23:50 every day; yesterday's runs 30 min late, into today's 00:10-00:20
    trips = [([1, 2], 23 * 3600 + 2400, [600], 0, [0, 0], [0, 0])]
    timetable = compile_feeds([("rt", build_feed(FAR, trips, [[True, True, True]], []))])
    late = query(1, 2, hour=0, minute=5)
    [journey] = transit_only(plan(timetable, late))
    assert (journey.legs[0].departure, journey.legs[0].day_shift) == (23 * 3600 + 2400, 0)
    attach(timetable, update(message(), "t0", [("s1", 1800)], day="20261130"))
    [journey] = transit_only(plan(timetable, late))
    leg = journey.legs[0]
    assert (leg.departure, leg.arrival, leg.day_shift, leg.realtime) == (600, 1200, -1, True)
    moment = dt.datetime(2026, 12, 1, 0, 0, tzinfo=TOKYO)
    [first, *_] = departures_after(timetable, 1, moment, 5)
    assert (first.trip, first.seconds, first.scheduled, first.realtime) == (0, 600, -1200, True)


def loop_network() -> Timetable:
    """One trip s1 → s2 → s3 → s2 → s4 (a loop visits s2 twice), stop_sequence 10 … 50."""
    trips = [([1, 2, 3, 2, 4], 8 * 3600, [600] * 4, 0, [0] * 5, [0] * 5)]
    feed = build_feed(FAR, trips, [[True, True, True]], [])
    feed = dataclasses.replace(feed, st_sequence=np.asarray([10, 20, 30, 40, 50], np.int32))
    return compile_feeds([("rt", feed)])


def sequenced(stops: list[tuple[int, str, int]]) -> rt.FeedMessage:
    """t0's update: (stop_sequence or -1, stop_id or "", departure delay) per stop."""
    feed = message()
    entity = feed.entity.add()
    entity.id = "loop"
    entity.trip_update.trip.trip_id = "t0"
    entity.trip_update.trip.start_date = "20261201"
    for sequence, stop_id, delay in stops:
        stu = entity.trip_update.stop_time_update.add()
        if sequence >= 0:
            stu.stop_sequence = sequence
        if stop_id:
            stu.stop_id = stop_id
        stu.departure.delay = delay
    return feed


def test_stop_time_updates_are_matched_by_stop_sequence_on_a_loop() -> None:
    timetable = loop_network()
    assert timetable.stop_sequence.tolist() == [10, 20, 30, 40, 50]
    scheduled = [8 * 3600, 8 * 3600 + 630, 8 * 3600 + 1260, 8 * 3600 + 1890, 8 * 3600 + 2490]
    late = scheduled[:3] + [t + 600 for t in scheduled[3:]]
    # the second visit of s2, by stop_sequence alone and with its stop_id
    for stops in ([(40, "", 600)], [(40, "s2", 600)]):
        overlay, outcome = core.trip_updates(timetable, "rt", sequenced(stops), NOW, 600)
        assert (outcome.matched, outcome.error_count) == (1, 0)
        assert overlay.departure.tolist() == late
    # by stop_id alone the first visit is meant (the reference's rule without stop_sequence)
    overlay, _ = core.trip_updates(timetable, "rt", sequenced([(-1, "s2", 600)]), NOW, 600)
    assert overlay.departure.tolist() == scheduled[:1] + [t + 600 for t in scheduled[1:]]
    # a stop_sequence the trip lacks, or a stop_id that contradicts it, is an error
    for stops in ([(45, "", 600)], [(40, "s3", 600)]):
        overlay, outcome = core.trip_updates(timetable, "rt", sequenced(stops), NOW, 600)
        assert outcome.error_count == 1
        assert "stop_sequence" in outcome.errors[0]
        assert overlay.departure.tolist() == scheduled


def test_the_reader_keeps_stop_sequence(tmp_path: Path) -> None:
    from gtfs.feed import read_feed

    folder = tmp_path / "gtfs"
    folder.mkdir()
    files = {
        "agency.txt": "agency_id,agency_name,agency_url,agency_timezone\n"
                      "a,A,https://a.example,Asia/Tokyo\n",
        "stops.txt": "stop_id,stop_name,stop_lat,stop_lon\n"
                     "s1,One,36.50,136.50\ns2,Two,36.55,136.60\ns3,Three,36.60,136.65\n",
        "routes.txt": "route_id,agency_id,route_short_name,route_type\nr,a,1,3\n",
        "trips.txt": "route_id,service_id,trip_id\nr,all,loop\n",
        "calendar.txt": "service_id,monday,tuesday,wednesday,thursday,friday,saturday,sunday,"
                        "start_date,end_date\nall,1,1,1,1,1,1,1,20261101,20261231\n",
        # out of order in the file, and not 1, 2, 3
        "stop_times.txt": "trip_id,arrival_time,departure_time,stop_id,stop_sequence\n"
                          "loop,08:20:00,08:20:00,s1,7\nloop,08:00:00,08:00:00,s1,3\n"
                          "loop,08:10:00,08:10:00,s2,5\n",
    }
    for name, text in files.items():
        (folder / name).write_text(text)
    feed = read_feed(folder)
    timetable = compile_feeds([("rt", feed)])
    assert timetable.stop_sequence.tolist() == [3, 5, 7]
    assert timetable.departure.tolist() == [8 * 3600, 8 * 3600 + 600, 8 * 3600 + 1200]


def test_stale_updates_are_ignored() -> None:
    timetable = transfer_network()
    feed = update(message(), "t0", [("s1", 600)], stamp=NOW - 601)
    outcome = attach(timetable, feed)
    assert (outcome.stale, outcome.matched) == (1, 0)
    assert rides(timetable, query(1, 3)) == [[0, 1]]


def test_unknown_trips_and_stops_are_counted() -> None:
    timetable = transfer_network()
    feed = update(message(), "nope", [("s1", 60)])
    update(feed, "t0", [("s9", 60)])
    update(feed, "t0", [("s1", 60)], day="20300101")
    outcome = attach(timetable, feed)
    assert (outcome.entities, outcome.matched, outcome.unmatched) == (3, 1, 2)
    assert outcome.error_count == 3
    assert any("unknown trip 'nope'" in e for e in outcome.errors)


@pytest.mark.parametrize("data", [b"\xff\x00garbage", b""])
def test_malformed_feed_is_refused(data: bytes) -> None:
    with pytest.raises(InvalidInput, match="not a GTFS-Realtime FeedMessage"):
        core.decode(data, "test", NOW)


def test_future_header_is_refused() -> None:
    with pytest.raises(InvalidInput, match="in the future"):
        core.decode(message(NOW + 3600).SerializeToString(), "test", NOW)


def test_absolute_times_and_no_data() -> None:
    trips = [([1, 2, 3, 4], 8 * 3600, [600, 600, 600], 0, [0] * 4, [0] * 4)]
    timetable = compile_feeds([("rt", build_feed(FAR, trips, [[True, True, True]], []))])
    feed = message()
    entity = feed.entity.add()
    entity.id = "x"
    entity.trip_update.trip.trip_id = "t0"
    entity.trip_update.trip.start_date = "20261201"
    stu = entity.trip_update.stop_time_update.add()
    stu.stop_id = "s2"
    stu.arrival.time = MIDNIGHT + 8 * 3600 + 900  # 5 min late at s2
    stu = entity.trip_update.stop_time_update.add()
    stu.stop_id = "s3"
    stu.schedule_relationship = rt.TripUpdate.StopTimeUpdate.NO_DATA
    overlay, _ = core.trip_updates(timetable, "rt", feed, NOW, 600)
    # departures carry the arrival delay at s2; NO_DATA at s3 ends it (never backwards though)
    assert overlay.departure.tolist() == [8 * 3600, 8 * 3600 + 930, 8 * 3600 + 1260,
                                          8 * 3600 + 1860]
    assert overlay.arrival.tolist()[1] == 8 * 3600 + 900


def test_overlay_document_round_trip() -> None:
    timetable = transfer_network()
    feed = update(message(), "t0", [("s1", 600)])
    update(feed, "t1", canceled=True)
    overlay, _ = core.trip_updates(timetable, "rt", feed, NOW, 600)
    again = core.TripOverlay.from_document(overlay.to_document(), timetable, "rt")
    assert again.version == overlay.version
    assert core.merge([overlay, core.empty_overlay()]).version == overlay.version


# --- the property: realtime == the feed rewritten with the estimates ------------------------

def rewritten(feed: FeedData, timetable: Timetable, overlay: core.TripOverlay) -> Timetable:
    """``feed`` with each updated trip moved to a copy running only on its updated day."""
    days = feed.service_days.copy()
    services = list(feed.services)
    trips = list(feed.trips)
    column = {int(o): (dt.date.fromordinal(int(o)) - feed.first_date).days
              for o in overlay.day.tolist()}
    keep = np.ones(feed.st_trip.shape[0], dtype=np.bool_)
    extra: dict[str, list[np.ndarray]] = {k: [] for k in ("trip", "stop", "arr", "dep", "pick",
                                                           "drop", "seq")}
    for j, trip in enumerate(overlay.trip.tolist()):
        col = column[int(overlay.day[j])]
        original = trips[trip]
        # the original runs on its other days only
        services.append(f"not-{j}")
        row = days[original.service].copy()
        row[col] = False
        days = np.vstack([days, row])
        trips[trip] = dataclasses.replace(original, service=len(services) - 1)
        if overlay.canceled[j]:
            continue
        services.append(f"only-{j}")
        only = np.zeros(days.shape[1], dtype=np.bool_)
        only[col] = True
        days = np.vstack([days, only])
        trips.append(dataclasses.replace(original, id=f"{original.id}-rt",
                                         service=len(services) - 1))
        rows = np.flatnonzero(feed.st_trip == trip)
        a, b = int(overlay.offset[j]), int(overlay.offset[j + 1])
        arr = overlay.arrival[a:b].astype(np.int64)
        dep = overlay.departure[a:b].astype(np.int64)
        skipped = dep >= core.NEVER
        # a skipped stop keeps a time in order along the trip (the connection scan reads
        # times in order); it can be neither boarded nor left
        fill = next((int(a) for a, s in zip(arr, skipped, strict=True) if not s), 0)
        for i in np.flatnonzero(skipped).tolist():
            arr[i] = dep[i] = dep[i - 1] if i else fill
        extra["trip"].append(np.full(rows.shape[0], len(trips) - 1))
        extra["stop"].append(feed.st_stop[rows])
        extra["arr"].append(arr)
        extra["dep"].append(dep)
        extra["pick"].append(np.where(skipped, 1, feed.st_pickup[rows]))
        extra["drop"].append(np.where(skipped, 1, feed.st_dropoff[rows]))
        extra["seq"].append(np.arange(1, rows.shape[0] + 1) if feed.st_sequence is None
                            else feed.st_sequence[rows])
    del keep

    def joined(name: str, base: np.ndarray) -> np.ndarray:
        return np.concatenate([base, *extra[name]]).astype(base.dtype)

    new = dataclasses.replace(
        feed, trips=trips, services=services, service_days=days,
        st_trip=joined("trip", feed.st_trip), st_stop=joined("stop", feed.st_stop),
        st_arrival=joined("arr", feed.st_arrival), st_departure=joined("dep", feed.st_departure),
        st_pickup=joined("pick", feed.st_pickup), st_dropoff=joined("drop", feed.st_dropoff),
        st_sequence=None if feed.st_sequence is None else joined("seq", feed.st_sequence))
    return compile_feeds([("rt", new)])


@st.composite
def trip_update_feeds(draw: st.DrawFn, timetable: Timetable) -> rt.FeedMessage:
    feed = message()
    ridden = [t for t in range(len(timetable.meta["trip_ids"]))
              if timetable.trip_pattern[t] >= 0]
    chosen = draw(st.lists(st.sampled_from(ridden), unique=True, max_size=len(ridden)))
    for trip in chosen:
        pattern = int(timetable.trip_pattern[trip])
        base = int(timetable.pattern_stop_offset[pattern])
        n = int(timetable.pattern_stop_offset[pattern + 1]) - base
        stop_ids = [timetable.meta["stop_ids"][s]
                    for s in timetable.pattern_stops[base:base + n].tolist()]
        day = draw(st.sampled_from(["20261130", "20261201"]))
        service = int(timetable.trip_service[trip])
        column = timetable.day_index(dt.date(int(day[:4]), int(day[4:6]), int(day[6:])))
        if not timetable.service_days[service, column]:
            continue
        kind = draw(st.sampled_from(["delay", "delay", "cancel", "skip"]))
        trip_id = timetable.meta["trip_ids"][trip]
        if kind == "cancel":
            update(feed, trip_id, canceled=True, day=day)
            continue
        positions = sorted(draw(st.sets(st.integers(0, n - 1), min_size=1, max_size=n)))
        entity = feed.entity.add()
        entity.id = f"e{len(feed.entity)}"
        entity.trip_update.trip.trip_id = trip_id
        entity.trip_update.trip.start_date = day
        for i in positions:
            stu = entity.trip_update.stop_time_update.add()
            stu.stop_id = stop_ids[i]
            if kind == "skip" and draw(st.booleans()):
                stu.schedule_relationship = rt.TripUpdate.StopTimeUpdate.SKIPPED
            else:
                stu.departure.delay = draw(st.integers(-300, 2400))
    return feed


@settings(max_examples=120, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(networks(), st.data())
def test_realtime_plan_equals_rewritten_feed(network: object, data: st.DataObject) -> None:
    timetable = network.timetable  # type: ignore[attr-defined]
    feed = data.draw(trip_update_feeds(timetable))
    overlay, outcome = core.trip_updates(timetable, "gen", feed, NOW, 600)
    assert outcome.unmatched == 0
    timetable.meta["_realtime"] = overlay
    other = rewritten(network.feed, timetable, overlay)  # type: ignore[attr-defined]
    types = timetable.meta["stop_location_type"]
    boardable = [i for i in range(timetable.n_stops) if types[i] == 0]
    origin = data.draw(st.sampled_from(boardable))
    destination = data.draw(st.sampled_from([s for s in boardable if s != origin]))
    hour = data.draw(st.sampled_from([0, 1, 7, 8, 23]))
    moment = dt.datetime(2026, 12, 1, hour, data.draw(st.integers(0, 59)), tzinfo=TOKYO)
    q = Query(Endpoint(0, 0, "o", origin), Endpoint(0, 0, "d", destination), moment,
              max_transfers=4, min_transfer_seconds=60)
    journeys = [j for j in plan(timetable, q) if any(leg.trip >= 0 for leg in j.legs)]
    day, seconds = service_time(other, moment)
    access = {s: seconds + w for s, (w, _) in access_options(other, q.origin).items()}
    egress = {s: w for s, (w, _) in egress_options(other, q.destination).items()}
    expected = reference(other, day, dict.fromkeys(members(other, origin), seconds),
                         members(other, destination), 5, 60,
                         forbidden_walks(network.feed))  # type: ignore[attr-defined]
    for journey in journeys:
        assert journey.departure >= seconds
        for leg in journey.legs:
            assert leg.departure <= leg.arrival < DAY * 3
    walk_only = min((access[s] + e for s, e in egress.items() if s in access), default=10**9)
    for k in range(1, 6):
        ours = min([walk_only, *(j.arrival for j in journeys if j.transfers + 1 <= k)])
        assert ours == expected[k - 1], (k, ours, expected)
    timetable.meta.pop("_realtime")
    for journey in transit_only(plan(timetable, q)):
        check_feasible(timetable, journey, 60)


def transit_only(journeys: list) -> list:  # type: ignore[type-arg]
    return [j for j in journeys if any(leg.trip >= 0 for leg in j.legs)]


def test_frequency_trip_is_matched_by_start_time() -> None:
    trips = [([1, 2], 8 * 3600, [600], 0, [0, 0], [0, 0]),
             ([1, 2], 8 * 3600 + 1200, [600], 0, [0, 0], [0, 0])]
    feed = build_feed(FAR, trips, [[True, True, True]], [])
    # what the reader makes of a frequencies.txt trip "f": one trip per departure
    feed = dataclasses.replace(feed, trips=[dataclasses.replace(t, id=f"f#{h}")
                                            for t, h in zip(feed.trips, ("08:00:00", "08:20:00"),
                                                            strict=True)])
    timetable = compile_feeds([("rt", feed)])
    message_ = message()
    entity = message_.entity.add()
    entity.id = "f"
    entity.trip_update.trip.trip_id = "f"
    entity.trip_update.trip.start_time = "08:20:00"
    entity.trip_update.trip.start_date = "20261201"
    entity.trip_update.trip.schedule_relationship = rt.TripDescriptor.CANCELED
    overlay, outcome = core.trip_updates(timetable, "rt", message_, NOW, 600)
    assert outcome.matched == 1
    assert overlay.trip_ids == ["f#08:20:00"]


@pytest.mark.parametrize("name", ["kumagaya", "kobe"])
def test_real_feed_with_realtime_equals_the_rewritten_feed(name: str) -> None:
    """A real feed, 1,500 synthetic stop-time updates (delays, cancellations, skipped stops):
    each query's earliest arrivals equal the reference scan's on the rewritten feed."""
    import random
    from pathlib import Path

    from gtfs.feed import read_feed
    from maas.bench.realtime import synthetic_updates
    from tests.conftest import SHARED_DATA
    from tests.test_planner_real import FEEDS

    path, day = FEEDS[name]
    feed = read_feed(Path(SHARED_DATA) / path)
    timetable = compile_feeds([(name, feed)])
    moment = dt.datetime.combine(day, dt.time(12), tzinfo=TOKYO)
    rng = random.Random(15)
    data, count = synthetic_updates(timetable, day, 1500, int(moment.timestamp()), rng)
    decoded = core.decode(data, name, int(moment.timestamp()))
    overlay, outcome = core.trip_updates(timetable, name, decoded, int(moment.timestamp()),
                                         3600, data)
    assert count == 1500
    assert outcome.matched == outcome.entities > 0
    assert (outcome.unmatched, outcome.error_count) == (0, 0)
    timetable.meta["_realtime"] = overlay
    other = rewritten(feed, timetable, overlay)
    served = sorted({int(s) for s in timetable.pattern_stops.tolist()})
    forbidden = forbidden_walks(feed)
    changed = 0
    for _ in range(15):
        origin, destination = rng.sample(served, 2)
        when = dt.datetime.combine(day, dt.time(rng.randint(6, 19), rng.randint(0, 59)),
                                   tzinfo=TOKYO)
        q = Query(Endpoint(0, 0, "o", origin), Endpoint(0, 0, "d", destination), when,
                  max_transfers=4, min_transfer_seconds=60)
        journeys = transit_only(plan(timetable, q))
        _, seconds = service_time(other, when)
        for journey in journeys:  # never a ride boarded where it does not stop
            assert journey.departure >= seconds
            assert all(leg.departure <= leg.arrival < DAY * 3 for leg in journey.legs)
        expected = reference(other, day, dict.fromkeys(members(other, origin), seconds),
                             members(other, destination), 5, 60, forbidden)
        access = {s: seconds + w for s, (w, _) in access_options(other, q.origin).items()}
        egress = {s: w for s, (w, _) in egress_options(other, q.destination).items()}
        walk_only = min((access[s] + e for s, e in egress.items() if s in access),
                        default=10**9)
        for k in range(1, 6):
            ours = min([walk_only, *(j.arrival for j in journeys if j.transfers + 1 <= k)])
            assert ours == expected[k - 1], (k, ours, expected)
        changed += any(leg.realtime for j in journeys for leg in j.legs)
    assert changed > 0  # the updates reached some answers
