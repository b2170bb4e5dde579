"""HTTP interface of the validator service: enrolment and the trust bundle."""

from __future__ import annotations

import hashlib
from typing import Any

from flask import Blueprint, Response, request
from pydantic import BaseModel, ConfigDict, Field

from maas.http import bearer_token, clock, db_session, endpoint, settings
from passes.keys import KeyStore
from passes.services import trust_bundle
from validators import services

bp = Blueprint("validators", __name__)


class EnrollIn(BaseModel):
    """A one-time enrolment code from `maas devices add`."""

    model_config = ConfigDict(extra="forbid")

    code: str = Field(min_length=8, max_length=100)


class EnrollOut(BaseModel):
    """The device's identity, its token, and the bundle keys it must pin."""

    device_id: str
    operator: str
    token: str = Field(description="send as Authorization: Bearer on device endpoints")
    bundle_keys: list[dict[str, Any]] = Field(description="JWKs that sign the trust bundle")


@bp.post("/devices/enroll")
@endpoint(summary="Enrol a validator device with its one-time code", response=EnrollOut,
          body=EnrollIn, tags=["validators"], errors=[401])
def enroll(body: EnrollIn) -> EnrollOut:
    """The code works once; the token is shown only here."""
    device, token = services.enroll(db_session(), body.code, clock())
    bundle_keys = KeyStore(settings().home, kind="bundle")
    bundle_keys.ensure(clock()())
    return EnrollOut(device_id=device.id, operator=device.operator_id, token=token,
                     bundle_keys=bundle_keys.jwks()["keys"])


class BundleOut(BaseModel):
    """The signed trust bundle (a compact JWS) and its version."""

    version: str
    bundle: str


@bp.get("/validators/bundle")
@endpoint(summary="The signed trust bundle (If-None-Match: its version gives 304)",
          response=BundleOut, tags=["validators"], security=["device"])
def bundle() -> BundleOut | Response:
    """Issuing keys, deny-list, products and colours, signed by the pinned bundle key."""
    session = db_session()
    services.authenticate(session, bearer_token())
    home = settings().home
    secret = hashlib.sha256(f"colour:{settings().secret_key}".encode()).hexdigest()
    document, signed = trust_bundle(session, KeyStore(home), KeyStore(home, kind="bundle"),
                                    secret, clock())
    etag = f'"{document["version"]}"'
    if request.headers.get("If-None-Match") == etag:
        return Response(status=304, headers={"ETag": etag})
    response = Response(BundleOut(version=document["version"], bundle=signed)
                        .model_dump_json(), mimetype="application/json")
    response.headers["ETag"] = etag
    return response
