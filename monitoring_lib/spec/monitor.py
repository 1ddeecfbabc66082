"""The monitor spec: one YAML file per monitored model, validated on load.

Errors name the file, the key and what was expected, e.g.
``models/credit.yaml: columns.numerical[3]: 'income' is also listed in columns.categorical``.
File paths in sources are relative to the spec file's folder.
"""

from __future__ import annotations

from datetime import timedelta
from enum import StrEnum
from pathlib import Path
from typing import Annotated, Any, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import yaml
from pydantic import (
    BaseModel,
    ConfigDict,
    Discriminator,
    Field,
    SecretStr,
    Tag,
    ValidationError,
    field_validator,
    model_validator,
)
from pydantic_core import PydanticCustomError

from monitoring_lib.actions.retrain import ActionsSpec, task_problems
from monitoring_lib.alerts.planning import AlertsSpec
from monitoring_lib.durations import parse_duration
from monitoring_lib.metrics.drift.memory import DriftSettings
from monitoring_lib.policy.evaluate import PolicySpec
from monitoring_lib.windows import DAY


class SpecError(ValueError):
    """A spec that cannot be used; ``problems`` holds one ``file: key: message`` line each."""

    def __init__(self, problems: list[str]) -> None:
        self.problems = problems
        super().__init__("\n".join(problems))


class Task(StrEnum):
    BINARY = "binary"
    MULTICLASS = "multiclass"
    REGRESSION = "regression"


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class WindowSpec(_Strict):
    length: timedelta = Field(default=DAY, description="Window length: '1d', '7d', '6h', ...")
    """How much prediction traffic one run covers."""
    timezone: str = "UTC"
    """IANA zone the windows are cut in (daily windows run local midnight to local midnight)."""
    naive_timestamps_in: str = "UTC"
    """Zone to read timestamps that carry no offset in."""
    cron: str = "30 0 * * *"
    """When the daily deployment runs, in `timezone`; each run takes the last whole window."""

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
    def _check_cron(cls, value: str) -> str:
        if len(value.split()) != 5:
            raise PydanticCustomError(
                "cron",
                "'{value}' is not a 5-field cron expression like '30 0 * * *'",
                {"value": value},
            )
        return value


class FileSource(_Strict):
    path: str
    """A file or glob (relative to the spec's folder), e.g. 'data/predictions/*.parquet'."""
    format: Literal["auto", "parquet", "csv"] = "auto"
    """'auto' picks by file extension."""


class SqlSource(_Strict):
    query: str
    """A SELECT; it may use :start and :end (UTC) to read only the window."""
    url: SecretStr | None = None
    """SQLAlchemy URL of the source database (kept secret in logs)."""
    url_env: str | None = None
    """Name of an environment variable that holds the URL instead."""

    @model_validator(mode="after")
    def _one_url(self) -> SqlSource:
        if (self.url is None) == (self.url_env is None):
            raise PydanticCustomError("sql_url", "give exactly one of 'url' or 'url_env'")
        return self


def _source_kind(value: Any) -> str:
    if isinstance(value, dict):
        return "sql" if "query" in value else "file"
    return "sql" if isinstance(value, SqlSource) else "file"


Source = Annotated[
    Annotated[FileSource, Tag("file")] | Annotated[SqlSource, Tag("sql")],
    Discriminator(_source_kind),
]


class SourcesSpec(_Strict):
    predictions: Source
    """The prediction log: timestamp, id, features, prediction (and probabilities)."""
    reference: Source
    """The reference (training) data: features, and target/prediction where available."""
    labels: Source | None = None
    """Delayed ground truth: id and target (and optionally when each label arrived)."""


class ColumnsSpec(_Strict):
    timestamp: str
    id: str
    numerical: list[str] = []
    categorical: list[str] = []
    prediction: str | None = None
    probability: str | dict[str, str] | None = None
    """Positive-class probability column (binary), or class -> column (multiclass)."""
    target: str | None = None
    label_timestamp: str | None = None
    """Column of the labels source saying when each label arrived (for replaying late labels)."""
    segments: list[str] = []

    def roles(self) -> list[tuple[str, str]]:
        """(key, column) for every column role, in spec order, for duplicate checks."""
        single = [("timestamp", self.timestamp), ("id", self.id)]
        if self.prediction:
            single.append(("prediction", self.prediction))
        if self.target:
            single.append(("target", self.target))
        listed = [(f"categorical[{i}]", c) for i, c in enumerate(self.categorical)]
        listed += [(f"numerical[{i}]", c) for i, c in enumerate(self.numerical)]
        probability = self.probability
        if isinstance(probability, str):
            single.append(("probability", probability))
        elif isinstance(probability, dict):
            listed += [(f"probability.{k}", c) for k, c in probability.items()]
        return single + listed

    @property
    def features(self) -> list[str]:
        return [*self.numerical, *self.categorical]


class MemorySpec(_Strict):
    """When a run stops loading its data whole, and how much its drift stage may hold."""

    max_cells_in_memory: int = Field(20_000_000, ge=1)
    """(Window + reference rows) x columns read above which a run reads them in chunks and
    column groups instead of loading them whole (20M cells: ~0.3-0.6 GB of frames)."""
    chunk_rows: int = Field(250_000, ge=1)
    """Rows per chunk when reading in chunks: profiling's memory follows it."""
    budget_mb: float = Field(512, ge=1)
    """Working memory when reading in chunks: columns are read (profiled, tested for drift) in
    groups that fit it."""


