"""merge the two heads of issue 14 (places, pass moves) so this branch migrates

Only for the i14-ui branch, which merges i14-places and i14-move: both revise d39c8595cc76.
The lead re-chains them into one line when integrating; then this file is dropped.

Revision ID: 0e1a4c2b7d93
Revises: 5c3e1f0a9b27, 5dc48d8ed5c8
Create Date: 2026-12-02 16:55:00.000000
"""

from __future__ import annotations

from collections.abc import Sequence

revision: str = "0e1a4c2b7d93"
down_revision: str | Sequence[str] | None = ("5c3e1f0a9b27", "5dc48d8ed5c8")
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    """Nothing to change: the two branches meet."""


def downgrade() -> None:
    """Nothing to change: the two branches part."""
