"""``maas keys`` and ``maas passes``: thin commands over the pass service.

``maas bench passes`` lives with the other benchmarks, in :mod:`maas.bench.passes`.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import click
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

from maas.core.cli import MaasGroup, emit, json_option
from maas.core.clistate import CliState, pass_state
from maas.core.clock import TOKYO
from maas.core.errors import InvalidInput
from passes import credential, services
from passes.keys import KeyStore


def _store(state: CliState) -> KeyStore:
    return KeyStore(state.runtime().settings.home)


@click.group(cls=MaasGroup)
def keys() -> None:
    """Issuing keys (files under MAAS_HOME/keys)."""


@keys.command("list")
@json_option
@pass_state
def list_keys(state: CliState, as_json: bool) -> None:
    """Show the published keys: next, current and retired."""
    store = _store(state)
    store.ensure(state.runtime().clock())
    infos = [vars(info) for info in store.infos()]
    emit(as_json, {"keys": infos}, "\n".join(
        f"{i['kid']}  {i['state']:<8} created {i['created_at']}  last service date "
        f"{i['last_service_date'] or '-'}" for i in infos))


@keys.command("rotate")
@json_option
@pass_state
def rotate_keys(state: CliState, as_json: bool) -> None:
    """Promote the next key, retire the current one, publish a new next key."""
    now = state.runtime().clock()
    infos = [vars(info) for info in _store(state).rotate(now, now.astimezone(TOKYO).date())]
    emit(as_json, {"keys": infos},
         "\n".join(f"{i['kid']}  {i['state']}" for i in infos))


def _public_key(path: Path) -> ec.EllipticCurvePublicKey:
    try:
        key = serialization.load_pem_public_key(path.read_bytes())
    except (OSError, ValueError) as exc:
        raise InvalidInput(f"--device-key: {path}: not a PEM public key ({exc})") from None
    if not isinstance(key, ec.EllipticCurvePublicKey) or key.curve.name != "secp256r1":
        raise InvalidInput(f"--device-key: {path}: not a P-256 public key")
    return key


def _private_key(path: Path) -> ec.EllipticCurvePrivateKey:
    try:
        key = serialization.load_pem_private_key(path.read_bytes(), password=None)
    except (OSError, ValueError, TypeError) as exc:
        raise InvalidInput(f"--device-key: {path}: not a PEM private key ({exc})") from None
    if not isinstance(key, ec.EllipticCurvePrivateKey) or key.curve.name != "secp256r1":
        raise InvalidInput(f"--device-key: {path}: not a P-256 private key")
    return key


@click.group(cls=MaasGroup)
def passes() -> None:
    """Pass credentials."""


@passes.command("issue")
@click.option("--product", required=True, help="Product code, e.g. kanazawa-1day.")
@click.option("--date", "day", required=True, help="Service date, YYYY-MM-DD.")
@click.option("--category", type=click.Choice(["adult", "child"]), default="adult",
              show_default=True)
@click.option("--device-key", type=click.Path(path_type=Path),
              help="PEM public key of the rider's phone (binds the credential).")
@json_option
@pass_state
def issue(state: CliState, product: str, day: str, category: str, device_key: Path | None,
          as_json: bool) -> None:
    """Sign a pass credential (for tests, support staff and kiosks)."""
    try:
        service_date = dt.date.fromisoformat(day)
    except ValueError:
        raise InvalidInput(f"--date: {day!r} is not a date (YYYY-MM-DD)") from None
    runtime = state.runtime()
    phone = _public_key(device_key) if device_key else None
    with state.session() as session:
        issued = services.issue_pass(session, _store(state), product, service_date, category,
                                     phone, runtime.clock)
    document = {"id": issued.pass_id, "token": issued.token,
                "service_date": issued.service_date.isoformat()}
    emit(as_json, document, issued.token)


@passes.command("revoke")
@click.argument("pass_id")
@click.option("--reason", required=True, help="Why (kept with the pass).")
@json_option
@pass_state
def revoke(state: CliState, pass_id: str, reason: str, as_json: bool) -> None:
    """Revoke a pass; validators refuse it from the next trust bundle on."""
    with state.session() as session:
        found = services.revoke_pass(session, pass_id, reason)
    emit(as_json, {"id": found.id, "status": found.status, "reason": found.revoked_reason},
         f"{found.id}: revoked ({found.revoked_reason})")


@passes.command("move")
@click.argument("pass_id")
@click.option("--device-key", type=click.Path(path_type=Path), required=True,
              help="PEM public key of the phone the pass moves to.")
@click.option("--force", is_flag=True,
              help="Go past MAAS_PASS_MOVES_PER_DAY (support, having checked with the rider).")
@json_option
@pass_state
def move(state: CliState, pass_id: str, device_key: Path, force: bool, as_json: bool) -> None:
    """Move a pass to another phone; validators refuse the old phone's code after their next
    sync (the same service, limits and deny-list as the rider's move)."""
    runtime = state.runtime()
    phone = credential.compress_public_key(_public_key(device_key))
    with state.session() as session:
        found = services.move_pass(session, pass_id, phone, _store(state), runtime.clock,
                                   per_day=runtime.settings.pass_moves_per_day, force=force)
        document = {"id": found.id, "token": found.token,
                    "service_date": found.service_date.isoformat(),
                    "credential_id": found.credential_id,
                    "bound_key_thumbprint": services.bound_key_thumbprint(found)}
    emit(as_json, document,
         f"{found.id}: moved; credential {document['credential_id']} bound to key "
         f"{document['bound_key_thumbprint']}")


@passes.command("present")
@click.argument("token")
@click.option("--device-key", type=click.Path(path_type=Path), required=True,
              help="PEM private key of the phone the credential is bound to.")
@click.option("--at", help="Time of the presentation, ISO 8601 (default now).")
@pass_state
def present(state: CliState, token: str, device_key: Path, at: str | None) -> None:
    """Print the rotating presentation a bound phone would show at that time."""
    moment = state.runtime().clock()
    if at:
        try:
            moment = dt.datetime.fromisoformat(at)
        except ValueError:
            raise InvalidInput(f"--at: {at!r} is not an ISO 8601 date-time") from None
        if moment.tzinfo is None:
            moment = moment.replace(tzinfo=TOKYO)
    if token.count(".") != 2:
        raise InvalidInput("TOKEN: not a pass credential")
    click.echo(credential.present(token, _private_key(device_key), moment))
