"""Buying passes: idempotent orders, sandbox payments, webhooks, refunds, binding, ownership."""

from __future__ import annotations

import datetime as dt
import io
import json
from typing import Any

import jwt
import pytest
import zxingcpp
from cryptography.hazmat.primitives.asymmetric import ec
from flask import Flask
from flask.testing import FlaskClient
from PIL import Image
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from passes import credential, payments
from passes.models import Pass
from tests.conftest import FIXED_NOW, fixed_clock

pytestmark = pytest.mark.usefixtures("loaded_demo")
CARD = {"method": "sandbox", "card_number": payments.SUCCEEDS}


def rider(client: FlaskClient, email: str) -> dict[str, str]:
    client.post("/api/v1/riders", json={"email": email, "password": "correct horse"})
    token = client.post("/api/v1/auth/token", json={"email": email,
                                                    "password": "correct horse"})
    return {"Authorization": f"Bearer {token.get_json()['access_token']}"}


def order(client: FlaskClient, auth: dict[str, str], key: str, **changes: Any) -> Any:
    body = {"product": "kanazawa-1day", "service_date": "2026-12-02", "category": "adult",
            "payment": CARD, **changes}
    return client.post("/api/v1/orders", json=body, headers={**auth, "Idempotency-Key": key})


def test_buy_pay_and_see_the_pass(client: FlaskClient) -> None:
    auth = rider(client, "buyer@example.jp")
    response = order(client, auth, "k-1", category="child")
    assert response.status_code == 201, response.get_json()
    body = response.get_json()
    assert body["order"]["status"] == "paid"
    assert body["order"]["amount_yen"] == 400
    issued = body["pass"]
    assert issued["service_date"] == "2026-12-02"
    jwks = client.get("/.well-known/jwks.json").get_json()
    keys = {k["kid"]: jwt.algorithms.ECAlgorithm.from_jwk(json.dumps(k)) for k in jwks["keys"]}
    claims = credential.verify(issued["token"], keys)
    assert (claims.pass_id, claims.category, claims.product) == (issued["id"], "child",
                                                                 "kanazawa-1day")
    listed = client.get("/api/v1/passes", headers=auth).get_json()
    assert [p["id"] for p in listed] == [issued["id"]]
    png = client.get(f"/api/v1/passes/{issued['id']}/qr.png", headers=auth)
    assert png.mimetype == "image/png"
    [decoded] = zxingcpp.read_barcodes(Image.open(io.BytesIO(png.data)))
    assert decoded.text == issued["token"]
    assert client.get(f"/api/v1/passes/{issued['id']}/qr.svg", headers=auth).mimetype == (
        "image/svg+xml")


def test_retries_give_the_same_order_and_a_changed_body_conflicts(
    client: FlaskClient, db_session: Session
) -> None:
    auth = rider(client, "retry@example.jp")
    first = order(client, auth, "same-key").get_json()
    again = order(client, auth, "same-key").get_json()
    assert again == first
    changed = order(client, auth, "same-key", category="child")
    assert changed.status_code == 409
    assert db_session.scalar(select(func.count()).select_from(Pass)) == 1
    assert order(client, auth, "").status_code == 422  # the header is required


def test_declined_and_pending_cards_then_webhooks(client: FlaskClient, app: Flask) -> None:
    auth = rider(client, "cards@example.jp")
    declined = order(client, auth, "d", payment={"method": "sandbox",
                                                 "card_number": payments.DECLINED}).get_json()
    assert declined["order"]["status"] == "declined"
    assert declined["pass"] is None
    pending = order(client, auth, "p", payment={"method": "sandbox",
                                                "card_number": payments.PENDING}).get_json()
    assert pending["order"]["status"] == "pending"
    assert pending["pass"] is None
    with app.app_context():
        from passes.views import _provider

        provider = _provider()
    reference = provider.charge(pending["order"]["id"], 800, payments.PENDING).reference
    event = provider.webhook_body(reference, "succeeded")
    forged = client.post("/api/v1/payments/webhook", data=event,
                         headers={"X-Sandbox-Signature": "0" * 64})
    assert forged.status_code == 401
    for _ in range(2):  # a duplicate webhook changes nothing
        settled = client.post("/api/v1/payments/webhook", data=event,
                              headers={"X-Sandbox-Signature": provider.sign(event)})
        assert settled.status_code == 200, settled.get_json()
        assert settled.get_json()["order"]["status"] == "paid"
    retried = order(client, auth, "p", payment={"method": "sandbox",
                                                "card_number": payments.PENDING}).get_json()
    assert retried["order"]["status"] == "paid"
    assert retried["pass"] is not None
    assert len(client.get("/api/v1/passes", headers=auth).get_json()) == 1


def test_refund_until_the_day_before_revokes_the_pass(client: FlaskClient) -> None:
    auth = rider(client, "refund@example.jp")
    today = order(client, auth, "today", service_date="2026-12-01").get_json()
    late = client.post(f"/api/v1/orders/{today['order']['id']}/refund", headers=auth)
    assert late.status_code == 409
    tomorrow = order(client, auth, "tomorrow").get_json()
    refunded = client.post(f"/api/v1/orders/{tomorrow['order']['id']}/refund", headers=auth)
    assert refunded.status_code == 200
    assert refunded.get_json()["order"]["status"] == "refunded"
    assert refunded.get_json()["pass"]["status"] == "revoked"
    twice = client.post(f"/api/v1/orders/{tomorrow['order']['id']}/refund", headers=auth)
    assert twice.status_code == 409


