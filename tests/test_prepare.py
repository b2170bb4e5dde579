"""What gunicorn's master builds before forking and each worker reads at boot
(maas.app.prepare_workers / prepare_worker, called from maas.gunicorn_conf)."""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Callable

import pytest
from flask import Flask
from prometheus_client import REGISTRY
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from gtfs.network import networks_of
from gtfs.planner import service_time
from maas.app import prepare_worker, prepare_workers
from maas.core.logs import RequestIdFilter
from maas.ratelimits import LIMITER
from maas.services import HEALTH
from maas.stats.models import PlanRequest
from maas.stats.services import PLAN_RECORDER
from tests.conftest import fixed_clock


@pytest.mark.usefixtures("loaded_demo")
def test_the_master_builds_the_network_day_views_and_health_state(
        app: Flask, db_session: Session) -> None:
    state = app.extensions["maas"]
    store = networks_of(state)
    timetable = store.current(db_session)
    assert timetable is not None
    timetable.meta.pop("_day_views", None)
    timetable.meta.pop("_places", None)
    state.domains[HEALTH].revision = None
    stored = db_session.scalar(select(func.count()).select_from(PlanRequest))
    prepare_workers(app)
    day, _ = service_time(timetable, fixed_clock())
    assert set(timetable.meta["_day_views"]) >= {day - dt.timedelta(days=1), day,
                                                  day + dt.timedelta(days=1)}
    assert timetable.meta["_places"]  # the document's indexes were built by a real query
    assert state.domains[HEALTH].revision is not None
    # nothing was counted as a rider's request (the warm-up query publishes nothing)
    assert db_session.scalar(select(func.count()).select_from(PlanRequest)) == stored
    prepare_worker(app)  # a worker re-reads what requests re-read every few seconds
    assert store.current(db_session) is timetable


def test_preparing_without_a_migrated_database_is_logged_not_fatal(
        tmp_path: object, caplog: pytest.LogCaptureFixture) -> None:
    from maas.app import create_app

    app = create_app({"env": "test", "home": tmp_path})  # never migrated
    prepare_workers(app)
    prepare_worker(app)
    assert "not prepared" in caplog.text
    app.extensions["maas"].engine.dispose()


def requests_counted(endpoint: str) -> float:
    """Requests of ``endpoint`` in this process's metrics, any status."""
    return sum(sample.value for family in REGISTRY.collect() for sample in family.samples
               if sample.name == "maas_http_requests_total"
               and sample.labels.get("endpoint") == endpoint)


@pytest.mark.usefixtures("loaded_demo")
@pytest.mark.parametrize("prepare", [prepare_workers, prepare_worker])
def test_warm_up_requests_are_the_servers_own(
        app: Flask, db_session: Session, caplog: pytest.LogCaptureFixture,
        prepare: Callable[[Flask], None]) -> None:
    state = app.extensions["maas"]
    recorder = state.domains[PLAN_RECORDER]
    stored = db_session.scalar(select(func.count()).select_from(PlanRequest))
    counted = {path: requests_counted(path) for path in ("/api/v1/health", "/api/v1/plan")}
    caplog.set_level(logging.INFO, logger="maas.access")
    request_ids = RequestIdFilter()
    caplog.handler.addFilter(request_ids)
    try:
        prepare(app)
    finally:
        caplog.handler.removeFilter(request_ids)
    lines = [(r.getMessage(), r.__dict__["request_id"]) for r in caplog.records
             if r.name == "maas.access"]
    assert lines == [
        ("GET /api/v1/health 200", "warm-up"),
        # a real plan: the first route's first stop to a stop halfway along
        ("GET /api/v1/plan?from=stop:kanazawa-sta-east-7&to=stop:hondamachi 200", "warm-up"),
    ]
    # neither in the statistics (journal or table) nor in /metrics
    assert recorder.journal is not None
    assert not recorder.journal.pending()
    assert db_session.scalar(select(func.count()).select_from(PlanRequest)) == stored
    assert {path: requests_counted(path) for path in counted} == counted
    # the rate limiter counted the plan for no real client's address
    counts = app.extensions[LIMITER].storage.storage
    assert any("address:warm-up" in key for key in counts)
    assert not any("127.0.0.1" in key for key in counts)


@pytest.mark.usefixtures("loaded_demo")
def test_a_workers_first_plan_does_not_flush_the_journal(
        app: Flask, db_session: Session) -> None:
    recorder = app.extensions["maas"].domains[PLAN_RECORDER]
    recorder.interval = 0.0  # any plan would find a flush due
    prepare_worker(app)
    stored = db_session.scalar(select(func.count()).select_from(PlanRequest))
    client = app.test_client()
    query = {"from": "stop:korinbo", "to": "stop:nomachi", "depart": "2026-12-01T09:00:00+09:00"}
    assert client.get("/api/v1/plan", query_string=query).status_code == 200
    assert recorder.journal is not None
    assert recorder.journal.pending()  # in the journal, not stored yet
    assert db_session.scalar(select(func.count()).select_from(PlanRequest)) == stored
    assert client.get("/api/v1/plan", query_string=query).status_code == 200
    assert not recorder.journal.pending()  # the second found the flush due
    assert db_session.scalar(select(func.count()).select_from(PlanRequest)) == stored + 2
