"""GET /api/v1/health answered in front of Flask (maas.app.QuickHealth): the same response,
access line and metrics as the view, and everything else left to Flask."""

from __future__ import annotations

import datetime as dt
import inspect
import logging
import time
from collections.abc import Iterator
from typing import Any

import orjson
import pytest
from flask import Flask
from prometheus_client import REGISTRY
from sqlalchemy import create_engine
from werkzeug.test import EnvironBuilder

from maas.app import QuickHealth
from maas.core.logs import RequestIdFilter, request_id_var
from maas.metrics import WARM_UP
from maas.services import HEALTH, HealthCache, cached_health
from maas.views import HealthBody

Answer = tuple[str, list[tuple[str, str]], bytes]


def quick_of(app: Flask) -> QuickHealth:
    """The QuickHealth wrapper in the app's WSGI chain."""
    layer: Any = app.wsgi_app
    while not isinstance(layer, QuickHealth):
        layer = layer.app
    return layer


class CountingFlask:
    """Flask's own WSGI app behind QuickHealth, counting what reaches it."""

    def __init__(self, quick: QuickHealth) -> None:
        self.inner = quick.app
        self.calls = 0
        quick.app = self

    def __call__(self, environ: Any, start_response: Any) -> Any:
        self.calls += 1
        return self.inner(environ, start_response)


@pytest.fixture
def flask_calls(app: Flask) -> Iterator[CountingFlask]:
    quick = quick_of(app)
    counting = CountingFlask(quick)
    yield counting
    quick.app = counting.inner


def call(app: Flask, method: str = "GET", path: str = "/api/v1/health", query: str = "",
         headers: dict[str, str] | None = None, environ: dict[str, Any] | None = None
         ) -> Answer:
    """One request through the app's whole WSGI chain: status, headers, body."""
    built = EnvironBuilder(path=path, method=method, query_string=query,
                           headers=list((headers or {}).items())).get_environ()
    built.update(environ or {})
    seen: list[tuple[str, list[tuple[str, str]]]] = []

    def start_response(status: str, response_headers: list[tuple[str, str]],
                       exc_info: Any = None) -> Any:
        seen.append((status, list(response_headers)))
        return lambda _data: None

    chunks = app.wsgi_app(built, start_response)
    try:
        body = b"".join(chunks)
    finally:
        close = getattr(chunks, "close", None)
        if close is not None:
            close()
    status, response_headers = seen[0]
    return status, response_headers, body


def served(status: str = "200") -> float:
    value = REGISTRY.get_sample_value(
        "maas_http_requests_total",
        {"endpoint": "/api/v1/health", "method": "GET", "status": status})
    return value or 0.0


@pytest.fixture
def access_lines(caplog: pytest.LogCaptureFixture) -> Iterator[pytest.LogCaptureFixture]:
    """The access log's records (``.records``), with the request id each was written under."""
    caplog.set_level(logging.INFO, logger="maas.access")
    request_ids = RequestIdFilter()
    caplog.handler.addFilter(request_ids)
    yield caplog
    caplog.handler.removeFilter(request_ids)


@pytest.mark.usefixtures("loaded_demo")
def test_the_quick_answer_is_flasks_byte_for_byte(
        app: Flask, flask_calls: CountingFlask, access_lines: pytest.LogCaptureFixture,
        monkeypatch: pytest.MonkeyPatch) -> None:
    assert call(app)[0] == "200 OK"  # Flask's answer fills the cache (the schema check)
    assert flask_calls.calls == 1
    before = served()
    access_lines.clear()
    quick = call(app, headers={"X-Request-ID": "lb-check-1"})
    assert flask_calls.calls == 1  # answered in front of Flask
    monkeypatch.setattr(QuickHealth, "answer", lambda *_: None)  # Flask answers everything
    flask = call(app, headers={"X-Request-ID": "lb-check-1"})
    assert flask_calls.calls == 2
    assert quick == flask  # status, every header in order (security headers too), body
    names = [name for name, _ in quick[1]]
    assert names[:3] == ["Content-Type", "Content-Length", "X-Request-ID"]
    assert "Content-Security-Policy" in names
    assert served() == before + 2  # each counted once, under the URL rule
    lines = [(r.getMessage(), r.__dict__["status"], r.__dict__["request_id"])
             for r in access_lines.records]
    assert lines == [("GET /api/v1/health 200", 200, "lb-check-1")] * 2
    assert all(r.__dict__["ms"] >= 0 for r in access_lines.records)


