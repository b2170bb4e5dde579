"""Validator devices (enrolment, tokens, revocation) and the scans they upload."""

from __future__ import annotations

import dataclasses
import datetime as dt
import secrets
import uuid
from collections import Counter
from collections.abc import Mapping, Sequence
from typing import Any, cast

from sqlalchemy import Insert, Table, column, select, table
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import InstrumentedAttribute, Session

from maas.core.auth import hash_token
from maas.core.clock import Clock
from maas.core.errors import FieldError, InvalidInput, NotFound, Unauthorized
from maas.core.events import publish
from validators import evidence, fraud
from validators.events import ScansIngested
from validators.fraud import FraudLimits
from validators.models import (
    CONFIRMED,
    DISPUTED,
    LEGACY,
    Device,
    DeviceFlag,
    IngestedScan,
    Scan,
)
from validators.verify import (
    SAME_DEVICE,
    Context,
    Result,
    TrustBundle,
    scan_digest,
    verify,
)


@dataclasses.dataclass(frozen=True)
class NewDevice:
    """A device waiting for enrolment, and its one-time code."""

    device: Device
    enrollment_code: str


def add_device(session: Session, operator_id: str, vehicle: str | None, stop: str | None,
               clock: Clock) -> NewDevice:
    """Register a device for an operator's vehicle or stop; returns its enrolment code."""
    if (vehicle is None) == (stop is None):
        raise InvalidInput("give --vehicle or --stop (one of them)",
                           errors=[FieldError("vehicle", "or stop, exactly one")])
    # validators may not import gtfs: the operators table is read as the shared registry it is
    operators = table("operators", column("id"))
    if session.scalar(select(operators.c.id).where(operators.c.id == operator_id)) is None:
        raise NotFound(f"no operator {operator_id!r} (see GET /api/v1/operators)")
    code = secrets.token_urlsafe(18)
    device = Device(id=str(uuid.uuid4()), operator_id=operator_id, vehicle=vehicle, stop=stop,
                    enrollment_code_hash=hash_token(code), token_hash=None, status="pending",
                    created_at=clock(), enrolled_at=None)
    session.add(device)
    session.commit()
    return NewDevice(device, code)


def enroll(session: Session, code: str, clock: Clock) -> tuple[Device, str]:
    """Trade a one-time enrolment code for a device token (the code is then spent)."""
    device = session.scalar(select(Device).where(Device.enrollment_code_hash == hash_token(code),
                                                 Device.status == "pending"))
    if device is None:
        raise Unauthorized("unknown or already used enrolment code")
    token = secrets.token_urlsafe(32)
    device.token_hash = hash_token(token)
    device.enrollment_code_hash = None
    device.status = "active"
    device.enrolled_at = clock()
    session.commit()
    return device, token


def authenticate(session: Session, token: str) -> Device:
    """The active device a bearer token belongs to."""
    device = session.scalar(select(Device).where(Device.token_hash == hash_token(token)))
    if device is None or device.status != "active":
        raise Unauthorized("unknown or revoked device token")
    return device


def revoke_device(session: Session, device_id: str, clock: Clock) -> Device:
    """Stop a device's token working (a lost phone, a stolen validator)."""
    device = session.get(Device, device_id)
    if device is None:
        raise NotFound(f"no device {device_id!r}")
    device.status = "revoked"
    device.token_hash = None
    device.enrollment_code_hash = None
    session.commit()
    return device


@dataclasses.dataclass(frozen=True)
class ScanRecord:
    """One journaled check as a device uploads it: the code it read and what it made of it."""

    id: str
    result: str
    code: str
    scanned_at: dt.datetime
    payload: str | None = None  # the code as read; without it the scan counts nowhere
    digest: str | None = None
    pass_id: str | None = None
    product: str | None = None
    category: str | None = None
    service_date: dt.date | None = None
    lat: float | None = None
    lon: float | None = None
    route_id: str | None = None


@dataclasses.dataclass(frozen=True)
class IngestResult:
    """How many scans were new, how many the server already had, which passes got flagged."""

    accepted: int
    duplicates: int
    flagged: tuple[str, ...] = ()
    statuses: Mapping[str, int] = dataclasses.field(default_factory=dict)  # new scans by status
    device_flagged: bool = False


SCAN_FIELDS = tuple(field.name for field in dataclasses.fields(IngestedScan))


def ingest_scans(session: Session, device: Device, records: Sequence[ScanRecord],
                 clock: Clock, keys: Sequence[evidence.KeyWindow],
                 limits: FraudLimits | None = None) -> IngestResult:
    """Store a batch of scans exactly once each (by scan id) with the server's verdict on each.

    A retried batch — after a crash, a timeout or a lost answer — inserts only what the server
    does not have yet; the rest count as duplicates. Every new scan's code is verified again
    (:mod:`validators.evidence`, with the issuing ``keys`` published at its time); only
    confirmed scans are checked for fraud and count in statistics. A device that has sent
    ``limits.device_disputed`` disputed scans within ``limits.device_window`` is flagged. The
    new scans are published as :class:`ScansIngested` inside the transaction (statistics keep
    their roll-ups with it).
    """
    now = clock()
    limits = limits or FraudLimits()
    unique: dict[str, ScanRecord] = {}
    for record in records:
        unique.setdefault(record.id, record)
    if unique:
        known = set(session.scalars(select(Scan.id).where(
            evidence.among(session, Scan.id, list(unique)))))
        new = [record for scan_id, record in unique.items() if scan_id not in known]
    else:
        new = []
    judge = evidence.Judge(session, keys, device.operator_id, device.id)
    verdicts = judge.judge(new)
    scans = [_stored(device, record, verdicts[record.id], now) for record in new]
    if scans:
        # ON CONFLICT guards a concurrent upload of the same batch: it may then count a scan
        # as new twice, but never stores it twice
        session.execute(_insert_ignoring_duplicates(session),
                        [{name: getattr(scan, name) for name in SCAN_FIELDS} for scan in scans])
    flagged = fraud.check(session, [s for s in scans if s.status == CONFIRMED and s.pass_id],
                          now, limits, judge.history)
    statuses = Counter(scan.status for scan in scans)
    device_flagged = bool(statuses[DISPUTED]) and _flag_device(session, device, now, limits)
    if scans:
        publish(session, ScansIngested(tuple(scans)))
    session.commit()
    return IngestResult(len(scans), len(records) - len(scans), tuple(flagged), dict(statuses),
                        device_flagged)


