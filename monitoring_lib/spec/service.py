"""The ``service:`` section of a monitor spec: what counts as an error in the status column, and
the service level objectives (SLOs) kept over a period.

Example::

    columns:
      latency: latency_ms           # each prediction's latency, in milliseconds
      status: http_status
    service:
      errors: {at_least: 500}       # or {values: [error, timeout]}
      slos:
        - {name: availability, objective: 0.995, period: 30d}            # no error
        - {name: fast, objective: 0.95, latency_below_ms: 200, period: 30d}
"""

from __future__ import annotations

from datetime import timedelta

from pydantic import Field, model_validator
from pydantic_core import PydanticCustomError

from monitoring_lib.durations import Duration
from monitoring_lib.spec.base import Strict
from monitoring_lib.spec.columns import ColumnsSpec


class ErrorSpec(Strict):
    """Which status values are errors: listed ``values``, or numeric codes ``at_least`` a bound."""

    values: list[str | int | float | bool] = [True, "error"]
    """Status values that are errors (compared as given, and as case-insensitive text)."""
    at_least: float | None = Field(default=None, allow_inf_nan=False)
    """Numeric statuses at or above this are errors (e.g. 500 for HTTP codes); beats ``values``."""


class SloSpec(Strict):
    """One objective: the share of good events over ``period`` must stay at least ``objective``."""

    name: str = Field(min_length=1, max_length=100, pattern=r"^[A-Za-z0-9_.-]+$")
    """Names the SLO in metrics (their ``column``), rules and dashboards."""
    objective: float = Field(gt=0, lt=1)
    """The target share of good events, e.g. 0.995."""
    latency_below_ms: float | None = Field(default=None, gt=0, allow_inf_nan=False)
    """A latency SLO: good means faster than this (rows without a latency are not counted);
    without it the SLO is about errors: good means no error."""
    period: Duration = timedelta(days=30)
    """The span compliance and the error budget are computed over (windows starting in it)."""

    @property
    def kind(self) -> str:
        return "latency" if self.latency_below_ms is not None else "errors"


class ServiceSpec(Strict):
    """Service health (RED) settings and SLOs; used when the log has latency or status columns."""

    errors: ErrorSpec = ErrorSpec()
    """What counts as an error in ``columns.status``."""
    slos: list[SloSpec] = []
    """The objectives kept per window and over their period."""

    @model_validator(mode="after")
    def _unique_names(self) -> ServiceSpec:
        names = [slo.name for slo in self.slos]
        twice = sorted({name for name in names if names.count(name) > 1})
        if twice:
            raise PydanticCustomError(
                "service", "slos: SLO name {names} is used twice", {"names": ", ".join(twice)}
            )
        return self

    def slo(self, name: str) -> SloSpec | None:
        return next((slo for slo in self.slos if slo.name == name), None)


def service_problems(service: ServiceSpec, columns: ColumnsSpec) -> list[str]:
    """SLOs whose column the spec does not name."""
    problems = []
    for index, slo in enumerate(service.slos):
        if slo.kind == "latency" and columns.latency is None:
            problems.append(
                f"service.slos[{index}]: SLO {slo.name!r} is about latency: name columns.latency"
            )
        if slo.kind == "errors" and columns.status is None:
            problems.append(
                f"service.slos[{index}]: SLO {slo.name!r} is about errors: name columns.status "
                "(or give latency_below_ms)"
            )
    return problems
