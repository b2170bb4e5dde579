"""stop_times.txt and frequencies.txt: checks, interpolation of untimed stops, expansion."""

from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np
import numpy.typing as npt

from gtfs.feed.kit import Table
from gtfs.feed.model import Trip
from gtfs.gtfstime import format_time


@dataclass
class StopTimes:
    """Stop-time columns (int64 while we work on them), sorted by (trip, stop_sequence)."""

    trip: npt.NDArray[np.int64]
    stop: npt.NDArray[np.int64]
    arrival: npt.NDArray[np.int64]
    departure: npt.NDArray[np.int64]
    pickup: npt.NDArray[np.int64]
    dropoff: npt.NDArray[np.int64]
    sequence: npt.NDArray[np.int64]  # stop_sequence (GTFS-Realtime updates may name it)

    def take(self, rows: npt.NDArray[np.int64]) -> StopTimes:
        return StopTimes(
            self.trip[rows], self.stop[rows], self.arrival[rows], self.departure[rows],
            self.pickup[rows], self.dropoff[rows], self.sequence[rows],
        )


def lookup(
    table: Table, column: str, index: dict[str, int], target: str
) -> npt.NDArray[np.int64]:
    """Indices of the ids in ``column``; unknown or empty ids fail."""
    codes, uniques = table.codes(column)
    # the extra last slot is where code -1 (empty) lands
    mapped = np.array([index.get(u, -1) if u else -2 for u in uniques] + [-2], dtype=np.int64)
    result: npt.NDArray[np.int64] = mapped[codes]
    bad = np.flatnonzero(result < 0)
    if bad.size:
        row = int(bad[0])
        if result[row] == -2:
            table.fail(row, column, "empty")
        table.fail(row, column, f"unknown {column} {uniques[codes[row]]!r} (not in {target})")
    return result


def read_stop_times(
    table: Table, trip_index: dict[str, int], stop_index: dict[str, int], notes: list[str]
) -> StopTimes:
    trip = lookup(table, "trip_id", trip_index, "trips.txt")
    stop = lookup(table, "stop_id", stop_index, "stops.txt")
    sequence = table.ints("stop_sequence", 0, required=True)
    negative = np.flatnonzero(sequence < 0)
    if negative.size:
        table.fail(int(negative[0]), "stop_sequence", f"{sequence[negative[0]]} is negative")
    times = StopTimes(
        trip,
        stop,
        table.times("arrival_time"),
        table.times("departure_time"),
        table.ints("pickup_type", 0, range(4)),
        table.ints("drop_off_type", 0, range(4)),
        sequence,
    )
    order = np.lexsort((sequence, trip))
    times, sequence, rows = times.take(order), sequence[order], order
    distance = table.floats("shape_dist_traveled")[order]
    trip, arrival, departure = times.trip, times.arrival, times.departure
    n = trip.size

    same_trip = trip[1:] == trip[:-1]
    repeated = np.flatnonzero(same_trip & (sequence[1:] == sequence[:-1]))
    if repeated.size:
        at = int(repeated[np.argmin(rows[repeated + 1])])
        table.fail(
            int(rows[at + 1]), "stop_sequence",
            f"duplicate stop_sequence {sequence[at]} in trip {table.strings('trip_id')[rows[at]]!r}"
            f" (first on line {table.line(int(rows[at]))})",
        )

    only_departure = (arrival < 0) & (departure >= 0)
    only_arrival = (departure < 0) & (arrival >= 0)
    arrival[only_departure] = departure[only_departure]
    departure[only_arrival] = arrival[only_arrival]
    copied = int(only_departure.sum() + only_arrival.sum())
    if copied:
        first = table.first_line(rows[only_departure | only_arrival])
        notes.append(
            f"stop_times.txt: {copied} stop times give only one of arrival_time and "
            f"departure_time (first on line {first});"
            " it was used for both"
        )

    untimed = arrival < 0
    starts = np.flatnonzero(np.r_[True, ~same_trip])
    ends = np.r_[starts[1:], n] - 1
    open_ends = np.r_[starts[untimed[starts]], ends[untimed[ends]]]
    if open_ends.size:
        at = int(open_ends[np.argmin(rows[open_ends])])
        table.fail(
            int(rows[at]), "arrival_time",
            "empty at the first or last stop of a trip (only stops between timed stops can be "
            "interpolated)",
        )

    timed = np.flatnonzero(~untimed)
    early_departure = timed[departure[timed] < arrival[timed]]
    follows = (trip[timed[1:]] == trip[timed[:-1]]) & (arrival[timed[1:]] < departure[timed[:-1]])
    backwards = timed[1:][follows]
    if early_departure.size or backwards.size:
        candidates = np.r_[early_departure, backwards]
        at = int(candidates[np.argmin(rows[candidates])])
        trip_id = table.strings("trip_id")[rows[at]]
        if departure[at] < arrival[at]:
            table.fail(
                int(rows[at]), "departure_time",
                f"{format_time(int(departure[at]))} is before the arrival "
                f"{format_time(int(arrival[at]))} at the same stop (trip {trip_id!r})",
            )
        previous = int(timed[np.searchsorted(timed, at) - 1])
        table.fail(
            int(rows[at]), "arrival_time",
            f"{format_time(int(arrival[at]))} is before the departure "
            f"{format_time(int(departure[previous]))} from the previous stop (trip {trip_id!r})",
        )

    if untimed.any():
        _interpolate(arrival, departure, untimed, distance)
        notes.append(
            f"stop_times.txt: {int(untimed.sum())} stop times without arrival_time and "
            f"departure_time (first on line {table.first_line(rows[untimed])}) were interpolated "
            "between the timed stops around them"
        )
    return times


