"""Rider accounts over HTTP: register, sign in, who am I."""

from __future__ import annotations

from flask import Blueprint
from pydantic import BaseModel, ConfigDict, Field

from maas.accounts import services
from maas.core.auth import ACCESS_LIFETIME
from maas.core.http import bearer_token, clock, db_session, endpoint, settings

bp = Blueprint("accounts", __name__)

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


class TokenOut(BaseModel):
    """A bearer access token for rider endpoints."""

    access_token: str
    token_type: str = "bearer"  # noqa: S105 - the OAuth token type, not a secret
    expires_in: int


@bp.post("/riders")
@endpoint(summary="Create a rider account", response=RiderOut, body=Credentials, status=201,
          tags=["riders"], errors=[409])
def create_rider(body: Credentials) -> RiderOut:
    """Register with an e-mail address and a password of at least 8 characters."""
    rider = services.register_rider(db_session(), body.email, body.password, clock())
    return RiderOut(id=rider.id, email=rider.email)


@bp.post("/auth/token")
@endpoint(summary="Sign in: exchange e-mail and password for an access token",
          response=TokenOut, body=Credentials, tags=["riders"], errors=[401])
def token(body: Credentials) -> TokenOut:
    """A one-day bearer token."""
    access = services.sign_in(db_session(), body.email, body.password, settings().secret_key,
                              clock())
    return TokenOut(access_token=access, expires_in=int(ACCESS_LIFETIME.total_seconds()))


@bp.get("/riders/me")
@endpoint(summary="The signed-in rider", response=RiderOut, tags=["riders"],
          security=["rider"])
def me() -> RiderOut:
    """Who the bearer token belongs to."""
    rider = services.current_rider(db_session(), bearer_token(), settings().secret_key, clock())
    return RiderOut(id=rider.id, email=rider.email)