def test_bad_orders_name_the_field(client: FlaskClient) -> None:
    auth = rider(client, "bad@example.jp")
    cases = {
        "service_date": order(client, auth, "a", service_date="2027-06-01"),
        "payment.method": order(client, auth, "b", payment={"method": "cash",
                                                            "card_number": "4242424242424242"}),
        "category": order(client, auth, "c", category="senior"),
    }
    for field, response in cases.items():
        assert response.status_code == 422, field
        assert field in [e["field"] for e in response.get_json()["errors"]], field
    assert order(client, auth, "d", product="nope").status_code == 404


def test_other_riders_and_anonymous_callers_see_nothing(client: FlaskClient) -> None:
    owner = rider(client, "owner@example.jp")
    intruder = rider(client, "intruder@example.jp")
    bought = order(client, owner, "mine").get_json()
    pass_id, order_id = bought["pass"]["id"], bought["order"]["id"]
    for method, path, body in [
        ("get", f"/api/v1/passes/{pass_id}", None),
        ("get", f"/api/v1/passes/{pass_id}/qr.svg", None),
        ("get", f"/api/v1/passes/{pass_id}/qr.png", None),
        ("post", f"/api/v1/passes/{pass_id}/device", {"public_key": "x"}),
        ("post", f"/api/v1/orders/{order_id}/refund", None),
    ]:
        call = getattr(client, method)
        assert call(path, json=body, headers=intruder).status_code == 404, path
        assert call(path, json=body).status_code == 401, path
    assert client.get("/api/v1/passes", headers=intruder).get_json() == []
    assert client.get("/api/v1/passes").status_code == 401
    assert order(client, {}, "anon").status_code == 401


def test_binding_a_phone_reissues_a_bound_credential(client: FlaskClient) -> None:
    auth = rider(client, "phone@example.jp")
    bought = order(client, auth, "bind").get_json()["pass"]
    phone = ec.generate_private_key(ec.SECP256R1())
    public = credential.compress_public_key(phone.public_key())
    bound = client.post(f"/api/v1/passes/{bought['id']}/device", json={"public_key": public},
                        headers=auth)
    assert bound.status_code == 200, bound.get_json()
    token = bound.get_json()["token"]
    assert bound.get_json()["bound"] is True
    assert token != bought["token"]
    jwks = client.get("/.well-known/jwks.json").get_json()
    keys = {k["kid"]: jwt.algorithms.ECAlgorithm.from_jwk(json.dumps(k)) for k in jwks["keys"]}
    claims = credential.verify(token, keys)
    assert claims.pass_id == bought["id"]
    shown = credential.parse_presentation(credential.present(token, phone, FIXED_NOW))
    credential.verify_presentation(shown, claims)
    other = credential.compress_public_key(ec.generate_private_key(ec.SECP256R1()).public_key())
    stolen = client.post(f"/api/v1/passes/{bought['id']}/device", json={"public_key": other},
                         headers=auth)
    assert stolen.status_code == 409
    garbage = client.post(f"/api/v1/passes/{bought['id']}/device",
                          json={"public_key": "not-a-key"}, headers=auth)
    assert garbage.status_code == 422


def test_operator_revokes_a_pass(client: FlaskClient, runner: Any) -> None:
    auth = rider(client, "revoked@example.jp")
    bought = order(client, auth, "rev").get_json()["pass"]
    result = runner.invoke("passes", "revoke", bought["id"], "--reason", "reported stolen",
                           "--json")
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout) == {"id": bought["id"], "status": "revoked",
                                         "reason": "reported stolen"}
    shown = client.get(f"/api/v1/passes/{bought['id']}", headers=auth).get_json()
    assert shown["status"] == "revoked"
    again = runner.invoke("passes", "revoke", bought["id"], "--reason", "twice")
    assert again.exit_code == 1
    assert "already revoked" in again.stderr
    missing = runner.invoke("passes", "revoke", "nope", "--reason", "x")
    assert missing.stderr == "Error: no pass 'nope'\n"


def test_trust_bundle_lists_keys_deny_list_products_and_colours(
    client: FlaskClient, runner: Any, app: Flask, db_session: Session
) -> None:
    from passes import bundle
    from passes.services import trust_bundle
    from tests.conftest import app_keys

    auth = rider(client, "bundle@example.jp")
    kept = order(client, auth, "keep").get_json()["pass"]
    stolen = order(client, auth, "stolen").get_json()["pass"]
    assert runner.invoke("passes", "revoke", stolen["id"], "--reason", "fraud").exit_code == 0
    keys = app_keys(app, db_session)
    bundle_keys = app_keys(app, db_session, "bundle")
    document, token = trust_bundle(db_session, keys, bundle_keys, "secret", fixed_clock)
    assert document["deny"] == [stolen["id"]]
    assert kept["id"] not in document["deny"]
    assert {k["state"] for k in document["keys"]} >= {"current", "next"}
    assert document["products"]["kanazawa-1day"]["day_boundary_minutes"] == 180
    assert set(document["colours"]) == {"2026-12-01", "2026-12-02"}
    assert document["max_age"] == 72 * 3600
    pinned = bundle_keys.public_keys()
    opened = bundle.open_bundle(token, pinned, FIXED_NOW)
    assert opened["version"] == document["version"]
    again, _ = trust_bundle(db_session, keys, bundle_keys, "secret", fixed_clock)
    assert again["version"] == document["version"]  # unchanged content, same version
    with pytest.raises(ValueError, match="h old"):
        bundle.open_bundle(token, pinned, FIXED_NOW + dt.timedelta(hours=73))
    with pytest.raises(ValueError, match="unpinned"):
        bundle.open_bundle(token, keys.public_keys(), FIXED_NOW)
