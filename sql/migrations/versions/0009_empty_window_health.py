"""v_model_status: an empty window is never green.

A window that ran and found no predictions is amber (insufficient data), and red when a policy
rule fires on it (e.g. the built-in 'data-missing' rule), whatever its other metrics say: the same
status the run's summary shows and Prometheus exports (``driftwise_model_health``).

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-01
"""

import importlib.util
from collections.abc import Sequence
from pathlib import Path
from types import ModuleType

from alembic import op

revision: str = "0009"
down_revision: str | None = "0008"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

RED = "('failed', 'error')"
AMBER = "('drift', 'warning', 'insufficient_data')"
RED_FINDING = f"""COALESCE(SUM(CASE WHEN mt.status IN {RED}
                                   OR (mt.metric = 'drift.share' AND mt.segment = ''
                                       AND mt.status = 'drift')
                            THEN 1 ELSE 0 END), 0)"""
AMBER_FINDING = f"COALESCE(SUM(CASE WHEN mt.status IN {AMBER} THEN 1 ELSE 0 END), 0)"
RULE_FIRES = """EXISTS (SELECT 1 FROM policy_evaluations pe
                            WHERE pe.model_id = r.model_id AND pe.window_start = r.window_start
                              AND pe.rule <> '' AND pe.firing)"""

MODEL_STATUS = f"""
        SELECT m.name AS model,
               r.window_start,
               r.window_end,
               r.status AS run_status,
               {RED_FINDING} AS red_findings,
               {AMBER_FINDING} AS amber_findings,
               CASE
                   WHEN r.status = 'failed' THEN 'red'
                   WHEN r.row_count = 0 AND {RULE_FIRES} THEN 'red'
                   WHEN r.row_count = 0 THEN 'amber'
                   WHEN {RED_FINDING} > 0 THEN 'red'
                   WHEN {AMBER_FINDING} > 0 THEN 'amber'
                   ELSE 'green'
               END AS health
        FROM models m
        JOIN runs r
          ON r.model_id = m.id
         AND r.window_start = (SELECT MAX(r2.window_start) FROM runs r2 WHERE r2.model_id = m.id)
        LEFT JOIN metrics mt
          ON mt.model_id = r.model_id AND mt.window_start = r.window_start
        GROUP BY m.name, r.model_id, r.window_start, r.window_end, r.status, r.row_count
"""


def _rollups() -> ModuleType:
    """Migration 0008 (its module name is not importable by name): it narrowed the views to the
    models' own windows, and its filter stays on this view."""
    path = Path(__file__).with_name("0008_service_rollups.py")
    spec = importlib.util.spec_from_file_location("driftwise_migration_0008", path)
    if spec is None or spec.loader is None:
        raise RuntimeError(f"cannot load the migration {path}")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def upgrade() -> None:
    op.execute("DROP VIEW v_model_status")
    op.execute(f"CREATE VIEW v_model_status AS {_rollups()._windows_only(MODEL_STATUS)}")


def downgrade() -> None:
    rollups = _rollups()
    op.execute("DROP VIEW v_model_status")
    body = rollups._earlier_views()["v_model_status"]
    op.execute(f"CREATE VIEW v_model_status AS {rollups._windows_only(body)}")
