"""Every bad input is a 4xx problem+json, never a 500 (issue 12, item 5), from the attacker's side.

The fuzz tests walk the application's URL map, so a route added later is attacked too: odd path
values and headers on every route, every declared query parameter and body field replaced by
hostile values one at a time (the rest kept valid, so the value reaches the service), whole
bodies nested 5,000 deep or not JSON at all, over-long URLs and headers. Each answer must be
below 500, and an error must be problem+json. Hypothesis then throws arbitrary text at the date
and time parameters.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
from collections.abc import Iterator
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pydantic import BaseModel, ValidationError
from sqlalchemy.orm import Session
from werkzeug.routing import Rule

from maas.core import jsonin
from maas.core.dates import EARLIEST, LATEST, Day, Moment
from maas.core.http import ENDPOINTS
from maas.core.limits import MAX_HEADER_FIELD_BYTES, MAX_HEADER_FIELDS, MAX_URL_BYTES
from passes import payments
from tests.conftest import fixed_clock

pytestmark = pytest.mark.usefixtures("loaded_demo")
PROBLEM = "application/problem+json"
PASSWORD = "kanazawa fuzz rides the 10 bus"


def latin1(text: str) -> str:
    """What UTF-8 text in a header looks like in a WSGI environ (bytes read as latin-1)."""
    return text.encode().decode("latin-1")


# values of a query parameter: extreme and impossible dates, numbers, odd text
QUERY_VALUES = [
    "", " ", "9999-12-31", "0001-01-01", "9999-12-31T23:59:59+09:00", "0001-01-01T00:00:00",
    "0001-01-01T00:00:00+09:00", "9999-12-31T23:59:59-23:59", "2026-02-30", "2026-12-01T25:00",
    "99999999999999999999", "-99999999999", "1e400", "-1e309", "nan", "inf", "-0", "\x00",
    "é", "金沢" * 300, "a" * 1500, "[]", "{}", "stop:", "stop:" + "x" * 500, "91,181",
    "0,0", "x,y", "stop:\x00", "%", "\ud800".encode("utf-8", "surrogatepass").decode("latin-1"),
]
# values of a JSON body field
BODY_VALUES: list[Any] = [
    None, True, 0, -1, 10**30, 1e308, -1e308, "", " ", "é", "\x00", "\ud800", "9999-12-31",
    "0001-01-01", "9999-12-31T23:59:59+09:00", "0001-01-01T00:00:00+00:00",
    "0001-01-01T00:00:00", "x" * 100_000, [], {}, [[[[[[[[[[[[[[[[[[[[1]]]]]]]]]]]]]]]]]]]],
    {"a": {"b": {"c": "d"}}}, ["9999-12-31"],
]
DEEP = [
    b"[" * 5000 + b"]" * 5000,
    b'{"a":' * 5000 + b"1" + b"}" * 5000,
    b'{"scans": ' + b"[" * 5000 + b"]" * 5000 + b"}",
    b"[" * 5000,  # unterminated as well
]
NOT_JSON = [b"", b"null", b"[]", b'"text"', b"\xff\xfe\x00", b'{"a": NaN}', b'{"a": Infinity}',
            b'{"a": 1e999999}', b"1" * 5000, b'{"a": "\\ud800"}', b"\xef\xbb\xbf{}",
            b'{"a": "' + b"\\" * 3 + b'"}']
PATH_VALUES = ["x", "é", "..", "%2e%2e%2fetc%2fpasswd", "a" * 300, "\x00", "金沢", "-1"]
HOSTILE_HEADERS: list[dict[str, str]] = [
    {"Authorization": latin1("Bearer 金沢")},
    {"Authorization": "Bearer \x00"},
    {"Authorization": "Bearer " + "x" * 4000},
    {"Authorization": "Basic Zm9vOmJhcg=="},
    {"Authorization": "Bearer"},
    {"X-Request-ID": latin1("é" * 200)},
    {"Idempotency-Key": latin1("金" * 100)},
    {"Idempotency-Key": "k" * 4000},
    {"Idempotency-Key": "a\x00b"},
    {"X-Request-ID": "\x00"},
    {"X-Sandbox-Signature": latin1("é")},
    {"X-Sandbox-Signature": "Ω"},
    {"If-None-Match": latin1('"金"')},
    {"Content-Type": latin1("application/json; charset=金")},
    {"Accept": "*/*" * 1000},
    {"Accept-Language": "\x00"},
]

# values that make each query or body valid, so that a hostile field reaches the service
QUERY_BASELINES: dict[str, dict[str, str]] = {
    "PlanQuery": {"from": "stop:kanazawa-sta-east", "to": "stop:katamachi",
                  "depart": "2026-12-01T09:00:00+09:00"},
    "StopSearch": {"q": "片町"},
    "NearQuery": {"lat": "36.5625", "lon": "136.6560"},
    "PlaceQuery": {"q": "けんろく", "near": "36.5781,136.6480", "lang": "en"},
    "NetworkQuery": {"lang": "en", "bbox": "136.60,36.53,136.70,36.62"},
}
PATH_BASELINES = {"stop_id": "katamachi", "code": "kanazawa-1day", "filename": "maas.css"}


@dataclasses.dataclass
class Credentials:
    rider: str
    partner: str
    device: str

    def for_route(self, security: tuple[str, ...]) -> dict[str, str]:
        token = {"rider": self.rider, "partner": self.partner, "device": self.device}
        for scheme in security:
            if scheme in token:
                return {"Authorization": f"Bearer {token[scheme]}"}
        return {}


@pytest.fixture
def credentials(client: FlaskClient, db_session: Session) -> Credentials:
    from maas.stats.services import add_partner
    from validators import services as devices

    email = "hostile-input@example.jp"  # the password must not contain the local part
    client.post("/api/v1/riders", json={"email": email, "password": PASSWORD})
    token = client.post("/api/v1/auth/token", json={"email": email, "password": PASSWORD})
    assert token.status_code == 200, token.get_json()
    partner = add_partner(db_session, "fuzz admin", None, fixed_clock).api_key
    code = devices.add_device(db_session, "hokutetsu", "bus-1", None, fixed_clock)
    _, device = devices.enroll(db_session, code.enrollment_code, fixed_clock)
    db_session.commit()
    return Credentials(token.get_json()["access_token"], partner, device)


@dataclasses.dataclass(frozen=True)
class Route:
    rule: Rule
    method: str
    query: type[BaseModel] | None
    body: type[BaseModel] | None
    security: tuple[str, ...]

    def path(self, **values: str) -> str:
        parts = {name: values.get(name, PATH_BASELINES.get(name, "x"))
                 for name in self.rule.arguments}
        path = self.rule.rule
        for name, value in parts.items():
            path = path.replace(f"<{name}>", value).replace(f"<path:{name}>", value)
        return path


def routes(app: Flask) -> Iterator[Route]:
    """Every route and method of the URL map, with what ``@endpoint`` declares of it."""
    for rule in app.url_map.iter_rules():
        spec = ENDPOINTS.get(app.view_functions[rule.endpoint])
        for method in sorted((rule.methods or set()) - {"HEAD", "OPTIONS"}):
            yield Route(rule, method, spec.query if spec else None, spec.body if spec else None,
                        spec.security if spec else ())


class Failures:
    """Collects every answer that breaks the rule, so one run shows them all."""

    def __init__(self) -> None:
        self.found: list[str] = []
        self.requests = 0

    def check(self, client: FlaskClient, method: str, path: str, **kwargs: Any) -> int:
        self.requests += 1
        with client.open(path, method=method, **kwargs) as response:
            return self._judge(response, method, path, kwargs)

    def _judge(self, response: Any, method: str, path: str, kwargs: dict[str, Any]) -> int:
        status: int = response.status_code
        if status >= 500:
            self.found.append(f"{status} {method} {path[:120]!r} {_short(kwargs)}: "
                              f"{response.get_data(as_text=True)[:200]}")
        elif status >= 400 and response.mimetype != PROBLEM:
            self.found.append(f"{status} {response.mimetype} {method} {path[:120]!r} "
                              f"{_short(kwargs)}")
        return status

    def assert_none(self) -> None:
        assert not self.found, f"{len(self.found)} of {self.requests}:\n" + "\n".join(
            self.found[:40])


def _short(kwargs: dict[str, Any]) -> str:
    return repr(kwargs)[:160]


def _body_baseline(model: type[BaseModel]) -> dict[str, Any]:
    baselines: dict[str, dict[str, Any]] = {
        "Credentials": {"email": "fuzz2@example.jp", "password": PASSWORD},
        "OrderIn": {"product": "kanazawa-1day", "service_date": "2026-12-02",
                    "category": "adult",
                    "payment": {"method": "sandbox", "card_number": payments.SUCCEEDS}},
        "DeviceIn": {"public_key": "A" * 44},
        "EnrollIn": {"code": "not-a-real-code"},
        "ValidationIn": {"payload": "not-a-code", "at": "2026-12-01T09:00:00+09:00"},
        "ScansIn": {"scans": [{"id": "fuzz-scan-1", "result": "accept", "code": "accept",
                               "scanned_at": "2026-12-01T09:00:00+09:00"}]},
    }
    return baselines.get(model.__name__, {})


def _fields(model: type[BaseModel]) -> list[str]:
    return [field.alias or name for name, field in model.model_fields.items()]


def test_every_route_survives_odd_paths_and_headers(
        app: Flask, client: FlaskClient, credentials: Credentials) -> None:
    failures = Failures()
    for route in routes(app):
        auth = credentials.for_route(route.security)
        for value in PATH_VALUES if route.rule.arguments else ["-"]:
            path = route.path(**dict.fromkeys(route.rule.arguments, value))
            failures.check(client, route.method, path, headers=auth)
        for headers in HOSTILE_HEADERS:
            failures.check(client, route.method, route.path(), headers={**auth, **headers})
        failures.check(client, route.method, route.path() + "?" + "&".join(
            f"{key}={value}" for key, value in
            [("garbage", "1"), ("from", "\x00"), ("%ff", "%fe"), ("a[]", "[]")]), headers=auth)
    failures.assert_none()


def test_every_query_parameter_survives_hostile_values(
        app: Flask, client: FlaskClient, credentials: Credentials) -> None:
    failures = Failures()
    for route in routes(app):
        if route.query is None:
            continue
        baseline = QUERY_BASELINES.get(route.query.__name__, {})
        auth = credentials.for_route(route.security)
        # the baseline reaches the service: the hostile values below are what fails, if any
        status = failures.check(client, route.method, route.path(), query_string=baseline,
                                headers=auth)
        assert status < 400, (route.rule.rule, status)
        for field in _fields(route.query):
            for value in QUERY_VALUES:
                failures.check(client, route.method, route.path(),
                               query_string={**baseline, field: value}, headers=auth)
    failures.assert_none()


def test_every_body_survives_hostile_json(
        app: Flask, client: FlaskClient, credentials: Credentials) -> None:
    failures = Failures()
    posts = [route for route in routes(app) if route.method in ("POST", "PUT", "PATCH")]
    assert posts
    for number, route in enumerate(posts):
        auth = {**credentials.for_route(route.security), "Idempotency-Key": f"fuzz-{number}"}
        for raw in DEEP + NOT_JSON:
            failures.check(client, route.method, route.path(), data=raw,
                           content_type="application/json", headers=auth)
        failures.check(client, route.method, route.path(), data=b"x" * (3 * 1024 * 1024),
                       content_type="application/json", headers=auth)
        failures.check(client, route.method, route.path(), data="{}", content_type="text/plain",
                       headers=auth)
        if route.body is None:
            continue
        baseline = _body_baseline(route.body)
        for field in _fields(route.body):
            for count, value in enumerate(BODY_VALUES):
                failures.check(client, route.method, route.path(),
                               data=json.dumps({**baseline, field: value}),
                               content_type="application/json",
                               headers={**auth, "Idempotency-Key": f"fuzz-{number}-{field}-"
                                                                   f"{count}"})
    failures.assert_none()


def test_scan_fields_survive_hostile_values(client: FlaskClient,
                                            credentials: Credentials) -> None:
    from validators.views import ScanIn

    failures = Failures()
    auth = credentials.for_route(("device",))
    good = {"id": "fuzz-scan-2", "result": "accept", "code": "accept",
            "scanned_at": "2026-12-01T09:00:00+09:00"}
    for field in _fields(ScanIn):
        for value in BODY_VALUES:
            failures.check(client, "POST", "/api/v1/scans",
                           data=json.dumps({"scans": [{**good, field: value}]}),
                           content_type="application/json", headers=auth)
    failures.assert_none()


def test_deep_json_is_a_422_naming_the_body(client: FlaskClient) -> None:
    response = client.post("/api/v1/riders", data=DEEP[0], content_type="application/json")
    assert response.status_code == 422
    assert response.mimetype == PROBLEM
    body = response.get_json()
    assert body["errors"] == [{"field": "body", "message": body["errors"][0]["message"]}]
    assert "more than 32 levels" in body["detail"]


def test_a_body_over_the_limit_is_a_413_naming_the_body(client: FlaskClient) -> None:
    response = client.post("/api/v1/riders", data=b"[" + b"1," * (1024 * 1024) + b"1]",
                           content_type="application/json")
    assert response.status_code == 413
    assert response.mimetype == PROBLEM
    assert [error["field"] for error in response.get_json()["errors"]] == ["body"]


@pytest.mark.parametrize("signature", [latin1("é"), "é", "Ω", "\x7f\x01", "0" * 5000, ""])
def test_webhook_signatures_in_odd_characters_are_401(client: FlaskClient,
                                                      signature: str) -> None:
    response = client.post("/api/v1/payments/webhook", data=b'{"type": "charge.succeeded"}',
                           headers={"X-Sandbox-Signature": signature})
    assert response.status_code == 401
    assert response.mimetype == PROBLEM


def test_sandbox_verify_takes_any_text() -> None:
    provider = payments.SandboxProvider("secret")
    body = b'{"type": "charge.succeeded", "reference": "x"}'
    assert provider.verify(body, provider.sign(body).upper() + " ")
    for odd in ("é", "金沢", "\ud800", "\x00" * 64):
        assert not provider.verify(body, odd)


@pytest.mark.parametrize(("path", "field"), [
    ("/api/v1/stats/sales?from=9999-12-31", "from"),
    ("/api/v1/stats/sales?to=0001-01-01", "to"),
    ("/api/v1/stats/apportionment?from=0001-01-01&to=2026-11-30", "from"),
    ("/api/v1/plan?from=stop:katamachi&to=stop:korinbo&arrive=0001-01-01", "arrive"),
    ("/api/v1/plan?from=stop:katamachi&to=stop:korinbo&depart=9999-12-31T23:59:59%2B09:00",
     "depart"),
    ("/api/v1/stops/katamachi/departures?at=9999-12-31T23:59:59", "at"),
])
def test_dates_the_service_cannot_represent_are_422_naming_the_field(
        client: FlaskClient, credentials: Credentials, path: str, field: str) -> None:
    response = client.get(path, headers=credentials.for_route(("partner",)))
    assert response.status_code == 422, response.get_json()
    assert response.mimetype == PROBLEM
    assert [error["field"] for error in response.get_json()["errors"]] == [field]
    assert "between 1900-01-01 and 2999-12-31" in response.get_json()["errors"][0]["message"]


def test_the_range_ends_themselves_are_served(client: FlaskClient,
                                              credentials: Credentials) -> None:
    auth = credentials.for_route(("partner",))
    for start, end in ((EARLIEST, EARLIEST), (LATEST, LATEST)):
        response = client.get(f"/api/v1/stats/sales?from={start}&to={end}", headers=auth)
        assert response.status_code == 200, response.get_json()
    for moment in ("1900-01-01T00:00:00+09:00", "2999-12-31T23:59:59-12:00"):
        response = client.get("/api/v1/plan", query_string={
            "from": "stop:katamachi", "to": "stop:korinbo", "depart": moment})
        assert response.status_code in (200, 404), response.get_json()
        assert response.status_code == 200 or response.mimetype == PROBLEM


def test_over_long_urls_are_414_and_over_long_headers_431(client: FlaskClient) -> None:
    long_url = client.get("/api/v1/health?" + "a" * MAX_URL_BYTES)
    assert (long_url.status_code, long_url.mimetype) == (414, PROBLEM)
    assert str(MAX_URL_BYTES) in long_url.get_json()["detail"]
    assert client.get("/api/v1/health?" + "a" * (MAX_URL_BYTES - 100)).status_code == 200
    long_header = client.get("/app", headers={"X-Padding": "x" * MAX_HEADER_FIELD_BYTES})
    assert (long_header.status_code, long_header.mimetype) == (431, PROBLEM)
    assert "X-Padding" in long_header.get_json()["detail"]
    many = client.get("/api/v1/health",
                      headers={f"X-Field-{n}": "1" for n in range(MAX_HEADER_FIELDS + 1)})
    assert (many.status_code, many.mimetype) == (431, PROBLEM)
    # the security headers and the request id are on these answers too
    assert long_url.headers["X-Content-Type-Options"] == "nosniff"
    assert long_url.headers["X-Request-ID"]


# --- property tests: any text in a date or time parameter is 2xx or 4xx, never 500 -----------

class _Dates(BaseModel):
    day: Day
    moment: Moment


@given(st.one_of(st.text(), st.dates().map(str), st.datetimes(
    timezones=st.timezones()).map(lambda moment: moment.isoformat())))
def test_any_text_parses_to_an_in_range_value_or_a_validation_error(text: str) -> None:
    for field in ("day", "moment"):
        other = {"day": "2026-12-01", "moment": "2026-12-01T09:00:00"}
        try:
            parsed = _Dates.model_validate({**other, field: text})
        except ValidationError:
            continue
        value = getattr(parsed, field)
        day = value.date() if isinstance(value, dt.datetime) else value
        assert EARLIEST <= day <= LATEST
        # what the services do with a client's date or time must not overflow
        if isinstance(value, dt.datetime):
            aware = value if value.tzinfo else value.replace(tzinfo=dt.UTC)
            aware.astimezone(dt.UTC)
            aware.timestamp()
        day + dt.timedelta(days=400)
        day - dt.timedelta(days=400)


DATE_TEXT = st.one_of(
    st.text(max_size=40),
    st.dates().map(str),
    st.datetimes(timezones=st.timezones()).map(lambda moment: moment.isoformat()),
    st.integers().map(str),
    st.floats().map(str),
)


@settings(max_examples=150, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(text=DATE_TEXT)
def test_any_text_in_a_date_parameter_is_never_a_500(
        client: FlaskClient, credentials: Credentials, text: str) -> None:
    partner = credentials.for_route(("partner",))
    plan = {"from": "stop:kanazawa-sta-east", "to": "stop:katamachi"}
    for path, query, headers in (
            ("/api/v1/stats/validations", {"from": text}, partner),
            ("/api/v1/stats/sales", {"to": text}, partner),
            ("/api/v1/plan", {**plan, "depart": text}, {}),
            ("/api/v1/plan", {**plan, "arrive": text}, {}),
            ("/api/v1/stops/katamachi/departures", {"at": text}, {})):
        response = client.get(path, query_string=query, headers=headers)
        assert response.status_code < 500, (path, query, response.get_data(as_text=True))
        if response.status_code >= 400:
            assert response.mimetype == PROBLEM


# --- the JSON reader -----------------------------------------------------------------------

@pytest.mark.parametrize(("text", "depth"), [
    (b"1", 0), (b"[]", 1), (b'{"a": [1, {"b": []}]}', 4), (b'["[[[[", "]]"]', 1),
    (b'["\\"[[["]', 1), (b'["\\\\", ["\\\\"]]', 2), (b"[" * 40 + b"]" * 40, 40),
    (b'{"a": "\\u005b\\n{"}', 1),
])
def test_nesting_counts_brackets_outside_strings(text: bytes, depth: int) -> None:
    assert not jsonin.nesting_exceeds(text, depth)
    assert jsonin.nesting_exceeds(text, depth - 1) == (depth > 0)


def test_loads_is_strict_and_bounded() -> None:
    assert jsonin.loads(b'{"a": [1, 2.5, "\xe9\x87\x91"]}') == {"a": [1, 2.5, "金"]}
    with pytest.raises(jsonin.JsonTooDeep):
        jsonin.loads(b"[" * 33 + b"]" * 33)
    assert jsonin.loads(b"[" * 32 + b"]" * 32) is not None
    assert jsonin.loads(b'["\\ud83d\\ude83", "\\\\ud800"]') == ["\U0001f683", "\\ud800"]
    for bad in (b'{"a": NaN}', b"\xff", b"[1,]", b"-Infinity", b'["\\ud800"]', b'{"\\udfff": 1}',
                b'{"a": ["\\u0000"]}'):
        with pytest.raises(ValueError):  # noqa: PT011 - every kind of not-JSON
            jsonin.loads(bad)


@given(st.recursive(st.none() | st.booleans() | st.integers() | st.text(),
                    lambda inner: st.lists(inner) | st.dictionaries(st.text(), inner)))
def test_the_depth_check_agrees_with_the_structure(value: Any) -> None:
    def nesting(item: Any) -> int:
        if isinstance(item, list):
            return 1 + max(map(nesting, item), default=0)
        if isinstance(item, dict):
            return 1 + max(map(nesting, item.values()), default=0)
        return 0

    depth = nesting(value)
    for text in (json.dumps(value, ensure_ascii=False).encode(), json.dumps(value).encode()):
        for limit in range(max(0, depth - 2), depth + 3):
            assert jsonin.nesting_exceeds(text, limit) == (depth > limit)


def test_nul_characters_never_reach_the_database(client: FlaskClient,
                                                 credentials: Credentials) -> None:
    query = client.get("/api/v1/stops", query_string={"q": "片\x00町"})
    assert (query.status_code, query.mimetype) == (422, PROBLEM)
    assert [error["field"] for error in query.get_json()["errors"]] == ["q"]
    path = client.get("/api/v1/passes/a%00b/qr.svg")
    assert (path.status_code, path.mimetype) == (404, PROBLEM)
    header = client.post("/api/v1/orders", json={}, headers={
        **credentials.for_route(("rider",)), "Idempotency-Key": "a\x00b"})
    assert (header.status_code, header.mimetype) == (400, PROBLEM)
    assert "Idempotency-Key" in header.get_json()["detail"]
    body = client.post("/api/v1/auth/token", json={"email": "a@example.jp",
                                                   "password": "x\x00y"})
    assert (body.status_code, body.mimetype) == (422, PROBLEM)
    assert [error["field"] for error in body.get_json()["errors"]] == ["body"]
