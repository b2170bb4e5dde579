"""Partner statistics: keys and roles, each statistic, privacy, roll-ups, planner requests."""

from __future__ import annotations

import csv
import dataclasses
import datetime as dt
import io
import json
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric import ec
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from maas.core.clock import TOKYO
from maas.stats import services
from maas.stats.models import PassCell, PlanCell, PlanRequest, ScanCell
from maas.stats.services import PLAN_RECORDER, roll_up_plan_requests
from passes import credential
from passes.events import OrderChanged, OrderState
from passes.models import Order, Pass
from passes.services import issue_pass
from tests.conftest import FIXED_NOW, Runner, app_keys, fixed_clock
from validators.events import ScansIngested
from validators.evidence import key_windows
from validators.models import Device, FraudFlag, Scan

pytestmark = pytest.mark.usefixtures("consortium")

ENDPOINTS = ("sales", "validations", "apportionment", "fraud", "planner")
TODAY = FIXED_NOW.astimezone(TOKYO).date()  # 2026-12-01
DAY = TODAY - dt.timedelta(days=1)


def at(hour: int, minute: int = 0, day: dt.date = DAY) -> dt.datetime:
    """A moment on ``day`` in Kanazawa (hours past 23 run into the next morning)."""
    return dt.datetime.combine(day, dt.time(), TOKYO) + dt.timedelta(hours=hour, minutes=minute)


@pytest.fixture
def consortium(db_session: Session, tmp_path: Path) -> None:
    """The demo's operators and products (without compiling its timetable)."""
    from gtfs.models import Operator
    from maas.demo.kanazawa import products_file
    from passes.services import load_products

    for operator in ("hokutetsu", "jrbus", "flatbus", "machinori", "suitto"):
        if db_session.get(Operator, operator) is None:
            db_session.add(Operator(id=operator, name=operator, name_en=operator, modes=["bus"],
                                    url=None, feed_name="test"))
    db_session.commit()
    products = tmp_path / "products.json"
    products.write_text(json.dumps(products_file()), encoding="utf-8")
    load_products(db_session, products)


@dataclasses.dataclass
class Keys:
    admin: str
    hokutetsu: str
    jrbus: str


@pytest.fixture
def keys(db_session: Session) -> Keys:
    def key(operator: str | None) -> str:
        return services.add_partner(db_session, f"partner {operator}", operator,
                                    fixed_clock).api_key
    return Keys(admin=key(None), hokutetsu=key("hokutetsu"), jrbus=key("jrbus"))


