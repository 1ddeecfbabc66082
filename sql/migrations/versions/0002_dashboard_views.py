"""Read-only dashboard views: latest status per model, drift per day, quality per day.

Plain SQL that PostgreSQL and SQLite both accept, so dashboards read the same names everywhere.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-23
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# Status words, as stored by driftwise (monitoring_lib.records.MetricStatus).
RED = "('failed', 'error')"
AMBER = "('drift', 'warning', 'insufficient_data')"

VIEWS = {
    "v_model_status": f"""
        SELECT m.name AS model,
               r.window_start,
               r.window_end,
               r.status AS run_status,
               COALESCE(SUM(CASE WHEN mt.status IN {RED}
                                   OR (mt.metric = 'drift.share' AND mt.segment = ''
                                       AND mt.status = 'drift')
                            THEN 1 ELSE 0 END), 0) AS red_findings,
               COALESCE(SUM(CASE WHEN mt.status IN {AMBER} THEN 1 ELSE 0 END), 0)
                   AS amber_findings,
               CASE
                   WHEN r.status = 'failed' THEN 'red'
                   WHEN COALESCE(SUM(CASE WHEN mt.status IN {RED}
                                            OR (mt.metric = 'drift.share' AND mt.segment = ''
                                                AND mt.status = 'drift')
                                     THEN 1 ELSE 0 END), 0) > 0 THEN 'red'
                   WHEN COALESCE(SUM(CASE WHEN mt.status IN {AMBER} THEN 1 ELSE 0 END), 0) > 0
                       THEN 'amber'
                   ELSE 'green'
               END AS health
        FROM models m
        JOIN runs r
          ON r.model_id = m.id
         AND r.window_start = (SELECT MAX(r2.window_start) FROM runs r2 WHERE r2.model_id = m.id)
        LEFT JOIN metrics mt
          ON mt.model_id = r.model_id AND mt.window_start = r.window_start
        GROUP BY m.name, r.window_start, r.window_end, r.status
    """,
    "v_drift_daily": """
        SELECT m.name AS model,
               s.window_start,
               s.window_end,
               s.value AS drift_share,
               s.status,
               (SELECT COUNT(*) FROM metrics d
                 WHERE d.model_id = s.model_id AND d.window_start = s.window_start
                   AND d.metric = 'drift.score' AND d.segment = '' AND d.status = 'drift')
                   AS drifted_columns
        FROM metrics s
        JOIN models m ON m.id = s.model_id
        WHERE s.metric = 'drift.share' AND s.column_name = '' AND s.segment = ''
    """,
    "v_column_drift_daily": """
        SELECT m.name AS model, d.window_start, d.window_end, d.column_name,
               d.value AS score, d.status
        FROM metrics d
        JOIN models m ON m.id = d.model_id
        WHERE d.metric = 'drift.score' AND d.segment = ''
    """,
    "v_quality_daily": """
        SELECT m.name AS model,
               q.window_start,
               q.window_end,
               q.metric,
               q.value,
               q.status,
               c.value AS label_coverage
        FROM metrics q
        JOIN models m ON m.id = q.model_id
        LEFT JOIN metrics c
          ON c.model_id = q.model_id AND c.window_start = q.window_start
         AND c.metric = 'labels.coverage' AND c.column_name = '' AND c.segment = ''
        WHERE q.metric LIKE 'quality.%' AND q.column_name = '' AND q.segment = ''
    """,
}


def upgrade() -> None:
    for name, body in VIEWS.items():
        op.execute(f"CREATE VIEW {name} AS {body}")


def downgrade() -> None:
    for name in reversed(list(VIEWS)):
        op.execute(f"DROP VIEW {name}")
