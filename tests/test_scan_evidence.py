"""Scans are evidence, not verdicts — from the attacker's side.

A stolen device token (a driver's phone, an insider) can upload whatever it likes to
``POST /api/v1/scans``. What it says counts only when the code it read bears it out: invented
accepts move no yen, flag no rider, and show up as disputed with the device that sent them.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
import random
import secrets
import string
import uuid
from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric import ec
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import delete, func, select
from sqlalchemy.orm import Session

from maas.core.secrets import AesGcmEncryptor
from maas.stats import services as stats
from maas.stats.models import ScanCell
from passes import credential, payments
from passes.keys import KeyStore
from passes.models import Pass, SigningKey
from passes.services import issue_pass
from tests.conftest import FIXED_NOW, Runner, app_keys, fixed_clock
from tests.test_scans import PHONE, TODAY, bound_pass, enrol, scan
from validators import services
from validators.evidence import key_windows
from validators.models import DeviceFlag, FraudFlag, Scan

pytestmark = pytest.mark.usefixtures("loaded_demo")
KORINBO = {"lat": 36.5613, "lon": 136.6562}
KOMATSU_AIRPORT = {"lat": 36.3946, "lon": 136.4075}  # 29 km from 香林坊
KAGA_ONSEN = {"lat": 36.3024, "lon": 136.3146}  # 37.8 km from 香林坊


@dataclasses.dataclass(frozen=True)
class Issued:
    """A real pass bound to PHONE."""

    pass_id: str
    token: str

    def shown(self, at: dt.datetime, phone: ec.EllipticCurvePrivateKey = PHONE,
              **extra: Any) -> dict[str, Any]:
        """The scan a device uploads after reading the phone's code at ``at``."""
        return scan(self.pass_id, at, payload=credential.present(self.token, phone, at),
                    **extra)


def issued(app: Flask, db_session: Session) -> Issued:
    token = bound_pass(app, db_session)
    return Issued(credential.verify(token, app_keys(
        app, db_session).public_keys()).pass_id, token)


def upload(client: FlaskClient, device: Any, scans: list[dict[str, Any]]) -> dict[str, int]:
    response = client.post("/api/v1/scans", json={"scans": scans}, headers=device.auth)
    assert response.status_code == 200, response.get_json()
    answer: dict[str, int] = response.get_json()
    return answer


def partner(db_session: Session, operator: str | None) -> dict[str, str]:
    key = stats.add_partner(db_session, f"partner {operator}", operator, fixed_clock).api_key
    return {"Authorization": f"Bearer {key}"}


def statistic(client: FlaskClient, name: str, auth: dict[str, str], **params: str) -> Any:
    response = client.get(f"/api/v1/stats/{name}", headers=auth, query_string={
        "from": TODAY.isoformat(), "to": TODAY.isoformat(), **params})
    assert response.status_code == 200, response.get_json()
    return response.get_json()


def buy(client: FlaskClient, email: str, count: int) -> None:
    """Revenue to apportion: paid one-day passes for today."""
    password = "a long ride past 香林坊"
    client.post("/api/v1/riders", json={"email": email, "password": password})
    token = client.post("/api/v1/auth/token", json={"email": email, "password": password})
    auth = {"Authorization": f"Bearer {token.get_json()['access_token']}"}
    for n in range(count):
        bought = client.post("/api/v1/orders", headers={**auth, "Idempotency-Key": f"k{n}"},
                             json={"product": "kanazawa-1day",
                                   "service_date": TODAY.isoformat(), "category": "adult",
                                   "payment": {"method": "sandbox",
                                               "card_number": payments.SUCCEEDS}})
        assert bought.status_code == 201, bought.get_json()


def invented_code(rng: random.Random) -> str:
    """What an attacker without a genuine code can send: noise, or a code-shaped forgery."""
    kind = rng.randrange(3)
    if kind == 0:
        return "".join(rng.choices(string.ascii_letters + string.digits, k=rng.randrange(1, 80)))
    forger = ec.generate_private_key(ec.SECP256R1())
    claims = credential.PassClaims(credential.new_pass_id(), "kanazawa-1day", "adult", TODAY,
                                   PHONE.public_key())
    token = credential.issue(claims, forger, secrets.token_urlsafe(6))  # an unknown kid
    return credential.present(token, PHONE, FIXED_NOW)