def bearer(key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"}


class Data:
    """Builds devices, scans (through the ingestion listener), orders and flags."""

    def __init__(self, session: Session) -> None:
        self.session = session
        self.devices: dict[str, str] = {}
        self.rider = str(uuid.uuid4())
        from maas.accounts.models import Rider

        session.add(Rider(id=self.rider, email=f"{self.rider}@example.jp", password_hash="!",
                          created_at=FIXED_NOW))
        session.flush()

    def device(self, operator: str) -> str:
        if operator not in self.devices:
            device = Device(id=str(uuid.uuid4()), operator_id=operator, vehicle="bus-1",
                            stop=None, status="active", created_at=FIXED_NOW)
            self.session.add(device)
            self.session.flush()
            self.devices[operator] = device.id
        return self.devices[operator]

    def scans(self, specs: list[dict[str, Any]]) -> list[Scan]:
        """Insert scans and hand them to the roll-up listener, as ingestion does."""
        made = []
        for spec in specs:
            operator = spec.get("operator", "hokutetsu")
            pass_id = spec.get("pass_id", uuid.uuid4().hex)
            made.append(Scan(
                id=str(uuid.uuid4()), device_id=spec.get("device") or self.device(operator),
                operator_id=operator, vehicle="bus-1", stop=spec.get("stop", "korinbo-n"),
                route_id=spec.get("route", "shuyu-rl"), result=spec.get("result", "accept"),
                code=spec.get("code", "accept"), pass_id=pass_id,
                product_code=spec.get("product", "kanazawa-1day"), category="adult",
                service_date=spec.get("service_date", DAY) if pass_id else None,
                digest=None, lat=None, lon=None, scanned_at=spec.get("at", at(10)),
                received_at=FIXED_NOW, payload=None,
                server_result=spec.get("result", "accept"),
                server_code=spec.get("code", "accept"),
                status=spec.get("status", "confirmed" if spec.get("result", "accept")
                                == "accept" else "rejected")))
        self.session.add_all(made)
        self.session.flush()
        services.on_scans(self.session, ScansIngested(tuple(made)))
        self.session.commit()
        return made

    def order(self, product: str = "kanazawa-1day", yen: int = 800, *,
              paid_at: dt.datetime | None = None, service_date: dt.date = DAY,
              status: str = "paid", category: str = "adult") -> Order:
        order = Order(id=str(uuid.uuid4()), rider_id=self.rider,
                      idempotency_key=uuid.uuid4().hex, request_hash="0" * 64,
                      product_code=product, category=category, service_date=service_date,
                      amount_yen=yen, status=status, provider="sandbox", payment_ref=None,
                      created_at=paid_at or at(8), paid_at=paid_at or at(8))
        self.session.add(order)
        # announced as the pass services announce a settled order
        settled = OrderState.of(order)
        services.on_order_changed(self.session, OrderChanged(order.id, dataclasses.replace(
            settled, status="pending", paid_at=None), settled))
        self.session.commit()
        return order


@pytest.fixture
def data(db_session: Session) -> Data:
    return Data(db_session)


def get(client: FlaskClient, endpoint: str, key: str | None, **params: str) -> Any:
    query = {"from": DAY.isoformat(), "to": DAY.isoformat()} | params
    headers = bearer(key) if key else {}
    return client.get(f"/api/v1/stats/{endpoint}", query_string=query, headers=headers)


# --- keys and who sees what ------------------------------------------------------------------

def test_partner_cli_prints_a_key_that_works_until_revoked(
    runner: Runner, client: FlaskClient
) -> None:
    result = runner.invoke("partners", "add", "北陸鉄道", "--operator", "hokutetsu", "--json")
    assert result.exit_code == 0, result.output
    created = json.loads(result.output)
    assert set(created) >= {"partner_id", "api_key"}
    response = get(client, "sales", created["api_key"])
    assert response.status_code == 200
    assert response.json["operator"] == "hokutetsu"
    me = client.get("/api/v1/stats/me", headers=bearer(created["api_key"]))
    assert me.json == {"partner_id": created["partner_id"], "name": "北陸鉄道",
                       "role": "operator", "operator": "hokutetsu"}

    listed = runner.invoke("partners", "list", "--json")
    assert created["api_key"] not in listed.output
    assert created["partner_id"] in listed.output
    assert runner.invoke("partners", "revoke", created["partner_id"]).exit_code == 0
    response = get(client, "sales", created["api_key"])
    assert response.status_code == 401
    assert "revoked" in response.json["detail"]


def test_partner_cli_admin_and_user_errors(runner: Runner) -> None:
    admin = runner.invoke("partners", "add", "金沢市", "--admin", "--json")
    assert admin.exit_code == 0
    assert json.loads(admin.output)["api_key"].startswith("maas_pk_")
    for args in (["x"], ["x", "--admin", "--operator", "jrbus"],
                 ["x", "--operator", "no-such-operator"]):
        result = runner.invoke("partners", "add", *args)
        assert result.exit_code == 1, args
        assert "Traceback" not in result.output
    assert runner.invoke("partners", "revoke", "no-such-id").exit_code == 1


def test_the_key_is_stored_hashed(db_session: Session, keys: Keys) -> None:
    from maas.stats.models import Partner

    stored = db_session.scalars(select(Partner.key_hash)).all()
    assert keys.admin not in stored
    assert all(len(value) == 64 for value in stored)


def test_every_endpoint_refuses_anything_but_a_partner_key(
    client: FlaskClient, db_session: Session
) -> None:
    from maas.accounts.services import register_rider, sign_in
    from validators import services as devices

    register_rider(db_session, "stats@example.jp", "noto-line-9", fixed_clock)
    rider_token = sign_in(db_session, "stats@example.jp", "noto-line-9",
                          client.application.config["SECRET_KEY"], fixed_clock)
    added = devices.add_device(db_session, "hokutetsu", "bus-9", None, fixed_clock)
    _device, device_token = devices.enroll(db_session, added.enrollment_code, fixed_clock)
    for endpoint in (*ENDPOINTS, "me"):
        for key in (None, rider_token, device_token, "maas_pk_not-a-real-key"):
            response = get(client, endpoint, key)
            assert response.status_code == 401, (endpoint, key)
            assert response.mimetype == "application/problem+json"
            assert response.headers["WWW-Authenticate"].startswith("Bearer")


@pytest.mark.parametrize("endpoint", ENDPOINTS)
def test_an_operator_sees_only_its_own_detail(
    client: FlaskClient, keys: Keys, endpoint: str
) -> None:
    forbidden = get(client, endpoint, keys.hokutetsu, operator="jrbus")
    assert forbidden.status_code == 403
    assert forbidden.mimetype == "application/problem+json"
    assert get(client, endpoint, keys.jrbus, operator="hokutetsu").status_code == 403
    own = get(client, endpoint, keys.hokutetsu, operator="hokutetsu")
    assert own.status_code == 200
    assert own.json["operator"] == "hokutetsu"
    assert get(client, endpoint, keys.hokutetsu).json["operator"] == "hokutetsu"
    for operator in ("hokutetsu", "jrbus"):
        assert get(client, endpoint, keys.admin, operator=operator).status_code == 200
    assert get(client, endpoint, keys.admin).json["operator"] is None


@pytest.mark.parametrize(("params", "field"), [
    ({"from": "2026-13-01"}, "from"),
    ({"to": "yesterday"}, "to"),
    ({"group": "weekday"}, "group"),
    ({"from": "2026-12-02", "to": "2026-11-01"}, "from"),
    ({"from": "2024-01-01", "to": "2026-11-01"}, "from"),
    ({"format": "xlsx"}, "format"),
    ({"operater": "jrbus"}, "operater"),
    ({"operator": "no-such-operator"}, "operator"),
])
def test_bad_parameters_are_problems_naming_the_field(
    client: FlaskClient, keys: Keys, params: dict[str, str], field: str
) -> None:
    response = get(client, "validations", keys.admin, **params)
    assert response.status_code == 422
    assert response.mimetype == "application/problem+json"
    assert field in [error["field"] for error in response.json["errors"]]


# --- validations and privacy -----------------------------------------------------------------

def test_validations_by_stop_suppress_cells_of_fewer_than_five_passes(
    client: FlaskClient, keys: Keys, data: Data
) -> None:
    specs = [{"stop": "korinbo-n"} for _ in range(5)]  # five passes
    specs += [{"stop": "korinbo-n", "result": "reject", "code": "expired"}]
    specs += [{"stop": "musashi-n"} for _ in range(4)]  # four passes
    data.scans(specs)
    report = get(client, "validations", keys.admin, group="stop").json
    rows = {row["key"]: row for row in report["rows"]}
    assert rows["korinbo-n"] == {
        "key": "korinbo-n", "accepted": 5, "rejected": 1, "cannot_judge": 0,
        "reasons": {"expired": 1}, "passes": 6, "suppressed": False}
    assert rows["musashi-n"] == {
        "key": "musashi-n", "accepted": None, "rejected": None, "cannot_judge": None,
        "reasons": None, "passes": None, "suppressed": True}
    assert report["k"] == 5
    assert report["consortium"] == [{
        "key": "total", "accepted": 9, "rejected": 1, "cannot_judge": 0,
        "reasons": {"expired": 1}, "passes": 10, "suppressed": False}]

    text = get(client, "validations", keys.admin, group="stop", format="csv")
    assert text.mimetype == "text/csv"
    assert "attachment" in text.headers["Content-Disposition"]
    table = list(csv.DictReader(io.StringIO(text.get_data(as_text=True))))
    by_stop = {row["key"]: row for row in table}
    assert by_stop["korinbo-n"]["accepted"] == "5"
    assert by_stop["korinbo-n"]["reasons:expired"] == "1"
    assert by_stop["musashi-n"]["suppressed"] == "true"
    assert by_stop["musashi-n"]["accepted"] == ""


def test_one_pass_scanned_many_times_is_still_one_pass(
    client: FlaskClient, keys: Keys, data: Data
) -> None:
    rider = uuid.uuid4().hex
    # first batch, then a second batch with the same pass at the same stop and a new hour
    data.scans([{"pass_id": rider, "at": at(9)}, {"pass_id": rider, "at": at(9, 30)}])
    data.scans([{"pass_id": rider, "at": at(9, 45)}, {"pass_id": rider, "at": at(11)}]
               + [{"at": at(11)} for _ in range(4)])
    report = get(client, "validations", keys.admin, group="hour").json
    rows = {row["key"]: row for row in report["rows"]}
    assert rows["09"]["suppressed"] is True  # one pass, three scans
    assert rows["11"]["passes"] == 5
    assert rows["11"]["accepted"] == 5
    day = get(client, "validations", keys.admin, group="day").json["rows"]
    assert day == [{"key": DAY.isoformat(), "accepted": 8, "rejected": 0, "cannot_judge": 0,
                    "reasons": {}, "passes": 5, "suppressed": False}]


def test_hours_are_kanazawa_hours_and_late_scans_count_on_the_pass_day(
    client: FlaskClient, keys: Keys, data: Data
) -> None:
    # 00:30 on the next calendar day: the last bus, still the pass's service day
    data.scans([{"at": at(24, 30)} for _ in range(5)])
    report = get(client, "validations", keys.admin, group="hour").json
    assert [(row["key"], row["accepted"]) for row in report["rows"]] == [("00", 5)]
    day = get(client, "validations", keys.admin, group="day").json
    assert [row["key"] for row in day["rows"]] == [DAY.isoformat()]


def test_an_operator_sees_its_detail_and_consortium_totals(
    client: FlaskClient, keys: Keys, data: Data
) -> None:
    data.scans([{"operator": "hokutetsu", "at": at(10)} for _ in range(6)]
               + [{"operator": "jrbus", "at": at(10), "route": "jrbus-kodatsuno",
                   "stop": "kodatsuno"} for _ in range(7)])
    report = get(client, "validations", keys.hokutetsu, group="stop").json
    assert [row["key"] for row in report["rows"]] == ["korinbo-n"]
    assert report["consortium"][0]["accepted"] == 13
    hours = get(client, "validations", keys.hokutetsu, group="hour").json
    assert hours["rows"][0]["accepted"] == 6
    assert hours["consortium"][0]["accepted"] == 13
    by_operator = get(client, "validations", keys.admin, group="operator").json
    assert {row["key"]: row["accepted"] for row in by_operator["rows"]} == {
        "hokutetsu": 6, "jrbus": 7}
    mine = get(client, "validations", keys.jrbus, group="operator").json
    assert [row["key"] for row in mine["rows"]] == ["jrbus"]


def test_roll_ups_kept_at_ingestion_equal_a_rebuild(data: Data, db_session: Session) -> None:
    passes = [uuid.uuid4().hex for _ in range(7)]
    for batch in range(3):
        data.scans([{"pass_id": p, "at": at(8 + batch + n % 2), "stop": f"s{n % 3}",
                     "operator": ("hokutetsu", "jrbus")[n % 2],
                     "result": "reject" if n == 5 else "accept",
                     "code": "replay" if n == 5 else "accept"}
                    for n, p in enumerate(passes)])

    def cells() -> tuple[set[tuple[Any, ...]], set[tuple[Any, ...]]]:
        return ({(c.dim, c.day, c.operator_id, c.value, c.result, c.code, c.scans)
                 for c in db_session.scalars(select(ScanCell))},
                {(c.dim, c.day, c.operator_id, c.value, c.passes)
                 for c in db_session.scalars(select(PassCell))})

    kept = cells()
    assert services.rebuild_rollups(db_session) == 21
    assert cells() == kept


def test_ingestion_events_keep_the_roll_ups(app: Flask, db_session: Session) -> None:
    from validators import services as validators

    assert services.on_scans in app.extensions["maas"].events.handlers(ScansIngested)
    added = validators.add_device(db_session, "hokutetsu", "bus-3", None, fixed_clock)
    device, _token = validators.enroll(db_session, added.enrollment_code, fixed_clock)
    store = app_keys(app, db_session)
    phone = ec.generate_private_key(ec.SECP256R1())
    tokens = [issue_pass(db_session, store, "kanazawa-1day", DAY, "adult", phone.public_key(),
                         fixed_clock).token for _ in range(3)]
    records = [validators.ScanRecord(
        id=str(uuid.uuid4()), result="accept", code="accept", scanned_at=at(10, n),
        payload=credential.present(token, phone, at(10, n)))
        for n, token in enumerate(tokens)]
    # a device's word without a code that bears it out counts nowhere
    invented = [validators.ScanRecord(
        id=str(uuid.uuid4()), result="accept", code="accept", scanned_at=at(10, n),
        pass_id=uuid.uuid4().hex, product="kanazawa-1day", category="adult",
        service_date=DAY) for n in range(3)]
    keys = key_windows(store)
    validators.ingest_scans(db_session, device, records + invented, fixed_clock, keys)
    validators.ingest_scans(db_session, device, records, fixed_clock, keys)  # a retried upload
    cell = db_session.scalars(select(ScanCell).where(ScanCell.dim == "day")).one()
    assert (cell.operator_id, cell.scans, cell.result) == ("hokutetsu", 3, "accept")
    assert services.rebuild_rollups(db_session) == 6
    cell = db_session.scalars(select(ScanCell).where(ScanCell.dim == "day")).one()
    assert (cell.operator_id, cell.scans, cell.result) == ("hokutetsu", 3, "accept")


# --- sales -----------------------------------------------------------------------------------

def test_sales_by_kanazawa_day_product_and_category(
    client: FlaskClient, keys: Keys, data: Data
) -> None:
    for _ in range(5):
        data.order()
    data.order(paid_at=dt.datetime(2026, 11, 29, 15, 10, tzinfo=dt.UTC))  # 00:10 on 11-30
    data.order(status="refunded")
    for _ in range(2):
        data.order("kanazawa-1day-machinori", 650, category="child")
    report = get(client, "sales", keys.admin).json
    assert report["rows"] == [{"key": DAY.isoformat(), "passes": 8, "revenue_yen": 6100,
                               "suppressed": False}]
    products = get(client, "sales", keys.admin, group="product").json["rows"]
    assert products == [
        {"key": "kanazawa-1day", "passes": 6, "revenue_yen": 4800, "suppressed": False},
        {"key": "kanazawa-1day-machinori", "passes": None, "revenue_yen": None,
         "suppressed": True}]
    machinori = services.add_partner(data.session, "まちのり", "machinori", fixed_clock).api_key
    theirs = get(client, "sales", machinori, group="category").json
    assert theirs["rows"] == [{"key": "child", "passes": None, "revenue_yen": None,
                               "suppressed": True}]
    assert theirs["consortium"][0] == {"key": "adult", "passes": 6, "revenue_yen": 4800,
                                       "suppressed": False}


# --- apportionment ---------------------------------------------------------------------------

def test_apportionment_splits_revenue_to_the_yen(
    client: FlaskClient, keys: Keys, data: Data, app: Flask
) -> None:
    for _ in range(3):
        data.order()  # 2,400 yen of kanazawa-1day (hokutetsu, jrbus, flatbus)
    data.order(service_date=DAY - dt.timedelta(days=3))  # outside the period
    data.scans([{"operator": "hokutetsu"} for _ in range(6)]
               + [{"operator": "jrbus"} for _ in range(3)]
               + [{"operator": "jrbus", "result": "reject", "code": "expired"}])
    report = get(client, "apportionment", keys.admin).json
    assert report["revenue_yen"] == 2400
    assert report["base_share"] == 0.2
    shares = {share["operator"]: share for share in report["shares"]}
    # base 480 in thirds (160 each), usage 1,920 by validations 6:3:0
    assert {op: share["yen"] for op, share in shares.items()} == {
        "flatbus": 160, "hokutetsu": 1440, "jrbus": 800}
    assert shares["hokutetsu"]["validations"] == 6
    assert shares["flatbus"]["suppressed"] is True
    assert sum(share["yen"] for share in report["shares"]) == report["revenue_yen"]
    assert report["products"] == [{"product": "kanazawa-1day", "passes": 3,
                                   "revenue_yen": 2400,
                                   "operators": ["hokutetsu", "jrbus", "flatbus"]}]

    mine = get(client, "apportionment", keys.jrbus).json
    assert [(s["operator"], s["yen"]) for s in mine["shares"]] == [("jrbus", 800),
                                                                   ("(others)", 1600)]
    assert mine["shares"][1]["validations"] is None

    state = app.extensions["maas"]
    weighted = dataclasses.replace(state.settings, apportion_base_share=0.0,
                                   apportion_weights=(("jrbus", 2.0),))
    app.extensions["maas"] = dataclasses.replace(state, settings=weighted)
    report = get(client, "apportionment", keys.admin).json
    assert {s["operator"]: s["yen"] for s in report["shares"]} == {
        "flatbus": 0, "hokutetsu": 1200, "jrbus": 1200}
    text = get(client, "apportionment", keys.admin, format="csv").get_data(as_text=True)
    assert text.splitlines()[0].startswith("operator,yen,")


# --- fraud -----------------------------------------------------------------------------------

def test_fraud_flags_listed_for_the_administrator_only(
    client: FlaskClient, keys: Keys, data: Data, db_session: Session
) -> None:
    flagged = []
    for n in range(6):
        first, second = data.scans([{"at": at(10)}, {"at": at(10, 5)}])
        db_session.add(FraudFlag(pass_id=first.pass_id, service_date=DAY,
                                 reason="impossible_speed" if n else "two_vehicles",
                                 detail="test", first_scan_id=first.id,
                                 second_scan_id=second.id, operator_id="hokutetsu",
                                 speed_kmh=120.0, created_at=at(10, 6)))
        flagged.append(first.pass_id)
    db_session.commit()
    admin = get(client, "fraud", keys.admin).json
    assert admin["rows"] == [{"key": DAY.isoformat(), "flags": 6, "passes": 6,
                              "suppressed": False}]
    assert {flag["pass_id"] for flag in admin["flags"]} == set(flagged)
    mine = get(client, "fraud", keys.hokutetsu, group="reason")
    assert mine.json["flags"] is None
    assert mine.json["rows"] == [
        {"key": "impossible_speed", "flags": 5, "passes": 5, "suppressed": False},
        {"key": "two_vehicles", "flags": None, "passes": None, "suppressed": True}]
    assert get(client, "fraud", keys.jrbus).json["rows"] == []
    assert not any(pass_id in mine.get_data(as_text=True) for pass_id in flagged)


def test_no_pass_id_leaves_through_an_operator_s_statistics(
    client: FlaskClient, keys: Keys, data: Data
) -> None:
    scans = data.scans([{} for _ in range(6)])
    data.order()
    for endpoint in ENDPOINTS:
        for group in ("day", "device", "stop", "product", "hour", "reason", "modes"):
            response = get(client, endpoint, keys.hokutetsu, group=group)
            if response.status_code == 422:
                continue
            text = response.get_data(as_text=True)
            assert not any(scan.pass_id in text for scan in scans), (endpoint, group)
            assert data.rider not in text


# --- planner ---------------------------------------------------------------------------------

@pytest.fixture
def small_k(app: Flask) -> None:
    state = app.extensions["maas"]
    app.extensions["maas"] = dataclasses.replace(
        state, settings=dataclasses.replace(state.settings, stats_min_passes=2))


@pytest.mark.usefixtures("loaded_demo")
def test_plan_requests_are_recorded_as_coarse_zones(
    app: Flask, client: FlaskClient, keys: Keys, db_session: Session, small_k: None
) -> None:
    plan = "/api/v1/plan"
    depart = "2026-12-01T10:00:00+09:00"
    for _ in range(2):
        ok = client.get(plan, query_string={"from": "36.5781,136.6480", "to": "36.5622,136.6625",
                                            "depart": depart, "modes": "walk,bus"})
        assert ok.status_code == 200, ok.json
    by_stop = client.get(plan, query_string={"from": "stop:kanazawa-sta-east",
                                             "to": "stop:kenrokuen-shita", "depart": depart})
    assert by_stop.status_code == 200
    assert client.get(plan, query_string={"from": "nowhere", "to": "x"}).status_code == 422
    # each answer is a line in the worker's journal as it goes out (nothing waits in memory)
    # stored in one INSERT when due (every 2 s of traffic, by maas worker, or before counting)
    recorder = app.extensions["maas"].domains[PLAN_RECORDER]
    assert db_session.scalar(select(func.count()).select_from(PlanRequest)) == 0
    assert recorder.flush(db_session) == 3
    assert not recorder.journal.pending()
    rows = db_session.scalars(select(PlanRequest).order_by(PlanRequest.id)).all()
    assert len(rows) == 3
    assert len({row.entry for row in rows}) == 3
    assert not any(row.counted for row in rows)
    assert db_session.scalars(select(PlanCell)).all() == []
    assert rows[0].modes == "bus,walk"
    assert rows[0].origin_zone == "36.575,136.64375"
    assert rows[0].day == TODAY
    assert rows[0].hour == 9
    assert rows[2].modes == "default"
    assert rows[2].origin_zone is not None
    assert rows[2].destination_zone is not None
    for row in rows:
        assert "36.5781" not in str(row.origin_zone)

    unclosed = client.get(plan, query_string={"from": "36.5781,136.6480",
                                              "to": "36.5622,136.6625", "depart": depart})
    assert unclosed.status_code == 200  # not yet counted: the statistics count it before reading
    report = get(client, "planner", keys.jrbus, to=TODAY.isoformat()).json
    assert report["rows"] == [{"key": "09", "requests": 4, "suppressed": False}]
    assert {row["key"]: row["requests"] for row in report["modes"]} == {
        "bus,walk": 2, "default": 2}
    # the stop-to-stop request falls in the same ~1 km cells
    assert report["top_od"] == [{"origin_zone": "36.575,136.64375",
                                 "destination_zone": "36.565,136.65625", "requests": 4,
                                 "suppressed": False}]
    # each request is counted once, however often the cells are brought up to date
    assert roll_up_plan_requests(db_session) == 0
    assert get(client, "planner", keys.jrbus, to=TODAY.isoformat()).json["rows"][0][
        "requests"] == 4


# --- the simulator and the benchmark ---------------------------------------------------------

def test_simulated_days_fill_every_statistic_consistently(
    db_session: Session, runner: Runner
) -> None:
    from maas.demo.simulate import simulate

    made = simulate(db_session, 2, fixed_clock, passes_per_day=40)
    assert made.days == 2
    assert made.passes > 60
    assert made.scans > 8 * made.passes * 0.8
    again = simulate(db_session, 2, fixed_clock, passes_per_day=40)
    assert (again.days, again.skipped_days, again.scans) == (0, 2, 0)
    assert db_session.scalar(select(Pass.id).where(Pass.token == "simulated")) is not None

    def cells() -> set[tuple[Any, ...]]:
        return {(c.dim, c.day, c.operator_id, c.value, c.passes)
                for c in db_session.scalars(select(PassCell))}

    kept = cells()
    services.rebuild_rollups(db_session)
    assert cells() == kept

    result = runner.invoke("bench", "stats", "--repeat", "1", "--days", "3", "--json")
    assert result.exit_code == 0, result.output
    document = json.loads(result.output)
    assert set(document["endpoints"]) >= {"sales", "validations_day", "apportionment",
                                          "fraud", "planner"}
    assert document["scans"] == made.scans


@pytest.mark.parametrize("check", [
    lambda doc: "/api/v1/stats/apportionment" in doc["paths"],
    lambda doc: doc["paths"]["/api/v1/stats/sales"]["get"]["security"] == [{"partner": []}],
])
def test_openapi_documents_the_statistics(
    client: FlaskClient, check: Callable[[dict[str, Any]], bool]
) -> None:
    assert check(client.get("/api/v1/openapi.json").json)


def test_orders_paid_and_refunded_through_the_api_keep_the_sales_cells(
    client: FlaskClient, keys: Keys, db_session: Session
) -> None:
    from maas.stats.models import SalesCell

    client.post("/api/v1/riders", json={"email": "sales@example.jp", "password": "noto-line-9"})
    token = client.post("/api/v1/auth/token", json={"email": "sales@example.jp",
                                                    "password": "noto-line-9"}).json
    auth = {"Authorization": f"Bearer {token['access_token']}"}
    orders = []
    for n in range(6):
        response = client.post("/api/v1/orders", headers={**auth, "Idempotency-Key": f"s-{n}"},
                               json={"product": "kanazawa-1day", "service_date": "2026-12-02",
                                     "category": "adult",
                                     "payment": {"method": "sandbox",
                                                 "card_number": "4242424242424242"}})
        assert response.status_code == 201, response.json
        orders.append(response.json["order"]["id"])
    refund = client.post(f"/api/v1/orders/{orders[0]}/refund", headers=auth)
    assert refund.status_code == 200, refund.json
    [cell] = db_session.scalars(select(SalesCell)).all()
    assert (cell.paid_day, cell.service_date, cell.passes, cell.revenue_yen) == (
        TODAY, dt.date(2026, 12, 2), 5, 4000)
    sales = get(client, "sales", keys.admin, to=TODAY.isoformat(), **{"from": TODAY.isoformat()})
    assert sales.json["rows"] == [{"key": TODAY.isoformat(), "passes": 5, "revenue_yen": 4000,
                                   "suppressed": False}]
    shares = get(client, "apportionment", keys.admin, **{"from": "2026-12-02", "to": "2026-12-02"})
    assert shares.json["revenue_yen"] == 4000
    services.rebuild_rollups(db_session)
    assert db_session.scalars(select(SalesCell.passes)).all() == [5]


def test_demo_simulate_days_option(runner: Runner, monkeypatch: pytest.MonkeyPatch,
                                   db_session: Session) -> None:
    import functools

    from maas.demo import services as demo_services
    from maas.demo.simulate import simulate

    # the option's wiring, with a small day instead of 3,200 passes
    monkeypatch.setattr(demo_services, "simulate", functools.partial(simulate,
                                                                     passes_per_day=20))
    result = runner.invoke("demo", "--no-serve", "--simulate-days", "2", "--json")
    assert result.exit_code == 0, result.output
    simulated = json.loads(result.output)["simulated"]
    assert simulated["days"] == 2
    assert simulated["passes"] == db_session.scalar(
        select(func.count()).select_from(Pass).where(Pass.token == "simulated"))
    assert runner.invoke("demo", "--no-serve", "--simulate-days", "0").exit_code == 2
