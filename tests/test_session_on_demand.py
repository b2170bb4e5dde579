"""SessionOnDemand: a request's session opened only when a service uses it (maas.core.db)."""

from __future__ import annotations

from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import text
from sqlalchemy.orm import Session, sessionmaker

from gtfs.network import networks_of
from maas.core.db import SessionOnDemand, create_db_engine, session_factory
from maas.core.events import SESSION_KEY, Events, publish


class Counting:
    """A session factory that counts the sessions it made."""

    def __init__(self, factory: sessionmaker[Session]) -> None:
        self.factory = factory
        self.kw = factory.kw
        self.made: list[Session] = []

    def __call__(self) -> Session:
        session = self.factory()
        self.made.append(session)
        return session


@pytest.fixture
def factory(tmp_path: Any) -> Any:
    engine = create_db_engine(f"sqlite:///{tmp_path / 'x.sqlite3'}")
    events = Events()
    seen: list[object] = []
    events.subscribe(str, lambda session, event: seen.append((session, event)))
    counting = Counting(session_factory(engine, events))
    yield counting, events, seen
    engine.dispose()


def test_events_reach_their_handlers_without_opening_a_session(factory: Any) -> None:
    counting, events, seen = factory
    session = SessionOnDemand(counting)  # type: ignore[arg-type]
    assert session.info[SESSION_KEY] is events
    publish(session, "planned")  # type: ignore[arg-type]
    session.close()
    assert seen == [(session, "planned")]
    assert counting.made == []
    assert session.opened is None


def test_the_first_use_opens_one_session_which_close_closes(factory: Any) -> None:
    counting, events, _ = factory
    session = SessionOnDemand(counting)  # type: ignore[arg-type]
    session.info["mine"] = 1
    assert session.execute(text("SELECT 41 + 1")).scalar_one() == 42
    assert session.scalar(text("SELECT 2")) == 2
    assert len(counting.made) == 1
    real = session.opened
    assert real is counting.made[0]
    # what was written to info before it opened is the session's
    assert real.info["mine"] == 1
    assert real.info[SESSION_KEY] is events
    assert session.info is real.info
    assert real.in_transaction()
    session.close()
    assert not real.in_transaction()


def test_close_of_an_unused_session_does_nothing(factory: Any) -> None:
    counting, _, _ = factory
    SessionOnDemand(counting).close()  # type: ignore[arg-type]
    assert counting.made == []


@pytest.mark.usefixtures("loaded_demo")
def test_a_plan_served_from_the_caches_opens_no_session(
        app: Flask, client: FlaskClient, monkeypatch: pytest.MonkeyPatch) -> None:
    made: list[SessionOnDemand] = []

    class Recorded(SessionOnDemand):
        def __init__(self, factory: sessionmaker[Session]) -> None:
            super().__init__(factory)
            made.append(self)

    monkeypatch.setattr("maas.core.http.SessionOnDemand", Recorded)
    query = {"from": "stop:kanazawa-sta-east-7", "to": "stop:hondamachi",
             "depart": "2026-12-01T08:00:00+09:00"}
    first = client.get("/api/v1/plan", query_string=query)
    assert first.status_code == 200
    second = client.get("/api/v1/plan", query_string=query)
    assert second.status_code == 200
    assert second.get_json()["itineraries"] == first.get_json()["itineraries"]
    assert len(made) == 2
    assert made[1].opened is None  # the network, realtime and mobility caches answered
    # once the active feeds are due to be read again, the request opens the session
    networks_of(app.extensions["maas"]).forget_active()
    third = client.get("/api/v1/plan", query_string=query)
    assert third.status_code == 200
    assert third.get_json()["itineraries"] == first.get_json()["itineraries"]
    assert made[2].opened is not None
