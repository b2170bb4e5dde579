"""``GET /map/network`` (the network as GeoJSON) and the geometry of plan legs."""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import threading

from sqlalchemy.orm import Session

from gtfs import gbfs
from gtfs.languages import localised
from gtfs.maps.geojson import (
    Feature,
    area_feature,
    in_box,
    point_feature,
    route_features,
)
from gtfs.maps.shapes import feed_shapes
from gtfs.network import NetworkStore
from gtfs.places.services import place_index
from gtfs.places.sources import stop_places
from gtfs.services import bike_stations, mobility
from gtfs.timetable import Timetable
from maas.core.errors import FieldError, InvalidInput

MAX_FEATURES = 20_000


def parse_bbox(text: str | None) -> tuple[float, float, float, float] | None:
    """``west,south,east,north`` (degrees) as numbers; anything else is a 422 naming bbox."""
    if text is None or not text.strip():
        return None
    try:
        west, south, east, north = (float(part) for part in text.split(","))
    except ValueError:
        west = south = east = north = float("nan")
    if not (-180 <= west <= east <= 180 and -90 <= south <= north <= 90):
        message = f"{text[:60]!r} is not west,south,east,north"
        raise InvalidInput(f"bbox: {message}", errors=[FieldError("bbox", message)])
    return west, south, east, north


class _Cache:
    """The last network document built by this process, by its ETag."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.etag = ""
        self.document: bytes = b""


_CACHES: dict[int, _Cache] = {}


def network_geojson(session: Session, store: NetworkStore, now: dt.datetime,
                    availability: gbfs.Availability, language: str,
                    bbox: tuple[float, float, float, float] | None) -> tuple[str, bytes]:
    """``(etag, GeoJSON bytes)`` of the network: route lines (along shapes where the feeds
    have them), stops (stations with their platforms folded), bike ports with their
    availability, and on-demand service areas; within ``bbox`` when given. The ETag changes
    with the feeds, the ports' status, the language and the box; the document is built only
    when it changed."""
    timetable = store.current(session)
    mobility = store.mobility.current(session)
    signature = json.dumps([
        store.active_feeds(session),
        [(n.feed, n.system.system_id, n.system.last_updated) for n in mobility.bikes],
        [service.service_id for service in mobility.taxis], language, bbox,
        availability.margin, availability.max_age_seconds,
        # staleness of bike status changes with the clock: it is part of the document
        int(now.timestamp()) // max(1, availability.max_age_seconds // 4)])
    etag = hashlib.sha256(signature.encode()).hexdigest()[:32]
    cache = _CACHES.setdefault(id(store), _Cache())
    with cache.lock:
        if cache.etag == etag:
            return etag, cache.document
    features = _features(session, store, timetable, now, availability, language, bbox)
    document = json.dumps({"type": "FeatureCollection", "features": features[:MAX_FEATURES],
                           "truncated": len(features) > MAX_FEATURES},
                          ensure_ascii=False, separators=(",", ":")).encode()
    with cache.lock:
        cache.etag, cache.document = etag, document
    return etag, document


def _features(session: Session, store: NetworkStore, timetable: Timetable | None,
              now: dt.datetime, availability: gbfs.Availability, language: str,
              bbox: tuple[float, float, float, float] | None) -> list[Feature]:
    inside = in_box(bbox)
    features: list[Feature] = []
    if timetable is not None:
        for feature in route_features(timetable, feed_shapes(session, store)):
            if any(inside(lon, lat) for lon, lat in feature["geometry"]["coordinates"]):
                features.append(feature)
        features.extend(
            point_feature(place.lon, place.lat, {
                "kind": "stop", "stop_id": place.stop_id, "place_id": place.id,
                "name": place.name(language), "name_en": place.names.get("en")})
            for place in stop_places(timetable) if inside(place.lon, place.lat))
    index = place_index(session, store)
    for port in bike_stations(session, store, now, availability):
        if inside(port["lon"], port["lat"]):
            names = index.port_names(port["name"])
            features.append(point_feature(port["lon"], port["lat"], {
                "kind": "bike_station", "station_id": port["station_id"],
                "system_id": port["system_id"],
                "place_id": f"bike:{port['system_id']}:{port['station_id']}",
                "name": localised(names, language) or port["name"],
                "name_en": names.get("en"), "bikes": port["bikes_available"],
                "docks": port["docks_available"], "capacity": port["capacity"],
                "as_of": port["as_of"], "stale": port["stale"],
                "can_pick_up": port["can_pick_up"], "can_drop_off": port["can_drop_off"]}))
    for service in mobility(session, store).taxis:
        rings = service.area
        if any(inside(lon, lat) for ring in rings for lon, lat in ring):
            features.append(area_feature(rings, {
                "kind": "ondemand_area", "service_id": service.service_id,
                "name": service.name, "operator_id": service.operator_id,
                "booking": service.booking or None}))
    return features
