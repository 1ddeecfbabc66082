"""Seeing driftwise run: JSON logs with the run's context, secrets redacted everywhere, and
Prometheus metrics (an exporter over the store, or a push after each run)."""

from monitoring_lib.observability.logs import configure_logging, log_context
from monitoring_lib.observability.redaction import redact

__all__ = ["configure_logging", "log_context", "redact"]
