"""Stop times: one time for both, interpolation, frequencies, times round trip."""

from __future__ import annotations

import tempfile
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from gtfs.feed import (
    read_feed,
)
from gtfs.gtfstime import format_time
from tests.feed_samples import BASE, h, refusal, write_feed


def test_one_time_given_is_used_for_both(tmp_path: Path) -> None:
    stop_times = BASE["stop_times.txt"].replace(
        "t1,07:50:00,07:51:00,korinbo", "t1,,07:51:00,korinbo"
    ).replace("t1,07:55:00,07:55:00,katamachi", "t1,07:55:00,,katamachi")
    feed = read_feed(write_feed(tmp_path / "feed", {"stop_times.txt": stop_times}))
    assert feed.st_arrival[:3].tolist() == [h("7:42:00"), h("7:51:00"), h("7:55:00")]
    assert feed.st_departure[:3].tolist() == [h("7:42:00"), h("7:51:00"), h("7:55:00")]
    assert feed.warnings == [
        "stop_times.txt: 2 stop times give only one of arrival_time and departure_time "
        "(first on line 3); it was used for both"
    ]


def test_stop_times_without_times_are_interpolated(tmp_path: Path) -> None:
    stops = BASE["stops.txt"] + "musashi,武蔵ヶ辻,36.5700,136.6530,0,,,\n"
    stop_times = (
        "trip_id,arrival_time,departure_time,stop_id,stop_sequence,timepoint,"
        "shape_dist_traveled\n"
        # by stop count: two untimed stops split 08:00–08:09 into thirds
        "t1,08:00:00,08:00:00,kanazawa_1,1,1,\n"
        "t1,,,musashi,2,0,\n"
        "t1,,,korinbo,3,0,\n"
        "t1,08:09:00,08:09:00,katamachi,4,1,\n"
        # by distance: 0.5 km of 2.0 km between 09:00 and 09:10
        "t2,09:00:00,09:00:00,kanazawa_1,1,1,0.0\n"
        "t2,,,musashi,2,0,0.5\n"
        "t2,09:10:00,09:10:00,katamachi,3,1,2.0\n"
    )
    feed = read_feed(write_feed(tmp_path / "feed", {"stops.txt": stops,
                                                   "stop_times.txt": stop_times}))
    assert feed.st_arrival.tolist() == [h("8:00:00"), h("8:03:00"), h("8:06:00"),
                                        h("8:09:00"), h("9:00:00"), h("9:02:30"),
                                        h("9:10:00")]
    np.testing.assert_array_equal(feed.st_departure, feed.st_arrival)
    assert feed.warnings == [
        "stop_times.txt: 3 stop times without arrival_time and departure_time (first on line 3) "
        "were interpolated between the timed stops around them"
    ]


def test_frequencies_expand_into_timed_trips(tmp_path: Path) -> None:
    frequencies = (
        "trip_id,start_time,end_time,headway_secs,exact_times\n"
        "t1,7:00:00,7:30:00,600,1\n"
        "t1,23:50:00,24:10:00,1200,\n"
    )
    feed = read_feed(write_feed(tmp_path / "feed", {"frequencies.txt": frequencies}))
    assert [trip.id for trip in feed.trips] == [
        "t1#07:00:00", "t1#07:10:00", "t1#07:20:00", "t1#23:50:00", "t2"
    ]
    assert {trip.route for trip in feed.trips} == {0}
    assert [trip.service for trip in feed.trips] == [0, 0, 0, 0, 1]
    assert feed.st_trip.tolist() == [0] * 3 + [1] * 3 + [2] * 3 + [3] * 3 + [4] * 3
    # the template runs 07:42 → 07:50/07:51 → 07:55: +8/+9 and +13 minutes
    assert feed.st_arrival[:12].tolist() == [
        h("7:00:00"), h("7:08:00"), h("7:13:00"),
        h("7:10:00"), h("7:18:00"), h("7:23:00"),
        h("7:20:00"), h("7:28:00"), h("7:33:00"),
        h("23:50:00"), h("23:58:00"), h("24:03:00"),
    ]
    assert feed.st_departure[:3].tolist() == [h("7:00:00"), h("7:09:00"), h("7:13:00")]
    assert feed.st_dropoff[:6].tolist() == [1, 0, 0, 1, 0, 0]


trip_plans = st.lists(
    st.lists(st.tuples(st.integers(0, 900), st.integers(0, 120)), min_size=2, max_size=5),
    min_size=1,
    max_size=3,
)


