"""Upper bounds of the steps, from the settings when the worker process imports the tasks: no
step can hang a run forever. A timed-out step is not retried (it waited its whole bound)."""

from __future__ import annotations

from monitoring_lib.settings import DriftwiseSettings

_SETTINGS = DriftwiseSettings()
STEP = _SETTINGS.task_timeout_seconds
"""Loading, evaluating, training, scoring: the heavy steps."""
DELIVERY = _SETTINGS.delivery_timeout_seconds
"""Posting pending alerts (each Retry-After is capped too)."""
QUICK = min(_SETTINGS.persist_timeout_seconds, STEP)
"""Short store transactions: claims, registrations, counts."""
FLOW = _SETTINGS.flow_timeout_seconds
"""A whole monitor run."""