def _stored(device: Device, record: ScanRecord, verdict: evidence.Verdict,
            now: dt.datetime) -> IngestedScan:
    return IngestedScan(
        id=record.id, device_id=device.id, operator_id=device.operator_id,
        vehicle=device.vehicle, stop=device.stop, route_id=record.route_id,
        result=record.result, code=record.code, pass_id=verdict.pass_id,
        product_code=verdict.product, category=verdict.category,
        service_date=verdict.service_date, digest=verdict.digest or record.digest,
        lat=record.lat, lon=record.lon, scanned_at=record.scanned_at, received_at=now,
        payload=record.payload, server_result=verdict.server_result,
        server_code=verdict.server_code, status=verdict.status)


def _flag_device(session: Session, device: Device, now: dt.datetime,
                 limits: FraudLimits) -> bool:
    """Flag a device for its operator once it has sent too many disputed scans lately."""
    since = now - limits.device_window
    if session.scalar(select(DeviceFlag.id).where(DeviceFlag.device_id == device.id,
                                                  DeviceFlag.created_at >= since).limit(1)):
        return False  # already flagged within the window
    disputed = evidence.disputed_since(session, device.id, since)
    if disputed < limits.device_disputed:
        return False
    hours = limits.device_window.total_seconds() / 3600
    session.add(DeviceFlag(
        device_id=device.id, operator_id=device.operator_id, reason="disputed_scans",
        disputed=disputed, created_at=now,
        detail=f"{disputed} disputed scans within {hours:g} h "
               f"({device.vehicle or device.stop or 'no vehicle or stop'})"[:300]))
    return True


def device_flags(session: Session, operator_id: str | None = None) -> list[DeviceFlag]:
    """Devices flagged for disputed scans, newest first (one operator's, or all)."""
    query = select(DeviceFlag).order_by(DeviceFlag.created_at.desc(), DeviceFlag.id.desc())
    if operator_id is not None:
        query = query.where(DeviceFlag.operator_id == operator_id)
    return list(session.scalars(query))


def _insert_ignoring_duplicates(session: Session) -> Insert:
    table = cast(Table, Scan.__table__)
    if session.get_bind().dialect.name == "postgresql":
        return postgresql.insert(table).on_conflict_do_nothing(index_elements=["id"])
    return sqlite.insert(table).on_conflict_do_nothing(index_elements=["id"])


def validate(session: Session, device: Device, payload: str, at: dt.datetime | None,
             bundle: TrustBundle, clock: Clock, keys: Sequence[evidence.KeyWindow],
             limits: FraudLimits | None = None,
             same_device: dt.timedelta = SAME_DEVICE) -> tuple[Result, str]:
    """Judge a code for a connected device with the server's current bundle, and record it.

    ``at`` lets a device that was briefly offline submit a check it made a moment ago; the
    server still judges the presentation window against that time. Replays are judged
    against this device's accepted scans: the same code (by its content), or the same pass
    within ``same_device``. The check is then recorded exactly as an uploaded scan is
    (:func:`ingest_scans`): confirmed or rejected by the server's own verdict, checked for
    fraud, counted in statistics.
    """
    now = at or clock()
    context = Context(device.operator_id, _DeviceAccepted(session, device, Scan.digest),
                      _DeviceAccepted(session, device, Scan.pass_id), same_device=same_device)
    result = verify(payload, bundle, now, context)
    scan_id = str(uuid.uuid4())
    ingest_scans(session, device, [ScanRecord(
        id=scan_id, result=result.result, code=result.code, scanned_at=now,
        payload=payload, digest=scan_digest(payload, result), pass_id=result.pass_id,
        product=result.product, category=result.category,
        service_date=result.service_date)], clock, keys, limits)
    return result, scan_id


class _DeviceAccepted:
    """When this device last had an accepted scan with this digest / of this pass."""

    def __init__(self, session: Session, device: Device, column: InstrumentedAttribute[Any]
                 ) -> None:
        self.session, self.device, self.column = session, device, column

    def get(self, key: str, /) -> dt.datetime | None:
        found: dt.datetime | None = self.session.scalar(
            select(Scan.scanned_at).where(
                Scan.device_id == self.device.id, self.column == key, Scan.result == "accept",
                Scan.status.in_((CONFIRMED, LEGACY)))
            .order_by(Scan.scanned_at.desc()).limit(1))
        return found