def test_a_thousand_invented_accepts_move_no_yen_flag_nobody_and_are_disputed(
        app: Flask, runner: Runner, client: FlaskClient, db_session: Session) -> None:
    buy(client, "buyer@example.jp", 3)
    hokutetsu_bus = enrol(runner, client, "hokutetsu", vehicle="bus-101")
    stolen = enrol(runner, client, "jrbus", vehicle="bus-902")  # the driver's phone is lost
    riders = [issued(app, db_session) for _ in range(6)]
    genuine = [rider.shown(FIXED_NOW - dt.timedelta(minutes=30 - n), **KORINBO)
               for n, rider in enumerate(riders)]
    assert upload(client, hokutetsu_bus, genuine) == {"accepted": 6, "duplicates": 0}
    admin, jrbus, hokutetsu = (partner(db_session, operator)
                               for operator in (None, "jrbus", "hokutetsu"))
    before = statistic(client, "apportionment", admin)
    assert {s["operator"]: s["validations"] for s in before["shares"]}["hokutetsu"] == 6
    validations = statistic(client, "validations", admin, group="operator")

    rng = random.Random(12)
    invented = []
    for n in range(1000):
        place = {"lat": rng.uniform(36.2, 36.8), "lon": rng.uniform(136.2, 136.9)}
        at = FIXED_NOW - dt.timedelta(seconds=rng.randrange(3600))
        if n % 2:  # a pass id that does not exist, with a code made up to go with it
            invented.append(scan(credential.new_pass_id(), at, payload=invented_code(rng),
                                 **place))
        else:  # the same, without troubling to send a code at all
            invented.append(scan(credential.new_pass_id(), at, **place))
    assert upload(client, stolen, invented) == {"accepted": 1000, "duplicates": 0}

    assert statistic(client, "apportionment", admin) == before
    assert statistic(client, "validations", admin, group="operator") == validations
    assert db_session.scalar(select(func.count()).select_from(FraudFlag)) == 0
    assert db_session.scalar(select(func.count()).select_from(Pass)
                             .where(Pass.status != "valid")) == 0
    statuses = dict(db_session.execute(
        select(Scan.status, func.count()).where(Scan.device_id == stolen.id)
        .group_by(Scan.status)).all())
    assert statuses == {"disputed": 1000}

    fraud = statistic(client, "fraud", admin)
    assert fraud["disputed_total"] == 1000
    assert len(fraud["disputed"]) == 500  # the latest, listed
    assert {d["device_id"] for d in fraud["disputed"]} == {stolen.id}
    assert {d["operator"] for d in fraud["disputed"]} == {"jrbus"}
    assert {d["device_result"] for d in fraud["disputed"]} == {"accept"}
    assert {d["server_code"] for d in fraud["disputed"]} <= {
        "no_code", "malformed", "unknown_key"}
    assert all(d["pass_id"] for d in fraud["disputed"])  # the administrator sees the claim
    assert [(d["device_id"], d["operator"], d["vehicle"], d["reason"], d["disputed"])
            for d in fraud["devices"]] == [(stolen.id, "jrbus", "bus-902", "disputed_scans",
                                            1000)]
    # the operator whose device it is sees it, without the pass ids it claimed
    theirs = statistic(client, "fraud", jrbus)
    assert theirs["disputed_total"] == 1000
    assert {d["pass_id"] for d in theirs["disputed"]} == {None}
    assert [d["device_id"] for d in theirs["devices"]] == [stolen.id]
    # another operator sees nothing of it
    others = statistic(client, "fraud", hokutetsu)
    assert (others["disputed_total"], others["disputed"], others["devices"]) == (0, [], [])
    # the roll-ups agree with a rebuild from the scans: nothing disputed creeps back in
    stats.rebuild_rollups(db_session)
    assert statistic(client, "apportionment", admin) == before


