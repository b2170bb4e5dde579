"""Database primitives: migrations match the models, SQLite pragmas, aware datetimes."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import Connection, Engine, text
from sqlalchemy.exc import StatementError
from sqlalchemy.orm import Session

from gtfs.models import Feed
from maas.core.db import Base, create_db_engine, current_revision, head_revision, upgrade
from maas.models import import_all_models


def test_migrations_match_the_models(connection: Connection) -> None:
    import_all_models()
    context = MigrationContext.configure(connection, opts={"compare_type": True})
    assert compare_metadata(context, Base.metadata) == []


def test_database_is_at_head(engine: Engine) -> None:
    assert current_revision(engine) == head_revision() is not None


def test_sqlite_runs_in_wal_mode_with_foreign_keys(tmp_path: Path) -> None:
    engine = create_db_engine(f"sqlite:///{tmp_path / 'nested' / 'x.sqlite3'}")
    with engine.connect() as connection:
        assert connection.execute(text("PRAGMA journal_mode")).scalar() == "wal"
        assert connection.execute(text("PRAGMA foreign_keys")).scalar() == 1
    upgrade(engine)
    upgrade(engine)  # a second upgrade is a no-op
    assert current_revision(engine) == head_revision()
    engine.dispose()


def _feed(loaded_at: dt.datetime) -> Feed:
    return Feed(kind="gtfs", name="t", version="v" * 64, source="s", active=False,
                loaded_at=loaded_at, summary={})


def test_datetimes_round_trip_as_aware_utc(db_session: Session) -> None:
    tokyo = dt.timezone(dt.timedelta(hours=9))
    db_session.add(_feed(dt.datetime(2026, 12, 1, 9, 3, tzinfo=tokyo)))
    db_session.commit()
    db_session.expire_all()
    stored = db_session.query(Feed).filter_by(name="t").one()
    assert stored.loaded_at == dt.datetime(2026, 12, 1, 0, 3, tzinfo=dt.UTC)
    assert stored.loaded_at.tzinfo is not None


def test_naive_datetimes_are_refused(db_session: Session) -> None:
    db_session.add(_feed(dt.datetime(2026, 12, 1, 9, 3)))  # noqa: DTZ001 - the point of the test
    with pytest.raises(StatementError, match="naive datetime"):
        db_session.flush()
