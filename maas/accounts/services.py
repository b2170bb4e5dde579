"""Rider accounts: register, sign in, and who an access token belongs to."""

from __future__ import annotations

import uuid

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from maas.accounts.models import Rider
from maas.core.auth import (
    MIN_PASSWORD_LENGTH,
    check_password,
    hash_password,
    issue_access_token,
    rider_from_token,
)
from maas.core.clock import Clock
from maas.core.errors import Conflict, FieldError, InvalidInput, Unauthorized


def register_rider(session: Session, email: str, password: str, clock: Clock) -> Rider:
    """Create a rider account (e-mail compared case-insensitively)."""
    address = email.strip().lower()
    if len(password) < MIN_PASSWORD_LENGTH:
        message = f"at least {MIN_PASSWORD_LENGTH} characters"
        raise InvalidInput(f"password: {message}", errors=[FieldError("password", message)])
    if session.scalar(select(Rider).where(Rider.email == address)) is not None:
        raise Conflict(f"an account for {address} already exists")
    rider = Rider(id=str(uuid.uuid4()), email=address, password_hash=hash_password(password),
                  created_at=clock())
    session.add(rider)
    try:
        session.commit()
    except IntegrityError:  # the same address registered concurrently
        session.rollback()
        raise Conflict(f"an account for {address} already exists") from None
    return rider


def sign_in(session: Session, email: str, password: str, secret: str, clock: Clock) -> str:
    """An access token for the rider, or :class:`Unauthorized` (same answer for both causes)."""
    rider = session.scalar(select(Rider).where(Rider.email == email.strip().lower()))
    if not check_password(rider.password_hash if rider else None, password) or rider is None:
        raise Unauthorized("wrong e-mail address or password")
    return issue_access_token(rider.id, secret, clock())


def current_rider(session: Session, token: str, secret: str, clock: Clock) -> Rider:
    """The rider an access token belongs to."""
    rider = session.get(Rider, rider_from_token(token, secret, clock()))
    if rider is None:
        raise Unauthorized("the account of this token no longer exists")
    return rider


DEMO_RIDER = ("rider@demo.kanazawa-maas.jp", "noto-kanazawa-demo")


def ensure_demo_rider(session: Session, clock: Clock) -> tuple[str, str]:
    """The demo's rider login, created once (only `maas demo` calls this)."""
    email, password = DEMO_RIDER
    if session.scalar(select(Rider).where(Rider.email == email)) is None:
        register_rider(session, email, password, clock)
    return email, password
