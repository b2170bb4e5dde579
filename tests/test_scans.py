"""Server side of validation: connected checks, idempotent scan uploads, fraud flags."""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
import uuid
from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric import ec
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from passes import credential
from passes.models import Pass
from passes.services import issue_pass
from tests.conftest import FIXED_NOW, Runner, app_keys, fixed_clock
from tests.vectors import high_s, padded, standard_alphabet, unused_bits
from validators.models import FraudFlag, Scan

pytestmark = pytest.mark.usefixtures("loaded_demo")
PHONE = ec.generate_private_key(ec.SECP256R1())


@dataclasses.dataclass
class Device:
    """An enrolled device as the tests drive it."""

    id: str
    token: str

    @property
    def auth(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token}"}


def enrol(runner: Runner, client: FlaskClient, operator: str = "hokutetsu",
          vehicle: str | None = "bus-101", stop: str | None = None) -> Device:
    """A device registered with `maas devices add` and enrolled over HTTP."""
    where = ["--vehicle", vehicle] if vehicle else ["--stop", stop or "korinbo"]
    added = runner.invoke("devices", "add", "--operator", operator, *where, "--json")
    assert added.exit_code == 0, added.output
    code = json.loads(added.stdout)["enrollment_code"]
    body = client.post("/api/v1/devices/enroll", json={"code": code}).get_json()
    return Device(body["device_id"], body["token"])


TODAY = FIXED_NOW.date()


def bound_pass(app: Flask, db_session: Session, day: dt.date = TODAY) -> str:
    """A pass for ``day`` bound to PHONE; returns its credential."""
    keys = app_keys(app, db_session)
    issued = issue_pass(db_session, keys, "kanazawa-1day", day, "adult", PHONE.public_key(),
                        fixed_clock)
    return issued.token


def scan(pass_id: str | None, at: dt.datetime, result: str = "accept", **extra: Any
         ) -> dict[str, Any]:
    """One journaled scan as a device uploads it."""
    return {"id": str(uuid.uuid4()), "result": result,
            "code": "accept" if result == "accept" else "expired", "pass_id": pass_id,
            "product": "kanazawa-1day", "category": "adult", "service_date": "2026-12-01",
            "scanned_at": at.isoformat(), **extra}


def test_connected_check_accepts_then_sees_the_replay(
        app: Flask, runner: Runner, client: FlaskClient, db_session: Session) -> None:
    device = enrol(runner, client)
    payload = credential.present(bound_pass(app, db_session), PHONE,
                                 FIXED_NOW - dt.timedelta(seconds=3))
    first = client.post("/api/v1/validations", json={"payload": payload}, headers=device.auth)
    assert first.status_code == 200, first.get_json()
    verdict = first.get_json()
    assert verdict["result"] == "accept"
    assert verdict["code"] == "accept"
    assert verdict["message_ja"] == "有効です"
    assert verdict["service_date"] == "2026-12-01"
    again = client.post("/api/v1/validations", json={"payload": payload},
                        headers=device.auth).get_json()
    assert again["code"] == "replay"
    assert again["result"] == "reject"
    stored = db_session.scalars(select(Scan).where(Scan.device_id == device.id)
                                .order_by(Scan.scanned_at)).all()
    assert [s.code for s in stored] == ["accept", "replay"]
    assert stored[0].id == verdict["scan_id"]
    assert stored[0].operator_id == "hokutetsu"
    assert stored[0].vehicle == "bus-101"


def reencodings(payload: str) -> list[str]:
    """The same rotating code in every other byte form an attacker can make without a key."""
    token, time_text, signature = payload.split("~")
    head, body, issuer_sig = token.split(".")
    return [f"{token}~{time_text}~{padded(signature)}", f"{token}~{padded(time_text)}~{signature}",
            f"{token}~{time_text}~{unused_bits(signature)}",
            f"{token}~{unused_bits(time_text)}~{signature}",
            f"{token}~{time_text}~{high_s(signature)}",
            f"{head}.{body}.{padded(issuer_sig)}~{time_text}~{signature}",
            f"{head}.{body}.{unused_bits(issuer_sig)}~{time_text}~{signature}",
            standard_alphabet(payload), " " + payload, payload + "\n",
            payload.replace("~", "~ ", 1)]


