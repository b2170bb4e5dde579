"""The bundled list of places visitors go to in Kanazawa (``data/kanazawa_places.json``).

Each place has names in ja, kana, en, zh-Hans, zh-Hant and ko, and says where its coordinates
come from (``source.kind``: ``gbfs_port`` or ``published``; see the file's ``source_kinds``).
"""

from __future__ import annotations

import functools
import json
from importlib import resources
from typing import Any

from gtfs.places.index import Place

DATA_FILE = "kanazawa_places.json"


def document() -> dict[str, Any]:
    """The data file as parsed JSON."""
    text = resources.files("gtfs.places").joinpath("data", DATA_FILE).read_text("utf-8")
    parsed: dict[str, Any] = json.loads(text)
    return parsed


@functools.cache
def curated_places() -> tuple[Place, ...]:
    """The curated points of interest as places (ids ``poi:<id>``), read once per process."""
    return tuple(
        Place(id=f"poi:{entry['id']}", kind="poi", names=dict(entry["names"]),
              lat=float(entry["lat"]), lon=float(entry["lon"]),
              aliases=tuple(entry.get("aliases", ())),
              extra={"category": entry.get("category"), "source": entry["source"]["kind"]})
        for entry in document()["places"]
    )
