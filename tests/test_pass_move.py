"""A pass on a new phone: credential ids, the move (API, service, CLI), its daily limit, the
deny-list of moved credentials in the trust bundle and the verifier, and the server's own
verdict on scans of the old phone's code before and after the move."""

from __future__ import annotations

import datetime as dt
import io
import json
from pathlib import Path
from typing import Any

import pytest
import zxingcpp
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat
from flask import Flask
from flask.testing import FlaskClient
from hypothesis import given, settings
from hypothesis import strategies as st
from PIL import Image
from sqlalchemy import select
from sqlalchemy.orm import Session

from maas.core.clock import TOKYO
from maas.core.errors import Gone, NotFound, TooManyRequests
from maas.core.http import EXTENSION
from maas.core.secrets import key_encryptor
from passes import bundle, credential, qr, services
from passes.jwk import thumbprint
from passes.keys import KeyStore
from passes.models import Pass, PassMove
from tests.conftest import FIXED_NOW, Runner, fixed_clock
from tests.test_orders import order, rider
from tests.test_scan_evidence import partner
from tests.test_scans import enrol, scan
from validators.models import Scan
from validators.verify import Context, TrustBundle, verify

pytestmark = pytest.mark.usefixtures("loaded_demo")
TODAY = FIXED_NOW.astimezone(TOKYO).date()  # 2026-12-01


def phone() -> ec.EllipticCurvePrivateKey:
    return ec.generate_private_key(ec.SECP256R1())


def compressed(key: ec.EllipticCurvePrivateKey) -> str:
    return credential.compress_public_key(key.public_key())


def bought(client: FlaskClient, email: str, day: str = "2026-12-01"
           ) -> tuple[dict[str, str], dict[str, Any]]:
    auth = rider(client, email)
    response = order(client, auth, f"key-{email}", service_date=day)
    assert response.status_code == 201, response.get_json()
    return auth, response.get_json()["pass"]


def bind(client: FlaskClient, auth: dict[str, str], pass_id: str,
         key: ec.EllipticCurvePrivateKey) -> Any:
    return client.post(f"/api/v1/passes/{pass_id}/device", json={"public_key": compressed(key)},
                       headers=auth)


def move(client: FlaskClient, auth: dict[str, str], pass_id: str,
         key: ec.EllipticCurvePrivateKey) -> Any:
    return client.post(f"/api/v1/passes/{pass_id}/move", json={"public_key": compressed(key)},
                       headers=auth)


def keys_of(app: Flask, session: Session, kind: str = "issuing") -> KeyStore:
    return KeyStore(session, key_encryptor(app.extensions[EXTENSION].settings), kind)


def current_bundle(app: Flask, db_session: Session,
                   clock: Any = fixed_clock) -> TrustBundle:
    keys = keys_of(app, db_session)
    document, token = services.trust_bundle(
        db_session, keys, keys_of(app, db_session, "bundle"), "secret", clock)
    opened = bundle.open_bundle(token, keys_of(app, db_session, "bundle").public_keys(),
                                clock())
    assert opened == document
    return TrustBundle.from_document(opened)


def qr_text(payload: str) -> str:
    """The code as a validator's camera reads it off the phone's screen (a real QR image)."""
    [decoded] = zxingcpp.read_barcodes(Image.open(io.BytesIO(qr.png(payload))))
    return str(decoded.text)


