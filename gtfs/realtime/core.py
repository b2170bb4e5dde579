"""GTFS-Realtime without I/O: decode a feed, match it to the compiled timetable, build the overlay.

Trip updates follow the GTFS-Realtime reference:

- a trip is matched by ``trip_id`` and ``start_date`` (the service day; when absent, the day on
  which the trip runs closest to now), and a frequency-based trip also by ``start_time`` (the
  reader expands such trips into ``TRIP#HH:MM:SS``);
- each ``StopTimeUpdate`` gives an absolute time or a delay, for the arrival and/or departure;
  it is matched to the trip's stop by ``stop_sequence`` when it gives one (the compiled
  timetable keeps them; a ``stop_id`` given too must be the stop there), else by ``stop_id``
  (the first position at or after the previous update's, so a loop's second visit needs the
  stop_sequence or an earlier update), and the delay carries down the trip until the next update;
  ``NO_DATA`` ends the carrying (scheduled times again); stops before the first update keep
  their scheduled times;
- a ``SKIPPED`` stop can be neither boarded nor left (its times become :data:`NEVER`);
- a ``CANCELED`` trip is gone for its service day;
- updates whose timestamp (the trip update's, else the header's) is older than ``max_age``
  are dropped and counted stale; a header timestamp in the future refuses the whole message.

Estimated times never run backwards along a trip (an arrival is never before the previous
departure, a departure never before its arrival).

The result, a :class:`TripOverlay`, is applied to a day view of the planner by
:func:`overlay_view`: the affected trips' times are replaced in a copy of the view's time
arrays, and each affected pattern is re-sorted by departure and split into FIFO lanes where a
trip really overtakes another, so a delayed trip that is overtaken never becomes a wrong
"first trip"; skipped stops split nothing (the kernel steps over them, docs/realtime.md).
"""

from __future__ import annotations

import base64
import dataclasses
import datetime as dt
import hashlib
import json
from collections.abc import Iterator, Sequence
from typing import Any

import numba
import numpy as np
import numpy.typing as npt
from google.protobuf.message import DecodeError
from google.transit import gtfs_realtime_pb2 as rt

from gtfs.languages import FALLBACKS, language_of
from gtfs.planner import timezone
from gtfs.raptor import DAY, INF, DayView, lanes_of, pace_of, view_of
from gtfs.timetable import Timetable
from maas.core.errors import InvalidInput

KINDS = ("trip-updates", "vehicle-positions", "alerts")
NEVER = int(INF)  # the time of a skipped stop or a canceled trip: never boarded nor left
FUTURE_TOLERANCE_S = 60  # publisher clocks drift a little
MAX_ERRORS = 20  # error messages kept per poll (all are counted)
I32 = npt.NDArray[np.int32]
B = npt.NDArray[np.bool_]

TripDescriptor = rt.TripDescriptor
StopTimeUpdate = rt.TripUpdate.StopTimeUpdate


@dataclasses.dataclass
class Outcome:
    """What one poll found: counts and the first errors (for the health report and logs)."""

    entities: int = 0
    matched: int = 0
    unmatched: int = 0
    stale: int = 0
    error_count: int = 0
    errors: list[str] = dataclasses.field(default_factory=list)
    feed_timestamp: int | None = None

    def error(self, text: str) -> None:
        """Count an error; keep its text when fewer than :data:`MAX_ERRORS` are kept."""
        self.error_count += 1
        if len(self.errors) < MAX_ERRORS:
            self.errors.append(text)

    def as_dict(self) -> dict[str, Any]:
        """The outcome as JSON."""
        return dataclasses.asdict(self)


def decode(data: bytes, where: str, now: int) -> Any:
    """Parse a ``FeedMessage``; refuse what is not one, or whose header is in the future."""
    message = rt.FeedMessage()
    try:
        message.ParseFromString(data)
    except (DecodeError, RuntimeError, ValueError) as exc:
        raise InvalidInput(f"{where}: not a GTFS-Realtime FeedMessage ({exc})") from None
    if not message.header.gtfs_realtime_version:
        raise InvalidInput(f"{where}: not a GTFS-Realtime FeedMessage (no header version)")
    stamp = int(message.header.timestamp)
    if stamp > now + FUTURE_TOLERANCE_S:
        raise InvalidInput(f"{where}: header timestamp {stamp} is {stamp - now} s in the future")
    return message


def document_version(document: dict[str, Any]) -> str:
    """A content hash of a stored snapshot document."""
    text = json.dumps(document, sort_keys=True, ensure_ascii=False)
    return hashlib.sha256(text.encode()).hexdigest()[:24]


def _b64(array: npt.NDArray[Any]) -> str:
    return base64.b64encode(np.ascontiguousarray(array).tobytes()).decode("ascii")


def _unb64(text: str, dtype: Any) -> npt.NDArray[Any]:
    return np.frombuffer(base64.b64decode(text), dtype=dtype).copy()


