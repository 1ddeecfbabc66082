"""Model file hashes: each registered version keeps the sha256 of its file, checked before load.

Versions registered before this revision get NULL: nothing vouches for their files, so loading
one is refused until a person checks the file and runs `driftwise models trust NAME VERSION`.

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-27
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0005"
down_revision: str | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column(
        "model_versions", sa.Column("content_sha256", sa.String(length=64), nullable=True)
    )


def downgrade() -> None:
    # Plain ALTER TABLE DROP COLUMN (SQLite 3.35+): a batch rebuild of the table would trip
    # over the dashboard views that read it.
    op.drop_column("model_versions", "content_sha256")
