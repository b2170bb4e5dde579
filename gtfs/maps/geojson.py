"""Leg lines and the network's GeoJSON features (pure: arrays and dicts in, dicts out).

Coordinates are GeoJSON's ``[lon, lat]``, rounded to 6 decimals (about 0.1 m).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any

from gtfs.maps.shapes import FeedShapes, Point
from gtfs.planner import Journey, Leg
from gtfs.timetable import Timetable

Feature = dict[str, Any]
DIGITS = 6


def _near(shape: Sequence[Point], point: Point, start: int = 0) -> int:
    """Index of the vertex of ``shape`` (from ``start`` on) nearest ``point``."""
    scale = math.cos(math.radians(point[1])) ** 2
    best, best_d = start, math.inf
    for index in range(start, len(shape)):
        lon, lat = shape[index]
        d = (lon - point[0]) ** 2 * scale + (lat - point[1]) ** 2
        if d < best_d:
            best, best_d = index, d
    return best


def cut(shape: Sequence[Point], start: Point, end: Point) -> list[Point]:
    """The part of ``shape`` from the vertex nearest ``start`` to the later vertex nearest
    ``end``, beginning and ending exactly at the two points."""
    first = _near(shape, start)
    last = _near(shape, end, first)
    return [start, *shape[first + 1:last], end]


def line(points: Iterable[Point]) -> dict[str, Any]:
    """A GeoJSON LineString (consecutive duplicates dropped; at least two positions)."""
    coordinates: list[list[float]] = []
    for lon, lat in points:
        position = [round(lon, DIGITS), round(lat, DIGITS)]
        if not coordinates or coordinates[-1] != position:
            coordinates.append(position)
    if len(coordinates) == 1:
        coordinates.append(list(coordinates[0]))
    return {"type": "LineString", "coordinates": coordinates}


def _stop_point(timetable: Timetable, stop: int) -> Point:
    return float(timetable.stop_lon[stop]), float(timetable.stop_lat[stop])


def pattern_points(timetable: Timetable, pattern: int, first: int, last: int) -> list[Point]:
    """The stops of a pattern from position ``first`` to ``last`` as points."""
    offset = int(timetable.pattern_stop_offset[pattern])
    return [_stop_point(timetable, int(stop))
            for stop in timetable.pattern_stops[offset + first:offset + last + 1].tolist()]


def trip_shape(timetable: Timetable, trip: int, shapes: Sequence[FeedShapes]
               ) -> list[Point] | None:
    """The shape of a trip (None when its feed has none for it)."""
    pattern = int(timetable.trip_pattern[trip])
    first_stop = int(timetable.pattern_stops[int(timetable.pattern_stop_offset[pattern])])
    feed = shapes[int(timetable.stop_feed[first_stop])]
    trip_id = timetable.meta["trip_ids"][trip].split("#", 1)[0]  # frequencies: id#hh:mm:ss
    shape_id = feed.trip_shape.get(trip_id)
    return None if shape_id is None else feed.shapes.get(shape_id)


def leg_geometry(timetable: Timetable, leg: Leg, start: Point, end: Point,
                 shapes: Sequence[FeedShapes]) -> dict[str, Any]:
    """A leg's line: a ride along its trip's shape between its stops (through the stops
    ridden past when the feed has no shape), anything else straight."""
    if leg.trip < 0:
        return line([start, end])
    pattern = int(timetable.trip_pattern[leg.trip])
    stops = pattern_points(timetable, pattern, leg.board_pos, leg.alight_pos)
    shape = trip_shape(timetable, leg.trip, shapes)
    if shape is None or len(shape) < 2:
        return line(stops)
    return line(cut(shape, stops[0], stops[-1]))


def add_geometry(document: Mapping[str, Any], journeys: Sequence[Journey],
                 timetable: Timetable, shapes: Sequence[FeedShapes]) -> None:
    """Give every leg of a plan document its ``geometry`` (the document's itineraries and
    legs are the journeys' in order)."""
    for itinerary, journey in zip(document["itineraries"], journeys, strict=True):
        for out, leg in zip(itinerary["legs"], journey.legs, strict=True):
            start = (out["from"]["lon"], out["from"]["lat"])
            end = (out["to"]["lon"], out["to"]["lat"])
            out["geometry"] = leg_geometry(timetable, leg, start, end, shapes)


def route_features(timetable: Timetable, shapes: Sequence[FeedShapes]) -> list[Feature]:
    """One LineString per route and distinct path (shape, else stop sequence)."""
    meta = timetable.meta
    seen: set[tuple[int, tuple[Point, ...]]] = set()
    features: list[Feature] = []
    for pattern in range(timetable.n_patterns):
        route = int(timetable.pattern_route[pattern])
        trips = timetable.pattern_trips[int(timetable.pattern_trip_offset[pattern]):
                                        int(timetable.pattern_trip_offset[pattern + 1])]
        shape = trip_shape(timetable, int(trips[0]), shapes) if len(trips) else None
        count = (int(timetable.pattern_stop_offset[pattern + 1])
                 - int(timetable.pattern_stop_offset[pattern]))
        points = shape if shape and len(shape) >= 2 else pattern_points(
            timetable, pattern, 0, count - 1)
        key = (route, tuple(points))
        if key in seen:
            continue
        seen.add(key)
        first_stop = int(timetable.pattern_stops[int(timetable.pattern_stop_offset[pattern])])
        feed = shapes[int(timetable.stop_feed[first_stop])]
        route_id = meta["route_ids"][route]
        colour, text_colour = feed.route_colour.get(route_id, ("", ""))
        features.append({"type": "Feature", "geometry": line(points), "properties": {
            "kind": "route", "route_id": route_id,
            "route_short_name": meta["route_short_names"][route],
            "route_long_name": meta["route_long_names"][route],
            "mode": meta["route_modes"][route], "colour": colour or None,
            "text_colour": text_colour or None, "along_shape": bool(shape)}})
    return features


def point_feature(lon: float, lat: float, properties: dict[str, Any]) -> Feature:
    """A GeoJSON Point feature."""
    return {"type": "Feature", "geometry": {
        "type": "Point", "coordinates": [round(lon, DIGITS), round(lat, DIGITS)]},
        "properties": properties}


def area_feature(rings: Sequence[Sequence[Point]], properties: dict[str, Any]) -> Feature:
    """A GeoJSON Polygon of rings (the first outside; the others cut out, even-odd)."""
    return {"type": "Feature", "geometry": {"type": "Polygon", "coordinates": [
        [[round(lon, DIGITS), round(lat, DIGITS)] for lon, lat in ring] for ring in rings]},
        "properties": properties}


def in_box(box: tuple[float, float, float, float] | None) -> Callable[[float, float], bool]:
    """A test of ``(lon, lat)`` against ``(west, south, east, north)`` (everything: None)."""
    if box is None:
        return lambda _lon, _lat: True
    west, south, east, north = box
    return lambda lon, lat: west <= lon <= east and south <= lat <= north