@dataclasses.dataclass
class TripOverlay:
    """Estimated times of the trips a trip-update feed touches, per service day.

    Entry ``j`` is trip ``trip[j]`` (index into the timetable, id ``trip_ids[j]``) on the
    service day ``day[j]`` (proleptic ordinal); its positions' times are
    ``arrival/departure[offset[j]:offset[j + 1]]`` in seconds of that day, :data:`NEVER` at a
    skipped stop. A canceled trip has no times.
    """

    trip_ids: list[str]
    trip: I32
    day: I32
    canceled: B
    offset: I32
    arrival: I32
    departure: I32
    version: str = dataclasses.field(init=False)  # a content hash

    def __post_init__(self) -> None:
        digest = hashlib.sha256()
        for array in (self.trip, self.day, self.canceled, self.offset, self.arrival,
                      self.departure):
            digest.update(np.ascontiguousarray(array).tobytes())
        self.version = digest.hexdigest()[:24]

    def apply(self, timetable: Timetable, view: DayView) -> DayView:
        """``view`` with this overlay's times (the planner's hook, see gtfs.raptor.day_view)."""
        return overlay_view(timetable, view, self)

    def __len__(self) -> int:
        return int(self.trip.shape[0])

    def to_document(self) -> dict[str, Any]:
        """A JSON form (trip ids, arrays as base64) stored by the worker."""
        return {"trip_ids": self.trip_ids, "day": _b64(self.day),
                "canceled": _b64(self.canceled), "offset": _b64(self.offset),
                "arrival": _b64(self.arrival), "departure": _b64(self.departure)}

    @classmethod
    def from_document(cls, document: dict[str, Any], timetable: Timetable,
                      feed: str) -> TripOverlay:
        """Read :meth:`to_document`'s form against ``timetable``; trips it lacks are left out."""
        ids: list[str] = list(document.get("trip_ids", []))
        if not ids:
            return empty_overlay()
        day = _unb64(document["day"], np.int32)
        canceled = _unb64(document["canceled"], np.bool_)
        offset = _unb64(document["offset"], np.int32)
        arrival = _unb64(document["arrival"], np.int32)
        departure = _unb64(document["departure"], np.int32)
        lookup = trip_lookup(timetable, feed)
        keep = [j for j, trip_id in enumerate(ids)
                if trip_id in lookup and (bool(canceled[j]) or _length(
                    timetable, lookup[trip_id]) == int(offset[j + 1] - offset[j]))]
        return _select(ids, lookup, keep, day, canceled, offset, arrival, departure)



def _select(ids: Sequence[str], lookup: dict[str, int], keep: Sequence[int], day: I32,
            canceled: B, offset: I32, arrival: I32, departure: I32) -> TripOverlay:
    rows = np.asarray(keep, dtype=np.int64)
    lengths = (offset[rows + 1] - offset[rows]).astype(np.int64)
    starts = offset[rows].astype(np.int64)
    positions = (np.repeat(starts - np.concatenate([[0], np.cumsum(lengths)[:-1]]), lengths)
                 + np.arange(int(lengths.sum())))
    return TripOverlay(
        trip_ids=[ids[j] for j in keep],
        trip=np.asarray([lookup[ids[j]] for j in keep], dtype=np.int32),
        day=day[rows], canceled=canceled[rows],
        offset=np.concatenate([[0], np.cumsum(lengths)]).astype(np.int32),
        arrival=arrival[positions], departure=departure[positions])


def empty_overlay() -> TripOverlay:
    """An overlay touching nothing."""
    zero = np.zeros(0, dtype=np.int32)
    return TripOverlay([], zero, zero, np.zeros(0, dtype=np.bool_), np.zeros(1, np.int32), zero,
                       zero)


def merge(overlays: Sequence[TripOverlay]) -> TripOverlay:
    """One overlay of several feeds' (a later feed wins for a trip and day given twice)."""
    overlays = [o for o in overlays if len(o)]
    if not overlays:
        return empty_overlay()
    if len(overlays) == 1:
        return overlays[0]
    seen: dict[tuple[int, int], tuple[int, int]] = {}
    for index, overlay in enumerate(overlays):
        for j, key in enumerate(zip(overlay.trip.tolist(), overlay.day.tolist(), strict=True)):
            seen[key] = (index, j)
    ids, trips, days, canceled, lengths = [], [], [], [], []
    arrivals: list[I32] = []
    departures: list[I32] = []
    for index, j in seen.values():
        o = overlays[index]
        a, b = int(o.offset[j]), int(o.offset[j + 1])
        ids.append(o.trip_ids[j])
        trips.append(int(o.trip[j]))
        days.append(int(o.day[j]))
        canceled.append(bool(o.canceled[j]))
        lengths.append(b - a)
        arrivals.append(o.arrival[a:b])
        departures.append(o.departure[a:b])
    return TripOverlay(ids, np.asarray(trips, np.int32), np.asarray(days, np.int32),
                       np.asarray(canceled, np.bool_),
                       np.concatenate([[0], np.cumsum(lengths)]).astype(np.int32),
                       np.concatenate(arrivals).astype(np.int32),
                       np.concatenate(departures).astype(np.int32))


def feed_index(timetable: Timetable, feed: str) -> int:
    """Index of GTFS feed ``feed`` in the network; -1 when it is not part of it."""
    feeds: list[str] = timetable.meta["feeds"]
    return feeds.index(feed) if feed in feeds else -1


def trip_lookup(timetable: Timetable, feed: str) -> dict[str, int]:
    """Trip id -> trip index for the trips of ``feed`` that are ridden (cached)."""
    cache: dict[str, dict[str, int]] = timetable.meta.setdefault("_trip_lookup", {})
    if feed not in cache:
        wanted = feed_index(timetable, feed)
        first_stop = timetable.pattern_stops[
            timetable.pattern_stop_offset[np.maximum(timetable.trip_pattern, 0)]]
        trip_feed = np.where(timetable.trip_pattern >= 0, timetable.stop_feed[first_stop], -1)
        cache[feed] = {trip_id: index for index, trip_id in enumerate(timetable.meta["trip_ids"])
                       if trip_feed[index] == wanted}
    return cache[feed]


