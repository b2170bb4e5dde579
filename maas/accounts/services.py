"""Rider accounts: register, sign in (throttled), sign-in sessions, and who a token belongs to."""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Any, cast

from sqlalchemy import CursorResult, delete, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from maas.accounts.models import Rider, RiderSession
from maas.accounts.passwords import check_new_password
from maas.accounts.throttle import DatabaseLimiter, LoginLimiter
from maas.core.auth import (
    ACCESS_LIFETIME,
    check_password,
    claims_from_token,
    hash_password,
    issue_access_token,
    password_needs_rehash,
)
from maas.core.clock import Clock
from maas.core.errors import TooManyRequests, Unauthorized

# how stale a session's last_seen_at may get before a request refreshes it (one write per
# session per interval, not one per request)
LAST_SEEN_EVERY = dt.timedelta(minutes=5)


def normalise_email(email: str) -> str:
    """E-mail addresses are compared case-insensitively, without surrounding spaces."""
    return email.strip().lower()


def register_rider(session: Session, email: str, password: str, clock: Clock) -> str:
    """Create a rider account; returns the (normalised) address.

    The answer is the same whether or not the address already has an account — otherwise
    registration would tell anyone which e-mail addresses ride with us. The password is hashed
    either way (same work, similar time); an existing account keeps its own password.
    """
    address = normalise_email(email)
    check_new_password(password, address)
    password_hash = hash_password(password)
    if session.scalar(select(Rider.id).where(Rider.email == address)) is not None:
        return address
    session.add(Rider(id=str(uuid.uuid4()), email=address, password_hash=password_hash,
                      created_at=clock()))
    try:
        session.commit()
    except IntegrityError:  # the same address registered concurrently: the same answer
        session.rollback()
    return address


def sign_in(session: Session, email: str, password: str, secret: str, clock: Clock, *,
            address: str | None = None, limiter: LoginLimiter | None = None) -> str:
    """An access token in a new sign-in session, or an error.

    :class:`TooManyRequests` (429) while the account or the client ``address`` is throttled —
    even with the right password, and before any password is checked; :class:`Unauthorized`
    for a wrong password or an unknown address (the same answer for both causes).
    """
    account = normalise_email(email)
    now = clock()
    limiter = limiter if limiter is not None else DatabaseLimiter(session)
    wait = limiter.retry_after(account, address, now)
    if wait is not None:
        raise TooManyRequests(
            f"too many failed sign-ins for this account or from this address; "
            f"try again in {wait} s", retry_after=wait)
    rider = session.scalar(select(Rider).where(Rider.email == account))
    # no transaction stays open while the hash is computed: on SQLite a read snapshot held
    # that long makes the write after it fail when another worker wrote meanwhile
    session.commit()
    if not check_password(rider.password_hash if rider else None, password) or rider is None:
        limiter.record_failure(account, address, now)
        session.commit()
        raise Unauthorized("wrong e-mail address or password")
    limiter.record_success(account, now)
    if password_needs_rehash(rider.password_hash):  # made with older, costlier parameters
        rider.password_hash = hash_password(password)
    # the sessions whose tokens have all expired are of no further use
    session.execute(delete(RiderSession).where(RiderSession.rider_id == rider.id,
                                               RiderSession.created_at <= now - ACCESS_LIFETIME))
    opened = RiderSession(id=str(uuid.uuid4()), rider_id=rider.id, created_at=now,
                          last_seen_at=now, revoked_at=None)
    session.add(opened)
    session.commit()
    return issue_access_token(rider.id, opened.id, secret, now)


def _open_session(session: Session, token: str, secret: str,
                  now: dt.datetime) -> tuple[Rider, RiderSession]:
    """The rider and open sign-in session of ``token`` (one primary-key join)."""
    claims = claims_from_token(token, secret, now)
    found = session.execute(
        select(Rider, RiderSession).join(RiderSession, RiderSession.rider_id == Rider.id)
        .where(RiderSession.id == claims.session_id, Rider.id == claims.rider_id)
    ).one_or_none()
    if found is None:
        raise Unauthorized("the account or sign-in of this token no longer exists")
    rider, opened = found
    if opened.revoked_at is not None:
        raise Unauthorized("this sign-in has ended (logged out); sign in again")
    return rider, opened


def current_rider(session: Session, token: str, secret: str, clock: Clock) -> Rider:
    """The rider an access token belongs to, while its sign-in session is open."""
    now = clock()
    rider, opened = _open_session(session, token, secret, now)
    if now - opened.last_seen_at >= LAST_SEEN_EVERY:
        opened.last_seen_at = now
        session.commit()
    return rider


def log_out(session: Session, token: str, secret: str, clock: Clock) -> None:
    """End the sign-in session of ``token``: it, and only it, stops working."""
    now = clock()
    _rider, opened = _open_session(session, token, secret, now)
    opened.revoked_at = now
    session.commit()


def log_out_everywhere(session: Session, token: str, secret: str, clock: Clock) -> int:
    """End every open sign-in session of the rider of ``token``; returns how many."""
    now = clock()
    rider, _opened = _open_session(session, token, secret, now)
    ended = session.execute(
        update(RiderSession)
        .where(RiderSession.rider_id == rider.id, RiderSession.revoked_at.is_(None))
        .values(revoked_at=now)
    )
    session.commit()
    return int(cast(CursorResult[Any], ended).rowcount)


DEMO_RIDER = ("rider@demo.kanazawa-maas.jp", "noto-kanazawa-demo")


def ensure_demo_rider(session: Session, clock: Clock) -> tuple[str, str]:
    """The demo's rider login, created once (only `maas demo` calls this)."""
    email, password = DEMO_RIDER
    if session.scalar(select(Rider).where(Rider.email == email)) is None:
        register_rider(session, email, password, clock)
    return email, password