def _interpolate(
    arrival: npt.NDArray[np.int64],
    departure: npt.NDArray[np.int64],
    untimed: npt.NDArray[np.bool_],
    distance: npt.NDArray[np.float64],
) -> None:
    """Fill untimed rows in place, linearly between the timed rows around them.

    By shape_dist_traveled where it is given and increasing, else by the count of stops. The
    first and last stop of every trip are timed, so the neighbours are in the same trip.
    """
    n = arrival.size
    position = np.arange(n)
    before = np.maximum.accumulate(np.where(untimed, -1, position))
    after = np.minimum.accumulate(np.where(untimed, n, position)[::-1])[::-1]
    rows = np.flatnonzero(untimed)
    low, high = before[rows], after[rows]
    fraction = (rows - low) / (high - low)
    d_low, d_high, d_row = distance[low], distance[high], distance[rows]
    by_distance = np.isfinite(d_low) & np.isfinite(d_high) & np.isfinite(d_row) & (d_high > d_low)
    with np.errstate(invalid="ignore", divide="ignore"):
        along = np.clip((d_row - d_low) / (d_high - d_low), 0.0, 1.0)
    fraction = np.where(by_distance, along, fraction)
    start = departure[low]
    filled = start + np.floor(fraction * (arrival[high] - start) + 0.5).astype(np.int64)
    arrival[rows] = filled
    departure[rows] = filled


def expand_frequencies(
    table: Table, trips: list[Trip], times: StopTimes, notes: list[str]
) -> tuple[list[Trip], StopTimes]:
    """Replace each frequency-based trip by one ordinary trip per departure.

    Departures run from start_time while before end_time, every headway_secs; the template's
    times are shifted so its first departure is the departure. exact_times 0 and 1 alike.
    """
    template = lookup(table, "trip_id", {trip.id: i for i, trip in enumerate(trips)}, "trips.txt")
    start, end = table.times("start_time"), table.times("end_time")
    for column, values in (("start_time", start), ("end_time", end)):
        empty = np.flatnonzero(values < 0)
        if empty.size:
            table.fail(int(empty[0]), column, "empty")
    headway = table.ints("headway_secs", 0, required=True)
    table.ints("exact_times", 0, (0, 1))
    departures: dict[int, list[int]] = {}
    for row in range(table.rows):
        if headway[row] <= 0:
            table.fail(row, "headway_secs", f"{headway[row]} is not a positive number of seconds")
        if end[row] < start[row]:
            table.fail(
                row, "end_time",
                f"{format_time(int(end[row]))} is before start_time {format_time(int(start[row]))}",
            )
        departures.setdefault(int(template[row]), []).extend(
            range(int(start[row]), int(end[row]), int(headway[row]))
        )
    counts = np.bincount(times.trip, minlength=len(trips))
    offsets = np.r_[0, np.cumsum(counts)]
    expanded: list[Trip] = []
    source: list[int] = []
    shift: list[int] = []
    repeated = 0
    for index, trip in enumerate(trips):
        if index not in departures:
            expanded.append(trip)
            source.append(index)
            shift.append(0)
            continue
        first = int(times.departure[offsets[index]]) if counts[index] else 0
        unique = sorted(set(departures[index]))
        repeated += len(departures[index]) - len(unique)
        for departure in unique:
            expanded.append(replace(trip, id=f"{trip.id}#{format_time(departure)}"))
            source.append(index)
            shift.append(departure - first)
    if repeated:
        notes.append(
            f"frequencies.txt: {repeated} departures given twice by overlapping periods were "
            "expanded once"
        )
    lengths = counts[source]
    begin = np.repeat(offsets[source] - (np.cumsum(lengths) - lengths), lengths)
    rows = np.arange(int(lengths.sum())) + begin
    moved = times.take(rows)
    moved.trip = np.repeat(np.arange(len(expanded)), lengths)
    shifts = np.repeat(np.array(shift, dtype=np.int64), lengths)
    moved.arrival = moved.arrival + shifts
    moved.departure = moved.departure + shifts
    return expanded, moved

