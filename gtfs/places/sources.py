"""Places of the loaded feeds, and the per-process index over them and the curated list.

- Stops: a station (``location_type`` 1) is one place, its platforms folded into it; a stop
  without a station is one place, and stops of one feed with the same name within
  :data:`GROUP_RADIUS_M` of each other (the poles of one bus stop, as GTFS-JP often has them)
  are one place too, named by the first and placed at their middle.
- Bike share ports: every port of the active GBFS systems (``bike:<system>:<station_id>``);
  the port number is kept in the name and searchable without it.
- Points of interest: the curated list, then operators' places (which replace curated ones of
  the same id).

:class:`PlaceStore` keeps one index per process and rebuilds it when the network, the ports or
the operators' places change (checked at most every :attr:`PlaceStore.REFRESH_SECONDS`).
"""

from __future__ import annotations

import math
import re
import threading
import time
from collections.abc import Callable, Iterable, Sequence
from typing import Any

from gtfs.languages import NAME_FIELDS
from gtfs.places.index import Place, PlaceIndex
from gtfs.places.text import fold_text, split_port_number
from gtfs.timetable import Timetable
from maas.core.geo import haversine_m

GROUP_RADIUS_M = 300.0


def stop_names(timetable: Timetable, index: int) -> dict[str, str]:
    """A stop's names by language (ja, en, kana, and more where the feed translates them)."""
    meta = timetable.meta
    names = {"ja": meta["stop_names"][index]}
    for field, key in (("en", "stop_names_en"), ("kana", "stop_names_kana")):
        value = meta[key][index]
        if value:
            names[field] = value
    for language, values in meta.get("stop_names_i18n", {}).items():
        if values[index]:
            names[language] = values[index]
    return names


def stop_places(timetable: Timetable) -> list[Place]:
    """One place per station, and per group of same-named stops without one (module doc)."""
    meta = timetable.meta
    places: list[Place] = []
    groups: dict[tuple[int, str], list[list[int]]] = {}
    for index, location_type in enumerate(meta["stop_location_type"]):
        if location_type == 1:
            places.append(_stop_place(timetable, [index]))
        elif location_type == 0 and int(timetable.stop_parent[index]) < 0:
            key = (int(timetable.stop_feed[index]), fold_text(meta["stop_names"][index]))
            for group in groups.setdefault(key, []):
                if haversine_m(float(timetable.stop_lat[group[0]]),
                              float(timetable.stop_lon[group[0]]),
                              float(timetable.stop_lat[index]),
                              float(timetable.stop_lon[index])) <= GROUP_RADIUS_M:
                    group.append(index)
                    break
            else:
                groups[key].append([index])
    for key_groups in groups.values():
        places.extend(_stop_place(timetable, group) for group in key_groups)
    return places


def _stop_id(timetable: Timetable, index: int) -> str:
    """The stop's id as ``stop:`` accepts it (feed-qualified when the id is ambiguous)."""
    stop_id: str = timetable.meta["stop_ids"][index]
    if timetable.stop_index(stop_id) == index:
        return stop_id
    return f"{timetable.meta['feeds'][int(timetable.stop_feed[index])]}:{stop_id}"


def _stop_place(timetable: Timetable, members: Sequence[int]) -> Place:
    first = members[0]
    stop_id = _stop_id(timetable, first)
    lat = sum(float(timetable.stop_lat[i]) for i in members) / len(members)
    lon = sum(float(timetable.stop_lon[i]) for i in members) / len(members)
    extra: dict[str, Any] = {"stop_index": first}
    if len(members) > 1:
        extra["stop_ids"] = [_stop_id(timetable, i) for i in members]
    return Place(id=f"stop:{stop_id}", kind="stop", names=stop_names(timetable, first),
                 lat=lat, lon=lon, stop_id=stop_id, extra=extra)


def port_place(system_id: str, station_id: str, name: str, lat: float, lon: float,
               glossary: Callable[[str], dict[str, str]]) -> Place:
    """A bike share port as a place; ``glossary`` gives other languages' names of the place
    it is named after (an empty dict when none is known)."""
    number, bare = split_port_number(name)
    names = {"ja": name}
    parts = [part for part in re.split(r"[・/／]", bare) if part.strip()]
    found = [glossary(part) for part in parts]
    for language in found[0] if found and all(found) else {}:
        if all(language in part for part in found):
            translated = " / ".join(part[language] for part in found)
            names[language] = f"{number}. {translated}" if number else translated
    if "en" not in names:
        names["en"] = f"Port {number} · {bare}" if number else f"Bike port · {bare}"
    return Place(id=f"bike:{system_id}:{station_id}", kind="bike_station", names=names,
                 lat=lat, lon=lon, aliases=(bare,) if number else (),
                 extra={"system_id": system_id, "station_id": station_id})


def glossary_of(places: Iterable[Place]) -> Callable[[str], dict[str, str]]:
    """Names in other languages of the places ``places`` know, by folded Japanese name or
    alias (``兼六園`` → Kenroku-en Garden …); a port named ``尾山神社前`` finds 尾山神社."""
    table: dict[str, dict[str, str]] = {}
    for place in places:
        translations = {code: name for code, name in place.names.items()
                        if code not in ("ja", "kana") and name}
        for text in (place.names.get("ja", ""), *place.aliases):
            key = fold_text(text)
            if key and not key.isascii():
                table.setdefault(key, translations)

    def lookup(name: str) -> dict[str, str]:
        key = fold_text(name)
        for candidate in (key, key.removesuffix("前")):
            if candidate in table:
                return table[candidate]
        return {}

    return lookup


def poi_place(place_id: str, names: dict[str, Any], lat: float, lon: float,
              category: str | None) -> Place:
    """An operator's place (``poi:<id>``)."""
    kept = {code: str(names[code]) for code in NAME_FIELDS if names.get(code)}
    return Place(id=f"poi:{place_id}", kind="poi", names=kept, lat=lat, lon=lon,
                 extra={"category": category, "source": "operator"})


class PlaceStore:
    """The per-process place index (see the module doc)."""

    REFRESH_SECONDS = 5.0

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._checked = -math.inf
        self._signature: tuple[Any, ...] | None = None
        self._index = PlaceIndex(())

    def current(self, signature: Callable[[], tuple[Any, ...]],
                build: Callable[[], Iterable[Place]]) -> PlaceIndex:
        """The index; ``signature()`` (read at most every few seconds) says whether what it
        is built from changed, ``build()`` gives the places when it did."""
        if time.monotonic() - self._checked < self.REFRESH_SECONDS:
            return self._index
        with self._lock:
            found = signature()
            if found != self._signature:
                self._index = PlaceIndex(build())
                self._signature = found
            self._checked = time.monotonic()
            return self._index

    def forget(self) -> None:
        """Check again on the next request (this process just imported places)."""
        self._checked = -math.inf
