"""Tables of the validator service."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import ForeignKey, String
from sqlalchemy.orm import Mapped, mapped_column

from maas.db import Base


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
