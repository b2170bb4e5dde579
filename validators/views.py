"""HTTP interface of the validator service: enrolment, the trust bundle, checks and scans."""

from __future__ import annotations

import datetime as dt
from typing import Any, Literal

from flask import Blueprint, Response, request
from pydantic import BaseModel, ConfigDict, Field, field_validator
from sqlalchemy.orm import Session

from maas.core.dates import AwareMoment, Day
from maas.core.http import bearer_token, clock, db_session, endpoint, settings
from maas.core.secrets import key_encryptor
from passes.bundle import colour_secret
from passes.keys import KeyStore
from passes.services import published_bundle, trust_bundle
from validators import services
from validators.evidence import key_windows
from validators.fraud import FraudLimits
from validators.verify import TrustBundle

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
    bundle_keys = _keys("bundle")
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
    # the worker's signed bundle while it keeps it current; built here otherwise
    document, signed = published_bundle(session, clock()) or _current_bundle(session)
    etag = f'"{document["version"]}"'
    if request.headers.get("If-None-Match") == etag:
        return Response(status=304, headers={"ETag": etag})
    response = Response(BundleOut(version=document["version"], bundle=signed)
                        .model_dump_json(), mimetype="application/json")
    response.headers["ETag"] = etag
    return response


def _keys(kind: str = "issuing") -> KeyStore:
    """The deployment's issuing (or trust-bundle) keys, read through the request's session."""
    return KeyStore(db_session(), key_encryptor(settings()), kind)


def _fraud_limits() -> FraudLimits:
    """The configured rule for flagging a device that keeps sending disputed scans."""
    config = settings()
    return FraudLimits(device_disputed=config.disputed_scans_limit,
                       device_window=dt.timedelta(hours=config.disputed_scans_window_hours))


def _current_bundle(session: Session) -> tuple[dict[str, Any], str]:
    return trust_bundle(session, _keys(), _keys("bundle"),
                        colour_secret(settings().secret_key), clock())


class ValidationIn(BaseModel):
    """A code a connected device scanned."""

    model_config = ConfigDict(extra="forbid")

    payload: str = Field(min_length=1, max_length=2048, description="the decoded QR text")
    at: AwareMoment | None = Field(
        default=None, description="when it was scanned, if not now (ISO 8601 with offset)")


class CheckOut(BaseModel):
    """The verdict, as `maas-validator check --json` prints it."""

    result: Literal["accept", "reject", "cannot_judge"]
    code: str
    message_ja: str
    message_en: str
    pass_id: str | None
    product: str | None
    category: str | None
    service_date: dt.date | None
    scan_id: str


@bp.post("/validations")
@endpoint(summary="Judge a code for a connected device, with the server's deny-list",
          response=CheckOut, body=ValidationIn, tags=["validators"], security=["device"],
          errors=[401, 422])
def validation(body: ValidationIn) -> CheckOut:
    """The offline verifier on the server's current bundle; the scan is recorded at once."""
    session = db_session()
    device = services.authenticate(session, bearer_token())
    document, _ = _current_bundle(session)
    result, scan_id = services.validate(
        session, device, body.payload, body.at, TrustBundle.from_document(document), clock(),
        key_windows(_keys()), _fraud_limits())
    return CheckOut(**result.as_json(), scan_id=scan_id)


class ScanIn(BaseModel):
    """One journaled check."""

    model_config = ConfigDict(extra="forbid")

    id: str = Field(min_length=8, max_length=64, pattern=r"^[A-Za-z0-9_-]+$",
                    description="made by the device; a retried upload is recognised by it")
    result: Literal["accept", "reject", "cannot_judge"]
    code: str = Field(min_length=1, max_length=32)
    payload: str | None = Field(
        default=None, max_length=2048,
        description="the code as read (the QR text). The server verifies it again; a scan "
                    "without it, or whose code does not bear out an accept, counts nowhere")
    digest: str | None = Field(default=None, max_length=32)
    pass_id: str | None = Field(default=None, max_length=32)
    product: str | None = Field(default=None, max_length=64)
    category: Literal["adult", "child"] | None = None
    service_date: Day | None = None
    scanned_at: AwareMoment
    lat: float | None = Field(default=None, ge=-90, le=90)
    lon: float | None = Field(default=None, ge=-180, le=180)
    route_id: str | None = Field(default=None, max_length=100)

    @field_validator("payload")
    @classmethod
    def _storable(cls, value: str | None) -> str | None:
        """Kept as evidence whatever it is: NUL and lone surrogates cannot be stored as text
        (a code with them is not a pass code anyway)."""
        if value is None or (value.isascii() and "\x00" not in value):
            return value
        return value.replace("\x00", "\ufffd").encode("utf-8", "replace").decode("utf-8")


class ScansIn(BaseModel):
    """A batch of journaled checks."""

    model_config = ConfigDict(extra="forbid")

    scans: list[ScanIn] = Field(max_length=1000)


class ScansOut(BaseModel):
    """What the upload changed on the server."""

    accepted: int = Field(description="scans stored now")
    duplicates: int = Field(description="scans the server already had (a retried upload)")


@bp.post("/scans")
@endpoint(summary="Upload journaled scans (idempotent by scan id)", response=ScansOut,
          body=ScansIn, tags=["validators"], security=["device"], errors=[401, 422])
def scans(body: ScansIn) -> ScansOut:
    """Stores each scan once with the server's own verdict on its code; only confirmed
    accepts count in statistics and fraud checks."""
    session = db_session()
    device = services.authenticate(session, bearer_token())
    records = [services.ScanRecord(**scan.model_dump()) for scan in body.scans]
    outcome = services.ingest_scans(session, device, records, clock(),
                                    key_windows(_keys()), _fraud_limits())
    return ScansOut(accepted=outcome.accepted, duplicates=outcome.duplicates)