@settings(max_examples=25, deadline=None)
@given(
    start=st.integers(0, 30 * 3600),
    plans=trip_plans,
    style=st.sampled_from(["padded", "short", "spaced", "arrival only", "departure only"]),
)
def test_times_of_valid_feeds_round_trip(
    start: int, plans: list[list[tuple[int, int]]], style: str
) -> None:
    def text(seconds: int) -> str:
        formatted = format_time(seconds)
        if style == "short" and formatted.startswith("0"):
            return formatted[1:]
        return f" {formatted} " if style == "spaced" else formatted

    rows, trips, arrivals, departures = [], [], [], []
    for number, plan in enumerate(plans):
        trips.append(f"r1,平日,trip{number},\n")
        clock = start
        for sequence, (travel, dwell) in enumerate(plan):
            arrival = clock + travel
            departure = arrival if style.endswith("only") else arrival + dwell
            clock = departure
            arrivals.append(arrival)
            departures.append(departure)
            given_arrival = "" if style == "departure only" else text(arrival)
            given_departure = "" if style == "arrival only" else text(departure)
            rows.append(f"trip{number},{given_arrival},{given_departure},korinbo,{sequence}\n")
    with tempfile.TemporaryDirectory() as folder:
        feed = read_feed(write_feed(Path(folder), {
            "trips.txt": "route_id,service_id,trip_id,trip_headsign\n" + "".join(trips),
            "stop_times.txt": "trip_id,arrival_time,departure_time,stop_id,stop_sequence\n"
            + "".join(rows),
        }))
    assert feed.st_arrival.tolist() == arrivals
    assert feed.st_departure.tolist() == departures
    assert feed.st_trip.tolist() == [n for n, plan in enumerate(plans) for _ in plan]


REJECTED = {
    "unparsable time (the blank line counts)": (
        {"stop_times.txt": BASE["stop_times.txt"].replace(
            "t1,07:50:00,07:51:00", "\nt1,7:4x:00,07:51:00")},
        "stop_times.txt line 4 column arrival_time: '7:4x:00' is not a GTFS time (H:MM:SS)",
    ),
    "unparsable departure time": (
        {"stop_times.txt": BASE["stop_times.txt"].replace("25:10:00,25:10:00", "25:10:00,25:1")},
        "stop_times.txt line 7 column departure_time: '25:1' is not a GTFS time (H:MM:SS)",
    ),
    "stop time at an unknown stop": (
        {"stop_times.txt": BASE["stop_times.txt"].replace("25:00:00,korinbo", "25:00:00,omicho")},
        "stop_times.txt line 6 column stop_id: unknown stop_id 'omicho' (not in stops.txt)",
    ),
    "stop time of an unknown trip": (
        {"stop_times.txt": BASE["stop_times.txt"].replace("t1,07:55:00", "t3,07:55:00")},
        "stop_times.txt line 4 column trip_id: unknown trip_id 't3' (not in trips.txt)",
    ),
    "arrival before the previous departure": (
        {"stop_times.txt": BASE["stop_times.txt"].replace("07:50:00,07:51", "07:41:00,07:51")},
        "stop_times.txt line 3 column arrival_time: 07:41:00 is before the departure 07:42:00 "
        "from the previous stop (trip 't1')",
    ),
    "departure before arrival": (
        {"stop_times.txt": BASE["stop_times.txt"].replace("07:50:00,07:51", "07:50:00,07:49")},
        "stop_times.txt line 3 column departure_time: 07:49:00 is before the arrival 07:50:00 "
        "at the same stop (trip 't1')",
    ),
    "duplicate stop_sequence": (
        {"stop_times.txt": BASE["stop_times.txt"].replace("07:55:00,katamachi,3",
                                                          "07:55:00,katamachi,2")},
        "stop_times.txt line 4 column stop_sequence: duplicate stop_sequence 2 in trip 't1' "
        "(first on line 3)",
    ),
    "first stop without times": (
        {"stop_times.txt": BASE["stop_times.txt"].replace("t2,24:50:00,24:50:00", "t2,,")},
        "stop_times.txt line 5 column arrival_time: empty at the first or last stop of a trip "
        "(only stops between timed stops can be interpolated)",
    ),
    "zero headway": (
        {"frequencies.txt": "trip_id,start_time,end_time,headway_secs\nt1,7:00:00,8:00:00,0\n"},
        "frequencies.txt line 2 column headway_secs: 0 is not a positive number of seconds",
    ),
}


@pytest.mark.parametrize(("files", "message"), REJECTED.values(), ids=REJECTED.keys())
def test_rejects_broken_input_naming_file_line_and_column(
    tmp_path: Path, files: dict[str, str | None], message: str
) -> None:
    assert refusal(tmp_path, files) == message
