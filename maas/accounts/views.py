"""Rider accounts over HTTP: register, sign in, who am I, log out (here or everywhere)."""

from __future__ import annotations

from typing import Literal

from flask import Blueprint, Response, request
from pydantic import BaseModel, ConfigDict, Field

from maas.accounts import services
from maas.accounts.throttle import DatabaseLimiter, KnownLocks
from maas.core.auth import ACCESS_LIFETIME
from maas.core.http import bearer_token, clock, db_session, endpoint, settings, state

bp = Blueprint("accounts", __name__)

KNOWN_LOCKS = "accounts.known_locks"
EMAIL = r"^[^@\s]+@[^@\s]+\.[^@\s]+$"


class Credentials(BaseModel):
    """An e-mail address and a password."""

    model_config = ConfigDict(extra="forbid")

    email: str = Field(pattern=EMAIL, max_length=320, examples=["rider@example.jp"])
    password: str = Field(min_length=1, max_length=200)


class RiderOut(BaseModel):
    """A rider account (no personal data beyond the e-mail address)."""

    id: str
    email: str


class RegistrationOut(BaseModel):
    """The same answer whether the address was new or already had an account."""

    email: str
    status: Literal["created"] = "created"


class TokenOut(BaseModel):
    """A bearer access token for rider endpoints."""

    access_token: str
    token_type: str = "bearer"  # noqa: S105 - the OAuth token type, not a secret
    expires_in: int


@bp.post("/riders")
@endpoint(summary="Create a rider account", response=RegistrationOut, body=Credentials,
          status=201, tags=["riders"],
          description=(
              "The password needs at least 8 characters (not counting spaces around it), at "
              "least 4 different characters, must not be one of the most common passwords "
              "and must not contain the e-mail address; a 422 names `password` and says why. "
              "The answer is the same 201 whether or not the address already has an account "
              "(an existing account keeps its password), so registration does not reveal who "
              "rides with us; then sign in with POST /auth/token."))
def create_rider(body: Credentials) -> RegistrationOut:
    """Register with an e-mail address and a password."""
    address = services.register_rider(db_session(), body.email, body.password, clock())
    return RegistrationOut(email=address)


@bp.post("/auth/token")
@endpoint(summary="Sign in: exchange e-mail and password for an access token",
          response=TokenOut, body=Credentials, tags=["riders"], errors=[401, 429],
          description=(
              "A one-day bearer token in a new sign-in session. Failed sign-ins are throttled "
              "per account and per client address: after 5 failures the account is locked for "
              "1 min, doubling with each further failure up to 1 h, and 20 failures from one "
              "address within 15 min block it until the window ends. While throttled every "
              "attempt — the right password too — is a 429 with `Retry-After`. A 503 with "
              "`Retry-After` means the server is busy checking other passwords."))
def token(body: Credentials) -> TokenOut:
    """A one-day bearer token."""
    session = db_session()
    known = state().domains.setdefault(KNOWN_LOCKS, KnownLocks())  # one per app and process
    access = services.sign_in(session, body.email, body.password, settings().secret_key,
                              clock(), address=request.remote_addr,
                              limiter=DatabaseLimiter(session, known=known))
    return TokenOut(access_token=access, expires_in=int(ACCESS_LIFETIME.total_seconds()))


@bp.get("/riders/me")
@endpoint(summary="The signed-in rider", response=RiderOut, tags=["riders"],
          security=["rider"])
def me() -> RiderOut:
    """Who the bearer token belongs to."""
    rider = services.current_rider(db_session(), bearer_token(), settings().secret_key, clock())
    return RiderOut(id=rider.id, email=rider.email)


@bp.post("/auth/logout")
@endpoint(summary="Log out: end this token's sign-in session", response=None, status=204,
          tags=["riders"], security=["rider"],
          description="The bearer token (and only it) is refused from now on; 204 No Content.")
def logout() -> Response:
    """End the session the bearer token was issued in."""
    services.log_out(db_session(), bearer_token(), settings().secret_key, clock())
    return Response(status=204)


@bp.post("/auth/logout-all")
@endpoint(summary="Log out everywhere: end every sign-in session of this rider",
          response=None, status=204, tags=["riders"], security=["rider"],
          description=("Every token of the rider, on every device, is refused from now on "
                       "(for a lost phone or a leaked password); 204 No Content."))
def logout_all() -> Response:
    """End all of the rider's sessions, this one included."""
    services.log_out_everywhere(db_session(), bearer_token(), settings().secret_key, clock())
    return Response(status=204)