def _length(timetable: Timetable, trip: int) -> int:
    pattern = int(timetable.trip_pattern[trip])
    return int(timetable.pattern_stop_offset[pattern + 1] - timetable.pattern_stop_offset[pattern])


def _midnight(timetable: Timetable, day: dt.date) -> int:
    """Unix time of the service day's reference (noon minus 12 h, local)."""
    noon = dt.datetime.combine(day, dt.time(12), tzinfo=timezone(timetable))
    return int(noon.timestamp()) - 12 * 3600


def _runs(timetable: Timetable, trip: int, day: dt.date) -> bool:
    index = timetable.day_index(day)
    return (0 <= index < timetable.service_days.shape[1]
            and bool(timetable.service_days[timetable.trip_service[trip], index]))


def _match(timetable: Timetable, lookup: dict[str, int], trip: Any, now: int
           ) -> tuple[int, dt.date] | str:
    """(trip index, service day) of a ``TripDescriptor``, or why it does not match."""
    trip_id = str(trip.trip_id)
    index = lookup.get(trip_id, -1)
    if index < 0 and trip.start_time:
        index = lookup.get(f"{trip_id}#{trip.start_time}", -1)  # a frequency-based trip
    if index < 0:
        return f"unknown trip {trip_id!r}"
    if trip.start_date:
        text = str(trip.start_date)
        try:
            if len(text) != 8 or not text.isdigit():
                raise ValueError(text)
            day = dt.date(int(text[:4]), int(text[4:6]), int(text[6:]))
        except ValueError:
            return f"trip {trip_id!r}: bad start_date {trip.start_date!r}"
        if not _runs(timetable, index, day):
            return f"trip {trip_id!r} does not run on {trip.start_date}"
        return index, day
    start = int(timetable.departure[timetable.trip_time_offset[index]])
    today = dt.datetime.fromtimestamp(now, dt.UTC).date()
    candidates = [today + dt.timedelta(days=d) for d in (-1, 0, 1)
                  if _runs(timetable, index, today + dt.timedelta(days=d))]
    if not candidates:
        return f"trip {trip_id!r} does not run around now"
    best = min(candidates, key=lambda d: abs(_midnight(timetable, d) + start - now))
    return index, best


@numba.njit(cache=True)
def _varint(buf: Any, pos: int) -> tuple[int, int]:  # pragma: no cover - compiled
    """A protobuf varint at ``pos``: (value as int64, two's complement wraps), next pos."""
    value: Any = 0
    shift = 0
    while True:
        byte = buf[pos]
        pos += 1
        value |= (np.int64(byte) & 0x7F) << shift
        if byte < 0x80:
            return value, pos
        shift += 7


@numba.njit(cache=True)
def _skip(buf: Any, pos: int, wire: int) -> int:  # pragma: no cover - compiled
    """The position after a field's value of wire type ``wire``."""
    if wire == 0:
        return _varint(buf, pos)[1]
    if wire == 1:
        return pos + 8
    if wire == 2:
        size, pos = _varint(buf, pos)
        return pos + size
    return pos + 4  # wire type 5 (groups do not occur in GTFS-Realtime)


@numba.njit(cache=True)
def _event(buf: Any, pos: int, end: int) -> tuple[int, int]:  # pragma: no cover - compiled
    """A StopTimeEvent: (kind 1 time / 2 delay / 0 none, value)."""
    kind = 0
    value = 0
    delay: Any = 0
    has_delay = False
    while pos < end:
        tag, pos = _varint(buf, pos)
        field, wire = tag >> 3, tag & 7
        if field == 2 and wire == 0:
            value, pos = _varint(buf, pos)
            kind = 1 if value != 0 else kind
        elif field == 1 and wire == 0:
            raw, pos = _varint(buf, pos)
            delay = np.int64(np.int32(raw & 0xFFFFFFFF))  # int32, sign-extended on the wire
            has_delay = True
        else:
            pos = _skip(buf, pos, wire)
    if kind == 1:
        return 1, value
    if has_delay:
        return 2, delay
    return 0, 0


@numba.njit(cache=True)
def _fnv(buf: Any, start: int, end: int) -> Any:  # pragma: no cover - compiled
    """FNV-1a (64-bit) of ``buf[start:end]``, as int64."""
    h = np.uint64(14695981039346656037)
    for i in range(start, end):
        h = (h ^ np.uint64(buf[i])) * np.uint64(1099511628211)
    return np.int64(h)


@numba.njit(cache=True)
def _next(buf: Any, pos: int, end: int, field: int
          ) -> tuple[int, int, int]:  # pragma: no cover - compiled
    """The next length-delimited ``field`` in ``buf[pos:end]``: (start, end) of its bytes and
    the position after it; (-1, -1, end) when there is none."""
    while pos < end:
        tag, pos = _varint(buf, pos)
        if tag >> 3 == field and tag & 7 == 2:
            size, pos = _varint(buf, pos)
            return pos, pos + size, pos + size
        pos = _skip(buf, pos, tag & 7)
    return -1, -1, end