def test_invented_accepts_of_a_real_riders_pass_do_not_flag_it(
        app: Flask, runner: Runner, client: FlaskClient, db_session: Session) -> None:
    stolen = enrol(runner, client, "hokutetsu", vehicle="bus-666")
    rider = issued(app, db_session)
    thief = ec.generate_private_key(ec.SECP256R1())
    forger = ec.generate_private_key(ec.SECP256R1())
    kid, _ = app_keys(app, db_session).signing_key(FIXED_NOW)
    # the rider's claims signed by a key that is not ours, under our kid
    forged = credential.issue(credential.PassClaims(
        rider.pass_id, "kanazawa-1day", "adult", TODAY, thief.public_key()), forger, kid)
    minute = FIXED_NOW - dt.timedelta(minutes=1)
    attempts = [
        # the pass id alone, 37.8 km apart within a minute
        [scan(rider.pass_id, minute, **KORINBO), scan(rider.pass_id, FIXED_NOW, **KAGA_ONSEN)],
        # the rider's real credential shown from the thief's phone
        [rider.shown(minute, thief, **KORINBO), rider.shown(FIXED_NOW, thief, **KAGA_ONSEN)],
        # a forged credential for the rider's pass
        [scan(rider.pass_id, at, payload=credential.present(forged, thief, at), **where)
         for at, where in ((minute, KORINBO), (FIXED_NOW, KAGA_ONSEN))],
    ]
    for pair in attempts:
        assert upload(client, stolen, pair)["accepted"] == 2
    assert db_session.scalar(select(func.count()).select_from(FraudFlag)) == 0
    assert db_session.get(Pass, rider.pass_id).status == "valid"
    codes = [code for (code,) in db_session.execute(
        select(Scan.server_code).where(Scan.device_id == stolen.id)
        .order_by(Scan.received_at, Scan.scanned_at))]
    assert sorted(codes) == sorted(["no_code"] * 2 + ["wrong_device"] * 2
                                   + ["bad_signature"] * 2)
    # the rider's next genuine ride is still an accept
    honest_bus = enrol(runner, client, "hokutetsu", vehicle="bus-7")
    ride = rider.shown(FIXED_NOW, **KORINBO)
    upload(client, honest_bus, [ride])
    assert db_session.get(Scan, ride["id"]).status == "confirmed"


def test_genuine_codes_count_and_a_genuine_impossible_speed_still_flags(
        app: Flask, runner: Runner, client: FlaskClient, db_session: Session) -> None:
    korinbo = enrol(runner, client, "jrbus", vehicle=None, stop="korinbo")
    airport = enrol(runner, client, "jrbus", vehicle=None, stop="komatsu-airport")
    shared = issued(app, db_session)  # one pass, two people, 29 km apart
    upload(client, korinbo, [shared.shown(FIXED_NOW - dt.timedelta(minutes=10), **KORINBO)])
    upload(client, airport, [shared.shown(FIXED_NOW, **KOMATSU_AIRPORT)])
    flags = db_session.scalars(select(FraudFlag)).all()
    assert [(f.pass_id, f.reason) for f in flags] == [(shared.pass_id, "impossible_speed")]
    assert db_session.scalar(select(func.count()).select_from(Scan).where(
        Scan.pass_id == shared.pass_id, Scan.status == "confirmed")) == 2


def test_codes_that_verify_but_do_not_bear_the_accept_out(
        app: Flask, runner: Runner, client: FlaskClient, db_session: Session) -> None:
    device = enrol(runner, client, "hokutetsu", vehicle="bus-33")
    kid, key = app_keys(app, db_session).signing_key(FIXED_NOW)
    # signed with our own key (a leak), for a pass the server never issued
    never_issued = credential.issue(credential.PassClaims(
        credential.new_pass_id(), "kanazawa-1day", "adult", TODAY, PHONE.public_key()), key, kid)
    # our key, a real pass id, but another product than the pass was sold as
    rider = issued(app, db_session)
    upgraded = credential.issue(credential.PassClaims(
        rider.pass_id, "kanazawa-1day-machinori", "adult", TODAY, PHONE.public_key()), key, kid)
    other = issued(app, db_session)
    replayed = other.shown(FIXED_NOW - dt.timedelta(seconds=20))
    again = {**replayed, "id": str(uuid.uuid4())}  # the same code, a second "ride"
    claimed = {**rider.shown(FIXED_NOW), "pass_id": other.pass_id}  # says it was someone else
    screenshot = other.shown(FIXED_NOW - dt.timedelta(minutes=5))
    screenshot["scanned_at"] = FIXED_NOW.isoformat()
    uploads = [
        scan(None, FIXED_NOW, payload=credential.present(never_issued, PHONE, FIXED_NOW)),
        scan(rider.pass_id, FIXED_NOW, payload=credential.present(upgraded, PHONE, FIXED_NOW)),
        replayed, again, claimed, screenshot,
    ]
    upload(client, device, uploads)
    found = {row.id: (row.status, row.server_code) for row in db_session.scalars(
        select(Scan).where(Scan.device_id == device.id))}
    assert [found[u["id"]] for u in uploads] == [
        ("disputed", "unknown_pass"), ("disputed", "pass_mismatch"),
        ("confirmed", "accept"), ("disputed", "replay"), ("disputed", "pass_mismatch"),
        ("disputed", "outside_window")]