class MonitorSpec(_Strict):
    name: Annotated[str, Field(min_length=1, max_length=200)]
    """Model name: the key of everything stored for it."""
    task: Task
    window: WindowSpec = WindowSpec()
    sources: SourcesSpec
    columns: ColumnsSpec
    drift: DriftSettings = DriftSettings()
    """Drift method, thresholds and verdict mode, globally and per column."""
    policy: PolicySpec = PolicySpec()
    actions: ActionsSpec = ActionsSpec()
    alerts: AlertsSpec = AlertsSpec()
    memory: MemorySpec = MemorySpec()
    """Limits for windows too large to load whole."""
    base_dir: Path = Path(".")
    """Folder that relative source paths resolve against (set by load_spec)."""

    @model_validator(mode="after")
    def _check_roles(self) -> MonitorSpec:
        problems = _role_conflicts(self.columns) + _task_requirements(self) + _drift_columns(self)
        problems += task_problems(self.actions, self.task.value)
        if problems:
            raise PydanticCustomError("spec", "\n".join(problems))
        return self


def _role_conflicts(columns: ColumnsSpec) -> list[str]:
    seen: dict[str, str] = {}
    problems = []
    for key, column in columns.roles():
        if column in seen:
            problems.append(f"columns.{key}: {column!r} is also listed in columns.{seen[column]}")
        else:
            seen[column] = key.split("[")[0]
    for index, column in enumerate(columns.segments):
        if column not in columns.categorical:
            problems.append(
                f"columns.segments[{index}]: {column!r} must also be listed in columns.categorical"
            )
    if not columns.features:
        problems.append("columns: list at least one column under numerical or categorical")
    return problems


def _drift_columns(spec: MonitorSpec) -> list[str]:
    monitored = {*spec.columns.features, spec.columns.prediction, spec.columns.target}
    if isinstance(spec.columns.probability, str):
        monitored.add(spec.columns.probability)
    return [
        f"drift.per_column.{name}: {name!r} is not a monitored column (columns.numerical, "
        "columns.categorical, prediction, probability or target)"
        for name in spec.drift.per_column
        if name not in monitored
    ]


def _task_requirements(spec: MonitorSpec) -> list[str]:
    columns = spec.columns
    problems = []
    if columns.prediction is None and columns.probability is None:
        problems.append("columns.prediction: name the prediction column (or columns.probability)")
    if spec.task is Task.REGRESSION and columns.probability is not None:
        problems.append("columns.probability: a regression model has no class probabilities")
    if spec.task is Task.BINARY and isinstance(columns.probability, dict):
        problems.append("columns.probability: a binary model takes one column (the positive class)")
    if spec.sources.labels is not None and columns.target is None:
        problems.append("columns.target: a labels source is given, so name the target column")
    return problems


def _format_location(loc: tuple[str | int, ...]) -> str:
    text = ""
    for part in loc:
        if isinstance(part, int):
            text += f"[{part}]"
        elif part in ("file", "sql"):
            continue
        else:
            text += f".{part}" if text else str(part)
    return text


def _allowed_keys(parent: tuple[str | int, ...]) -> list[str]:
    model: type[BaseModel] = MonitorSpec
    for part in parent:
        if part in ("file", "sql") or isinstance(part, int):
            sources: dict[str, type[BaseModel]] = {"file": FileSource, "sql": SqlSource}
            model = sources.get(str(part), model)
            continue
        annotation = model.model_fields[str(part)].annotation
        nested = [a for a in getattr(annotation, "__args__", (annotation,)) if isinstance(a, type)]
        model = next((a for a in nested if issubclass(a, BaseModel)), model)
    return [name for name in model.model_fields if name != "base_dir"]


def _problems(source: str, error: ValidationError) -> list[str]:
    lines = []
    for item in error.errors(include_url=False):
        location = _format_location(item["loc"])
        if item["type"] == "spec":
            lines += [f"{source}: {line}" for line in item["msg"].splitlines()]
        elif item["type"] == "extra_forbidden":
            allowed = ", ".join(_allowed_keys(item["loc"][:-1]))
            lines.append(f"{source}: {location}: unknown key; expected one of: {allowed}")
        elif item["type"] == "missing":
            lines.append(f"{source}: {location}: required key is missing")
        else:
            lines.append(f"{source}: {location}: {item['msg']}")
    return list(dict.fromkeys(lines))


def parse_spec(data: Any, *, source: str = "<spec>", base_dir: Path = Path(".")) -> MonitorSpec:
    """Validate a mapping (parsed YAML) into a spec; raise SpecError with every problem found."""
    if not isinstance(data, dict):
        raise SpecError([f"{source}: expected a mapping of keys (name, task, sources, ...)"])
    try:
        return MonitorSpec.model_validate({**data, "base_dir": base_dir})
    except ValidationError as error:
        raise SpecError(_problems(source, error)) from None


def load_spec(path: Path | str) -> MonitorSpec:
    """Read and validate one spec file."""
    path = Path(path)
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise SpecError([f"{path}: no such spec file"]) from None
    except yaml.YAMLError as error:
        raise SpecError([f"{path}: not valid YAML: {error}"]) from None
    return parse_spec(data, source=str(path), base_dir=path.resolve().parent)


def spec_files(target: Path) -> list[Path]:
    """The spec files a path names: the file itself, or every *.yaml/*.yml in a folder."""
    if target.is_dir():
        return sorted([*target.glob("*.yaml"), *target.glob("*.yml")])
    return [target]