@numba.njit(cache=True)
def _scan(buf: Any, out: Any, store: bool) -> int:  # pragma: no cover - compiled
    """Every StopTimeUpdate of a FeedMessage's trip updates, straight from the wire format;
    with ``store``, row ``i`` of ``out`` gets the ``i``-th: its entity's ordinal, the hash
    and byte span of its stop_id, its schedule relationship, arrival and departure (kind,
    value) and its stop_sequence (-1: none). Returns how many there are."""
    count = 0
    ordinal = -1
    entity_pos = 0
    while True:  # FeedMessage.entity (2) > FeedEntity.trip_update (3) > stop_time_update (2)
        entity, entity_end, entity_pos = _next(buf, entity_pos, buf.shape[0], 2)
        if entity < 0:
            return count
        ordinal += 1
        while True:
            update, update_end, entity = _next(buf, entity, entity_end, 3)
            if update < 0:
                break
            while True:
                pos, stu_end, update = _next(buf, update, update_end, 2)
                if pos < 0:
                    break
                if store:
                    _read_update(buf, pos, stu_end, out[count], ordinal)
                count += 1


@numba.njit(cache=True)
def _read_update(buf: Any, pos: int, end: int, row: Any, ordinal: int
                 ) -> None:  # pragma: no cover - compiled
    """One StopTimeUpdate into ``row`` (see :func:`_scan`)."""
    row[0] = ordinal
    row[1] = _fnv(buf, 0, 0)
    row[9] = -1
    while pos < end:
        tag, pos = _varint(buf, pos)
        field, wire = tag >> 3, tag & 7
        if field == 1 and wire == 0:  # stop_sequence (uint32)
            value, pos = _varint(buf, pos)
            row[9] = value & 0xFFFFFFFF
        elif field == 4 and wire == 2:  # stop_id
            size, pos = _varint(buf, pos)
            row[1] = _fnv(buf, pos, pos + size)
            row[2], row[3] = pos, pos + size
            pos += size
        elif field == 5 and wire == 0:  # schedule_relationship
            row[4], pos = _varint(buf, pos)
        elif (field == 2 or field == 3) and wire == 2:  # arrival, departure
            size, pos = _varint(buf, pos)
            kind, value = _event(buf, pos, pos + size)
            column = 5 if field == 2 else 7
            row[column], row[column + 1] = kind, value
            pos += size
        else:
            pos = _skip(buf, pos, wire)


def _stop_time_updates(data: bytes, stops: tuple[npt.NDArray[np.int64], npt.NDArray[np.int64],
                                                  list[bytes]]
                       ) -> tuple[npt.NDArray[np.int64], ...]:
    """(entity ordinal, stop index or -1, relation, arrival kind, arrival, departure kind,
    departure, stop_sequence or -1, whether a stop_id is given) of every stop-time update in
    ``data``, as int64 arrays.

    Stop ids are matched by their 64-bit hash, and each distinct matched id is compared
    byte for byte once.
    """
    buf = np.frombuffer(data, dtype=np.uint8)
    rows = np.zeros((_scan(buf, np.zeros((1, 10), dtype=np.int64), False), 10), dtype=np.int64)
    _scan(buf, rows, True)
    hashes, indices, ids = stops
    where = np.minimum(np.searchsorted(hashes, rows[:, 1]), max(hashes.shape[0] - 1, 0))
    found = hashes[where] == rows[:, 1] if hashes.shape[0] else np.zeros(rows.shape[0], bool)
    stop = np.where(found, indices[where] if hashes.shape[0] else -1, -1).astype(np.int64)
    _, first = np.unique(rows[:, 1], return_index=True)
    for row in first[found[first]].tolist():  # one exact comparison per distinct stop id
        if data[int(rows[row, 2]):int(rows[row, 3])] != ids[int(where[row])]:
            stop[rows[:, 1] == rows[row, 1]] = -1
    return (rows[:, 0], stop, rows[:, 4], rows[:, 5], rows[:, 6], rows[:, 7], rows[:, 8],
            rows[:, 9], (rows[:, 3] > rows[:, 2]).astype(np.int64))


def stop_lookup(timetable: Timetable, feed: str
                ) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.int64], list[bytes]]:
    """The stops of ``feed`` by the hash of their id: (sorted hashes, stop indices, UTF-8
    ids), cached."""
    cache: dict[str, Any] = timetable.meta.setdefault("_rt_stop_lookup", {})
    if feed not in cache:
        wanted = feed_index(timetable, feed)
        pairs = sorted((_fnv(np.frombuffer(stop_id.encode(), dtype=np.uint8), 0,
                             len(stop_id.encode())), index, stop_id.encode())
                       for index, stop_id in enumerate(timetable.meta["stop_ids"])
                       if timetable.stop_feed[index] == wanted)
        cache[feed] = (np.asarray([p[0] for p in pairs], dtype=np.int64),
                       np.asarray([p[1] for p in pairs], dtype=np.int64),
                       [p[2] for p in pairs])
    found: tuple[npt.NDArray[np.int64], npt.NDArray[np.int64], list[bytes]] = cache[feed]
    return found


SKIPPED = int(StopTimeUpdate.SKIPPED)
NO_DATA = int(StopTimeUpdate.NO_DATA)


