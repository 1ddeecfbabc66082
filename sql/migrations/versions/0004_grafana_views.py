"""Read-only views for Grafana and the Prometheus exporter: runs per window (rows, timings, label
coverage), alert events and action events.

Dashboards read views only, so the database role Grafana uses needs SELECT on ``v_*`` and nothing
else: the alert annotations must not read the outbox's content (it holds links and messages), and
the action annotations show what was done, not the metrics behind it.

Plain SQL that PostgreSQL and SQLite both accept.

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-25
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0004"
down_revision: str | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

VIEWS = {
    "v_run_daily": """
        SELECT m.name AS model,
               r.window_start,
               r.window_end,
               r.status AS run_status,
               r.row_count,
               r.started_at,
               r.finished_at,
               r.flow_run_id,
               c.value AS label_coverage
        FROM runs r
        JOIN models m ON m.id = r.model_id
        LEFT JOIN metrics c
          ON c.model_id = r.model_id AND c.window_start = r.window_start
         AND c.metric = 'labels.coverage' AND c.column_name = '' AND c.segment = ''
    """,
    "v_alert_events": """
        SELECT m.name AS model,
               a.window_start,
               a.created_at,
               a.sent_at,
               a.rule,
               a.severity,
               a.kind,
               a.channel,
               a.status
        FROM alerts a
        JOIN models m ON m.id = a.model_id
    """,
    "v_action_events": """
        SELECT m.name AS model,
               x.window_start,
               x.kind,
               x.status,
               x.outcome,
               x.decided_by,
               x.requested_at,
               x.finished_at
        FROM actions x
        JOIN models m ON m.id = x.model_id
    """,
}


def upgrade() -> None:
    for name, body in VIEWS.items():
        op.execute(f"CREATE VIEW {name} AS {body}")


def downgrade() -> None:
    for name in reversed(list(VIEWS)):
        op.execute(f"DROP VIEW {name}")
