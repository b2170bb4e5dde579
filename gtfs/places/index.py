"""The place index: one search over stops, bike share ports and points of interest (pure).

Every place has search keys (see :mod:`gtfs.places.text`). Exact and prefix matches come from
one sorted list of all keys: the keys starting with a query key are one contiguous run, found
by bisection. Matches inside a key come from the keys joined into one string per script (Latin
keys, which Python stores one byte a character, and the others), separated by
:data:`~gtfs.places.text.SEPARATOR`, searched with ``str.find`` (C speed); each hit's place is
found by bisecting the keys' start offsets. Inside matches are only looked for when exact and
prefix matches found fewer than ``limit`` places. Results are ranked by match quality, then
distance from ``near`` (when given), then kind and name length.
"""

from __future__ import annotations

import bisect
import dataclasses
import heapq
import math
from collections.abc import Iterable, Mapping, Sequence

from gtfs.languages import localised
from gtfs.places.text import SEPARATOR, name_keys, query_keys
from maas.core.geo import haversine_m as distance_m

EXACT, PREFIX, INSIDE = 0, 1, 2
KINDS = ("poi", "stop", "bike_station")
# a Latin query key this short is only matched as a prefix (a letter is inside most names; a
# single kanji such as 駅 is a word)
MIN_INSIDE = 2
# hits read per query key and kind of match: bounds the work of a very common key
MAX_HITS = 4000


@dataclasses.dataclass(frozen=True)
class Place:
    """A place riders can search for and plan from or to.

    ``names`` maps language codes (``ja``, ``kana``, ``en``, ``zh-Hans``, ``zh-Hant``, ``ko``)
    to names; ``aliases`` are further spellings that are searched but never shown.
    """

    id: str
    kind: str
    names: Mapping[str, str]
    lat: float
    lon: float
    stop_id: str | None = None
    aliases: tuple[str, ...] = ()
    extra: Mapping[str, object] = dataclasses.field(default_factory=dict)

    def name(self, language: str = "ja") -> str:
        """The name in ``language`` (with fallbacks), else the id."""
        return localised(self.names, language) or self.id

    def keys(self) -> set[str]:
        """Every search key of every name and alias."""
        found: set[str] = set()
        for text in (*self.names.values(), *self.aliases):
            if text:
                found |= name_keys(text)
        return found


@dataclasses.dataclass(frozen=True)
class Hit:
    """A place found: how well it matched (0 exact, 1 prefix, 2 inside) and how far it is."""

    place: Place
    quality: int
    distance_m: float | None




def _inside_ok(key: str) -> bool:
    """Whether a query key is looked for inside names, not only at their start."""
    return len(key) >= MIN_INSIDE or not key.isascii()


