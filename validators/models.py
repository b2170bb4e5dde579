"""Tables of the validator service."""

from __future__ import annotations

import dataclasses
import datetime as dt

from sqlalchemy import Date, ForeignKey, Index, String
from sqlalchemy.orm import Mapped, mapped_column

from maas.core.db import Base


class Device(Base):
    """A fixed validator or a driver's phone, enrolled for one operator.

    The enrolment code and the device token are stored only as SHA-256 hashes (both are long
    random secrets, so a fast hash is enough); a revoked device's token stops working.
    """

    __tablename__ = "devices"

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    operator_id: Mapped[str] = mapped_column(ForeignKey("operators.id"))
    vehicle: Mapped[str | None] = mapped_column(String(100))
    stop: Mapped[str | None] = mapped_column(String(100))
    enrollment_code_hash: Mapped[str | None] = mapped_column(String(64), unique=True)
    token_hash: Mapped[str | None] = mapped_column(String(64), unique=True)
    status: Mapped[str] = mapped_column(String(16))  # pending, active, revoked
    created_at: Mapped[dt.datetime]
    enrolled_at: Mapped[dt.datetime | None]


class Scan(Base):
    """One check of a presented code, by a device, as the device journaled it.

    ``id`` is made by the device, so an upload retried after a crash or a lost connection
    inserts nothing twice. Accepted scans are the basis of statistics and revenue shares.
    """

    __tablename__ = "scans"
    __table_args__ = (
        Index("ix_scans_scanned_at", "scanned_at"),
        Index("ix_scans_operator_scanned_at", "operator_id", "scanned_at"),
        Index("ix_scans_pass_scanned_at", "pass_id", "scanned_at"),
        Index("ix_scans_device_scanned_at", "device_id", "scanned_at"),
    )

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    device_id: Mapped[str] = mapped_column(ForeignKey("devices.id"))
    operator_id: Mapped[str] = mapped_column(String(64))
    vehicle: Mapped[str | None] = mapped_column(String(100))
    stop: Mapped[str | None] = mapped_column(String(100))
    route_id: Mapped[str | None] = mapped_column(String(100))
    result: Mapped[str] = mapped_column(String(16))  # accept, reject, cannot_judge
    code: Mapped[str] = mapped_column(String(32))  # the verifier's reason code
    pass_id: Mapped[str | None] = mapped_column(String(32))
    product_code: Mapped[str | None] = mapped_column(String(64))
    category: Mapped[str | None] = mapped_column(String(8))
    service_date: Mapped[dt.date | None] = mapped_column(Date)
    digest: Mapped[str | None] = mapped_column(String(32))  # of the payload, for replays
    lat: Mapped[float | None]
    lon: Mapped[float | None]
    scanned_at: Mapped[dt.datetime]
    received_at: Mapped[dt.datetime]


class FraudFlag(Base):
    """A pass seen where one rider could not be: too fast between places, or two vehicles.

    A flag deny-lists the pass for the rest of its service day (the pass's status becomes
    ``flagged``, which the next trust bundle carries to every device).
    """

    __tablename__ = "fraud_flags"

    id: Mapped[int] = mapped_column(primary_key=True, autoincrement=True)
    pass_id: Mapped[str] = mapped_column(String(32), index=True)
    service_date: Mapped[dt.date | None] = mapped_column(Date)
    reason: Mapped[str] = mapped_column(String(32))  # impossible_speed, two_vehicles
    detail: Mapped[str] = mapped_column(String(300))
    first_scan_id: Mapped[str] = mapped_column(ForeignKey("scans.id"))
    second_scan_id: Mapped[str] = mapped_column(ForeignKey("scans.id"))
    operator_id: Mapped[str] = mapped_column(String(64), index=True)
    speed_kmh: Mapped[float | None]
    created_at: Mapped[dt.datetime] = mapped_column(index=True)


@dataclasses.dataclass(frozen=True, slots=True)
class IngestedScan:
    """A scan row as inserted by ingestion, handed to listeners and fraud checks.

    Plain and cheap: building an ORM ``Scan`` per uploaded scan cost a fifth of ingestion.
    """

    id: str
    device_id: str
    operator_id: str
    vehicle: str | None
    stop: str | None
    route_id: str | None
    result: str
    code: str
    pass_id: str | None
    product_code: str | None
    category: str | None
    service_date: dt.date | None
    digest: str | None
    lat: float | None
    lon: float | None
    scanned_at: dt.datetime
    received_at: dt.datetime
