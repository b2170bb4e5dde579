"""Rider accounts (the only personal data the service keeps: an e-mail address), their
sign-in sessions, and the counters that throttle failed sign-ins."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import ForeignKey, String
from sqlalchemy.orm import Mapped, mapped_column

from maas.core.db import Base


class Rider(Base):
    """A rider's account: an e-mail address and a password hash, nothing else."""

    __tablename__ = "riders"

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    email: Mapped[str] = mapped_column(String(320), unique=True)
    password_hash: Mapped[str] = mapped_column(String(200))
    created_at: Mapped[dt.datetime]


class RiderSession(Base):
    """One sign-in: every access token names the session it was issued in (``sid``), and a
    token is refused once its session is revoked (log out, log out everywhere)."""

    __tablename__ = "rider_sessions"

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    rider_id: Mapped[str] = mapped_column(ForeignKey("riders.id", ondelete="CASCADE"),
                                          index=True)
    created_at: Mapped[dt.datetime]
    # refreshed at most every few minutes, so using a token is not a write per request
    last_seen_at: Mapped[dt.datetime]
    revoked_at: Mapped[dt.datetime | None]


class LoginThrottle(Base):
    """Failed sign-ins counted for one account or one client address.

    ``key`` is the SHA-256 of ``account:<e-mail>`` or ``address:<ip>``, so the table holds
    neither the addresses nor the e-mails people tried. Rows live in the database so every
    worker and every host sees the same counts (see :mod:`maas.accounts.throttle`).
    """

    __tablename__ = "login_throttles"

    key: Mapped[str] = mapped_column(String(64), primary_key=True)
    failures: Mapped[int]
    window_started_at: Mapped[dt.datetime]
    last_failure_at: Mapped[dt.datetime]
    locked_until: Mapped[dt.datetime | None]