def test_connected_check_refuses_every_re_encoding_and_the_same_pass_again(
        app: Flask, runner: Runner, client: FlaskClient, db_session: Session) -> None:
    """Issue 12: each re-encoding of a seen code used to count as new; and one vehicle
    scanning one pass six times in seconds raised nothing."""
    device = enrol(runner, client)
    token = bound_pass(app, db_session)
    payload = credential.present(token, PHONE, FIXED_NOW - dt.timedelta(seconds=3))
    first = client.post("/api/v1/validations", json={"payload": payload}, headers=device.auth)
    assert first.get_json()["code"] == "accept"
    variants = [v for v in reencodings(payload) if v != payload]
    assert len(variants) >= 10
    codes = [client.post("/api/v1/validations", json={"payload": v}, headers=device.auth)
             .get_json()["code"] for v in variants]
    assert set(codes) == {"malformed"}, codes
    # a fresh presentation of the same pass on the same bus seconds later: not a second ride
    for seconds in (5, 10, 20, 30, 40):
        fresh = credential.present(token, PHONE, FIXED_NOW + dt.timedelta(seconds=seconds))
        again = client.post("/api/v1/validations", headers=device.auth, json={
            "payload": fresh, "at": (FIXED_NOW + dt.timedelta(seconds=seconds)).isoformat()})
        assert again.get_json()["code"] == "replay"
    # on another bus it is a ride (the fraud check judges that one)
    other = enrol(runner, client, vehicle="bus-202")
    elsewhere = client.post("/api/v1/validations", headers=other.auth, json={
        "payload": credential.present(token, PHONE, FIXED_NOW)}).get_json()
    assert elsewhere["code"] == "accept"
    stored = db_session.scalars(select(Scan).where(Scan.device_id == device.id)).all()
    accepted = [s for s in stored if s.result == "accept"]
    assert len(accepted) == 1
    # every scan is journaled with the key of what it says, not of its text
    assert {s.digest for s in stored if s.code == "replay"} != {accepted[0].digest}


def test_connected_check_uses_the_server_deny_list_and_coverage(
        app: Flask, runner: Runner, client: FlaskClient, db_session: Session) -> None:
    token = bound_pass(app, db_session)
    pass_id = credential.verify(token, app_keys(
        app, db_session).public_keys()).pass_id
    assert runner.invoke("passes", "revoke", pass_id, "--reason", "lost phone").exit_code == 0
    device = enrol(runner, client)
    payload = credential.present(token, PHONE, FIXED_NOW)
    revoked = client.post("/api/v1/validations", json={"payload": payload},
                          headers=device.auth).get_json()
    assert revoked["code"] == "revoked"
    bikes = enrol(runner, client, operator="machinori", vehicle=None, stop="port-1")
    other = credential.present(bound_pass(app, db_session), PHONE, FIXED_NOW)
    covered = client.post("/api/v1/validations", json={"payload": other},
                          headers=bikes.auth).get_json()
    assert covered["code"] == "not_covered"
    screenshot = client.post("/api/v1/validations", headers=device.auth, json={
        "payload": credential.present(bound_pass(app, db_session), PHONE,
                                      FIXED_NOW - dt.timedelta(minutes=5))}).get_json()
    assert screenshot["code"] == "outside_window"
    garbage = client.post("/api/v1/validations", json={"payload": "hello"},
                          headers=device.auth).get_json()
    assert garbage["code"] == "malformed"
    surrogate = client.post("/api/v1/validations", headers=device.auth,
                            data='{"payload": "\\ud800"}', content_type="application/json")
    assert surrogate.status_code == 422  # refused at the door, not a 500
    assert garbage["message_en"] == "Not a pass code"


