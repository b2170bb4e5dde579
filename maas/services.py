"""System services: health of the database and the loaded feeds; rider accounts."""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import Engine, select
from sqlalchemy.exc import DBAPIError, IntegrityError
from sqlalchemy.orm import Session

from gtfs.services import active_feeds
from maas.auth import (
    MIN_PASSWORD_LENGTH,
    check_password,
    hash_password,
    issue_access_token,
    rider_from_token,
)
from maas.clock import Clock, isoformat_tokyo
from maas.db import current_revision, head_revision, ping
from maas.errors import Conflict, FieldError, InvalidInput, ServiceUnavailable, Unauthorized
from maas.models import Rider


@dataclass(frozen=True)
class Health:
    """What ``GET /api/v1/health`` reports."""

    status: str
    time: str
    database: dict[str, Any]
    feeds: list[dict[str, Any]] = field(default_factory=list)


def health(engine: Engine, session: Session, clock: Clock) -> Health:
    """Check the database (reachable, schema current) and list active feeds.

    Raises :class:`ServiceUnavailable` when the database is down or not migrated, so that load
    balancers take the instance out of rotation.
    """
    ping(engine)
    try:
        revision = current_revision(engine)
    except DBAPIError as exc:
        raise ServiceUnavailable("the database is unreachable") from exc
    head = head_revision()
    if revision != head:
        raise ServiceUnavailable(
            f"the database schema is at {revision or 'nothing'}, this code needs {head}; "
            "run `maas db upgrade`"
        )
    feeds = [
        {
            "kind": feed.kind,
            "name": feed.name,
            "version": feed.version[:12],
            "loaded_at": isoformat_tokyo(feed.loaded_at),
            **{k: v for k, v in feed.summary.items() if k.startswith("service_")},
        }
        for feed in active_feeds(session)
    ]
    return Health(
        status="ok",
        time=isoformat_tokyo(clock()),
        database={"status": "ok", "backend": engine.dialect.name, "revision": revision},
        feeds=feeds,
    )


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