@pytest.mark.usefixtures("loaded_demo")
def test_the_quick_access_record_is_the_one_logger_info_makes(
        app: Flask, flask_calls: CountingFlask, access_lines: pytest.LogCaptureFixture) -> None:
    call(app)
    access_lines.clear()
    call(app, headers={"X-Request-ID": "lb-check-2"})
    assert flask_calls.calls == 1
    token = request_id_var.set("lb-check-2")
    try:
        logging.getLogger("maas.access").info("%s %s %s", "GET", "/api/v1/health", 200,
                                              extra={"status": 200, "ms": 0.25})
    finally:
        request_id_var.reset(token)
    quick, info = (vars(record) for record in access_lines.records)
    assert list(quick) == list(info)  # every attribute, in the same order
    made_here = {"created", "msecs", "relativeCreated", "pathname", "filename", "module",
                 "lineno", "funcName", "ms", "asctime"}
    assert {key: value for key, value in quick.items() if key not in made_here} == {
        key: value for key, value in info.items() if key not in made_here}
    assert (quick["pathname"], quick["filename"], quick["module"], quick["funcName"]) == (
        inspect.getsourcefile(QuickHealth), "app.py", "app", "answer")
    lines, first = inspect.getsourcelines(QuickHealth.answer)
    assert first < quick["lineno"] < first + len(lines)
    assert quick["ms"] >= 0


@pytest.mark.usefixtures("loaded_demo")
def test_a_request_without_an_id_gets_one_of_its_own(
        app: Flask, flask_calls: CountingFlask) -> None:
    call(app)
    first, second = (call(app, headers={"X-Request-ID": "bad id with spaces"})
                     for _ in range(2))
    assert flask_calls.calls == 1
    ids = [dict(answer[1])["X-Request-ID"] for answer in (first, second)]
    assert all(len(found) == 32 for found in ids)
    assert ids[0] != ids[1]


@pytest.mark.usefixtures("loaded_demo")
@pytest.mark.parametrize(("method", "path", "query", "headers", "status"), [
    ("POST", "/api/v1/health", "", {}, "405 METHOD NOT ALLOWED"),
    ("HEAD", "/api/v1/health", "", {}, "200 OK"),
    ("GET", "/api/v1/health/", "", {}, "404 NOT FOUND"),
    ("GET", "/api/v1/healthz", "", {}, "404 NOT FOUND"),
    ("GET", "/api/v1/health", "deep=1", {}, "200 OK"),
    ("GET", "/api/v1/health", "deep=maybe", {}, "422 UNPROCESSABLE ENTITY"),
    ("GET", "/api/v1/health", "", {"X-Note": "a\x00b"}, "400 BAD REQUEST"),
    ("GET", "/api/v1/health", "", {"X-Note": "x" * 9000}, "431 REQUEST HEADER FIELDS TOO LARGE"),
])
def test_everything_else_is_flasks(app: Flask, flask_calls: CountingFlask, method: str,
                                   path: str, query: str, headers: dict[str, str],
                                   status: str) -> None:
    call(app)  # the cache could answer a plain check now
    assert flask_calls.calls == 1
    assert call(app, method, path, query, headers)[0] == status
    assert flask_calls.calls == 2