class PlaceIndex:
    """An immutable index of places (build once, search from any thread)."""

    def __init__(self, places: Iterable[Place]) -> None:
        self.places: list[Place] = []
        self.by_id: dict[str, Place] = {}
        for place in places:
            if place.id in self.by_id:  # a later place of the same id replaces an earlier one
                self.places[self.places.index(self.by_id[place.id])] = place
            else:
                self.places.append(place)
            self.by_id[place.id] = place
        self._keys = [sorted(place.keys()) for place in self.places]
        pairs = sorted((key, number) for number, keys in enumerate(self._keys) for key in keys)
        self._sorted_keys = [key for key, _ in pairs]
        self._sorted_owners = [number for _, number in pairs]
        self._hays = {latin: self._haystack([(key, number) for key, number in pairs
                                             if key.isascii() == latin])
                      for latin in (True, False)}
        self._ports = {place.names["ja"]: place.names for place in self.places
                       if place.kind == "bike_station" and "ja" in place.names}
        kind_rank = {kind: rank for rank, kind in enumerate(KINDS)}
        # what ranks equal matches at equal distance: kind, then the shorter name, then id
        self._order = [(kind_rank.get(place.kind, len(KINDS)), len(place.name()), place.id)
                       for place in self.places]
        self._lats = [place.lat for place in self.places]
        self._lons = [place.lon for place in self.places]

    def __len__(self) -> int:
        return len(self.places)

    def port_names(self, name: str) -> Mapping[str, str]:
        """A bike port's names by language, from its Japanese name (empty when unknown)."""
        return self._ports.get(name, {})

    def get(self, place_id: str) -> Place | None:
        """The place with this id, if any."""
        return self.by_id.get(place_id)

    @staticmethod
    def _haystack(pairs: list[tuple[str, int]]) -> tuple[str, list[int], list[int]]:
        """Keys joined by the separator, with each key's start offset and place."""
        starts, owners, offset = [], [], 1
        for key, number in pairs:
            starts.append(offset)
            owners.append(number)
            offset += len(key) + 1
        return SEPARATOR + SEPARATOR.join(key for key, _ in pairs) + SEPARATOR, starts, owners

    def _prefixed(self, needle: str, found: dict[int, int]) -> None:
        """Record the places with a key equal to (exact) or starting with (prefix) ``needle``."""
        keys, owners = self._sorted_keys, self._sorted_owners
        position = bisect.bisect_left(keys, needle)
        end = min(len(keys), position + MAX_HITS)
        while position < end and keys[position].startswith(needle):
            quality = EXACT if len(keys[position]) == len(needle) else PREFIX
            owner = owners[position]
            if found.get(owner, INSIDE + 1) > quality:
                found[owner] = quality
            position += 1

    def _inside(self, needle: str, found: dict[int, int]) -> None:
        """Record the places with a key containing ``needle`` (not already found better)."""
        haystack, starts, owners = self._hays[needle.isascii()]
        position = haystack.find(needle)
        hits = 0
        while position >= 0 and hits < MAX_HITS:
            hits += 1
            owner = owners[bisect.bisect_right(starts, position) - 1]
            if owner not in found:
                found[owner] = INSIDE
            position = haystack.find(needle, position + 1)

    def search(self, query: str, *, near: tuple[float, float] | None = None,
               limit: int = 10, kinds: Sequence[str] | None = None) -> list[Hit]:
        """The best ``limit`` places for ``query`` (module doc for the order)."""
        keys = query_keys(query)
        found: dict[int, int] = {}
        for key in keys:
            self._prefixed(key, found)
        if len(found) < limit or kinds is not None:
            for key in keys:
                if _inside_ok(key):
                    self._inside(key, found)
        return self._rank(found, near, limit, kinds)

    def _rank(self, found: dict[int, int], near: tuple[float, float] | None, limit: int,
              kinds: Sequence[str] | None) -> list[Hit]:
        """The first ``limit`` of ``found`` (place → quality) by quality, distance from
        ``near`` (equirectangular, exact enough within a city), kind, name length and id; the
        hits carry great-circle distances."""
        order, places = self._order, self.places
        owners = (list(found) if kinds is None
                  else [owner for owner in found if places[owner].kind in kinds])
        if near is None:
            best = heapq.nsmallest(limit, owners, key=lambda o: (found[o], 0.0, order[o]))
            return [Hit(places[o], found[o], None) for o in best]
        lat0, lon0 = near
        scale = math.cos(math.radians(lat0))
        lats, lons = self._lats, self._lons

        def key(owner: int) -> tuple[int, float, tuple[int, int, str]]:
            dy, dx = lats[owner] - lat0, (lons[owner] - lon0) * scale
            return found[owner], dx * dx + dy * dy, order[owner]

        return [Hit(places[o], found[o], distance_m(lat0, lon0, places[o].lat, places[o].lon))
                for o in heapq.nsmallest(limit, owners, key=key)]

    def linear_search(self, query: str, *, near: tuple[float, float] | None = None,
                      limit: int = 10) -> list[Hit]:
        """The same answer as :meth:`search` by comparing every key of every place (the
        benchmark's plain peer and the tests' reference)."""
        keys = query_keys(query)
        found: dict[int, int] = {}
        for number, place_keys in enumerate(self._keys):
            quality = INSIDE + 1
            for key in place_keys:
                for needle in keys:
                    if key == needle:
                        quality = min(quality, EXACT)
                    elif key.startswith(needle):
                        quality = min(quality, PREFIX)
                    elif _inside_ok(needle) and needle in key:
                        quality = min(quality, INSIDE)
            if quality <= INSIDE:
                found[number] = quality
        return self._rank(found, near, limit, None)
