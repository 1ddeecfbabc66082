"""Prefect defaults for a machine with no outside network, set before Prefect is imported."""

from __future__ import annotations

import os


def prepare_prefect() -> None:
    """No telemetry from the local server, unless the user chose otherwise."""
    os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")