@numba.njit(cache=True)
def _estimate(trip_src: Any, trip_base: Any, trip_n: Any, trip_midnight: Any, trip_u0: Any,
              trip_u1: Any, out_offset: Any, u_stop: Any, u_relation: Any, u_akind: Any,
              u_arrival: Any, u_dkind: Any, u_departure: Any, u_sequence: Any, u_named: Any,
              pattern_stops: Any, stop_sequence: Any, arrival: Any, departure: Any,
              out_arr: Any, out_dep: Any, u_position: Any
              ) -> None:  # pragma: no cover - compiled
    """Estimated times of every updated trip (see the module notes); ``u_position`` gets
    each update's position on its trip (-1: its stop is not on the trip).

    An update is matched by its stop_sequence when it gives one (the stop_id, if given too,
    must be the stop there), else by stop_id, at or after the previous update's position."""
    for j in range(trip_src.shape[0]):
        src, base, n, midnight = trip_src[j], trip_base[j], trip_n[j], trip_midnight[j]
        out = out_offset[j]
        by_position = np.full(n, -1, dtype=np.int64)
        cursor = 0
        for u in range(trip_u0[j], trip_u1[j]):
            u_position[u] = -1
            for i in range(cursor, n):
                if u_sequence[u] >= 0:
                    if stop_sequence[src + i] != u_sequence[u]:
                        continue
                    if u_named[u] and pattern_stops[base + i] != u_stop[u]:
                        break  # the stop_id contradicts the stop_sequence
                elif pattern_stops[base + i] != u_stop[u]:
                    continue
                u_position[u] = i
                by_position[i] = u
                cursor = i + 1
                break
        delay = 0
        carrying = False
        for i in range(n):
            sched_a = arrival[src + i]
            sched_d = departure[src + i]
            a = sched_a
            d = sched_d
            skipped = False
            fresh = False
            u = by_position[i]
            if u >= 0:
                if u_relation[u] == NO_DATA:
                    carrying = False
                elif u_relation[u] == SKIPPED:
                    skipped = True
                else:
                    has_a = u_akind[u] > 0
                    has_d = u_dkind[u] > 0
                    if has_a:
                        a = u_arrival[u] - midnight if u_akind[u] == 1 else sched_a + u_arrival[u]
                    if has_d:
                        d = (u_departure[u] - midnight if u_dkind[u] == 1
                             else sched_d + u_departure[u])
                    if has_d and not has_a:
                        a = min(sched_a + (d - sched_d), d)
                    if has_a and not has_d:
                        d = max(sched_d + (a - sched_a), a)
                    if has_a or has_d:
                        delay = d - sched_d
                        carrying = True
                        fresh = True
            if not fresh and carrying:
                a = sched_a + delay
                d = sched_d + delay
            if i > 0:
                a = max(a, out_dep[out + i - 1])
            d = max(d, a)
            out_arr[out + i] = a
            out_dep[out + i] = d
            if skipped:
                by_position[i] = -2
        for i in range(n):
            if by_position[i] == -2:
                out_arr[out + i] = NEVER
                out_dep[out + i] = NEVER


def _fresh(message: Any, field: str, now: int | None, max_age: int | None, outcome: Outcome
           ) -> Iterator[tuple[int, Any, Any, int]]:
    """(ordinal, entity, its ``field`` part, timestamp) of the entities carrying ``field``,
    counted;
    with ``now``, those older than ``max_age`` (counted stale) or in the future (an error) are
    left out. The timestamp is the part's own, else the header's."""
    header_stamp = int(message.header.timestamp)
    for ordinal, entity in enumerate(message.entity):
        if not entity.HasField(field) or entity.is_deleted:
            continue
        outcome.entities += 1
        part = getattr(entity, field)
        has_stamp = field != "alert" and part.HasField("timestamp")
        stamp = int(part.timestamp) if has_stamp else header_stamp
        if now is not None and max_age is not None:
            if stamp and now - stamp > max_age:
                outcome.stale += 1
                continue
            if stamp > now + FUTURE_TOLERANCE_S:
                outcome.error(f"entity {entity.id!r}: timestamp {stamp} is in the future")
                continue
        yield ordinal, entity, part, stamp


def trip_updates(timetable: Timetable, feed: str, message: Any, now: int, max_age: int,
                 data: bytes | None = None) -> tuple[TripOverlay, Outcome]:
    """The overlay of a decoded trip-update ``message`` (``data``: its bytes, when at hand)
    for GTFS feed ``feed``.

    Trip descriptors are read from the decoded message (one per entity); the stop-time
    updates, by far the most, straight from the wire format into flat arrays, and the
    estimates of all trips are computed in one compiled loop.
    """
    outcome = Outcome(feed_timestamp=int(message.header.timestamp) or None)
    lookup = trip_lookup(timetable, feed)
    canceled: dict[tuple[int, int], str] = {}
    timed: dict[tuple[int, int], tuple[int, int, str]] = {}  # ordinal, midnight, entity id
    for ordinal, entity, update, _ in _fresh(message, "trip_update", now, max_age, outcome):
        descriptor = update.trip
        relation = descriptor.schedule_relationship
        if relation not in (TripDescriptor.SCHEDULED, TripDescriptor.CANCELED):
            outcome.unmatched += 1
            outcome.error(f"entity {entity.id!r}: trip {descriptor.trip_id!r} is "
                          f"{TripDescriptor.ScheduleRelationship.Name(relation)} (not supported)")
            continue
        found = _match(timetable, lookup, descriptor, now)
        if isinstance(found, str):
            outcome.unmatched += 1
            outcome.error(f"entity {entity.id!r}: {found}")
            continue
        trip, day = found
        outcome.matched += 1
        key = (trip, day.toordinal())
        timed.pop(key, None)  # a later entity for the same trip and day wins
        canceled.pop(key, None)
        if relation == TripDescriptor.CANCELED:
            canceled[key] = str(entity.id)
        else:
            timed[key] = (ordinal, _midnight(timetable, day), str(entity.id))
    if not canceled and not timed:
        return empty_overlay(), outcome
    updates = _stop_time_updates(message.SerializeToString() if data is None else data,
                                 stop_lookup(timetable, feed))
    return _assemble(timetable, canceled, timed, updates, outcome), outcome


