"""Rider accounts (the only personal data the service keeps: an e-mail address)."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import String
from sqlalchemy.orm import Mapped, mapped_column

from maas.core.db import Base


class Rider(Base):
    """A rider's account: an e-mail address and a password hash, nothing else."""

    __tablename__ = "riders"

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    email: Mapped[str] = mapped_column(String(320), unique=True)
    password_hash: Mapped[str] = mapped_column(String(200))
    created_at: Mapped[dt.datetime]