def test_uploads_are_idempotent_by_scan_id(
        runner: Runner, client: FlaskClient, db_session: Session) -> None:
    device = enrol(runner, client)
    batch = [scan(f"pass{i:03d}", FIXED_NOW - dt.timedelta(minutes=i)) for i in range(5)]
    first = client.post("/api/v1/scans", json={"scans": batch}, headers=device.auth)
    assert first.status_code == 200, first.get_json()
    assert first.get_json() == {"accepted": 5, "duplicates": 0}
    # the answer was lost: the device sends the batch again, with two new scans
    more = [scan("pass100", FIXED_NOW), scan(None, FIXED_NOW, result="reject")]
    retried = client.post("/api/v1/scans", json={"scans": batch + more}, headers=device.auth)
    assert retried.get_json() == {"accepted": 2, "duplicates": 5}
    count = db_session.scalar(select(func.count()).select_from(Scan)
                              .where(Scan.device_id == device.id))
    assert count == 7


def test_bad_uploads_name_the_field(runner: Runner, client: FlaskClient) -> None:
    device = enrol(runner, client)
    naive = scan("p1", FIXED_NOW)
    naive["scanned_at"] = "2026-12-01T09:00:00"
    response = client.post("/api/v1/scans", json={"scans": [naive]}, headers=device.auth)
    assert response.status_code == 422
    assert response.content_type == "application/problem+json"
    fields = [error["field"] for error in response.get_json()["errors"]]
    assert any("scanned_at" in field for field in fields)
    extra = {**scan("p1", FIXED_NOW), "rider_email": "x@example.jp"}
    refused = client.post("/api/v1/scans", json={"scans": [extra]}, headers=device.auth)
    assert refused.status_code == 422
    assert "rider_email" in json.dumps(refused.get_json())


def test_device_endpoints_refuse_other_principals(
        runner: Runner, client: FlaskClient) -> None:
    device = enrol(runner, client)
    body = {"scans": [scan("p1", FIXED_NOW)]}
    for path, payload in (("/api/v1/scans", body), ("/api/v1/validations",
                                                    {"payload": "x"})):
        assert client.post(path, json=payload).status_code == 401
        assert client.post(path, json=payload,
                           headers={"Authorization": "Bearer nope"}).status_code == 401
        client.post("/api/v1/riders", json={"email": "rider@example.jp",
                                            "password": "correct horse"})
        rider = client.post("/api/v1/auth/token", json={
            "email": "rider@example.jp", "password": "correct horse"}).get_json()
        as_rider = client.post(path, json=payload,
                               headers={"Authorization": f"Bearer {rider['access_token']}"})
        assert as_rider.status_code == 401
    revoked = runner.invoke("devices", "revoke", device.id, "--json")
    assert revoked.exit_code == 0, revoked.output
    assert json.loads(revoked.stdout)["status"] == "revoked"
    assert client.post("/api/v1/scans", json=body, headers=device.auth).status_code == 401
    assert client.get("/api/v1/validators/bundle", headers=device.auth).status_code == 401
    unknown = runner.invoke("devices", "revoke", "no-such-device")
    assert unknown.exit_code == 1
    assert "no device" in unknown.stderr


def _pass(app: Flask, db_session: Session) -> tuple[str, str]:
    """A real bound pass: its id and credential."""
    token = bound_pass(app, db_session)
    return credential.verify(token, app_keys(
        app, db_session).public_keys()).pass_id, token


def shown(pass_: tuple[str, str], at: dt.datetime, **extra: Any) -> dict[str, Any]:
    """A genuine scan: the rider's phone showed the pass's rotating code at ``at``."""
    pass_id, token = pass_
    return scan(pass_id, at, payload=credential.present(token, PHONE, at), **extra)


