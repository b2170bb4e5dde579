"""Throttling failed sign-ins, per account (e-mail address) and per client address.

The policy (docs/security.md, "Logins"):

- **Account**: the first 4 failures cost nothing; the 5th and each one after it lock the
  account for 1 min × 2^(failures − 5), at most 1 h. While locked, every attempt — the right
  password too — is refused with 429 and ``Retry-After`` before any password is checked (so
  it costs no hashing). The count is forgotten after 24 h without a failure, or at the next
  successful sign-in. Unknown e-mail addresses are counted the same way, so a lockout tells
  nothing about whether an account exists.
- **Address**: 20 failures from one client address within a 15-min window (which starts at
  its first failure) refuse further attempts from it, for any account, until the window ends.

The counters are rows of ``login_throttles`` in the shared database, so every worker and every
host enforces the same limits. :class:`LoginLimiter` is the interface sign-in uses; a Redis
implementation can replace :class:`DatabaseLimiter` without touching the service.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import math
import threading
from typing import Protocol

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from maas.accounts.models import LoginThrottle
from maas.core.auth import hash_token


@dataclasses.dataclass(frozen=True, slots=True)
class ThrottlePolicy:
    """How many failures are allowed, and for how long they count."""

    account_free_failures: int = 4
    account_first_lockout: dt.timedelta = dt.timedelta(minutes=1)
    account_max_lockout: dt.timedelta = dt.timedelta(hours=1)
    account_memory: dt.timedelta = dt.timedelta(hours=24)
    address_failures: int = 20
    address_window: dt.timedelta = dt.timedelta(minutes=15)

    def account_lockout(self, failures: int) -> dt.timedelta:
        """How long an account is locked after its ``failures``-th failure (zero: not)."""
        over = failures - self.account_free_failures
        if over <= 0:
            return dt.timedelta(0)
        # the exponent is bounded (2 ** 60 minutes would overflow); the cap comes long before
        doubled: dt.timedelta = self.account_first_lockout * 2 ** min(over - 1, 30)
        return min(doubled, self.account_max_lockout)


DEFAULT_POLICY = ThrottlePolicy()


class LoginLimiter(Protocol):
    """Where failed sign-ins are counted (the database today; Redis when the fleet has it)."""

    def retry_after(self, account: str, address: str | None, now: dt.datetime) -> int | None:
        """Seconds until ``account`` may try again from ``address``; None when it may now."""

    def record_failure(self, account: str, address: str | None, now: dt.datetime) -> None:
        """Count one failed sign-in."""

    def record_success(self, account: str, now: dt.datetime) -> None:
        """Forget ``account``'s failures (a right password outside a lockout)."""


def account_key(account: str) -> str:
    """The stored key of an account's counter (the e-mail itself is not stored)."""
    return hash_token("account:" + account)


def address_key(address: str) -> str:
    """The stored key of a client address's counter."""
    return hash_token("address:" + address)


def _seconds(delta: dt.timedelta) -> int:
    return max(1, math.ceil(delta.total_seconds()))


class KnownLocks:
    """The locks this process has seen (stored key → locked until), so that a flood of
    attempts on a locked account or from a locked address is refused without a database
    query. Only locks are remembered, never their absence: a lock another worker set is
    still found in the database. Bounded: expired entries go first, then everything.
    """

    def __init__(self, size: int = 10_000) -> None:
        self.size = size
        self._until: dict[str, dt.datetime] = {}
        self._lock = threading.Lock()

    def until(self, key: str, now: dt.datetime) -> dt.datetime | None:
        """When ``key``'s known lock ends, if it has not ended yet."""
        until = self._until.get(key)
        return until if until is not None and until > now else None

    def note(self, key: str, until: dt.datetime, now: dt.datetime) -> None:
        """Remember that ``key`` is locked until ``until``."""
        with self._lock:
            if len(self._until) >= self.size:
                self._until = {k: v for k, v in self._until.items() if v > now}
                if len(self._until) >= self.size:
                    self._until.clear()
            self._until[key] = until


class DatabaseLimiter:
    """:class:`LoginLimiter` on ``login_throttles``; the caller commits its session."""

    def __init__(self, session: Session, policy: ThrottlePolicy = DEFAULT_POLICY,
                 known: KnownLocks | None = None) -> None:
        self.session = session
        self.policy = policy
        self.known = known if known is not None else KnownLocks()

    def retry_after(self, account: str, address: str | None, now: dt.datetime) -> int | None:
        """Seconds until the later of the account's lockout and the address's window end."""
        keys = [account_key(account)] + ([address_key(address)] if address is not None else [])
        known = [until for key in keys if (until := self.known.until(key, now)) is not None]
        if known:  # no query while a known lock lasts
            return _seconds(max(known) - now)
        locks: dict[str, dt.datetime] = {
            key: until for key, until in self.session.execute(
                select(LoginThrottle.key, LoginThrottle.locked_until)
                .where(LoginThrottle.key.in_(keys), LoginThrottle.locked_until > now))
            if until is not None}
        for key, until in locks.items():
            self.known.note(key, until, now)
        return _seconds(max(locks.values()) - now) if locks else None

    def record_failure(self, account: str, address: str | None, now: dt.datetime) -> None:
        """Count the failure for the account, and for the address when it is known."""
        policy = self.policy
        row = self._row(account_key(account), now)
        if now - row.last_failure_at >= policy.account_memory:
            row.failures = 0
            row.window_started_at = now
        row.failures += 1
        row.last_failure_at = now
        lockout = policy.account_lockout(row.failures)
        row.locked_until = now + lockout if lockout else None
        if row.locked_until is not None:
            self.known.note(row.key, row.locked_until, now)
        if address is None:
            return
        row = self._row(address_key(address), now)
        if now - row.window_started_at >= policy.address_window:
            row.failures = 0
            row.window_started_at = now
        row.failures += 1
        row.last_failure_at = now
        if row.failures >= policy.address_failures:
            row.locked_until = row.window_started_at + policy.address_window
            self.known.note(row.key, row.locked_until, now)

    def record_success(self, account: str, now: dt.datetime) -> None:
        """Delete the account's counter."""
        row = self.session.get(LoginThrottle, account_key(account))
        if row is not None:
            self.session.delete(row)

    def _row(self, key: str, now: dt.datetime) -> LoginThrottle:
        """The counter ``key``, locked for this transaction (PostgreSQL), created if absent."""
        row = self.session.get(LoginThrottle, key, with_for_update=True,
                               populate_existing=True)
        if row is not None:
            return row
        try:
            with self.session.begin_nested():  # another worker may insert the same key now
                row = LoginThrottle(key=key, failures=0, window_started_at=now,
                                    last_failure_at=now, locked_until=None)
                self.session.add(row)
        except IntegrityError:
            row = self.session.get(LoginThrottle, key, with_for_update=True,
                                   populate_existing=True)
            if row is None:  # pragma: no cover - inserted and deleted between two statements
                raise
        return row
