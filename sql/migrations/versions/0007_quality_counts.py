"""Quality counts per window, rule statistics per evaluation, the reference each run compared with.

- ``quality_counts``: a window's mergeable quality statistics (confusion counts, score
  histograms, error sums), realised from labels and expected from calibrated probabilities. A
  table of its own rather than a copy in every quality record's details: a multiclass window's
  histograms take tens of kilobytes, and a pooled rule reads one row per window;
- ``policy_evaluations.statistics``: what a rule computed beyond its value (a CUSUM's statistic
  and state, a pooled value's rows and windows), so the next window continues from it;
- ``runs.reference_hash``: the content hash of the reference a window was compared with, so a
  rerun after the reference changed is noticed instead of silently changing the window's drift.

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-02
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

# JSONB on PostgreSQL (indexable, compact), plain JSON elsewhere.
JSON = sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql")

revision: str = "0007"
down_revision: str | None = "0006"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "quality_counts",
        sa.Column("model_id", sa.Integer(), nullable=False),
        sa.Column("window_start", sa.DateTime(timezone=True), nullable=False),
        sa.Column("kind", sa.String(length=20), nullable=False),
        sa.Column("window_end", sa.DateTime(timezone=True), nullable=False),
        sa.Column("run_id", sa.Integer(), nullable=True),
        sa.Column("rows", sa.Float(), nullable=False),
        sa.Column("counts", JSON, nullable=False),
        sa.ForeignKeyConstraint(
            ["model_id"],
            ["models.id"],
            name=op.f("fk_quality_counts_model_id_models"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["run_id"], ["runs.id"], name=op.f("fk_quality_counts_run_id_runs"), ondelete="SET NULL"
        ),
        sa.PrimaryKeyConstraint("model_id", "window_start", "kind", name=op.f("pk_quality_counts")),
    )
    op.add_column("policy_evaluations", sa.Column("statistics", JSON, nullable=True))
    op.add_column("runs", sa.Column("reference_hash", sa.String(length=64), nullable=True))


def downgrade() -> None:
    op.drop_column("runs", "reference_hash")
    op.drop_column("policy_evaluations", "statistics")
    op.drop_table("quality_counts")