def test_rejects_and_revoked_passes_are_rejected_not_disputed(
        app: Flask, runner: Runner, client: FlaskClient, db_session: Session) -> None:
    device = enrol(runner, client, "hokutetsu", vehicle="bus-34")
    lost = issued(app, db_session)
    assert runner.invoke("passes", "revoke", lost.pass_id, "--reason", "lost").exit_code == 0
    expired = scan(None, FIXED_NOW, result="reject")  # an old device: no code, a refusal
    stale_list = lost.shown(FIXED_NOW)  # accepted on a deny-list older than the server's
    upload(client, device, [expired, stale_list])
    assert [(db_session.get(Scan, s["id"]).status, db_session.get(Scan, s["id"]).server_code)
            for s in (expired, stale_list)] == [("rejected", "no_code"),
                                                 ("rejected", "revoked")]
    counted = {(cell.result, cell.code): cell.scans for cell in db_session.scalars(
        select(ScanCell).where(ScanCell.dim == "day"))}
    assert counted == {("reject", "expired"): 1, ("reject", "revoked"): 1}
    assert statistic(client, "fraud", partner(db_session, None))["disputed_total"] == 0
    assert db_session.scalar(select(func.count()).select_from(DeviceFlag)) == 0


def test_a_device_that_keeps_sending_disputed_scans_is_flagged_once(
        app: Flask, runner: Runner, client: FlaskClient, db_session: Session) -> None:
    state = app.extensions["maas"]
    app.extensions["maas"] = dataclasses.replace(state, settings=dataclasses.replace(
        state.settings, disputed_scans_limit=3, disputed_scans_window_hours=2))
    try:
        careless = enrol(runner, client, "flatbus", vehicle="flat-1")
        rider = issued(app, db_session)
        upload(client, careless, [scan(credential.new_pass_id(), FIXED_NOW) for _ in range(2)]
               + [rider.shown(FIXED_NOW)])
        assert db_session.scalar(select(func.count()).select_from(DeviceFlag)) == 0
        upload(client, careless, [scan(credential.new_pass_id(), FIXED_NOW)])
        upload(client, careless, [scan(credential.new_pass_id(), FIXED_NOW)])
        flags = db_session.scalars(select(DeviceFlag)).all()
        assert [(f.device_id, f.operator_id, f.disputed) for f in flags] == [
            (careless.id, "flatbus", 3)]
        assert "3 disputed scans within 2 h" in flags[0].detail
    finally:
        app.extensions["maas"] = state


def test_retried_uploads_count_once_with_the_same_verdicts(
        app: Flask, runner: Runner, client: FlaskClient, db_session: Session) -> None:
    device = enrol(runner, client, "hokutetsu", vehicle="bus-35")
    riders = [issued(app, db_session) for _ in range(5)]
    batch = [rider.shown(FIXED_NOW - dt.timedelta(minutes=n)) for n, rider in enumerate(riders)]
    batch += [scan(credential.new_pass_id(), FIXED_NOW) for _ in range(3)]
    assert upload(client, device, batch) == {"accepted": 8, "duplicates": 0}
    # the answer was lost: the same batch again, and again with the order changed
    assert upload(client, device, batch) == {"accepted": 0, "duplicates": 8}
    assert upload(client, device, batch[::-1]) == {"accepted": 0, "duplicates": 8}
    statuses = dict(db_session.execute(
        select(Scan.status, func.count()).where(Scan.device_id == device.id)
        .group_by(Scan.status)).all())
    assert statuses == {"confirmed": 5, "disputed": 3}
    admin = partner(db_session, None)
    rows = statistic(client, "validations", admin, group="device")["rows"]
    assert [(r["key"], r["accepted"], r["passes"]) for r in rows] == [(device.id, 5, 5)]