def _assemble(timetable: Timetable, canceled: dict[tuple[int, int], str],
              timed: dict[tuple[int, int], tuple[int, int, str]],
              updates: tuple[npt.NDArray[np.int64], ...], outcome: Outcome) -> TripOverlay:
    """Estimate the timed trips in one compiled call and lay out the overlay."""
    keys = sorted([*canceled, *timed])
    trip = np.asarray([k[0] for k in keys], dtype=np.int64)
    is_canceled = np.asarray([k in canceled for k in keys], dtype=np.bool_)
    pattern = timetable.trip_pattern[trip].astype(np.int64)
    base = timetable.pattern_stop_offset[pattern].astype(np.int64)
    n = np.where(is_canceled, 0, timetable.pattern_stop_offset[pattern + 1] - base)
    offset = np.concatenate([[0], np.cumsum(n)]).astype(np.int64)
    ordinals, stop, relation, akind, arrival, dkind, departure, sequence, named = updates
    rows = np.flatnonzero(~is_canceled)
    info = [timed[keys[j]] for j in rows.tolist()]
    wanted = np.asarray([ordinal for ordinal, _, _ in info], dtype=np.int64)
    first = np.searchsorted(ordinals, wanted, side="left")
    last = np.searchsorted(ordinals, wanted, side="right")
    positions = np.zeros(stop.shape[0], dtype=np.int64)
    out_arr = np.zeros(int(offset[-1]), dtype=np.int64)
    out_dep = np.zeros(int(offset[-1]), dtype=np.int64)
    _estimate(timetable.trip_time_offset[trip[rows]].astype(np.int64), base[rows], n[rows],
              np.asarray([midnight for _, midnight, _ in info], dtype=np.int64), first, last,
              offset[rows], stop, relation, akind, arrival, dkind, departure, sequence, named,
              timetable.pattern_stops, timetable.stop_sequence, timetable.arrival,
              timetable.departure, out_arr, out_dep, positions)
    for j in sorted(set(np.searchsorted(last, np.flatnonzero(positions < 0),
                                        side="right").tolist())):
        outcome.error(f"entity {info[j][2]!r}: a stop_time_update names a stop that is not on "
                      "the trip (matched by stop_sequence, else by stop_id; both must agree)")
    return TripOverlay(
        trip_ids=[timetable.meta["trip_ids"][k[0]] for k in keys],
        trip=trip.astype(np.int32), day=np.asarray([k[1] for k in keys], dtype=np.int32),
        canceled=is_canceled, offset=offset.astype(np.int32),
        arrival=np.minimum(out_arr, NEVER).astype(np.int32),
        departure=np.minimum(out_dep, NEVER).astype(np.int32))


def overlay_view(timetable: Timetable, view: DayView, overlay: TripOverlay) -> DayView:
    """A copy of ``view`` with the overlay's estimated times (see the module notes).

    Affected patterns are re-sorted by departure and their FIFO flag recomputed; entries of
    the overlay are flagged ``realtime``.
    """
    ordinal = view.day.toordinal()
    if len(overlay):
        view = _with_late_trips(timetable, view, overlay)
    n = view.trip.shape[0]
    realtime = np.zeros(n, dtype=np.bool_)
    if not len(overlay) or n == 0:
        return dataclasses.replace(view, realtime=realtime)
    days = view.shift // DAY + ordinal
    near = np.abs(overlay.day - ordinal) <= 1
    keys = overlay.trip[near].astype(np.int64) * 8 + (overlay.day[near] - ordinal + 2)
    rows = np.flatnonzero(near)
    order = np.argsort(keys)
    keys, rows = keys[order], rows[order]
    if keys.shape[0] == 0:
        return dataclasses.replace(view, realtime=realtime)
    view_keys = view.trip.astype(np.int64) * 8 + (days - ordinal + 2)
    where = np.minimum(np.searchsorted(keys, view_keys), keys.shape[0] - 1)
    entries = np.flatnonzero(keys[where] == view_keys)
    if entries.size == 0:
        return dataclasses.replace(view, realtime=realtime)
    dep, arr = view.dep.copy(), view.arr.copy()
    trip, shift, fifo = view.trip.copy(), view.shift.copy(), view.fifo.copy()
    realtime[entries] = True
    patterns = timetable.trip_pattern[trip[entries]]
    for e, j, r in zip(entries.tolist(), rows[where[entries]].tolist(), patterns.tolist(),
                       strict=True):
        lo, hi = int(view.offset[r]), int(view.offset[r + 1])
        m = hi - lo
        length = int(timetable.pattern_stop_offset[r + 1] - timetable.pattern_stop_offset[r])
        cells = int(view.time_offset[r]) + (e - lo) * length + np.arange(length)  # trip-major
        if overlay.canceled[j]:
            dep[cells] = arr[cells] = NEVER
            continue
        a, b = int(overlay.offset[j]), int(overlay.offset[j + 1])
        new_dep = overlay.departure[a:b].astype(np.int64)
        new_arr = overlay.arrival[a:b].astype(np.int64)
        s = int(shift[e])
        dep[cells] = np.where(new_dep >= NEVER, NEVER, new_dep + s)
        arr[cells] = np.where(new_arr >= NEVER, NEVER, new_arr + s)
    # the kernel's lower bound: the fastest hop with the estimates (pace_of passes skipped
    # stops and canceled trips; hops are within one entry, so the entries' order is no matter)
    pace = pace_of(timetable, view, dep, arr)
    n_patterns = view.offset.shape[0] - 1
    base_offset, base_end = lanes_of(view)
    ends: dict[int, list[int]] = {}
    for r in np.unique(patterns).tolist():
        lo, hi = int(view.offset[r]), int(view.offset[r + 1])
        m = hi - lo
        length = int(timetable.pattern_stop_offset[r + 1] - timetable.pattern_stop_offset[r])
        start = int(view.time_offset[r])
        block_dep = dep[start:start + length * m].reshape(m, length)  # trip-major
        block_arr = arr[start:start + length * m].reshape(m, length)
        by = np.argsort(_start_key(block_dep, view.dep[start:start + length * m]
                                   .reshape(m, length)), kind="stable")
        running = int(np.count_nonzero(block_dep.min(axis=1) < NEVER))  # the rest: canceled
        lane = _split_lanes(np.ascontiguousarray(block_dep[by[:running]].T),
                            np.ascontiguousarray(block_arr[by[:running]].T))
        # lane by lane, each by departure; canceled trips last, in no lane (never scanned)
        by = np.concatenate([by[:running][np.argsort(lane, kind="stable")], by[running:]])
        block_dep[:] = block_dep[by]
        block_arr[:] = block_arr[by]
        trip[lo:hi] = trip[lo:hi][by]
        shift[lo:hi] = shift[lo:hi][by]
        realtime[lo:hi] = realtime[lo:hi][by]
        ends[r] = np.cumsum(np.bincount(lane)).tolist() if running else []
        fifo[r] = True  # every lane is
    counts = np.diff(base_offset).astype(np.int64)
    for r, lane_ends in ends.items():
        counts[r] = len(lane_ends)
    lane_offset = np.concatenate([[0], np.cumsum(counts)]).astype(np.int32)
    lane_end = np.empty(int(lane_offset[-1]), dtype=np.int32)
    keep = np.ones(n_patterns, dtype=np.bool_)
    keep[list(ends)] = False
    for r in np.flatnonzero(keep).tolist():
        lane_end[lane_offset[r]:lane_offset[r + 1]] = base_end[base_offset[r]:base_offset[r + 1]]
    for r, lane_ends in ends.items():
        lane_end[lane_offset[r]:lane_offset[r + 1]] = lane_ends
    return DayView(day=view.day, offset=view.offset, trip=trip, shift=shift, fifo=fifo,
                   time_offset=view.time_offset, dep=dep, arr=arr, pace=pace,
                   realtime=realtime, lane_offset=lane_offset, lane_end=lane_end)


