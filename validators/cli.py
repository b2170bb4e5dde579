"""``maas devices …``: validator devices, operator side (thin commands over services)."""

from __future__ import annotations

import click

from maas.core.cli import MaasGroup, emit, json_option
from maas.core.clistate import CliState, pass_state
from validators import services


@click.group(cls=MaasGroup)
def devices() -> None:
    """Validator devices (operator side)."""


@devices.command("add")
@click.option("--operator", "operator_id", required=True, help="Operator id (GET /operators).")
@click.option("--vehicle", help="Vehicle the device rides in.")
@click.option("--stop", help="Stop the fixed validator stands at.")
@json_option
@pass_state
def add_device(state: CliState, operator_id: str, vehicle: str | None, stop: str | None,
               as_json: bool) -> None:
    """Register a device; prints its one-time enrolment code."""
    target = f"{operator_id} {vehicle or stop or '-'}"
    with state.audited("devices.add", target) as (session, detail):
        created = services.add_device(session, operator_id, vehicle, stop,
                                      state.runtime().clock)
        detail["device_id"] = created.device.id
    document = {"device_id": created.device.id, "enrollment_code": created.enrollment_code}
    emit(as_json, document,
         f"device {created.device.id}: enrolment code {created.enrollment_code}")


@devices.command("revoke")
@click.argument("device_id")
@json_option
@pass_state
def revoke_device(state: CliState, device_id: str, as_json: bool) -> None:
    """Revoke a device: its token stops working at once."""
    with state.audited("devices.revoke", device_id) as (session, _detail):
        device = services.revoke_device(session, device_id, state.runtime().clock)
    emit(as_json, {"device_id": device.id, "status": device.status},
         f"device {device.id}: revoked")


@devices.command("flagged")
@click.option("--operator", "operator_id", help="Only this operator's devices.")
@json_option
@pass_state
def flagged_devices(state: CliState, operator_id: str | None, as_json: bool) -> None:
    """Devices flagged for uploading disputed scans (newest first)."""
    with state.session() as session:
        flags = services.device_flags(session, operator_id)
    rows = [{"device_id": flag.device_id, "operator": flag.operator_id, "reason": flag.reason,
             "disputed": flag.disputed, "detail": flag.detail,
             "created_at": flag.created_at.isoformat()} for flag in flags]
    emit(as_json, {"devices": rows}, "\n".join(
        f"{row['created_at']}  {row['device_id']}  {row['operator']}  {row['detail']}"
        for row in rows) or "no flagged devices")
