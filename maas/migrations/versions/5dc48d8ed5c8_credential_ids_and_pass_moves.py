"""credential ids and pass moves

Every pass gets the id of the credential it holds now (``passes.credential_id``, computed
from the stored token exactly as ``passes.credential.credential_id`` does: SHA-256 of the
token in its low-s form), and ``pass_moves`` records each move of a pass to another phone.

Revision ID: 5dc48d8ed5c8
Revises: d39c8595cc76
Create Date: 2026-12-02 16:40:00.000000
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import maas.core.db
from passes.credential import credential_id

revision: str = "5dc48d8ed5c8"
down_revision: str | None = "d39c8595cc76"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_BATCH = 1000


def upgrade() -> None:
    """Apply this revision."""
    with op.batch_alter_table("passes", schema=None) as batch_op:
        batch_op.add_column(sa.Column("credential_id", sa.String(length=32), nullable=True))
    passes = sa.table("passes", sa.column("id", sa.String), sa.column("token", sa.Text),
                      sa.column("credential_id", sa.String))
    connection = op.get_bind()
    # the existing rows' ids, from their tokens (by id, a batch at a time)
    last = ""
    while True:
        rows = connection.execute(
            sa.select(passes.c.id, passes.c.token).where(passes.c.id > last)
            .order_by(passes.c.id).limit(_BATCH)).all()
        if not rows:
            break
        connection.execute(
            passes.update().where(passes.c.id == sa.bindparam("pid"))
            .values(credential_id=sa.bindparam("cid")),
            [{"pid": pass_id, "cid": credential_id(token)} for pass_id, token in rows])
        last = rows[-1][0]
    with op.batch_alter_table("passes", schema=None) as batch_op:
        batch_op.alter_column("credential_id", existing_type=sa.String(length=32),
                              nullable=False)
        batch_op.create_index(batch_op.f("ix_passes_credential_id"), ["credential_id"],
                              unique=False)

    op.create_table(
        "pass_moves",
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("pass_id", sa.String(length=32), nullable=False),
        sa.Column("from_credential_id", sa.String(length=32), nullable=False),
        sa.Column("to_credential_id", sa.String(length=32), nullable=False),
        sa.Column("from_key_thumbprint", sa.String(length=43), nullable=False),
        sa.Column("to_key_thumbprint", sa.String(length=43), nullable=False),
        sa.Column("moved_at", maas.core.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("actor", sa.String(length=16), nullable=False),
        sa.Column("forced", sa.Boolean(), nullable=False),
        sa.ForeignKeyConstraint(["pass_id"], ["passes.id"],
                                name=op.f("fk_pass_moves_pass_id_passes")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_pass_moves")),
        sa.UniqueConstraint("from_credential_id",
                            name=op.f("uq_pass_moves_from_credential_id")),
    )
    with op.batch_alter_table("pass_moves", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_pass_moves_moved_at"), ["moved_at"], unique=False)
        batch_op.create_index(batch_op.f("ix_pass_moves_pass_id"), ["pass_id"], unique=False)


def downgrade() -> None:
    """Revert this revision."""
    with op.batch_alter_table("pass_moves", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_pass_moves_pass_id"))
        batch_op.drop_index(batch_op.f("ix_pass_moves_moved_at"))
    op.drop_table("pass_moves")
    with op.batch_alter_table("passes", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_passes_credential_id"))
        batch_op.drop_column("credential_id")
