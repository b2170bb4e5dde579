"""Rider credentials: password hashing (argon2id) and access tokens (pure).

Access tokens are HS256 JWTs signed with ``MAAS_SECRET_KEY``, verified with the algorithm
pinned, carrying only the rider id (``sub``), ``typ: rider`` and a one-day expiry.
"""

from __future__ import annotations

import datetime as dt
import hashlib

import jwt
from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

from maas.core.errors import Unauthorized

ACCESS_ALGORITHM = "HS256"
ACCESS_LIFETIME = dt.timedelta(days=1)
MIN_PASSWORD_LENGTH = 8
_hasher = PasswordHasher()  # argon2id with the library's current recommended parameters
# verifying against this keeps an unknown e-mail as slow as a wrong password
_DUMMY_HASH = _hasher.hash("not a real password")


def hash_token(secret: str) -> str:
    """The stored form of a long random secret (device token, enrolment code, partner key).

    SHA-256 is enough: with 256 random bits there is nothing to guess, and a slow hash would
    cost every request that authenticates with it.
    """
    return hashlib.sha256(secret.encode()).hexdigest()


def hash_password(password: str) -> str:
    """An argon2id hash of ``password``."""
    return _hasher.hash(password)


def check_password(password_hash: str | None, password: str) -> bool:
    """True when ``password`` matches; constant work whether or not the account exists."""
    try:
        return _hasher.verify(password_hash or _DUMMY_HASH, password) and (
            password_hash is not None)
    except (VerificationError, InvalidHashError):
        return False


def issue_access_token(rider_id: str, secret: str, now: dt.datetime) -> str:
    """A bearer token for ``rider_id``."""
    payload = {"sub": rider_id, "typ": "rider", "iat": int(now.timestamp()),
               "exp": int((now + ACCESS_LIFETIME).timestamp())}
    return jwt.encode(payload, secret, algorithm=ACCESS_ALGORITHM)


def rider_from_token(token: str, secret: str, now: dt.datetime) -> str:
    """The rider id in a valid access token; :class:`Unauthorized` otherwise."""
    try:
        payload = jwt.decode(token, secret, algorithms=[ACCESS_ALGORITHM],
                             # time is checked below against the injected clock, not the
                             # machine's
                             options={"require": ["sub", "exp", "typ"], "verify_exp": False,
                                      "verify_iat": False, "verify_nbf": False})
    except jwt.PyJWTError:
        raise Unauthorized("the access token is not valid") from None
    if payload["typ"] != "rider":
        raise Unauthorized("not a rider token")
    if int(payload["exp"]) <= int(now.timestamp()):
        raise Unauthorized("the access token has expired; sign in again")
    return str(payload["sub"])
