"""rider sessions and login throttles

Revision ID: 5edc68d5fdf1
Revises: 064ddd1d8d7f
Create Date: 2026-12-02 10:10:00.000000

Access tokens issued before this revision carry no session id and are refused by the new
code: riders sign in once more.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import maas.core.db

revision: str = "5edc68d5fdf1"
down_revision: str | None = "064ddd1d8d7f"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    """Apply this revision."""
    op.create_table(
        "login_throttles",
        sa.Column("key", sa.String(length=64), nullable=False),
        sa.Column("failures", sa.Integer(), nullable=False),
        sa.Column("window_started_at", maas.core.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("last_failure_at", maas.core.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("locked_until", maas.core.db.UTCDateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("key", name=op.f("pk_login_throttles")),
    )
    op.create_table(
        "rider_sessions",
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("rider_id", sa.String(length=36), nullable=False),
        sa.Column("created_at", maas.core.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("last_seen_at", maas.core.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("revoked_at", maas.core.db.UTCDateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["rider_id"], ["riders.id"], name=op.f("fk_rider_sessions_rider_id_riders"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_rider_sessions")),
    )
    with op.batch_alter_table("rider_sessions", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_rider_sessions_rider_id"), ["rider_id"],
                              unique=False)


def downgrade() -> None:
    """Revert this revision."""
    with op.batch_alter_table("rider_sessions", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_rider_sessions_rider_id"))
    op.drop_table("rider_sessions")
    op.drop_table("login_throttles")
