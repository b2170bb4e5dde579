"""Coarse zones for planner statistics: a grid of about 1 km, never raw coordinates (pure)."""

from __future__ import annotations

import math

LAT_STEP = 0.01  # about 1.1 km
LON_STEP = 0.0125  # about 1.1 km at Kanazawa's latitude (36.6° N)


def zone_of(lat: float, lon: float) -> str:
    """The id of the grid cell holding a point: its centre, to the grid's precision.

    Every point of a cell (about 1.1 km × 1.1 km) gets the same id, so a zone says where a trip
    starts to the neighbourhood, not to the house.
    """
    row = math.floor(lat / LAT_STEP)
    col = math.floor(lon / LON_STEP)
    return f"{(row + 0.5) * LAT_STEP:.3f},{(col + 0.5) * LON_STEP:.5f}"


def parse_point(text: str) -> tuple[float, float] | None:
    """``LAT,LON`` as a pair of floats; None for anything else (a ``stop:ID``, garbage)."""
    lat_text, sep, lon_text = text.partition(",")
    if not sep:
        return None
    try:
        lat, lon = float(lat_text), float(lon_text)
    except ValueError:
        return None
    if not (-90 <= lat <= 90 and -180 <= lon <= 180) or math.isnan(lat) or math.isnan(lon):
        return None
    return lat, lon
