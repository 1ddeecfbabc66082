"""Prefect defaults for a machine with no outside network, set before Prefect is imported."""

from __future__ import annotations

import os


def prepare_prefect() -> None:
    """No telemetry from the local server, and time for it to start on a busy small machine
    (Prefect's 20 s default is too short on 2 loaded cores), unless the user chose otherwise."""
    os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")
    os.environ.setdefault("PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS", "120")
