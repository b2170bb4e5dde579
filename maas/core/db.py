"""Database primitives: the declarative base, engines, sessions and migrations.

No flask here: services, the CLI and the tests use the same functions. SQLite is the embedded
default (WAL mode, foreign keys on); PostgreSQL is the production database.
"""

from __future__ import annotations

import datetime as dt
import functools
from pathlib import Path
from typing import Any

from alembic import command
from alembic.config import Config as AlembicConfig
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import JSON, DateTime, Engine, MetaData, create_engine, event, text
from sqlalchemy.engine import make_url
from sqlalchemy.exc import DBAPIError
from sqlalchemy.orm import DeclarativeBase, Session, sessionmaker
from sqlalchemy.types import TypeDecorator

from maas.core.errors import ServiceUnavailable
from maas.core.events import SESSION_KEY, Events

NAMING_CONVENTION = {
    "ix": "ix_%(column_0_N_label)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}

MIGRATIONS = Path(__file__).parent.parent / "migrations"  # maas/migrations: the shell owns them


class UTCDateTime(TypeDecorator[dt.datetime]):
    """A timezone-aware datetime stored as UTC on both SQLite and PostgreSQL.

    SQLite keeps no offset, so values are normalised to UTC on the way in and marked UTC on the
    way out; naive datetimes are refused rather than guessed.
    """

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: dt.datetime | None, dialect: Any) -> dt.datetime | None:
        """Normalise to UTC before storing."""
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to a UTCDateTime column")
        return value.astimezone(dt.UTC)

    def process_result_value(self, value: dt.datetime | None, dialect: Any) -> dt.datetime | None:
        """Return an aware UTC datetime."""
        if value is None:
            return None
        if value.tzinfo is None:
            return value.replace(tzinfo=dt.UTC)
        return value.astimezone(dt.UTC)


class Base(DeclarativeBase):
    """The one declarative base of every table in every package."""

    metadata = MetaData(naming_convention=NAMING_CONVENTION)
    type_annotation_map = {  # noqa: RUF012 - SQLAlchemy reads this class attribute
        dt.datetime: UTCDateTime(),
        dict[str, Any]: JSON(),
        list[str]: JSON(),
    }


def create_db_engine(url: str, **kwargs: Any) -> Engine:
    """Create an engine; SQLite gets WAL journaling, foreign keys and a busy timeout."""
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite":
        database = parsed.database
        if database and database != ":memory:":
            Path(database).parent.mkdir(parents=True, exist_ok=True)
        engine = create_engine(url, **kwargs)
        event.listen(engine, "connect", _sqlite_pragmas)
        event.listen(engine, "begin", _sqlite_begin)
        return engine
    kwargs.setdefault("pool_pre_ping", True)
    connect_args = kwargs.setdefault("connect_args", {})
    connect_args.setdefault("connect_timeout", 5)
    return create_engine(url, **kwargs)


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    # pysqlite's own transaction handling defers BEGIN and breaks SAVEPOINT; we take over
    # (the recipe in SQLAlchemy's SQLite dialect documentation) and emit BEGIN ourselves
    dbapi_connection.isolation_level = None
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA busy_timeout=5000")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.close()


def _sqlite_begin(connection: Any) -> None:
    connection.exec_driver_sql("BEGIN")


def session_factory(engine: Engine, events: Events | None = None) -> sessionmaker[Session]:
    """A session factory whose objects stay readable after commit.

    With ``events``, every session carries that bus, so the services' published events reach
    its subscribers (see :mod:`maas.core.events`).
    """
    info = {} if events is None else {SESSION_KEY: events}
    return sessionmaker(bind=engine, expire_on_commit=False, info=info)


class SessionOnDemand:
    """Stands in for a request's :class:`Session`, opened only when a service first uses it:
    a read the process's caches answer (a plan between two reads of the active feeds) never
    opens one. Creating and closing an unused SQLAlchemy session runs enough code that a
    demo-feed plan request took about a tenth longer with it (``maas bench plan``).

    ``info`` (where the event bus rides, :data:`SESSION_KEY`) is the factory's until the
    session opens, then the session's own; every other attribute opens the session and is
    its attribute. :meth:`close` closes the session if it was opened. Only attribute access is
    passed on (not ``with``, ``len`` or other protocols): it is for services that take a
    ``Session`` and call its methods.
    """

    def __init__(self, factory: sessionmaker[Session]) -> None:
        self._factory = factory
        self._session: Session | None = None
        self._info: dict[Any, Any] = dict(factory.kw.get("info") or {})

    @property
    def info(self) -> dict[Any, Any]:
        """The session's ``info`` (the factory's, until it opens)."""
        return self._info if self._session is None else self._session.info

    @property
    def opened(self) -> Session | None:
        """The session, if a service has used it."""
        return self._session

    def __getattr__(self, name: str) -> Any:
        session = self._session
        if session is None:
            session = self._session = self._factory()
            session.info.update(self._info)
        return getattr(session, name)

    def close(self) -> None:
        """Close the session if it was opened (the request's teardown)."""
        if self._session is not None:
            self._session.close()


def ping(engine: Engine) -> None:
    """Raise :class:`ServiceUnavailable` when the database cannot be reached."""
    try:
        with engine.connect() as connection:
            connection.execute(text("SELECT 1"))
    except DBAPIError as exc:
        raise ServiceUnavailable("the database is unreachable") from exc


def alembic_config(engine: Engine) -> AlembicConfig:
    """Alembic configuration that runs our migrations on ``engine``."""
    config = AlembicConfig()
    config.set_main_option("script_location", str(MIGRATIONS))
    config.set_main_option("path_separator", "os")
    config.attributes["engine"] = engine
    return config


def upgrade(engine: Engine, revision: str = "head") -> None:
    """Bring the schema to ``revision`` (default: the newest)."""
    command.upgrade(alembic_config(engine), revision)


def current_revision(engine: Engine) -> str | None:
    """The schema revision the database is at, or None when never migrated."""
    with engine.connect() as connection:
        return MigrationContext.configure(connection).get_current_revision()


@functools.cache
def head_revision() -> str | None:
    """The newest revision shipped with this code (read once per process)."""
    return ScriptDirectory(str(MIGRATIONS)).get_current_head()
