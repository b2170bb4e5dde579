"""Operators' own places (hotels, venues, meeting points), imported with ``maas places import``."""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import String
from sqlalchemy.orm import Mapped, mapped_column

from maas.core.db import Base


class PlaceRow(Base):
    """A point of interest an operator added; served as ``poi:<id>`` beside the curated list
    (an operator's place replaces a curated one of the same id)."""

    __tablename__ = "places"

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    names: Mapped[dict[str, Any]] = mapped_column(default=dict)
    lat: Mapped[float]
    lon: Mapped[float]
    category: Mapped[str | None] = mapped_column(String(40))
    source: Mapped[str] = mapped_column(String(500))
    imported_at: Mapped[dt.datetime]