def test_a_second_phone_is_told_to_move_and_the_move_rebinds_the_pass(
        client: FlaskClient, app: Flask, db_session: Session) -> None:
    keys = keys_of(app, db_session)
    auth, issued = bought(client, "mover@example.jp")
    first, second = phone(), phone()
    bound = bind(client, auth, issued["id"], first).get_json()
    assert bound["bound_key_thumbprint"] == thumbprint(first.public_key())
    assert bound["credential_id"] == credential.credential_id(bound["token"])
    assert bound["credential_id"] != issued["credential_id"] != issued["id"]
    # binding the same key again (a lost answer) keeps the one credential the phone has
    again = bind(client, auth, issued["id"], first).get_json()
    assert (again["token"], again["credential_id"]) == (bound["token"], bound["credential_id"])

    # the second phone: GET says bound to another key (its thumbprint, not the key) ...
    shown = client.get(f"/api/v1/passes/{issued['id']}", headers=auth).get_json()
    assert shown["bound"] is True
    assert shown["bound_key_thumbprint"] == thumbprint(first.public_key())
    assert shown["bound_key_thumbprint"] != thumbprint(second.public_key())
    # ... and binding there is a problem the page can act on, with the move link
    refused = bind(client, auth, issued["id"], second)
    assert refused.status_code == 409
    assert refused.mimetype == "application/problem+json"
    problem = refused.get_json()
    assert problem["type"] == "/problems/pass-bound-elsewhere"
    assert problem["links"] == {"move": f"/api/v1/passes/{issued['id']}/move"}

    moved = client.post(problem["links"]["move"], json={"public_key": compressed(second)},
                        headers=auth)
    assert moved.status_code == 200, moved.get_json()
    after = moved.get_json()
    assert after["bound_key_thumbprint"] == thumbprint(second.public_key())
    assert after["credential_id"] not in (bound["credential_id"], issued["credential_id"])
    claims = credential.verify(after["token"], keys.public_keys())
    assert claims.pass_id == issued["id"]
    assert claims.device_key is not None
    assert credential.compress_public_key(claims.device_key) == compressed(second)
    # a retried move (the answer was lost) changes nothing and is not counted again
    retried = move(client, auth, issued["id"], second).get_json()
    assert retried["credential_id"] == after["credential_id"]
    rows = db_session.scalars(select(PassMove).where(PassMove.pass_id == issued["id"])).all()
    assert [(r.from_credential_id, r.to_credential_id, r.actor, r.forced) for r in rows] == [
        (bound["credential_id"], after["credential_id"], "rider", False)]
    assert rows[0].from_key_thumbprint == thumbprint(first.public_key())

    # the next bundle denies the old credential (not the pass): old phone out, new phone in
    trust = current_bundle(app, db_session)
    assert bound["credential_id"] in trust.deny_credentials
    assert issued["id"] not in trust.deny
    at = FIXED_NOW + dt.timedelta(seconds=1)
    old = verify(qr_text(credential.present(bound["token"], first, at)), trust, at,
                 Context("hokutetsu"))
    assert (old.code, old.message_en) == ("credential_moved",
                                          "Pass moved to another phone: show it on that phone")
    new = verify(qr_text(credential.present(after["token"], second, at)), trust, at,
                 Context("hokutetsu"))
    assert new.code == "accept"


def test_move_needs_the_owner(client: FlaskClient, runner: Runner,
                              db_session: Session) -> None:
    auth, issued = bought(client, "owner-m@example.jp")
    bind(client, auth, issued["id"], phone())
    intruder = rider(client, "intruder-m@example.jp")
    device = enrol(runner, client)
    partner_auth = partner(db_session, None)
    path = f"/api/v1/passes/{issued['id']}/move"
    body = {"public_key": compressed(phone())}
    assert client.post(path, json=body, headers=intruder).status_code == 404
    assert client.post(path, json={"public_key": "x"}, headers=intruder).status_code == 404
    assert client.post("/api/v1/passes/nope/move", json=body, headers=auth).status_code == 404
    for headers in ({}, device.auth, partner_auth,
                    {"Authorization": "Bearer not-a-token"}):
        answer = client.post(path, json=body, headers=headers)
        assert answer.status_code == 401, headers
        assert answer.mimetype == "application/problem+json"
    # nothing moved
    assert db_session.scalars(select(PassMove)).all() == []