def _with_late_trips(timetable: Timetable, view: DayView, overlay: TripOverlay) -> DayView:
    """``view`` with the previous service day's trips that the overlay's delays carry past
    midnight (an estimated arrival at or after 24:00) while their timetable did not: the view
    holds only trips scheduled to run after midnight. ``view`` itself when there are none."""
    ordinal = view.day.toordinal()
    timed = np.diff(overlay.offset) > 0  # canceled trips have no times
    rows = np.flatnonzero(timed & (overlay.day == ordinal - 1))
    if rows.size == 0:
        return view
    latest = np.full(len(overlay), -1, dtype=np.int64)
    latest[timed] = np.maximum.reduceat(np.where(overlay.arrival < NEVER, overlay.arrival, -1),
                                        overlay.offset[:-1][timed])
    trips = overlay.trip[rows][latest[rows] >= DAY]
    trips = trips[~np.isin(trips, view.trip[view.shift == -DAY])]
    if trips.size == 0:
        return view
    return view_of(timetable, view.day, np.concatenate([view.trip, trips]),
                   np.concatenate([view.shift, np.full(trips.size, -DAY, np.int32)]))


def _start_key(estimated: I32, scheduled: I32) -> npt.NDArray[np.int64]:
    """Per trip (row) of a pattern's trip-major times: when it would leave the first stop,
    estimated — at its first stop not skipped, minus the timetable's time from the first stop
    there (a trip skipping its first stop still sorts by when it runs); NEVER when canceled."""
    running = estimated < NEVER
    first = np.argmax(running, axis=1)
    rows = np.arange(estimated.shape[0])
    key: npt.NDArray[np.int64] = (estimated[rows, first].astype(np.int64)
                                  - scheduled[rows, first] + scheduled[:, 0])
    key[~running.any(axis=1)] = NEVER
    return key


@numba.njit(cache=True)
def _split_lanes(dep: Any, arr: Any) -> Any:  # pragma: no cover - compiled
    """Lane of each column (trip) of a pattern's ``[positions × trips]`` times in departure
    order: the first lane in which it overtakes no trip — at every position where it stops,
    it departs and arrives no earlier than the lane's trips that stop there — else a new
    lane. A skipped stop (NEVER) constrains nothing: the kernel never boards nor alights
    there and steps over it, so a pattern splits only where a trip really overtakes another
    (mostly never: one lane, scanned as without realtime)."""
    n, m = dep.shape
    lane = np.empty(m, dtype=np.int64)
    low = -(2**62)
    last_dep = np.full((max(m, 1), n), low, dtype=np.int64)  # per lane: latest time so far
    last_arr = np.full((max(m, 1), n), low, dtype=np.int64)
    count = 0
    for c in range(m):
        chosen = count
        for candidate in range(count):
            ok = True
            for i in range(n):
                d = dep[i, c]
                a = arr[i, c]
                if (d < NEVER and d < last_dep[candidate, i]) or (
                        a < NEVER and a < last_arr[candidate, i]):
                    ok = False
                    break
            if ok:
                chosen = candidate
                break
        if chosen == count:
            count += 1
        lane[c] = chosen
        for i in range(n):
            if dep[i, c] < NEVER:
                last_dep[chosen, i] = dep[i, c]
            if arr[i, c] < NEVER:
                last_arr[chosen, i] = arr[i, c]
    return lane


