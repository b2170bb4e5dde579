"""Tables of partner statistics: partners, roll-up cells of scans, and planner requests."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import Date, ForeignKey, Index, String, text, true
from sqlalchemy.orm import Mapped, mapped_column

from maas.core.db import Base

ALL_OPERATORS = "*"  # the operator of consortium-wide distinct-pass cells


class Partner(Base):
    """A consortium partner: an operator (bound to ``operator_id``) or the administrator.

    The API key is a 256-bit random secret, so it is stored as its SHA-256 (a slow password
    hash guards guessable secrets; a random key has nothing to guess, and a fast hash keeps
    each statistics request one indexed lookup). ``revoked_at`` set: the key stops working.
    """

    __tablename__ = "partners"

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    role: Mapped[str] = mapped_column(String(16))  # operator, admin
    operator_id: Mapped[str | None] = mapped_column(ForeignKey("operators.id"))
    key_hash: Mapped[str] = mapped_column(String(64), unique=True)
    created_at: Mapped[dt.datetime]
    revoked_at: Mapped[dt.datetime | None]


class ScanCell(Base):
    """Scans counted per service day, operator, dimension value, result and reason code.

    ``dim`` is ``day`` (``value`` empty), ``hour`` (``00``-``23`` in Asia/Tokyo), ``route``,
    ``stop``, ``device`` or ``product``. Maintained at ingestion by
    :func:`maas.stats.services.on_scans`; rebuilt from the scans by ``maas stats rebuild``.
    """

    __tablename__ = "stats_scan_cells"

    dim: Mapped[str] = mapped_column(String(8), primary_key=True)
    day: Mapped[dt.date] = mapped_column(Date, primary_key=True)
    operator_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    value: Mapped[str] = mapped_column(String(100), primary_key=True)
    result: Mapped[str] = mapped_column(String(16), primary_key=True)
    code: Mapped[str] = mapped_column(String(32), primary_key=True)
    scans: Mapped[int]


class PassCell(Base):
    """Distinct passes seen per service day, operator (or ``*``), dimension and value.

    A pass belongs to one service day, so these counts add up exactly over days; that is what
    lets the privacy threshold be checked on any period without reading the scans.
    """

    __tablename__ = "stats_pass_cells"

    dim: Mapped[str] = mapped_column(String(8), primary_key=True)
    day: Mapped[dt.date] = mapped_column(Date, primary_key=True)
    operator_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    value: Mapped[str] = mapped_column(String(100), primary_key=True)
    passes: Mapped[int]


class SalesCell(Base):
    """Paid passes and their revenue per day of payment, service date, product and category.

    Kept by :func:`maas.stats.services.track_orders` as orders are paid or refunded (in the
    same flush), and rebuilt from the orders by ``maas stats rebuild``.
    """

    __tablename__ = "stats_sales_cells"

    paid_day: Mapped[dt.date] = mapped_column(Date, primary_key=True)  # Asia/Tokyo
    service_date: Mapped[dt.date] = mapped_column(Date, primary_key=True)
    product_code: Mapped[str] = mapped_column(String(64), primary_key=True)
    category: Mapped[str] = mapped_column(String(8), primary_key=True)
    passes: Mapped[int]
    revenue_yen: Mapped[int]


class PlanRequest(Base):
    """One answered trip request: when, which modes, and coarse zones, never the rider.

    Zones are cells of a grid of about 1 km (:mod:`maas.stats.zones`); raw coordinates and
    stop ids are not kept.
    """

    __tablename__ = "plan_requests"
    __table_args__ = (
        Index("ix_plan_requests_day_hour", "day", "hour"),
        # the few rows not yet in the cells (maas.stats.services.roll_up_plan_requests)
        Index("ix_plan_requests_uncounted", "id", sqlite_where=text("counted = 0"),
              postgresql_where=text("NOT counted")),
        # a journal line stored twice (a drainer died between its commit and deleting the
        # file) is still one row: maas.core.journal
        Index("ux_plan_requests_entry", "entry", unique=True),
    )

    id: Mapped[int] = mapped_column(primary_key=True, autoincrement=True)
    requested_at: Mapped[dt.datetime]
    day: Mapped[dt.date] = mapped_column(Date)  # Asia/Tokyo
    hour: Mapped[int]  # Asia/Tokyo
    modes: Mapped[str] = mapped_column(String(100))  # requested, sorted; "default" if none
    origin_zone: Mapped[str | None] = mapped_column(String(20))
    destination_zone: Mapped[str | None] = mapped_column(String(20))
    # already added to the planner cells (rows written in bulk are counted as they are written)
    counted: Mapped[bool] = mapped_column(default=True, server_default=true())
    # the web worker's journal line it came from (None: written directly, e.g. in bulk)
    entry: Mapped[str | None] = mapped_column(String(40))


class PlanCell(Base):
    """Trip requests per Asia/Tokyo day, hour and requested modes (kept as they are stored)."""

    __tablename__ = "stats_plan_cells"

    day: Mapped[dt.date] = mapped_column(Date, primary_key=True)
    hour: Mapped[int] = mapped_column(primary_key=True, autoincrement=False)
    modes: Mapped[str] = mapped_column(String(100), primary_key=True)
    requests: Mapped[int]


class PlanPairCell(Base):
    """Trip requests per Asia/Tokyo day and origin–destination zone pair."""

    __tablename__ = "stats_plan_pairs"

    day: Mapped[dt.date] = mapped_column(Date, primary_key=True)
    origin_zone: Mapped[str] = mapped_column(String(20), primary_key=True)
    destination_zone: Mapped[str] = mapped_column(String(20), primary_key=True)
    requests: Mapped[int]
