"""scans are evidence: the server's verdict and device flags

Scans stored before this revision were never re-verified: they become ``status = 'legacy'``
and keep counting as they did, so periods already settled do not move.

Revision ID: d39c8595cc76
Revises: 5edc68d5fdf1
Create Date: 2026-12-02 10:01:36.907420
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import maas.core.db

revision: str = "d39c8595cc76"
down_revision: str | None = "5edc68d5fdf1"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    """Apply this revision."""
    op.create_table(
        "device_flags",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("device_id", sa.String(length=36), nullable=False),
        sa.Column("operator_id", sa.String(length=64), nullable=False),
        sa.Column("reason", sa.String(length=32), nullable=False),
        sa.Column("disputed", sa.Integer(), nullable=False),
        sa.Column("detail", sa.String(length=300), nullable=False),
        sa.Column("created_at", maas.core.db.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["device_id"], ["devices.id"], name=op.f("fk_device_flags_device_id_devices")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_device_flags")),
    )
    with op.batch_alter_table("device_flags", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_device_flags_created_at"), ["created_at"], unique=False
        )
        batch_op.create_index(batch_op.f("ix_device_flags_device_id"), ["device_id"], unique=False)
        batch_op.create_index(
            batch_op.f("ix_device_flags_operator_id"), ["operator_id"], unique=False
        )

    with op.batch_alter_table("scans", schema=None) as batch_op:
        batch_op.add_column(sa.Column("payload", sa.Text(), nullable=True))
        batch_op.add_column(sa.Column("server_result", sa.String(length=16), nullable=True))
        batch_op.add_column(sa.Column("server_code", sa.String(length=32), nullable=True))
        batch_op.add_column(
            sa.Column("status", sa.String(length=16), server_default="legacy", nullable=False)
        )
        batch_op.create_index(
            "ix_scans_disputed_received_at",
            ["received_at", "device_id"],
            unique=False,
            postgresql_where=sa.text("status = 'disputed'"),
            sqlite_where=sa.text("status = 'disputed'"),
        )


def downgrade() -> None:
    """Revert this revision."""
    with op.batch_alter_table("scans", schema=None) as batch_op:
        batch_op.drop_index(
            "ix_scans_disputed_received_at",
            postgresql_where=sa.text("status = 'disputed'"),
            sqlite_where=sa.text("status = 'disputed'"),
        )
        batch_op.drop_column("status")
        batch_op.drop_column("server_code")
        batch_op.drop_column("server_result")
        batch_op.drop_column("payload")

    with op.batch_alter_table("device_flags", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_device_flags_operator_id"))
        batch_op.drop_index(batch_op.f("ix_device_flags_device_id"))
        batch_op.drop_index(batch_op.f("ix_device_flags_created_at"))

    op.drop_table("device_flags")
