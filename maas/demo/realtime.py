"""The demo's GTFS-Realtime publisher: trip updates, vehicle positions and an alert, as real
protobuf, for the demo timetable, at a local URL that ``maas worker`` polls.

What it says is invented but plausible, and stable within ten minutes: buses of the trips
running now or leaving within six hours are 1-8 minutes late (snow; at night that is the first
morning buses), the first trip leaving ten minutes from now or later is canceled, every bus
agency carries the alert 「雪のため遅れ」 / "Delays due to snow", and each running bus reports a
position between the stops it is between. ``maas demo`` starts the worker with
``--demo-realtime``, which runs this publisher on 127.0.0.1 (a free port) and registers its
three feeds.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import http.server
import threading
from collections.abc import Callable

from google.transit import gtfs_realtime_pb2 as rt

from gtfs.planner import service_time
from gtfs.raptor import day_view
from gtfs.timetable import Timetable

PATHS = {"trip-updates": "/trip-updates.pb", "vehicle-positions": "/vehicle-positions.pb",
         "alerts": "/alerts.pb"}
BEFORE_S, AHEAD_S = 2 * 3600, 6 * 3600  # trips leaving from 2 h ago to 6 h ahead are updated

ALERT_ID = "demo-snow"


def _header(now: int) -> rt.FeedMessage:
    message = rt.FeedMessage()
    message.header.gtfs_realtime_version = "2.0"
    message.header.incrementality = rt.FeedHeader.FULL_DATASET
    message.header.timestamp = now
    return message


def _delay(trip_id: str, minute: int) -> int:
    """1-8 minutes, fixed per trip within a minute."""
    digest = hashlib.sha256(f"{trip_id}:{minute // 10}".encode()).digest()
    return 60 * (1 + digest[0] % 8)


def _running(timetable: Timetable, moment: dt.datetime
             ) -> list[tuple[int, int, dt.date, list[int], list[int]]]:
    """(trip, shift, service day, departures, arrivals) of the trips around ``moment``."""
    day, seconds = service_time(timetable, moment)
    view = day_view(timetable, day)
    found = []
    for entry, trip in enumerate(view.trip.tolist()):
        shift = int(view.shift[entry])
        pattern = int(timetable.trip_pattern[trip])
        n = int(timetable.pattern_stop_offset[pattern + 1] - timetable.pattern_stop_offset[
            pattern])
        offset = int(timetable.trip_time_offset[trip])
        departures = (timetable.departure[offset:offset + n] + shift).tolist()
        arrivals = (timetable.arrival[offset:offset + n] + shift).tolist()
        if seconds - BEFORE_S <= departures[0] <= seconds + AHEAD_S or (
                departures[0] <= seconds <= arrivals[-1]):
            found.append((trip, shift, day + dt.timedelta(days=shift // 86400), departures,
                          arrivals))
    return found


def feeds(timetable: Timetable, moment: dt.datetime) -> dict[str, bytes]:
    """The three feeds' protobuf for ``moment``."""
    now = int(moment.timestamp())
    _, seconds = service_time(timetable, moment)
    meta = timetable.meta
    updates, positions, alerts = _header(now), _header(now), _header(now)
    running = _running(timetable, moment)
    later = sorted((deps[0], trip, day) for trip, _, day, deps, _ in running
                   if seconds + 600 <= deps[0])
    canceled = later[0][1] if later else -1
    for trip, _, day, departures, arrivals in running:
        trip_id = str(meta["trip_ids"][trip])
        entity = updates.entity.add()
        entity.id = f"tu-{trip_id}-{day:%Y%m%d}"
        descriptor = entity.trip_update.trip
        descriptor.trip_id = trip_id
        descriptor.start_date = f"{day:%Y%m%d}"
        entity.trip_update.timestamp = now
        if trip == canceled:
            descriptor.schedule_relationship = rt.TripDescriptor.CANCELED
            continue
        delay = _delay(trip_id, seconds // 60)
        pattern = int(timetable.trip_pattern[trip])
        first_stop = int(timetable.pattern_stops[timetable.pattern_stop_offset[pattern]])
        stu = entity.trip_update.stop_time_update.add()
        stu.stop_id = str(meta["stop_ids"][first_stop])
        stu.departure.delay = delay  # carried down the trip by the reader
        _position(timetable, positions, trip, trip_id, day, departures, arrivals, delay,
                  seconds, now)
    _snow_alert(alerts, meta["agency_ids"], now)
    return {"trip-updates": updates.SerializeToString(),
            "vehicle-positions": positions.SerializeToString(),
            "alerts": alerts.SerializeToString()}


def _position(timetable: Timetable, message: rt.FeedMessage, trip: int, trip_id: str,
              day: dt.date, departures: list[int], arrivals: list[int], delay: int,
              seconds: int, now: int) -> None:
    """A vehicle between the two stops it is between at ``seconds`` (with its delay)."""
    at = seconds - delay
    if not departures[0] <= at < arrivals[-1]:
        return
    i = max(j for j in range(len(departures) - 1) if departures[j] <= at)
    span = max(arrivals[i + 1] - departures[i], 1)
    share = min(max((at - departures[i]) / span, 0.0), 1.0)
    pattern = int(timetable.trip_pattern[trip])
    base = int(timetable.pattern_stop_offset[pattern])
    a, b = int(timetable.pattern_stops[base + i]), int(timetable.pattern_stops[base + i + 1])
    entity = message.entity.add()
    entity.id = f"vp-{trip_id}"
    vehicle = entity.vehicle
    vehicle.trip.trip_id = trip_id
    vehicle.trip.start_date = f"{day:%Y%m%d}"
    vehicle.vehicle.id = f"bus-{trip:04d}"
    vehicle.vehicle.label = f"{trip:04d}"
    vehicle.position.latitude = float(timetable.stop_lat[a] + share * (
        timetable.stop_lat[b] - timetable.stop_lat[a]))
    vehicle.position.longitude = float(timetable.stop_lon[a] + share * (
        timetable.stop_lon[b] - timetable.stop_lon[a]))
    vehicle.stop_id = str(timetable.meta["stop_ids"][b])
    vehicle.current_status = rt.VehiclePosition.IN_TRANSIT_TO
    vehicle.timestamp = now


def _snow_alert(message: rt.FeedMessage, agencies: list[str], now: int) -> None:
    entity = message.entity.add()
    entity.id = ALERT_ID
    alert = entity.alert
    alert.cause = rt.Alert.WEATHER
    alert.effect = rt.Alert.SIGNIFICANT_DELAYS
    period = alert.active_period.add()
    period.start = now - 3600
    period.end = now + 12 * 3600
    for agency in agencies:
        alert.informed_entity.add().agency_id = agency
    for field, texts in ((alert.header_text, (("雪のため遅れ", "ja"),
                                              ("Delays due to snow", "en"))),
                         (alert.description_text, (
                             ("大雪のため、各路線で数分の遅れが出ています。", "ja"),
                             ("Heavy snow is delaying buses on every line by a few minutes.",
                              "en")))):
        for text, lang in texts:
            translation = field.translation.add()
            translation.text, translation.language = text, lang


class Publisher:
    """An HTTP server on 127.0.0.1 (a free port) serving :func:`feeds` for the clock's now."""

    def __init__(self, timetable: Callable[[], Timetable | None],
                 clock: Callable[[], dt.datetime]) -> None:
        source, now = timetable, clock

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                kind = next((k for k, path in PATHS.items() if path == self.path), None)
                current = source()
                if kind is None or current is None:
                    self.send_error(404)
                    return
                body = feeds(current, now())[kind]
                self.send_response(200)
                self.send_header("Content-Type", "application/x-protobuf")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *_: object) -> None:
                pass  # the worker's log is about polls, not about its own publisher

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._thread = threading.Thread(target=self.server.serve_forever,
                                        name="demo-realtime", daemon=True)

    def url(self, kind: str) -> str:
        """Where feed ``kind`` is published."""
        return f"http://127.0.0.1:{self.server.server_address[1]}{PATHS[kind]}"

    def start(self) -> None:
        """Serve in a daemon thread."""
        self._thread.start()

    def stop(self) -> None:
        """Stop serving and close the socket."""
        self.server.shutdown()
        self.server.server_close()