def test_bad_move_requests_name_the_field(client: FlaskClient) -> None:
    auth, issued = bought(client, "bad-m@example.jp")
    bind(client, auth, issued["id"], phone())
    path = f"/api/v1/passes/{issued['id']}/move"
    for body, field in [({"public_key": "not-a-key"}, "public_key"),
                        ({"public_key": "A" * 101}, "public_key"),
                        ({}, "public_key"),
                        ({"public_key": compressed(phone()), "extra": 1}, "extra")]:
        answer = client.post(path, json=body, headers=auth)
        assert answer.status_code == 422, body
        assert field in [e["field"] for e in answer.get_json()["errors"]], body


def test_moves_are_limited_per_service_day(client: FlaskClient, app: Flask,
                                           db_session: Session) -> None:
    keys = keys_of(app, db_session)
    auth, issued = bought(client, "limit@example.jp", day="2026-12-02")
    bind(client, auth, issued["id"], phone())
    assert move(client, auth, issued["id"], phone()).status_code == 200
    assert move(client, auth, issued["id"], phone()).status_code == 200
    third = move(client, auth, issued["id"], phone())
    assert third.status_code == 429
    problem = third.get_json()
    assert problem["type"] == "/problems/pass-move-limit"
    assert "moved 2 times today; the limit is 2 a day" in problem["detail"]
    assert "03:00" in problem["detail"]
    # 09:03 → 03:00 tomorrow
    assert third.headers["Retry-After"] == str(17 * 3600 + 57 * 60)

    # the service day ends at the product's day boundary (03:00), not at midnight
    def at(hour: int, minute: int) -> Any:
        moment = dt.datetime(2026, 12, 2, hour, minute, tzinfo=TOKYO)
        return lambda: moment

    with pytest.raises(TooManyRequests):
        services.move_pass(db_session, issued["id"], compressed(phone()), keys,
                           at(2, 59), per_day=2)
    moved = services.move_pass(db_session, issued["id"], compressed(phone()), keys,
                               at(3, 0), per_day=2)
    assert moved.device_key is not None
    # support may go past the limit, and it is written down
    services.move_pass(db_session, issued["id"], compressed(phone()), keys, at(3, 1),
                       per_day=1, force=True)
    forced = db_session.scalars(select(PassMove.forced).where(
        PassMove.pass_id == issued["id"]).order_by(PassMove.moved_at)).all()
    assert forced == [False, False, False, True]
    # a limit of 0 stops riders moving at all
    with pytest.raises(TooManyRequests):
        services.move_pass(db_session, issued["id"], compressed(phone()), keys,
                           at(3, 2), per_day=0)


def test_revoked_refunded_and_expired_passes_cannot_move(
        client: FlaskClient, app: Flask, db_session: Session, runner: Runner) -> None:
    keys = keys_of(app, db_session)
    auth, refunded = bought(client, "refunded-m@example.jp", day="2026-12-02")
    bind(client, auth, refunded["id"], phone())
    order_id = db_session.get(Pass, refunded["id"]).order_id  # type: ignore[union-attr]
    assert client.post(f"/api/v1/orders/{order_id}/refund", headers=auth).status_code == 200
    answer = move(client, auth, refunded["id"], phone())
    assert answer.status_code == 409
    assert answer.get_json()["type"] == "/problems/pass-not-usable"
    assert "refunded" in answer.get_json()["detail"]

    auth2, revoked = bought(client, "revoked-m@example.jp")
    bind(client, auth2, revoked["id"], phone())
    assert runner.invoke("passes", "revoke", revoked["id"], "--reason", "lost").exit_code == 0
    assert move(client, auth2, revoked["id"], phone()).status_code == 409

    # yesterday's pass, after its day boundary (03:00 today)
    old = services.issue_pass(db_session, keys, "kanazawa-1day", TODAY - dt.timedelta(
        days=1), "adult", phone().public_key(), fixed_clock)
    row = db_session.get(Pass, old.pass_id)
    assert row is not None
    row.rider_id = db_session.get(Pass, revoked["id"]).rider_id  # type: ignore[union-attr]
    db_session.commit()
    gone = move(client, auth2, old.pass_id, phone())
    assert gone.status_code == 410
    assert gone.get_json()["type"] == "/problems/pass-expired"
    with pytest.raises(Gone):
        services.move_pass(db_session, old.pass_id, compressed(phone()), keys,
                           fixed_clock, per_day=2)


