"""signing keys, feed blobs and audit events: state a second app host can share

Signing keys move from files under MAAS_HOME/keys into ``signing_keys`` (private parts
encrypted with MAAS_KEY_ENCRYPTION_KEY): this migration cannot read that key, so existing key
files are imported by ``maas keys import-files`` after upgrading (docs/fleet.md). Stored GTFS
copies move into ``feed_blobs``: an active feed imported before this revision keeps serving
from the compiled network on its host; import it again to store it for other hosts.

``signed_bundles`` keeps the trust bundle the worker signs for every host to serve. Plan
requests gain ``counted``: web workers store each answered request at once and the
worker (or the statistics endpoint) adds them to the planner cells.

Revision ID: 97d320f2c12c
Revises: 5c3e1f0a9b27
Create Date: 2026-12-02 16:26:23.424567
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import maas.core.db

revision: str = "97d320f2c12c"
down_revision: str | None = "5c3e1f0a9b27"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    """Apply this revision."""

    op.create_table(
        "audit_events",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("at", maas.core.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("actor", sa.String(length=200), nullable=False),
        sa.Column("action", sa.String(length=64), nullable=False),
        sa.Column("target", sa.String(length=300), nullable=False),
        sa.Column("outcome", sa.String(length=16), nullable=False),
        sa.Column("detail", sa.JSON(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_audit_events")),
    )
    with op.batch_alter_table("audit_events", schema=None) as batch_op:
        batch_op.create_index("ix_audit_events_action_at", ["action", "at"], unique=False)
        batch_op.create_index(batch_op.f("ix_audit_events_at"), ["at"], unique=False)

    op.create_table(
        "feed_blobs",
        sa.Column("sha256", sa.String(length=64), nullable=False),
        sa.Column("version", sa.String(length=64), nullable=False),
        sa.Column("size", sa.Integer(), nullable=False),
        sa.Column("stored_at", maas.core.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("content", sa.LargeBinary(), nullable=False),
        sa.PrimaryKeyConstraint("sha256", name=op.f("pk_feed_blobs")),
        sa.UniqueConstraint("version", name=op.f("uq_feed_blobs_version")),
    )
    op.create_table(
        "signing_keys",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("kid", sa.String(length=16), nullable=False),
        sa.Column("state", sa.String(length=10), nullable=False),
        sa.Column("created_at", maas.core.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("last_service_date", sa.Date(), nullable=True),
        sa.Column("public_jwk", sa.JSON(), nullable=False),
        sa.Column("private_key", sa.LargeBinary(), nullable=True),
        sa.Column("wrapped_by", sa.String(length=64), nullable=False),
        sa.Column("archived_at", maas.core.db.UTCDateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_signing_keys")),
        sa.UniqueConstraint("kind", "kid", name=op.f("uq_signing_keys_kind_kid")),
    )
    with op.batch_alter_table("signing_keys", schema=None) as batch_op:
        batch_op.create_index(
            "uq_signing_keys_live_state",
            ["kind", "state"],
            unique=True,
            sqlite_where=sa.text("state IN ('current', 'next')"),
            postgresql_where=sa.text("state IN ('current', 'next')"),
        )

    op.create_table(
        "signed_bundles",
        sa.Column("name", sa.String(length=32), nullable=False),
        sa.Column("version", sa.String(length=32), nullable=False),
        sa.Column("document", sa.JSON(), nullable=False),
        sa.Column("token", sa.Text(), nullable=False),
        sa.Column("built_at", maas.core.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("checked_at", maas.core.db.UTCDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("name", name=op.f("pk_signed_bundles")),
    )
    # plan requests are stored as answered and added to the cells later (counted = false
    # until then); the rows stored before this revision are in the cells already
    with op.batch_alter_table("plan_requests", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("counted", sa.Boolean(), server_default=sa.true(), nullable=False)
        )
        batch_op.create_index(
            "ix_plan_requests_uncounted",
            ["id"],
            unique=False,
            sqlite_where=sa.text("counted = 0"),
            postgresql_where=sa.text("NOT counted"),
        )


def downgrade() -> None:
    """Revert this revision."""
    op.drop_table("signed_bundles")
    with op.batch_alter_table("plan_requests", schema=None) as batch_op:
        batch_op.drop_index(
            "ix_plan_requests_uncounted",
            sqlite_where=sa.text("counted = 0"),
            postgresql_where=sa.text("NOT counted"),
        )
        batch_op.drop_column("counted")

    with op.batch_alter_table("signing_keys", schema=None) as batch_op:
        batch_op.drop_index(
            "uq_signing_keys_live_state",
            sqlite_where=sa.text("state IN ('current', 'next')"),
            postgresql_where=sa.text("state IN ('current', 'next')"),
        )

    op.drop_table("signing_keys")
    op.drop_table("feed_blobs")
    with op.batch_alter_table("audit_events", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_audit_events_at"))
        batch_op.drop_index("ix_audit_events_action_at")

    op.drop_table("audit_events")