@pytest.mark.usefixtures("loaded_demo")
def test_a_cache_that_must_ask_the_database_leaves_the_check_to_flask(
        app: Flask, flask_calls: CountingFlask) -> None:
    cache = app.extensions["maas"].domains[HEALTH]
    call(app)
    assert flask_calls.calls == 1
    cache.revision = None  # as in a process whose schema check has not passed
    assert call(app)[0] == "200 OK"
    assert flask_calls.calls == 2
    assert cache.revision is not None
    moment, feeds, realtime = cache.feeds
    cache.feeds = (moment - cache.FEEDS_TTL - 1, feeds, realtime)  # stale feeds
    assert call(app)[0] == "200 OK"
    assert flask_calls.calls == 3
    assert cache.feeds[0] > moment  # Flask's view read them again
    assert call(app)[0] == "200 OK"
    assert flask_calls.calls == 3


@pytest.mark.usefixtures("loaded_demo")
def test_the_servers_own_warm_up_check_is_not_counted(
        app: Flask, flask_calls: CountingFlask, access_lines: pytest.LogCaptureFixture) -> None:
    call(app)
    before = served()
    access_lines.clear()
    status, headers, _ = call(app, headers={"X-Request-ID": "warm-up"},
                                   environ={WARM_UP: True})
    assert (status, flask_calls.calls) == ("200 OK", 1)
    assert dict(headers)["X-Request-ID"] == "warm-up"
    assert served() == before
    assert [r.__dict__["request_id"] for r in access_lines.records] == ["warm-up"]


@pytest.mark.usefixtures("loaded_demo")
def test_a_feed_change_changes_the_quick_body(app: Flask, flask_calls: CountingFlask) -> None:
    cache = app.extensions["maas"].domains[HEALTH]
    call(app)
    _, _, body = call(app)
    moment, feeds, realtime = cache.feeds
    cache.feeds = (moment, [{**feeds[0], "version": "0123456789ab"}, *feeds[1:]], realtime)
    _, _, changed = call(app)
    assert flask_calls.calls == 1
    assert b'"version":"0123456789ab"' in changed
    assert b'"version":"0123456789ab"' not in body


def test_the_checks_of_one_second_share_one_report_and_one_body() -> None:
    engine = create_engine("sqlite://")  # only its dialect's name is read
    now = [dt.datetime(2026, 12, 1, 0, 3, 0, 100, tzinfo=dt.UTC)]

    def clock() -> dt.datetime:
        return now[0]

    cache, body = HealthCache(), HealthBody()
    cache.revision = "abc123"
    feed = {"kind": "gtfs", "name": "kanazawa", "version": "0123456789ab",
            "loaded_at": "2026-11-30T09:00:00+09:00"}
    cache.feeds = (time.monotonic(), [feed], [])

    def check() -> Any:
        report = cached_health(engine, clock, cache)
        assert report is not None
        written = body(report)
        assert written == HealthBody()(report)  # as a body written from scratch
        return report, orjson.loads(written)

    first, document = check()
    assert document["time"] == "2026-12-01T09:03:00+09:00"
    assert document["database"] == {"status": "ok", "backend": "sqlite", "revision": "abc123"}
    now[0] = now[0].replace(microsecond=999_999)
    assert check()[0] is first  # the same second
    now[0] += dt.timedelta(microseconds=1)
    later, document = check()
    assert later is not first
    assert document["time"] == "2026-12-01T09:03:01+09:00"
    now[0] = now[0].astimezone(dt.timezone(dt.timedelta(hours=9)))  # the same instant
    assert check()[0] is later
    cache.feeds = (cache.feeds[0], [{**feed, "name": "bronx"}], [])
    feeds, document = check()
    assert feeds is not later
    assert document["feeds"][0]["name"] == "bronx"
    cache.revision = "def456"
    revised, document = check()
    assert revised is not feeds
    assert document["database"]["revision"] == "def456"
    assert document["time"] == "2026-12-01T09:03:01+09:00"