def _translations(text: Any) -> dict[str, str]:
    """A ``TranslatedString`` as language -> text ("" for an untagged translation)."""
    return {str(t.language or ""): str(t.text) for t in text.translation}


def pick(translations: dict[str, str], lang: str) -> str:
    """The text in ``lang``, else along the rider's fallbacks (:data:`FALLBACKS`: a Korean
    rider reads English before Japanese), else Japanese, untagged, English, or any.

    Feeds tag translations with any BCP 47 tag (``zh-TW``, ``ko-KR``, ``en-US``); each is read
    as one of the riders' languages, the first text of a language winning."""
    by_language: dict[str, str] = {}
    for tag, text in translations.items():
        if text:
            by_language.setdefault((language_of(tag) or tag) if tag else "", text)
    for key in (*FALLBACKS.get(lang, (lang,)), "ja", "", "en"):
        if by_language.get(key):
            return by_language[key]
    return next(iter(by_language.values()), "")


def alerts(message: Any) -> tuple[list[dict[str, Any]], Outcome]:
    """The service alerts of a decoded message, as JSON documents.

    An alert keeps its active periods (``[start, end]``, 0: open), informed entities (agency,
    route, stop, trip; all given fields must match), cause, effect, header and description in
    every translation. Alerts are not aged out by their timestamp: they hold until their active
    period ends or the publisher drops them.
    """
    outcome = Outcome(feed_timestamp=int(message.header.timestamp) or None)
    found: list[dict[str, Any]] = []
    for _, entity, alert, _ in _fresh(message, "alert", None, None, outcome):
        informed = [{"agency_id": e.agency_id, "route_id": e.route_id, "stop_id": e.stop_id,
                     "trip_id": e.trip.trip_id if e.HasField("trip") else ""}
                    for e in alert.informed_entity]
        if not informed:
            outcome.unmatched += 1
            outcome.error(f"alert {entity.id!r} informs no entity")
            continue
        outcome.matched += 1
        found.append({
            "id": str(entity.id),
            "active_periods": [[int(p.start), int(p.end)] for p in alert.active_period],
            "informed": informed,
            "cause": rt.Alert.Cause.Name(alert.cause),
            "effect": rt.Alert.Effect.Name(alert.effect),
            "header": _translations(alert.header_text),
            "description": _translations(alert.description_text),
            "url": _translations(alert.url),
        })
    return found, outcome


def active(alert: dict[str, Any], start: int, end: int) -> bool:
    """Whether the alert is in force at some moment of ``[start, end]``."""
    periods = alert["active_periods"]
    return not periods or any((a == 0 or a <= end) and (b == 0 or b >= start)
                              for a, b in periods)


def touches(alert: dict[str, Any], agency: str, route: str, trip: str,
            stops: Sequence[str]) -> bool:
    """Whether one of the alert's informed entities is this ride (every field it gives)."""
    for entity in alert["informed"]:
        if entity["agency_id"] and entity["agency_id"] != agency:
            continue
        if entity["route_id"] and entity["route_id"] != route:
            continue
        if entity["trip_id"] and entity["trip_id"] != trip:
            continue
        if entity["stop_id"] and entity["stop_id"] not in stops:
            continue
        return True
    return False


def reference(alert: dict[str, Any], lang: str) -> dict[str, str]:
    """The short form attached to legs and departures (CONTRACT: id, header, description,
    effect)."""
    return {"id": alert["id"], "header": pick(alert["header"], lang),
            "description": pick(alert["description"], lang), "effect": alert["effect"]}


def vehicles(message: Any, now: int, max_age: int) -> tuple[list[dict[str, Any]], Outcome]:
    """Vehicle positions of a decoded message (older than ``max_age`` are left out)."""
    outcome = Outcome(feed_timestamp=int(message.header.timestamp) or None)
    found: list[dict[str, Any]] = []
    for _, entity, vehicle, stamp in _fresh(message, "vehicle", now, max_age, outcome):
        if not vehicle.HasField("position"):
            outcome.unmatched += 1
            outcome.error(f"vehicle {entity.id!r} has no position")
            continue
        position = vehicle.position
        if not (-90 <= position.latitude <= 90 and -180 <= position.longitude <= 180):
            outcome.unmatched += 1
            outcome.error(f"vehicle {entity.id!r}: position out of range")
            continue
        outcome.matched += 1
        found.append({
            "id": str(vehicle.vehicle.id or entity.id),
            "label": str(vehicle.vehicle.label),
            "trip_id": str(vehicle.trip.trip_id), "route_id": str(vehicle.trip.route_id),
            "lat": round(float(position.latitude), 6), "lon": round(float(position.longitude), 6),
            "bearing": float(position.bearing) if position.HasField("bearing") else None,
            "speed": float(position.speed) if position.HasField("speed") else None,
            "stop_id": str(vehicle.stop_id) or None,
            "status": rt.VehiclePosition.VehicleStopStatus.Name(vehicle.current_status),
            "timestamp": stamp or None,
        })
    return found, outcome
