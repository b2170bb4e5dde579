"""Reading GTFS / GTFS-JP feeds into a normalised, integer-indexed form (pure; no database).

:func:`read_feed` is the one entry point. It reads the standard files with gtfs-kit's types,
the GTFS-JP extras gtfs-kit drops (translations.txt, agency_jp.txt, office_jp.txt, routes_jp.txt)
with our own code, tolerates what real feeds do, and rejects what is broken with
:class:`maas.core.errors.InvalidInput` naming file, line and column.

Everything downstream (the compiled timetable, the planner) consumes :class:`FeedData`.

Modules by concern: :mod:`~gtfs.feed.model` (the dataclasses), :mod:`~gtfs.feed.source` (the
files of a zip or folder, decoding, locating bad lines), :mod:`~gtfs.feed.kit` (the gtfs-kit
bridge: typed DataFrames), :mod:`~gtfs.feed.translations`, :mod:`~gtfs.feed.tables` (agency,
stops, routes, calendars, trips, transfers, fares), :mod:`~gtfs.feed.stop_times` (stop times,
interpolation, frequencies) and :mod:`~gtfs.feed.read` (:func:`read_feed`, which joins them).
"""

from gtfs.feed.model import (
    Agency,
    BoolArray,
    FareRule,
    FeedData,
    Int8Array,
    Int32Array,
    Route,
    Stop,
    Transfer,
    Trip,
    feed_summary,
)
from gtfs.feed.read import read_feed
from gtfs.limits import DEFAULT_LIMITS, FeedLimits

__all__ = [
    "DEFAULT_LIMITS",
    "Agency",
    "BoolArray",
    "FareRule",
    "FeedData",
    "FeedLimits",
    "Int8Array",
    "Int32Array",
    "Route",
    "Stop",
    "Transfer",
    "Trip",
    "feed_summary",
    "read_feed",
]
