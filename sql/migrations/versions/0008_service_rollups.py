"""Roll-ups as their own windows, and views of service health and roll-ups.

- ``models.granularity``: ``window`` for the model's own windows (every existing row), ``week``
  or ``month`` for its roll-ups. A roll-up is stored under a models row of its own (named
  ``<model>@week``, ``<model>@month``), so its runs, metrics, profiles, quality counts and
  policy evaluations keep their natural keys, and a weekly roll-up starting on a Monday never
  meets that Monday's daily window: the daily queries, rules and views read
  ``granularity = 'window'`` only. (A column rather than a new unique key on (name,
  granularity): SQLite would have to rebuild ``models``, whose drop cascades to every row.)
- the dashboard views of 0002 and 0004 that list a model's windows are recreated with that
  filter (the alert and action events keep every granularity: a weekly rule's alert is the
  model's);
- ``v_service_daily``: service health (``service.*``) and SLOs (``slo.*``) per window;
- ``v_rollups``: every dataset- and column-level metric of the roll-ups, with their granularity.

Plain SQL that PostgreSQL and SQLite both accept.

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-01
"""

import importlib.util
import re
from collections.abc import Sequence
from pathlib import Path
from types import ModuleType

import sqlalchemy as sa
from alembic import op

revision: str = "0008"
down_revision: str | None = "0007"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

WINDOWS_ONLY = "m.granularity = 'window'"


def _sibling(name: str) -> ModuleType:
    """An earlier migration of this folder, for the view bodies it created."""
    path = Path(__file__).with_name(name)
    spec = importlib.util.spec_from_file_location(f"driftwise_migration_{path.stem}", path)
    if spec is None or spec.loader is None:
        raise RuntimeError(f"cannot load the migration {path}")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _earlier_views() -> dict[str, str]:
    views: dict[str, str] = {}
    views.update(_sibling("0002_dashboard_views.py").VIEWS)
    views.update(_sibling("0004_grafana_views.py").VIEWS)
    return {name: views[name] for name in FILTERED}


FILTERED = ("v_model_status", "v_drift_daily", "v_column_drift_daily", "v_quality_daily",
            "v_run_daily")  # fmt: skip


def _windows_only(body: str) -> str:
    """The view's join to models, narrowed to the model's own windows."""
    narrowed, count = re.subn(
        r"(m\.id = \w+\.model_id|r\.model_id = m\.id)", rf"\1 AND {WINDOWS_ONLY}", body, count=1
    )
    if count != 1:
        raise RuntimeError("a dashboard view no longer joins models as expected")
    return narrowed


NEW_VIEWS = {
    "v_service_daily": f"""
        SELECT m.name AS model, s.window_start, s.window_end, s.metric, s.column_name,
               s.value, s.status
        FROM metrics s
        JOIN models m ON m.id = s.model_id AND {WINDOWS_ONLY}
        WHERE (s.metric LIKE 'service.%' OR s.metric LIKE 'slo.%') AND s.segment = ''
    """,
    "v_rollups": """
        SELECT substr(m.name, 1, length(m.name) - length(m.granularity) - 1) AS model,
               m.granularity, r.window_start, r.window_end, r.metric,
               r.column_name, r.value, r.status
        FROM metrics r
        JOIN models m ON m.id = r.model_id AND m.granularity <> 'window'
        WHERE r.segment = ''
    """,
}


def upgrade() -> None:
    op.add_column(
        "models",
        sa.Column("granularity", sa.String(length=20), nullable=False, server_default="window"),
    )
    for name, body in _earlier_views().items():
        op.execute(f"DROP VIEW {name}")
        op.execute(f"CREATE VIEW {name} AS {_windows_only(body)}")
    for name, body in NEW_VIEWS.items():
        op.execute(f"CREATE VIEW {name} AS {body}")


def downgrade() -> None:
    for name in reversed(list(NEW_VIEWS)):
        op.execute(f"DROP VIEW {name}")
    for name, body in _earlier_views().items():
        op.execute(f"DROP VIEW {name}")
        op.execute(f"CREATE VIEW {name} AS {body}")
    op.execute("DELETE FROM models WHERE granularity <> 'window'")
    op.drop_column("models", "granularity")
