"""Policy evaluations: every rule's verdict per window, and the overall decision (rule '').

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-24
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

# JSONB on PostgreSQL (indexable, compact), plain JSON elsewhere.
JSON = sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql")

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "policy_evaluations",
        sa.Column("model_id", sa.Integer(), nullable=False),
        sa.Column("window_start", sa.DateTime(timezone=True), nullable=False),
        sa.Column("rule", sa.String(length=200), nullable=False),
        sa.Column("metric", sa.String(length=100), nullable=False),
        sa.Column("column_name", sa.String(length=300), nullable=False),
        sa.Column("segment", sa.String(length=300), nullable=False),
        sa.Column("value", sa.Float(), nullable=True),
        sa.Column("threshold", sa.Float(), nullable=True),
        sa.Column("breached", sa.Boolean(), nullable=False),
        sa.Column("firing", sa.Boolean(), nullable=False),
        sa.Column("cleared", sa.Boolean(), nullable=False),
        sa.Column("in_cooldown", sa.Boolean(), nullable=False),
        sa.Column("firing_since", sa.DateTime(timezone=True), nullable=True),
        sa.Column("decision", sa.String(length=20), nullable=False),
        sa.Column("severity", sa.String(length=20), nullable=True),
        sa.Column("action", sa.String(length=20), nullable=False),
        sa.Column("reasons", JSON, nullable=False),
        sa.Column("evaluated_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["model_id"],
            ["models.id"],
            name=op.f("fk_policy_evaluations_model_id_models"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint(
            "model_id", "window_start", "rule", name=op.f("pk_policy_evaluations")
        ),
    )
    # The previous state of each rule is read by (model, rule, latest window first).
    op.create_index(
        op.f("ix_policy_evaluations_model_id_rule_window_start"),
        "policy_evaluations",
        ["model_id", "rule", "window_start"],
        unique=False,
    )


def downgrade() -> None:
    op.drop_index(
        op.f("ix_policy_evaluations_model_id_rule_window_start"), table_name="policy_evaluations"
    )
    op.drop_table("policy_evaluations")
