"""Alerts: what to send (planning, pure), how it reads (content), the outbox that delivers it at
most once per channel, and the channels themselves (``alerts.channels``)."""

from monitoring_lib.alerts.outbox import DeliveryReport, deliver_pending, previous_alert_states
from monitoring_lib.alerts.planning import AlertContent, AlertContext, Breach, plan_alerts

__all__ = [
    "AlertContent", "AlertContext", "Breach", "DeliveryReport", "deliver_pending", "plan_alerts",
    "previous_alert_states",
]  # fmt: skip