def test_an_unbound_pass_is_simply_bound(client: FlaskClient, db_session: Session) -> None:
    auth, issued = bought(client, "unbound-m@example.jp")
    key = phone()
    moved = move(client, auth, issued["id"], key)
    assert moved.status_code == 200
    assert moved.get_json()["bound_key_thumbprint"] == thumbprint(key.public_key())
    assert db_session.scalars(select(PassMove)).all() == []


def test_ingest_counts_the_old_phone_before_the_move_and_not_after(
        client: FlaskClient, app: Flask, runner: Runner, db_session: Session) -> None:
    auth, issued = bought(client, "ingest-m@example.jp")
    first, second = phone(), phone()
    old_token = bind(client, auth, issued["id"], first).get_json()["token"]
    new_token = move(client, auth, issued["id"], second).get_json()["token"]  # at 09:03
    device = enrol(runner, client)

    def shown(token: str, key: ec.EllipticCurvePrivateKey, minutes: int) -> dict[str, Any]:
        at = FIXED_NOW + dt.timedelta(minutes=minutes)
        return scan(issued["id"], at,
                    payload=qr_text(credential.present(token, key, at)))

    before = shown(old_token, first, -20)  # the old phone, before the move: counts
    after = shown(old_token, first, 10)  # the old phone after it, on an old bundle: not
    new = shown(new_token, second, 20)  # the new phone: counts
    answer = client.post("/api/v1/scans", json={"scans": [before, after, new]},
                         headers=device.auth)
    assert answer.status_code == 200, answer.get_json()
    verdicts = {row.id: (row.status, row.server_code) for row in db_session.scalars(
        select(Scan).where(Scan.device_id == device.id))}
    assert verdicts == {before["id"]: ("confirmed", "accept"),
                        after["id"]: ("rejected", "credential_moved"),
                        new["id"]: ("confirmed", "accept")}


def test_an_old_bundle_still_accepts_the_old_phone(app: Flask, client: FlaskClient,
                                                    db_session: Session) -> None:
    """What an offline validator does until it syncs (docs/validators.md)."""
    auth, issued = bought(client, "offline-m@example.jp")
    first, second = phone(), phone()
    old_token = bind(client, auth, issued["id"], first).get_json()["token"]
    before_move = current_bundle(app, db_session)
    new_token = move(client, auth, issued["id"], second).get_json()["token"]
    after_move = current_bundle(app, db_session)
    assert after_move.version != before_move.version
    at = FIXED_NOW + dt.timedelta(minutes=1)
    old_code = qr_text(credential.present(old_token, first, at))
    new_code = qr_text(credential.present(new_token, second, at))
    assert verify(old_code, before_move, at, Context("hokutetsu")).code == "accept"
    assert verify(new_code, before_move, at, Context("hokutetsu")).code == "accept"
    assert verify(old_code, after_move, at, Context("hokutetsu")).code == "credential_moved"
    assert verify(new_code, after_move, at, Context("hokutetsu")).code == "accept"
    # a bundle document from a server before moves existed (no deny_credentials) still opens
    assert TrustBundle.from_document({
        "version": "v", "issued_at": 0, "max_age": 1, "keys": [], "deny": [],
        "products": {}, "colours": {}}).deny_credentials == frozenset()


