"""The registered GTFS-Realtime feeds, each with its last poll's outcome and snapshot."""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import String
from sqlalchemy.orm import Mapped, mapped_column

from maas.core.db import Base


class RealtimeFeed(Base):
    """A GTFS-Realtime feed polled by ``maas worker`` for the GTFS feed ``feed``.

    ``outcome`` is the last poll's counts (time, entities, matched, unmatched, stale, errors),
    small and read by the health report; ``document`` the last good snapshot (the trip
    overlay, alerts or vehicles), replaced only by a poll that succeeded, and read by web
    workers when ``version`` changes.
    """

    __tablename__ = "realtime_feeds"

    name: Mapped[str] = mapped_column(String(100), primary_key=True)
    url: Mapped[str] = mapped_column(String(1000))
    feed: Mapped[str] = mapped_column(String(100))
    kind: Mapped[str] = mapped_column(String(20))
    interval: Mapped[int] = mapped_column(default=30)
    headers: Mapped[dict[str, Any]] = mapped_column(default=dict)
    polled_at: Mapped[dt.datetime | None]
    outcome: Mapped[dict[str, Any]] = mapped_column(default=dict)
    version: Mapped[str] = mapped_column(String(64), default="")
    document: Mapped[dict[str, Any]] = mapped_column(default=dict, deferred=True)
