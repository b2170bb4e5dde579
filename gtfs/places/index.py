"""The place index: one search over stops, bike share ports and points of interest (pure).

All keys of all places (see :mod:`gtfs.places.text`) are joined into one string, separated by
:data:`~gtfs.places.text.SEPARATOR`; a query key is found with ``str.find`` (C speed) as an
exact key (``␟key␟``), a key prefix (``␟key``) or anywhere in a key, and each hit's place is
found by bisecting the keys' start offsets. Better matches are looked for first; a weaker kind
of match is only searched when the better ones found fewer than ``limit`` places. Results are
ranked by match quality, then distance from ``near`` (when given), then kind and name length.
"""

from __future__ import annotations

import bisect
import dataclasses
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
        return localised(dict(self.names), language) or self.id

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
        starts: list[int] = []
        owners: list[int] = []
        parts: list[str] = []
        offset = 1
        self._keys = [sorted(place.keys()) for place in self.places]
        for number, keys in enumerate(self._keys):
            for key in keys:
                starts.append(offset)
                owners.append(number)
                parts.append(key)
                offset += len(key) + 1
        self._haystack = SEPARATOR + SEPARATOR.join(parts) + SEPARATOR
        self._starts = starts
        self._owners = owners
        self._kind_rank = {kind: rank for rank, kind in enumerate(KINDS)}

    def __len__(self) -> int:
        return len(self.places)

    def get(self, place_id: str) -> Place | None:
        """The place with this id, if any."""
        return self.by_id.get(place_id)

    def _find(self, needle: str, quality: int, found: dict[int, int]) -> None:
        """Record the places with a key matching ``needle`` at ``quality`` (best kept)."""
        haystack, starts, owners = self._haystack, self._starts, self._owners
        pattern = {EXACT: SEPARATOR + needle + SEPARATOR, PREFIX: SEPARATOR + needle,
                   INSIDE: needle}[quality]
        position = haystack.find(pattern)
        hits = 0
        while position >= 0 and hits < MAX_HITS:
            hits += 1
            key = bisect.bisect_right(starts, position + (quality != INSIDE)) - 1
            owner = owners[key]
            if found.get(owner, INSIDE + 1) > quality:
                found[owner] = quality
            position = haystack.find(pattern, position + 1)

    def search(self, query: str, *, near: tuple[float, float] | None = None,
               limit: int = 10, kinds: Sequence[str] | None = None) -> list[Hit]:
        """The best ``limit`` places for ``query`` (module doc for the order)."""
        keys = query_keys(query)
        found: dict[int, int] = {}
        for quality in (EXACT, PREFIX, INSIDE):
            for key in keys:
                if quality == INSIDE and not _inside_ok(key):
                    continue
                self._find(key, quality, found)
            if len(found) >= limit and kinds is None:
                break
        hits = []
        for owner, quality in found.items():
            place = self.places[owner]
            if kinds is not None and place.kind not in kinds:
                continue
            distance = (None if near is None
                        else distance_m(near[0], near[1], place.lat, place.lon))
            hits.append(Hit(place, quality, distance))
        return self._best(hits, limit)

    def _best(self, hits: list[Hit], limit: int) -> list[Hit]:
        """The first ``limit`` hits by quality, distance, kind, name length and id."""
        hits.sort(key=lambda hit: (hit.quality, hit.distance_m or 0.0,
                                   self._kind_rank.get(hit.place.kind, len(KINDS)),
                                   len(hit.place.name()), hit.place.id))
        return hits[:limit]

    def linear_search(self, query: str, *, near: tuple[float, float] | None = None,
                      limit: int = 10) -> list[Hit]:
        """The same answer as :meth:`search` by comparing every key of every place (the
        benchmark's plain peer and the tests' reference)."""
        keys = query_keys(query)
        hits = []
        for place, place_keys in zip(self.places, self._keys, strict=True):
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
                distance = (None if near is None
                            else distance_m(near[0], near[1], place.lat, place.lon))
                hits.append(Hit(place, quality, distance))
        return self._best(hits, limit)