def test_bundle_keeps_moved_credentials_only_while_the_pass_is_usable(
        app: Flask, client: FlaskClient, db_session: Session) -> None:
    auth, issued = bought(client, "days-m@example.jp", day="2026-12-05")
    old = bind(client, auth, issued["id"], phone()).get_json()["credential_id"]
    assert move(client, auth, issued["id"], phone()).status_code == 200
    assert old not in current_bundle(app, db_session).deny_credentials  # 4 days ahead

    def on(day: int) -> Any:
        moment = dt.datetime(2026, 12, day, 12, tzinfo=TOKYO)
        return lambda: moment

    for day, denied in [(3, False), (4, True), (5, True), (6, True), (7, False)]:
        assert (old in current_bundle(app, db_session, on(day)).deny_credentials) is denied, day


def test_support_moves_with_the_cli(client: FlaskClient, runner: Runner, tmp_path: Path,
                                    db_session: Session) -> None:
    auth, issued = bought(client, "support-m@example.jp")
    bind(client, auth, issued["id"], phone())
    pems = []
    for n in range(4):
        key = phone()
        pem = tmp_path / f"phone{n}.pem"
        pem.write_bytes(key.public_key().public_bytes(Encoding.PEM,
                                                      PublicFormat.SubjectPublicKeyInfo))
        pems.append((key, pem))
    done = runner.invoke("passes", "move", issued["id"], "--device-key", str(pems[0][1]),
                         "--json")
    assert done.exit_code == 0, done.output
    document = json.loads(done.stdout)
    assert document["id"] == issued["id"]
    assert document["service_date"] == "2026-12-01"
    assert document["bound_key_thumbprint"] == thumbprint(pems[0][0].public_key())
    assert document["credential_id"] == credential.credential_id(document["token"])
    assert runner.invoke("passes", "move", issued["id"], "--device-key",
                         str(pems[1][1])).exit_code == 0
    limited = runner.invoke("passes", "move", issued["id"], "--device-key", str(pems[2][1]))
    assert limited.exit_code == 1
    assert limited.stderr.startswith("Error: this pass has been moved 2 times today")
    assert "Traceback" not in limited.output
    forced = runner.invoke("passes", "move", issued["id"], "--device-key", str(pems[2][1]),
                           "--force", "--json")
    assert forced.exit_code == 0, forced.output
    actors = db_session.scalars(select(PassMove.actor).where(
        PassMove.pass_id == issued["id"])).all()
    assert actors == ["support"] * 3

    missing = runner.invoke("passes", "move", "nope", "--device-key", str(pems[3][1]))
    assert (missing.exit_code, missing.stderr) == (1, "Error: no pass 'nope'\n")
    garbage = tmp_path / "garbage.pem"
    garbage.write_text("not a key")
    bad = runner.invoke("passes", "move", issued["id"], "--device-key", str(garbage))
    assert bad.exit_code == 1
    assert bad.stderr.startswith("Error: --device-key:")
    absent = runner.invoke("passes", "move", issued["id"], "--device-key",
                           str(tmp_path / "absent.pem"))
    assert absent.exit_code == 1
    assert "--device-key" in absent.stderr


def test_the_move_is_in_the_openapi_document(client: FlaskClient) -> None:
    spec = client.get("/api/v1/openapi.json").get_json()
    operation = spec["paths"]["/api/v1/passes/{pass_id}/move"]["post"]
    assert {"404", "409", "410", "429"} <= set(operation["responses"])
    schema = spec["components"]["schemas"]["PassOut"]["properties"]
    assert {"bound_key_thumbprint", "credential_id"} <= set(schema)


