"""``v_signal_daily`` lists the model's own windows only, like the other per-window views since
0008: a weekly or monthly roll-up (``<model>@week``) is not a model of its own on the dashboards
and in the Prometheus families built from this view.

Revision ID: 0012
Revises: 0011
Create Date: 2026-12-01
"""

import importlib.util
from collections.abc import Sequence
from pathlib import Path

from alembic import op

revision: str = "0012"
down_revision: str | None = "0011"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

JOIN = "JOIN models m ON m.id = s.model_id"
WINDOWS_ONLY = f"{JOIN} AND m.granularity = 'window'"


def _body_of_0010() -> str:
    path = Path(__file__).with_name("0010_signal_views.py")
    spec = importlib.util.spec_from_file_location("driftwise_migration_0010", path)
    if spec is None or spec.loader is None:
        raise RuntimeError(f"cannot load the migration {path}")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    body: str = module.VIEWS["v_signal_daily"]
    if body.count(JOIN) != 1:
        raise RuntimeError("v_signal_daily no longer joins models as expected")
    return body


def upgrade() -> None:
    op.execute("DROP VIEW v_signal_daily")
    op.execute(f"CREATE VIEW v_signal_daily AS {_body_of_0010().replace(JOIN, WINDOWS_ONLY)}")


def downgrade() -> None:
    op.execute("DROP VIEW v_signal_daily")
    op.execute(f"CREATE VIEW v_signal_daily AS {_body_of_0010()}")
