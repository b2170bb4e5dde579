"""Concurrent duplicate orders on PostgreSQL: one order, one charge, one pass.

This runs on its own PostgreSQL database with real commits: SQLite serialises writers, and
the shared test database keeps each test inside a rolled-back transaction.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from sqlalchemy import func, select

from gtfs.network import networks_of
from maas.app import create_app
from maas.core.db import upgrade
from maas.demo.services import load_demo
from passes.models import Order, Pass
from tests.conftest import fixed_clock
from tests.test_orders import order, rider


@pytest.fixture
def committed_app(tmp_path: Path, request: pytest.FixtureRequest) -> Iterator[Flask]:
    """An app on a fresh PostgreSQL database of its own."""
    if not os.environ.get("MAAS_TEST_DATABASE_URL"):
        # scripts/test sets it whenever PostgreSQL answers, and CI must (CI=true fails without)
        pytest.skip("needs PostgreSQL (MAAS_TEST_DATABASE_URL)")
    make: Callable[[], str] = request.getfixturevalue("make_postgres_database")
    app = create_app({"env": "test", "home": tmp_path, "database_url": make(),
                      "clock": fixed_clock})
    state = app.extensions["maas"]
    upgrade(state.engine)
    with state.sessions() as session:
        load_demo(session, networks_of(state), fixed_clock)
    yield app
    state.engine.dispose()


def test_concurrent_duplicates_make_one_order_one_charge_one_pass(
    committed_app: Flask,
) -> None:
    client = committed_app.test_client()
    auth = rider(client, "race@example.jp")
    results: list[Any] = []
    barrier = threading.Barrier(8)

    def buy() -> None:
        local = committed_app.test_client()
        barrier.wait()
        results.append(order(local, auth, "race-key"))

    threads = [threading.Thread(target=buy) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert len(results) == 8
    assert {r.status_code for r in results} == {201}
    assert len({r.get_json()["order"]["id"] for r in results}) == 1
    assert len({r.get_json()["pass"]["id"] for r in results}) == 1
    with committed_app.extensions["maas"].sessions() as session:
        assert session.scalar(select(func.count()).select_from(Order)) == 1
        assert session.scalar(select(func.count()).select_from(Pass)) == 1