def test_two_vehicles_within_five_minutes_flags_and_deny_lists(
        app: Flask, runner: Runner, client: FlaskClient, db_session: Session) -> None:
    bus_a = enrol(runner, client, vehicle="bus-101")
    bus_b = enrol(runner, client, vehicle="bus-202")
    shared, honest = _pass(app, db_session), _pass(app, db_session)
    client.post("/api/v1/scans", headers=bus_a.auth, json={"scans": [
        shown(shared, FIXED_NOW - dt.timedelta(minutes=3)),
        shown(honest, FIXED_NOW - dt.timedelta(minutes=40))]})
    client.post("/api/v1/scans", headers=bus_b.auth, json={"scans": [
        shown(shared, FIXED_NOW), shown(honest, FIXED_NOW)]})
    flags = db_session.scalars(select(FraudFlag)).all()
    assert [(f.pass_id, f.reason) for f in flags] == [(shared[0], "two_vehicles")]
    assert db_session.get(Pass, shared[0]).status == "flagged"
    assert db_session.get(Pass, honest[0]).status == "valid"
    device = enrol(runner, client)
    bundle = client.get("/api/v1/validators/bundle", headers=device.auth).get_json()["bundle"]
    import jwt

    document = jwt.decode(bundle, options={"verify_signature": False})
    assert shared[0] in document["deny"]
    assert honest[0] not in document["deny"]
    # the same pair again (a retried upload) adds no second flag; a scan after the flag (and
    # beyond bus B's same-device window) is a revoked pass to the server, whatever the
    # device's older deny-list said
    later = shown(shared, FIXED_NOW + dt.timedelta(minutes=6))
    client.post("/api/v1/scans", headers=bus_b.auth, json={"scans": [later]})
    assert db_session.scalar(select(func.count()).select_from(FraudFlag)) == 1
    stored = db_session.get(Scan, later["id"])
    assert (stored.status, stored.server_code) == ("rejected", "revoked")


def test_impossible_speed_is_flagged_and_a_bus_ride_is_not(
        app: Flask, runner: Runner, client: FlaskClient, db_session: Session) -> None:
    korinbo = {"lat": 36.5613, "lon": 136.6562}
    kanazawa_station = {"lat": 36.5781, "lon": 136.6479}  # 2 km away
    komatsu_airport = {"lat": 36.3946, "lon": 136.4075}  # 29 km away
    stop_a = enrol(runner, client, operator="jrbus", vehicle=None, stop="korinbo")
    stop_b = enrol(runner, client, operator="jrbus", vehicle=None, stop="station")
    rider, cheat = _pass(app, db_session), _pass(app, db_session)
    client.post("/api/v1/scans", headers=stop_a.auth, json={"scans": [
        shown(rider, FIXED_NOW - dt.timedelta(minutes=12), **korinbo),
        shown(cheat, FIXED_NOW - dt.timedelta(minutes=12), **korinbo)]})
    client.post("/api/v1/scans", headers=stop_b.auth, json={"scans": [
        shown(rider, FIXED_NOW, **kanazawa_station),  # 2 km in 12 min: 10 km/h
        shown(cheat, FIXED_NOW, **komatsu_airport)]})  # 29 km in 12 min: 147 km/h
    flags = db_session.scalars(select(FraudFlag)).all()
    assert len(flags) == 1
    assert flags[0].pass_id == cheat[0]
    assert flags[0].reason == "impossible_speed"
    assert flags[0].speed_kmh is not None
    assert 140 < flags[0].speed_kmh < 155


def test_bench_command_measures_both_paths_on_a_scratch_database(
        runner: Runner, db_session: Session) -> None:
    done = runner.invoke("bench", "validators", "--checks", "30", "--scans", "1000",
                         "--batch", "500", "--json")
    assert done.exit_code == 0, done.output
    figures = json.loads(done.stdout)
    assert figures["checks"] == 30
    assert figures["scans"] == 1000
    assert figures["verify_p99_ms"] >= figures["verify_p50_ms"] > 0
    # the floor checks both signatures verify checks, not only the credential's
    assert figures["two_signatures_p50_ms"] > 0
    assert figures["verify_over_two_signatures"] == pytest.approx(
        figures["verify_p50_ms"] / figures["two_signatures_p50_ms"], abs=0.002)
    assert figures["ingest_scans_per_s"] > 0
    assert figures["bare_insert_scans_per_s"] > 0
    # the scans went to the scratch database, not to the one being served
    assert db_session.scalar(select(func.count()).select_from(Scan)) == 0
