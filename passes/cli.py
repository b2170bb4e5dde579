"""``maas keys`` and ``maas passes``: thin commands over the pass service.

``maas bench passes`` lives with the other benchmarks, in :mod:`maas.bench.passes`.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import click
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
from sqlalchemy.orm import Session

from maas.core.cli import MaasGroup, emit, json_option
from maas.core.clistate import CliState, pass_state
from maas.core.clock import TOKYO
from maas.core.errors import InvalidInput
from maas.core.secrets import key_encryptor
from passes import credential, services
from passes.keys import KINDS, KeyStore


def _store(state: CliState, session: Session, kind: str = "issuing") -> KeyStore:
    return KeyStore(session, key_encryptor(state.runtime().settings), kind)


@click.group(cls=MaasGroup)
def keys() -> None:
    """Signing keys (in the database, private parts encrypted with MAAS_KEY_ENCRYPTION_KEY)."""


KIND = click.option("--kind", type=click.Choice(KINDS), default="issuing", show_default=True,
                    help="Pass-issuing keys or the keys that sign the validators' trust bundle.")


@keys.command("list")
@KIND
@json_option
@pass_state
def list_keys(state: CliState, kind: str, as_json: bool) -> None:
    """Show the published keys: next, current and retired."""
    with state.session() as session:
        store = _store(state, session, kind)
        store.ensure(state.runtime().clock())
        infos = [vars(info) for info in store.infos()]
    emit(as_json, {"keys": infos}, "\n".join(
        f"{i['kid']}  {i['state']:<8} created {i['created_at']}  last service date "
        f"{i['last_service_date'] or '-'}" for i in infos))


@keys.command("rotate")
@KIND
@json_option
@pass_state
def rotate_keys(state: CliState, kind: str, as_json: bool) -> None:
    """Promote the next key, retire the current one, publish a new next key."""
    now = state.runtime().clock()
    with state.audited("keys.rotate", kind) as (session, detail):
        infos = [vars(info) for info in services.rotate_keys(
            session, _store(state, session, kind), now)]
        detail["keys"] = {info["kid"]: info["state"] for info in infos}
    emit(as_json, {"keys": infos},
         "\n".join(f"{i['kid']}  {i['state']}" for i in infos))


@keys.command("import-files")
@click.option("--home", type=click.Path(file_okay=False, exists=True, path_type=Path),
              help="The MAAS_HOME whose keys/ folder to import (default: MAAS_HOME).")
@json_option
@pass_state
def import_key_files(state: CliState, home: Path | None, as_json: bool) -> None:
    """Import the key files of an earlier version (MAAS_HOME/keys) into the database.

    Run once after upgrading; afterwards the files may be deleted (the database has them,
    encrypted). Issuing keys and trust-bundle keys are both imported.
    """
    folder = (home or state.runtime().settings.home) / "keys"
    imported: dict[str, list[str]] = {}
    with state.audited("keys.import", str(folder)) as (session, detail):
        for kind, where in (("issuing", folder), ("bundle", folder / "bundle")):
            if (where / "keys.json").exists():
                imported[kind] = _store(state, session, kind).import_folder(where)
        if not imported:
            raise InvalidInput(f"{folder}: no keys.json here (nothing to import)")
        detail["imported"] = imported
        session.commit()
    emit(as_json, {"imported": imported}, "\n".join(
        f"{kind}: {', '.join(kids) or 'nothing new'}" for kind, kids in imported.items()))


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
    with state.audited("passes.issue", f"{product} {service_date}") as (session, detail):
        issued = services.issue_pass(session, _store(state, session), product, service_date,
                                     category, phone, runtime.clock)
        detail["pass_id"] = issued.pass_id
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
    with state.audited("passes.revoke", pass_id) as (session, detail):
        detail["reason"] = reason[:200]
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
    with state.audited("passes.move", pass_id) as (session, detail):
        detail["forced"] = force
        found = services.move_pass(session, pass_id, phone, _store(state, session),
                                   runtime.clock, per_day=runtime.settings.pass_moves_per_day,
                                   force=force)
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
