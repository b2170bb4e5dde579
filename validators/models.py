"""Tables of the validator service."""

from __future__ import annotations

import dataclasses
import datetime as dt

from sqlalchemy import Date, ForeignKey, Index, String, Text, text
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


# what the server made of an uploaded scan (``Scan.status``)
CONFIRMED = "confirmed"  # the device accepted and the server verified the code: counts
REJECTED = "rejected"  # not a ride: the device refused it, or the pass was revoked by then
DISPUTED = "disputed"  # the device says accept, the code does not bear it out: evidence
LEGACY = "legacy"  # stored before the server re-verified uploads (kept as it was counted)
_DISPUTED = text("status = 'disputed'")


class Scan(Base):
    """One check of a presented code, by a device, and the server's verdict on it.

    ``id`` is made by the device, so an upload retried after a crash or a lost connection
    inserts nothing twice. ``result``/``code`` are the device's verdict, ``payload`` the code
    it read; ``server_result``/``server_code`` are the server's own verification of that code
    and ``status`` what follows from the two. Only ``confirmed`` scans are the basis of
    statistics, revenue shares and fraud flags. For confirmed and rejected scans the pass
    fields are what the verified code says; for disputed ones, what the device claimed.
    """

    __tablename__ = "scans"
    __table_args__ = (
        Index("ix_scans_scanned_at", "scanned_at"),
        Index("ix_scans_operator_scanned_at", "operator_id", "scanned_at"),
        Index("ix_scans_pass_scanned_at", "pass_id", "scanned_at"),
        Index("ix_scans_device_scanned_at", "device_id", "scanned_at"),
        # few rows (only disputed scans): /stats/fraud and the per-device count read it
        Index("ix_scans_disputed_received_at", "received_at", "device_id",
              postgresql_where=_DISPUTED, sqlite_where=_DISPUTED),
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
    payload: Mapped[str | None] = mapped_column(Text)  # the code as read (at most 2048)
    server_result: Mapped[str | None] = mapped_column(String(16))
    server_code: Mapped[str | None] = mapped_column(String(32))
    status: Mapped[str] = mapped_column(String(16), server_default=LEGACY)


class DeviceFlag(Base):
    """A device that keeps uploading disputed scans (a stolen token, a tampered validator).

    Raised when a device sends ``limit`` disputed scans within a window (see
    :class:`validators.fraud.FraudLimits`); at most one per device per window. The operator
    decides: ``maas devices revoke`` stops the token.
    """

    __tablename__ = "device_flags"

    id: Mapped[int] = mapped_column(primary_key=True, autoincrement=True)
    device_id: Mapped[str] = mapped_column(ForeignKey("devices.id"), index=True)
    operator_id: Mapped[str] = mapped_column(String(64), index=True)
    reason: Mapped[str] = mapped_column(String(32))  # disputed_scans
    disputed: Mapped[int]  # disputed scans within the window when raised
    detail: Mapped[str] = mapped_column(String(300))
    created_at: Mapped[dt.datetime] = mapped_column(index=True)


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
    payload: str | None
    server_result: str | None
    server_code: str | None
    status: str
