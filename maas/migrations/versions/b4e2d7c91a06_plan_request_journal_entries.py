"""Plan requests drained from the web workers' journals: each line's entry key, once

Revision ID: b4e2d7c91a06
Revises: 7a3e1c9b2f45
Create Date: 2026-12-02 22:40:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "b4e2d7c91a06"
down_revision: str | None = "7a3e1c9b2f45"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    """Apply this revision."""
    with op.batch_alter_table("plan_requests") as batch:
        batch.add_column(sa.Column("entry", sa.String(length=40), nullable=True))
    op.create_index("ux_plan_requests_entry", "plan_requests", ["entry"], unique=True)


def downgrade() -> None:
    """Revert this revision."""
    op.drop_index("ux_plan_requests_entry", table_name="plan_requests")
    with op.batch_alter_table("plan_requests") as batch:
        batch.drop_column("entry")
