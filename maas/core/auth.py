"""Rider credentials: password hashing (argon2id) and access tokens (pure).

Passwords are hashed with argon2id at OWASP's first recommended setting (19 MiB, two passes,
one lane): about 23 ms of one core here, instead of the library default's 64 MiB × 3 passes ×
4 lanes (about 220 ms of CPU spread over four threads), so a burst of sign-ins cannot take
every core. Each process computes at most :data:`HASH_SLOTS` hashes at a time; a request that
cannot get a slot within :data:`HASH_WAIT` seconds (0.25) is refused with 503 and ``Retry-After``
rather than queueing behind the others (see docs/security.md, "Logins"). Hashes made with
other parameters still verify, and :func:`password_needs_rehash` says when to re-hash.

Access tokens are HS256 JWTs signed with ``MAAS_SECRET_KEY``, verified with the algorithm
pinned, carrying the rider id (``sub``), the sign-in session (``sid``, revocable), ``typ:
rider`` and a one-day expiry.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import functools
import hashlib
import os
import sys
import threading
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import NamedTuple, TypeVar

import jwt
from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from argon2.low_level import Type

from maas.core.errors import ServiceUnavailable, Unauthorized

ACCESS_ALGORITHM = "HS256"
ACCESS_LIFETIME = dt.timedelta(days=1)
MIN_PASSWORD_LENGTH = 8

# argon2id, OWASP Password Storage Cheat Sheet's first option (m=19 MiB, t=2, p=1)
ARGON2_MEMORY_KIB = 19 * 1024
ARGON2_TIME_COST = 2
ARGON2_PARALLELISM = 1
_hasher = PasswordHasher(time_cost=ARGON2_TIME_COST, memory_cost=ARGON2_MEMORY_KIB,
                         parallelism=ARGON2_PARALLELISM, type=Type.ID)

T = TypeVar("T")

HASH_SLOTS = 1  # argon2 computations at a time in one process
HASH_WAIT = 0.25  # seconds a request waits for a slot before it is refused with 503


class HashGate:
    """At most ``slots`` password hashes at a time in this process, computed at a low CPU
    priority.

    argon2 releases the GIL, so without a bound every thread of every worker could be hashing
    at once and nothing else would get a core. A caller that waits longer than ``wait``
    seconds for a slot gets :class:`ServiceUnavailable` (503, ``Retry-After: 1``). The hashes
    run on the gate's own threads (started on first use, in the process that uses them), which
    lower their scheduling priority (nice +10) on Linux, so the kernel serves other requests
    first and sign-ins get the cores that are left.
    """

    NICE = 10

    def __init__(self, slots: int = HASH_SLOTS, wait: float = HASH_WAIT) -> None:
        self.slots = slots
        self.wait = wait
        self._semaphore = threading.BoundedSemaphore(slots)
        self._pool: tuple[int, ThreadPoolExecutor] | None = None
        self._pool_lock = threading.Lock()

    @contextlib.contextmanager
    def slot(self) -> Iterator[None]:
        """Hold one hashing slot for the duration of the ``with`` block."""
        if not self._semaphore.acquire(timeout=self.wait):
            raise ServiceUnavailable("too many sign-ins at once; retry in a moment",
                                     retry_after=1)
        try:
            yield
        finally:
            self._semaphore.release()

    def run(self, work: Callable[[], T]) -> T:
        """``work()`` in a slot, on a low-priority hashing thread."""
        with self.slot():
            return self._executor().submit(work).result()

    def _executor(self) -> ThreadPoolExecutor:
        # per process: an executor inherited through fork has no threads behind it
        with self._pool_lock:
            if self._pool is None or self._pool[0] != os.getpid():
                pool = ThreadPoolExecutor(self.slots, thread_name_prefix="argon2",
                                          initializer=self._lower_priority)
                self._pool = (os.getpid(), pool)
            return self._pool[1]

    @classmethod
    def _lower_priority(cls) -> None:
        if sys.platform == "linux":  # there, a thread id names just this thread
            with contextlib.suppress(OSError):
                os.setpriority(os.PRIO_PROCESS, threading.get_native_id(), cls.NICE)


HASH_GATE = HashGate()


class AccessClaims(NamedTuple):
    """What a valid access token says: whose it is and which sign-in session issued it."""

    rider_id: str
    session_id: str


def hash_token(secret: str) -> str:
    """The stored form of a long random secret (device token, enrolment code, partner key).

    SHA-256 is enough: with 256 random bits there is nothing to guess, and a slow hash would
    cost every request that authenticates with it.
    """
    return hashlib.sha256(secret.encode()).hexdigest()


def hash_password(password: str) -> str:
    """An argon2id hash of ``password`` (waits for a hashing slot)."""
    return HASH_GATE.run(lambda: _hasher.hash(password))


@functools.cache
def _dummy_hash() -> str:
    """A hash to verify against when the account does not exist (made on first use, not at
    import: every process start would pay for it)."""
    return _hasher.hash("not a real password")


def check_password(password_hash: str | None, password: str) -> bool:
    """True when ``password`` matches; the same work whether or not the account exists."""

    def verify() -> bool:
        try:
            return _hasher.verify(password_hash or _dummy_hash(), password) and (
                password_hash is not None)
        except (VerificationError, InvalidHashError):
            return False

    return HASH_GATE.run(verify)


def password_needs_rehash(password_hash: str) -> bool:
    """True when ``password_hash`` was made with other parameters than today's."""
    try:
        return _hasher.check_needs_rehash(password_hash)
    except InvalidHashError:
        return True


def issue_access_token(rider_id: str, session_id: str, secret: str, now: dt.datetime) -> str:
    """A bearer token for ``rider_id`` in the sign-in session ``session_id``."""
    payload = {"sub": rider_id, "sid": session_id, "typ": "rider", "iat": int(now.timestamp()),
               "exp": int((now + ACCESS_LIFETIME).timestamp())}
    return jwt.encode(payload, secret, algorithm=ACCESS_ALGORITHM)


def claims_from_token(token: str, secret: str, now: dt.datetime) -> AccessClaims:
    """The rider and session of a valid access token; :class:`Unauthorized` otherwise.

    Whether the session is still open is the caller's question (it needs the database).
    """
    try:
        payload = jwt.decode(token, secret, algorithms=[ACCESS_ALGORITHM],
                             # time is checked below against the injected clock, not the
                             # machine's
                             options={"require": ["sub", "sid", "exp", "typ"],
                                      "verify_exp": False, "verify_iat": False,
                                      "verify_nbf": False})
    except jwt.PyJWTError:
        raise Unauthorized("the access token is not valid") from None
    if payload["typ"] != "rider":
        raise Unauthorized("not a rider token")
    if int(payload["exp"]) <= int(now.timestamp()):
        raise Unauthorized("the access token has expired; sign in again")
    return AccessClaims(str(payload["sub"]), str(payload["sid"]))
