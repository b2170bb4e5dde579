"""A pass moved to a new phone, end to end: a rider buys and binds it on a real ``maas demo``
over HTTP, a second phone is told to move it and does; ``maas-validator`` (the real device
program) accepts the first phone's code until it syncs (documented: its bundle predates the
move) and refuses it after, while the second phone's code is accepted; the server's verdicts
on the uploaded scans follow the move's time."""

from __future__ import annotations

import datetime as dt
import json
import random
import sqlite3
import urllib.error
import urllib.request
import uuid
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives.asymmetric import ec

from passes import credential, qr
from passes.jwk import thumbprint
from tests.conftest import RunningServer
from tests.test_validator_device import noon_today, operator_cli, validator


def call(server: RunningServer, method: str, path: str, body: Any = None,
         token: str | None = None) -> tuple[int, dict[str, Any], Any]:
    """One JSON request to the demo server: status, headers, body."""
    headers = {"Content-Type": "application/json", "Idempotency-Key": str(uuid.uuid4())}
    if token:
        headers["Authorization"] = f"Bearer {token}"
    request = urllib.request.Request(  # noqa: S310 - the test's own loopback server
        server.base_url + path, method=method, headers=headers,
        data=json.dumps(body).encode() if body is not None else None)
    try:
        with urllib.request.urlopen(request, timeout=30) as response:  # noqa: S310
            return response.status, dict(response.headers), json.loads(response.read())
    except urllib.error.HTTPError as error:
        return error.code, dict(error.headers), json.loads(error.read())


def checked(home: Path, tmp_path: Path, payload: str, at: dt.datetime
            ) -> tuple[int, dict[str, Any]]:
    """`maas-validator check --image` of the phone's screen (a real QR image) at ``at``."""
    image = tmp_path / f"{uuid.uuid4().hex}.png"
    image.write_bytes(qr.png(payload))
    done = validator(home, "check", "--image", str(image), "--at", at.isoformat(), "--json")
    return done.returncode, json.loads(done.stdout)


def test_moved_pass_on_a_real_validator(demo_server: RunningServer, tmp_path: Path) -> None:
    added = operator_cli(demo_server, "devices", "add", "--operator", "hokutetsu",
                         "--vehicle", f"bus-{random.randrange(10**6)}")
    home = tmp_path / "validator"
    enrolled = validator(home, "enroll", "--server", demo_server.base_url,
                         "--code", added["enrollment_code"])
    assert enrolled.returncode == 0, enrolled.stderr

    email = f"move-{uuid.uuid4().hex[:8]}@example.jp"
    assert call(demo_server, "POST", "/api/v1/riders",
                {"email": email, "password": "correct horse"})[0] == 201
    token = call(demo_server, "POST", "/api/v1/auth/token",
                 {"email": email, "password": "correct horse"})[2]["access_token"]
    # tomorrow's noon (the trust bundle carries today and tomorrow): the move, made now, is
    # before every scan whatever the real hour (today's noon was past by the afternoon in Japan)
    noon = noon_today() + dt.timedelta(days=1)
    status, _, bought = call(demo_server, "POST", "/api/v1/orders", {
        "product": "kanazawa-1day", "service_date": noon.date().isoformat(),
        "category": "adult", "payment": {"method": "sandbox",
                                         "card_number": "4242424242424242"}}, token)
    assert status == 201, bought
    pass_id = bought["pass"]["id"]

    first, second = (ec.generate_private_key(ec.SECP256R1()) for _ in range(2))
    status, _, bound = call(demo_server, "POST", f"/api/v1/passes/{pass_id}/device",
                            {"public_key": credential.compress_public_key(first.public_key())},
                            token)
    assert status == 200, bound
    old_token = bound["token"]
    code, verdict = checked(home, tmp_path, credential.present(old_token, first, noon), noon)
    assert (code, verdict["code"]) == (0, "accept")

    # the second phone sees the pass bound elsewhere and moves it here
    status, _, shown = call(demo_server, "GET", f"/api/v1/passes/{pass_id}", token=token)
    assert shown["bound_key_thumbprint"] == thumbprint(first.public_key())
    new_key = {"public_key": credential.compress_public_key(second.public_key())}
    status, _, problem = call(demo_server, "POST", f"/api/v1/passes/{pass_id}/device", new_key,
                              token)
    assert (status, problem["type"]) == (409, "/problems/pass-bound-elsewhere")
    status, _, moved = call(demo_server, "POST", problem["links"]["move"], new_key, token)
    assert status == 200, moved
    new_token = moved["token"]

    # offline, on the bundle from before the move: the old phone still gets in (documented)
    at = noon + dt.timedelta(minutes=6)  # past the same-device window of the first check
    code, verdict = checked(home, tmp_path, credential.present(old_token, first, at), at)
    assert (code, verdict["code"]) == (0, "accept")

    synced = validator(home, "sync", "--json")
    assert synced.returncode == 0, synced.stderr
    assert json.loads(synced.stdout)["uploaded"] == 2

    # after the sync: the first phone's fresh code is refused, the second phone's accepted
    at = noon + dt.timedelta(minutes=12)
    code, verdict = checked(home, tmp_path, credential.present(old_token, first, at), at)
    assert (code, verdict["result"], verdict["code"]) == (1, "reject", "credential_moved")
    assert verdict["message_ja"].startswith("別の端末に移された乗車券です")
    at = noon + dt.timedelta(minutes=18)
    code, verdict = checked(home, tmp_path, credential.present(new_token, second, at), at)
    assert (code, verdict["code"], verdict["pass_id"]) == (0, "accept", pass_id)

    assert json.loads(validator(home, "sync", "--json").stdout)["uploaded"] == 2
    device_id = json.loads((home / "device.json").read_text())["device_id"]
    with sqlite3.connect(demo_server.home / "maas.sqlite3") as connection:
        rows = connection.execute(
            "SELECT code, status, server_code FROM scans WHERE device_id = ?"
            " ORDER BY scanned_at", (device_id,)).fetchall()
    # every scan is at noon tomorrow, after the move (made now): the old phone's accepts
    # do not count; the device judged them on its older bundle, so they are not disputed
    assert rows == [("accept", "rejected", "credential_moved"),
                    ("accept", "rejected", "credential_moved"),
                    ("credential_moved", "rejected", "credential_moved"),
                    ("accept", "confirmed", "accept")]
