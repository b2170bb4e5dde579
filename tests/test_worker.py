"""``maas worker``: one leader among workers, and the periodic tasks it runs."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import jwt
import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import Engine, select, update
from sqlalchemy.orm import Session

from maas.core.audit import AuditEvent
from maas.worker import Leadership, Task, run_due
from passes import payments
from passes.models import Order, SignedBundle, SigningKey
from tests.conftest import FIXED_NOW, Runner, app_keys
from tests.test_orders import order, rider
from tests.test_scans import TODAY, enrol


@pytest.mark.usefixtures("loaded_demo")
def test_one_pass_of_the_worker_expires_rotates_and_counts(
        app: Flask, client: FlaskClient, runner: Runner, db_session: Session) -> None:
    auth = rider(client, "late@example.jp")
    waiting = order(client, auth, "w", payment={"method": "sandbox",
                                                "card_number": payments.PENDING}).get_json()
    fresh = order(client, auth, "f", payment={"method": "sandbox",
                                              "card_number": payments.PENDING}).get_json()
    db_session.execute(update(Order).where(Order.id == waiting["order"]["id"])
                       .values(created_at=FIXED_NOW - dt.timedelta(hours=2)))
    keys = app_keys(app, db_session)
    keys.ensure(FIXED_NOW)
    db_session.execute(update(SigningKey).values(  # made 40 days ago: rotation is due
        created_at=FIXED_NOW - dt.timedelta(days=40)))
    before = {info.state: info.kid for info in keys.infos()}
    planned = client.get("/api/v1/plan", query_string={
        "from": "stop:kanazawa-sta-east", "to": "stop:kenrokuen-shita",
        "depart": "2026-12-01T10:00:00+09:00"})
    assert planned.status_code == 200
    result = runner.invoke("worker", "--once", "--json")
    assert result.exit_code == 0, result.output
    done = json.loads(result.stdout)
    assert done["orders"] == 1
    assert done["keys"] == {"rotated": True}
    assert done["statistics"] == 1
    statuses = dict(db_session.execute(select(Order.id, Order.status)).all())
    assert statuses[waiting["order"]["id"]] == "expired"
    assert statuses[fresh["order"]["id"]] == "pending"
    after = {info.state: info.kid for info in keys.infos()}
    assert after["current"] == before["next"]
    rotation = db_session.scalar(select(AuditEvent).where(AuditEvent.action == "keys.rotate"))
    assert rotation is not None
    assert (rotation.actor, rotation.outcome) == ("worker", "success")
    again = json.loads(runner.invoke("worker", "--once", "--json").stdout)
    assert (again["orders"], again["keys"], again["statistics"]) == (0, {"rotated": False}, 0)


def test_an_expired_order_is_still_fulfilled_when_its_payment_arrives(
        app: Flask, client: FlaskClient, runner: Runner, db_session: Session,
        loaded_demo: None) -> None:
    auth = rider(client, "slow@example.jp")
    pending = order(client, auth, "s", payment={"method": "sandbox",
                                                "card_number": payments.PENDING}).get_json()
    db_session.execute(update(Order).where(Order.id == pending["order"]["id"])
                       .values(created_at=FIXED_NOW - dt.timedelta(hours=2)))
    assert json.loads(runner.invoke("worker", "--once", "--json").stdout)["orders"] == 1
    with app.app_context():
        from passes.views import _provider

        provider = _provider()
    reference = provider.charge(pending["order"]["id"], 800, payments.PENDING).reference
    event = provider.webhook_body(reference, "succeeded")
    settled = client.post("/api/v1/payments/webhook", data=event,
                          headers={"X-Sandbox-Signature": provider.sign(event)})
    assert settled.get_json()["order"]["status"] == "paid"


def test_only_one_worker_leads_until_it_lets_go(engine: Engine, tmp_path: Path) -> None:
    home = tmp_path
    first, second = Leadership(engine, home), Leadership(engine, home)
    assert first.try_acquire()
    assert first.still_held()
    assert not second.try_acquire()
    first.release()
    assert second.try_acquire()
    assert not first.try_acquire()
    second.release()


def test_a_failing_task_does_not_stop_the_others() -> None:
    ran: list[str] = []

    def broken() -> None:
        raise RuntimeError("boom")

    def fine() -> int:
        ran.append("fine")
        return 1

    jobs = [Task("broken", 10, broken), Task("fine", 10, fine)]
    assert run_due(jobs, 100.0) == {"broken": None, "fine": 1}
    assert run_due(jobs, 105.0) == {}  # neither is due again yet
    assert run_due(jobs, 110.0) == {"broken": None, "fine": 1}
    assert ran == ["fine", "fine"]


@pytest.mark.usefixtures("loaded_demo")
def test_the_worker_signs_the_bundle_every_host_serves(
        client: FlaskClient, runner: Runner, db_session: Session) -> None:
    device = enrol(runner, client)
    built_here = client.get("/api/v1/validators/bundle", headers=device.auth).get_json()
    assert json.loads(runner.invoke("worker", "--once", "--json").stdout)["bundle"] is True
    stored = db_session.get(SignedBundle, "validators")
    assert stored is not None
    served = client.get("/api/v1/validators/bundle", headers=device.auth).get_json()
    assert served == {"version": stored.version, "bundle": stored.token}
    assert served["version"] == built_here["version"]  # the same content, wherever it is built
    # unchanged content is not signed again on the next run, only confirmed
    assert json.loads(runner.invoke("worker", "--once", "--json").stdout)["bundle"] is False
    issued = runner.invoke("passes", "issue", "--product", "kanazawa-1day", "--date",
                           TODAY.isoformat(), "--json")
    revoked = json.loads(issued.stdout)["id"]
    assert runner.invoke("passes", "revoke", revoked, "--reason", "stolen").exit_code == 0
    # the revocation dropped the stored bundle: validators syncing before the worker's next
    # run already get the deny-list with the revoked pass (no lag of a worker's period)
    db_session.expire_all()
    assert db_session.get(SignedBundle, "validators") is None
    at_once = client.get("/api/v1/validators/bundle", headers=device.auth).get_json()
    assert revoked in jwt.decode(at_once["bundle"], options={"verify_signature": False})["deny"]
    assert json.loads(runner.invoke("worker", "--once", "--json").stdout)["bundle"] is True
    after = client.get("/api/v1/validators/bundle", headers=device.auth).get_json()
    assert after["version"] != served["version"]
    assert after["version"] == at_once["version"]
    assert revoked in jwt.decode(after["bundle"], options={"verify_signature": False})["deny"]
    # a worker that stopped confirming it: the endpoint builds the bundle itself again
    db_session.execute(update(SignedBundle).values(
        checked_at=FIXED_NOW - dt.timedelta(minutes=5), token="stale", version="stale"))
    rebuilt = client.get("/api/v1/validators/bundle", headers=device.auth).get_json()
    assert rebuilt["version"] == after["version"]
    assert rebuilt["bundle"] != "stale"