def test_only_a_device_token_uploads_scans(
        app: Flask, runner: Runner, client: FlaskClient, db_session: Session) -> None:
    device = enrol(runner, client, "hokutetsu", vehicle="bus-36")
    body = {"scans": [scan(credential.new_pass_id(), FIXED_NOW)]}
    partner_key = partner(db_session, "hokutetsu")
    password = "a long ride past 香林坊"
    client.post("/api/v1/riders", json={"email": "r@example.jp", "password": password})
    rider = client.post("/api/v1/auth/token",
                        json={"email": "r@example.jp", "password": password}).get_json()
    for headers in ({}, {"Authorization": "Bearer nope"}, partner_key,
                    {"Authorization": f"Bearer {rider['access_token']}"}):
        assert client.post("/api/v1/scans", json=body, headers=headers).status_code == 401
    assert runner.invoke("devices", "revoke", device.id).exit_code == 0
    assert client.post("/api/v1/scans", json=body, headers=device.auth).status_code == 401
    assert db_session.scalar(select(func.count()).select_from(Scan)) == 0


def test_odd_code_texts_are_kept_or_refused_never_a_500(
        runner: Runner, client: FlaskClient, db_session: Session) -> None:
    device = enrol(runner, client, "hokutetsu", vehicle="bus-37")
    odd = scan(None, FIXED_NOW, payload="not a code: ü 金沢 \t~~")
    upload(client, device, [odd])
    stored = db_session.get(Scan, odd["id"])
    assert (stored.status, stored.server_code) == ("disputed", "malformed")
    assert stored.payload == "not a code: ü 金沢 \t~~"
    # a NUL or a lone surrogate never reaches a text column: the JSON reader refuses them
    for payload in ("x" * 2049, "a lone \ud800 surrogate", "nul\x00 inside"):
        # as the JSON text a device sends (a lone surrogate escaped as \ud800)
        refused = client.post("/api/v1/scans", data=json.dumps({"scans": [scan(
            None, FIXED_NOW, payload=payload)]}), content_type="application/json",
            headers=device.auth)
        assert refused.status_code == 422


def test_late_uploads_verify_against_a_key_retired_and_archived_since(
        db_session: Session) -> None:
    store = KeyStore(db_session, AesGcmEncryptor(bytes(32)))
    store.ensure(FIXED_NOW - dt.timedelta(days=10))
    day = TODAY - dt.timedelta(days=2)
    at = dt.datetime.combine(day, dt.time(12), dt.UTC)
    token = issue_pass(db_session, store, "kanazawa-1day", day, "adult", PHONE.public_key(),
                       lambda: at).token
    signer = json.loads(credential.unb64url(token.split(".")[0]))["kid"]
    store.rotate(FIXED_NOW, TODAY)  # the signer retires; then its last date passes
    store.rotate(FIXED_NOW, TODAY)
    assert signer not in {info.kid for info in store.infos()}
    added = services.add_device(db_session, "hokutetsu", "bus-38", None, fixed_clock)
    device, _ = services.enroll(db_session, added.enrollment_code, fixed_clock)
    late = services.ScanRecord(id=str(uuid.uuid4()), result="accept", code="accept",
                               scanned_at=at, payload=credential.present(token, PHONE, at))
    outcome = services.ingest_scans(db_session, device, [late], fixed_clock,
                                    key_windows(store))
    assert outcome.statuses == {"confirmed": 1}
    # a key that is gone without its public half is no key at all
    db_session.execute(delete(SigningKey).where(SigningKey.state == "archived"))
    again = dataclasses.replace(late, id=str(uuid.uuid4()))
    outcome = services.ingest_scans(db_session, device, [again], fixed_clock,
                                    key_windows(store))
    assert outcome.statuses == {"disputed": 1}


def test_operators_list_flagged_devices(runner: Runner, client: FlaskClient) -> None:
    careless = enrol(runner, client, "jrbus", vehicle="bus-39")
    upload(client, careless, [scan(credential.new_pass_id(), FIXED_NOW) for _ in range(5)])
    listed = runner.invoke("devices", "flagged", "--json")
    assert listed.exit_code == 0, listed.output
    assert [(d["device_id"], d["operator"], d["disputed"])
            for d in json.loads(listed.stdout)["devices"]] == [(careless.id, "jrbus", 5)]
    other = runner.invoke("devices", "flagged", "--operator", "hokutetsu")
    assert other.stdout.strip() == "no flagged devices"
