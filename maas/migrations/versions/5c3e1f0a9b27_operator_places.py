"""operators' own places for the place search

Revision ID: 5c3e1f0a9b27
Revises: 5dc48d8ed5c8
Create Date: 2026-12-02 16:40:00.000000
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import maas.core.db

revision: str = "5c3e1f0a9b27"
down_revision: str | None = "5dc48d8ed5c8"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    """Apply this revision."""
    op.create_table(
        "places",
        sa.Column("id", sa.String(length=64), nullable=False),
        sa.Column("names", sa.JSON(), nullable=False),
        sa.Column("lat", sa.Double(), nullable=False),
        sa.Column("lon", sa.Double(), nullable=False),
        sa.Column("category", sa.String(length=40), nullable=True),
        sa.Column("source", sa.String(length=500), nullable=False),
        sa.Column("imported_at", maas.core.db.UTCDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_places")),
    )


def downgrade() -> None:
    """Revert this revision."""
    op.drop_table("places")
