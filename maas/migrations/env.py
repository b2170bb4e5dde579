"""Alembic environment: runs on the engine handed over by :func:`maas.core.db.upgrade`."""

from __future__ import annotations

from alembic import context
from sqlalchemy import Engine

from maas.core.db import Base
from maas.models import import_all_models

import_all_models()
target_metadata = Base.metadata


def run_migrations_online() -> None:
    """Run migrations on the engine in ``config.attributes``."""
    engine: Engine = context.config.attributes["engine"]
    with engine.connect() as connection:
        context.configure(
            connection=connection,
            target_metadata=target_metadata,
            # SQLite cannot ALTER most things; batch mode rebuilds tables instead.
            render_as_batch=connection.dialect.name == "sqlite",
            compare_type=True,
        )
        with context.begin_transaction():
            context.run_migrations()
        connection.commit()


if context.is_offline_mode():
    raise SystemExit("offline (SQL script) migrations are not supported; run `maas db upgrade`")
run_migrations_online()
