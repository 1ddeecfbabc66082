"""When a run happens and what it covers (the window), and how much it may hold in memory."""

from __future__ import annotations

from datetime import timedelta
from typing import Any, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import (
    Field,
    ValidationInfo,
    field_validator,
    model_validator,
)
from pydantic_core import PydanticCustomError

from monitoring_lib.durations import format_duration, parse_duration
from monitoring_lib.spec.base import Strict
from monitoring_lib.spec.schedule import cron_problem, default_cron
from monitoring_lib.windows import DAY


class WindowSpec(Strict):
    length: timedelta = Field(default=DAY, description="Window length: '1d', '7d', '6h', ...")
    """How much prediction traffic one run covers."""
    timezone: str = "UTC"
    """IANA zone the windows are cut in (daily windows run local midnight to local midnight)."""
    naive_timestamps_in: str = "UTC"
    """Zone to read timestamps that carry no offset in."""
    cron: str = Field(default="", validate_default=True)
    """When the monitor deployment runs, in `timezone`; each run takes the last whole window,
    so it must fire once per window. Default: from the length (daily at 00:30, weekly on Mondays
    at 00:30, every N hours at half past)."""

    @field_validator("length", mode="before")
    @classmethod
    def _parse_length(cls, value: Any) -> Any:
        return parse_duration(value) if isinstance(value, str) else value

    @field_validator("length")
    @classmethod
    def _check_length(cls, value: timedelta) -> timedelta:
        if value <= timedelta(0):
            raise PydanticCustomError(
                "duration", "must be positive, got {value}", {"value": str(value)}
            )
        if value < DAY and DAY % value != timedelta(0):
            raise PydanticCustomError(
                "duration",
                "a window shorter than a day must divide 24h evenly, got {v}",
                {"v": str(value)},
            )
        if value > DAY and value % DAY != timedelta(0):
            raise PydanticCustomError(
                "duration",
                "a window longer than a day must be whole days, got {v}",
                {"v": str(value)},
            )
        return value

    @field_validator("timezone", "naive_timestamps_in")
    @classmethod
    def _check_zone(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError):
            raise PydanticCustomError(
                "timezone",
                "'{value}' is not a known IANA time zone (e.g. 'UTC', 'Europe/Berlin')",
                {"value": value},
            ) from None
        return value

    @field_validator("cron")
    @classmethod
    def _check_cron(cls, value: str, info: ValidationInfo) -> str:
        length = info.data.get("length")
        if not isinstance(length, timedelta):  # the length's own error is reported
            return value or "30 0 * * *"
        if not value.strip():
            derived = default_cron(length)
            if derived is None:
                raise PydanticCustomError(
                    "cron",
                    "no cron runs once per {length} window (cron can run every day, every week, "
                    "or every N hours or minutes dividing a day): use a window.length of 1d, 7d "
                    "or a divisor of 1d",
                    {"length": format_duration(length)},
                )
            return derived
        if len(value.split()) != 5:
            raise PydanticCustomError(
                "cron",
                "'{value}' is not a 5-field cron expression like '30 0 * * *'",
                {"value": value},
            )
        problem = cron_problem(value, length)
        if problem:
            raise PydanticCustomError("cron", "{problem}", {"problem": problem})
        return value


class MemorySpec(Strict):
    """When a run stops loading its data whole, and how much its drift stage may hold."""

    max_cells_in_memory: int = Field(20_000_000, ge=1)
    """(Window + reference rows) x columns read above which a run reads them in chunks and
    column groups instead of loading them whole (20M cells: ~0.3-0.6 GB of frames)."""
    chunk_rows: int = Field(250_000, ge=1)
    """Rows per chunk when reading in chunks: profiling's memory follows it."""
    budget_mb: float = Field(512, ge=1)
    """Working memory when reading in chunks: columns are read (profiled, tested for drift) in
    groups that fit it."""


class ComputeSpec(Strict):
    """Where a window's chunks are profiled: here (the default), or on a Dask cluster whose
    workers read the window's files themselves. ``DRIFTWISE_DASK_ADDRESS`` and
    ``DRIFTWISE_DASK_WORKERS`` override it per deployment."""

    mode: Literal["local", "local-cluster", "address"] = "local"
    """'local-cluster' starts ``workers`` Dask worker processes on this machine for the run;
    'address' connects to a running scheduler."""
    address: str | None = None
    """The scheduler, e.g. 'tcp://scheduler:8786' (mode 'address')."""
    workers: int = Field(2, ge=1, le=256)
    """Worker processes of a 'local-cluster'."""

    @model_validator(mode="after")
    def _address_given(self) -> ComputeSpec:
        if self.mode == "address" and not self.address:
            raise PydanticCustomError("compute_address", "mode 'address' needs an address")
        return self