def test_credential_ids_are_distinct_per_issue_and_not_the_pass_id(app: Flask,
                                                                    db_session: Session) -> None:
    keys = keys_of(app, db_session)
    issued = services.issue_pass(db_session, keys, "kanazawa-1day", TODAY, "adult",
                                 None, fixed_clock)
    row = db_session.get(Pass, issued.pass_id)
    assert row is not None
    assert row.credential_id == credential.credential_id(issued.token)
    assert row.credential_id != row.id
    # a stored token with a high s (from before low s) has the id of its accepted form
    head, _, signature = issued.token.rpartition(".")
    raw = credential.unb64url(signature)
    s = int.from_bytes(raw[32:], "big")
    flipped = raw[:32] + (credential.CURVE_ORDER - s).to_bytes(32, "big")
    high = f"{head}.{credential.b64url(flipped)}"
    assert high != issued.token
    assert credential.credential_id(high) == credential.credential_id(issued.token)
    with pytest.raises(NotFound):
        services.move_pass(db_session, "nope", compressed(phone()), keys, fixed_clock,
                           per_day=2)


@settings(max_examples=25, deadline=None)
@given(st.dates(min_value=dt.date(2026, 1, 1), max_value=dt.date(2030, 12, 31)),
       st.sampled_from(["adult", "child"]))
def test_reissuing_the_same_claims_makes_a_new_credential_id(day: dt.date,
                                                             category: str) -> None:
    key = ec.generate_private_key(ec.SECP256R1())
    claims = credential.PassClaims(credential.new_pass_id(), "kanazawa-1day", category, day,
                                   key.public_key())
    tokens = {credential.issue(claims, key, "kid00001") for _ in range(3)}
    assert len({credential.credential_id(t) for t in tokens}) == 3
    assert all(len(credential.credential_id(t)) == 32 for t in tokens)


def test_the_migration_gives_existing_passes_their_credential_id(
        tmp_path: Path, database_url: str, request: pytest.FixtureRequest) -> None:
    """Passes stored before credential ids get the id of the token they hold; the migration
    also goes down again (on a fresh database of the same backend)."""
    import sqlalchemy as sa
    from alembic import command

    from maas.core.db import alembic_config, create_db_engine, upgrade

    url = (request.getfixturevalue("make_postgres_database")()
           if database_url.startswith("postgresql") else f"sqlite:///{tmp_path / 'old.db'}")
    engine = create_db_engine(url)
    upgrade(engine, "d39c8595cc76")
    key = ec.generate_private_key(ec.SECP256R1())
    tokens = {}
    for n in range(3):
        claims = credential.PassClaims(credential.new_pass_id(), "kanazawa-1day", "adult",
                                       TODAY, key.public_key() if n else None)
        tokens[claims.pass_id] = credential.issue(claims, key, "kid00001")
    products = sa.table("products", *(sa.column(c) for c in (
        "code", "name", "name_en", "adult_yen", "child_yen", "valid_from_minutes",
        "day_boundary_minutes", "max_days_ahead", "static_allowed", "active")),
        sa.column("operators", sa.JSON))
    passes = sa.table("passes", *(sa.column(c) for c in (
        "id", "product_code", "category", "service_date", "token", "status", "issued_at")))
    with engine.begin() as connection:
        connection.execute(products.insert().values(
            code="kanazawa-1day", name="p", name_en="p", adult_yen=800, child_yen=400,
            operators=[], valid_from_minutes=240, day_boundary_minutes=180, max_days_ahead=30,
            static_allowed=False, active=True))
        connection.execute(passes.insert(), [
            {"id": pass_id, "product_code": "kanazawa-1day", "category": "adult",
             "service_date": TODAY, "token": token, "status": "valid", "issued_at": FIXED_NOW}
            for pass_id, token in tokens.items()])
    upgrade(engine)
    with engine.connect() as connection:
        stored = dict(connection.execute(sa.text("SELECT id, credential_id FROM passes")).all())
    assert stored == {pass_id: credential.credential_id(token)
                      for pass_id, token in tokens.items()}
    command.downgrade(alembic_config(engine), "d39c8595cc76")
    assert "credential_id" not in {c["name"] for c in sa.inspect(engine).get_columns("passes")}
    assert not sa.inspect(engine).has_table("pass_moves")
    engine.dispose()
