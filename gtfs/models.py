"""Tables for loaded feeds and the operators they describe."""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import Index, LargeBinary, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from maas.core.db import Base

FEED_KINDS = ("gtfs", "gbfs", "ondemand")


class Feed(Base):
    """One version of one feed (a GTFS zip, a GBFS snapshot, an on-demand service file).

    A version is identified by the SHA-256 of its content; exactly one version per
    ``(kind, name)`` is active, and it becomes active only when fully loaded.
    """

    __tablename__ = "feeds"
    __table_args__ = (
        UniqueConstraint("kind", "name", "version"),
        Index("ix_feeds_active", "kind", "name", "active"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    kind: Mapped[str] = mapped_column(String(16))
    name: Mapped[str] = mapped_column(String(100))
    version: Mapped[str] = mapped_column(String(64))
    source: Mapped[str] = mapped_column(String(1000))
    active: Mapped[bool] = mapped_column(default=False)
    loaded_at: Mapped[dt.datetime]
    summary: Mapped[dict[str, Any]] = mapped_column(default=dict)


class Operator(Base):
    """A member of the consortium that carries riders: a bus company, the bike share, a taxi."""

    __tablename__ = "operators"

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    name_en: Mapped[str | None] = mapped_column(String(200))
    modes: Mapped[list[str]] = mapped_column(default=list)
    url: Mapped[str | None] = mapped_column(String(500))
    feed_name: Mapped[str] = mapped_column(String(100))


class FeedSnapshot(Base):
    """The latest checked content of a GBFS system or an on-demand service file, per feed.

    Replaced in one transaction at each load or poll, so readers always see a whole snapshot;
    ``last_updated`` is the publisher's time of the data (GBFS ``last_updated``), ``fetched_at``
    ours. ``document`` is the normalised form the planner reads (see gtfs.gbfs, gtfs.ondemand).
    """

    __tablename__ = "feed_snapshots"

    kind: Mapped[str] = mapped_column(String(16), primary_key=True)
    name: Mapped[str] = mapped_column(String(100), primary_key=True)
    source: Mapped[str] = mapped_column(String(1000))
    version: Mapped[str] = mapped_column(String(64))
    fetched_at: Mapped[dt.datetime]
    last_updated: Mapped[dt.datetime | None]
    ttl: Mapped[int] = mapped_column(default=0)
    document: Mapped[dict[str, Any]] = mapped_column(default=dict)


class FeedBlob(Base):
    """The stored copy of a GTFS feed version (a zip), content-addressed, in the database.

    ``sha256`` is the hash of ``content`` (the zip's bytes); ``version`` the feed version it
    holds (the hash over the feed's files, :meth:`gtfs.services.FeedFiles.version`). Every
    host rebuilds a network it has not compiled yet from here, so no host needs another's
    files.
    """

    __tablename__ = "feed_blobs"

    sha256: Mapped[str] = mapped_column(String(64), primary_key=True)
    version: Mapped[str] = mapped_column(String(64), unique=True)
    size: Mapped[int]
    stored_at: Mapped[dt.datetime]
    content: Mapped[bytes] = mapped_column(LargeBinary)
