"""A read-only view of the signals beyond per-column drift, for Grafana and the Prometheus
exporter: multivariate drift, prediction confidence and drift impact per window.

Plain SQL that PostgreSQL and SQLite both accept.

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-01
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0010"
down_revision: str | None = "0009"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

VIEWS = {
    "v_signal_daily": """
        SELECT m.name AS model,
               s.window_start,
               s.window_end,
               s.metric,
               s.column_name,
               s.value,
               s.status
        FROM metrics s
        JOIN models m ON m.id = s.model_id
        WHERE s.segment = ''
          AND (s.metric LIKE 'multivariate.%' OR s.metric LIKE 'prediction.%'
               OR s.metric = 'drift.impact')
    """,
}


def upgrade() -> None:
    for name, body in VIEWS.items():
        op.execute(f"CREATE VIEW {name} AS {body}")


def downgrade() -> None:
    for name in reversed(list(VIEWS)):
        op.execute(f"DROP VIEW {name}")
