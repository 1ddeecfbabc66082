"""Alert claims: a delivery run marks rows 'sending' with the time of its claim, committed before
it posts, so a run that dies after the channel's OK leaves a trace the next run checks against
the channel's history instead of posting again.

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-27
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0006"
down_revision: str | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column("alerts", sa.Column("claimed_at", sa.DateTime(timezone=True), nullable=True))


def downgrade() -> None:
    # A row cut short mid-post goes back to pending: the older code retries it as before.
    op.execute("UPDATE alerts SET status = 'pending' WHERE status = 'sending'")
    # Plain ALTER TABLE DROP COLUMN (SQLite 3.35+): a batch rebuild of the table would trip
    # over the dashboard views that read it.
    op.drop_column("alerts", "claimed_at")
