"""Enrolling validator devices and authenticating them by token."""

from __future__ import annotations

import dataclasses
import hashlib
import secrets
import uuid

from sqlalchemy import column, select, table
from sqlalchemy.orm import Session

from maas.clock import Clock
from maas.errors import FieldError, InvalidInput, NotFound, Unauthorized
from validators.models import Device


def _digest(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


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
                    enrollment_code_hash=_digest(code), token_hash=None, status="pending",
                    created_at=clock(), enrolled_at=None)
    session.add(device)
    session.commit()
    return NewDevice(device, code)


def enroll(session: Session, code: str, clock: Clock) -> tuple[Device, str]:
    """Trade a one-time enrolment code for a device token (the code is then spent)."""
    device = session.scalar(select(Device).where(Device.enrollment_code_hash == _digest(code),
                                                 Device.status == "pending"))
    if device is None:
        raise Unauthorized("unknown or already used enrolment code")
    token = secrets.token_urlsafe(32)
    device.token_hash = _digest(token)
    device.enrollment_code_hash = None
    device.status = "active"
    device.enrolled_at = clock()
    session.commit()
    return device, token


def authenticate(session: Session, token: str) -> Device:
    """The active device a bearer token belongs to."""
    device = session.scalar(select(Device).where(Device.token_hash == _digest(token)))
    if device is None or device.status != "active":
        raise Unauthorized("unknown or revoked device token")
    return device
