"""The monitor spec: one YAML file per monitored model, validated on load.

Errors name the file, the key and what was expected, e.g.
``models/credit.yaml: columns.numerical[3]: 'income' is also listed in columns.categorical``.
File paths in sources are relative to the spec file's folder.
"""

from __future__ import annotations

import warnings
from pathlib import Path
from typing import Annotated, Any, Literal

import yaml
from pydantic import (
    BaseModel,
    Field,
    ValidationError,
    model_validator,
)
from pydantic_core import PydanticCustomError

from monitoring_lib.durations import parse_duration
from monitoring_lib.errors import DeterministicError
from monitoring_lib.records import TASK_METRICS
from monitoring_lib.spec.actions import ActionsSpec, task_problems
from monitoring_lib.spec.alerts import AlertsSpec
from monitoring_lib.spec.base import Strict, Task
from monitoring_lib.spec.columns import ColumnsSpec
from monitoring_lib.spec.drift import DriftSettings
from monitoring_lib.spec.policy import PolicySpec
from monitoring_lib.spec.report import ReportSettings
from monitoring_lib.spec.service import ServiceSpec, service_problems
from monitoring_lib.spec.signals import ConfidenceSettings, ImpactSettings, MultivariateSettings
from monitoring_lib.spec.sources import FileSource, SourcesSpec, SqlSource
from monitoring_lib.spec.window import ComputeSpec, MemorySpec, WindowSpec

RETRAIN_COOLDOWN_DEPRECATED = (
    "policy.retrain_cooldown is deprecated: write actions.retrain.cooldown instead ({value} is "
    "taken as that). It is the one retrain cooldown: the policy's retrain decisions and the "
    "retraining itself both follow it."
)


class SpecError(DeterministicError, ValueError):
    """A spec that cannot be used; ``problems`` holds one ``file: key: message`` line each."""

    def __init__(self, problems: list[str]) -> None:
        self.problems = problems
        super().__init__("\n".join(problems))


class MonitorSpec(Strict):
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
    compute: ComputeSpec = ComputeSpec()
    """Where a streamed window is profiled: here, or on a Dask cluster."""
    service: ServiceSpec = ServiceSpec()
    """Service health: what counts as an error, and the SLOs kept over their period."""
    rollups: list[Literal["week", "month"]] = []
    """Roll-ups to keep: each completed week (Monday to Monday) or month, local time, merged
    from the stored windows (``pipeline.rollups``) and stored as a window of its own."""
    multivariate: MultivariateSettings = MultivariateSettings()
    """Drift of the features' joint distribution (PCA reconstruction error)."""
    confidence: ConfidenceSettings = ConfidenceSettings()
    """Which predictions count as low-confidence."""
    impact: ImpactSettings = ImpactSettings()
    """Which drifted columns moved with quality over the stored history."""
    report: ReportSettings = ReportSettings()
    """The rows Evidently's HTML report is drawn from (a sample; verdicts use every row)."""
    base_dir: Path = Path(".")
    """Folder that relative source paths resolve against (set by load_spec)."""

    @model_validator(mode="before")
    @classmethod
    def _deprecated_retrain_cooldown(cls, data: Any) -> Any:
        """``policy.retrain_cooldown``: an alias of ``actions.retrain.cooldown``, with a warning."""
        policy = data.get("policy") if isinstance(data, dict) else None
        if not isinstance(policy, dict) or "retrain_cooldown" not in policy:
            return data
        old = policy["retrain_cooldown"]
        warnings.warn(RETRAIN_COOLDOWN_DEPRECATED.format(value=old), FutureWarning, stacklevel=2)
        actions = data.get("actions")
        retrain = actions.get("retrain") if isinstance(actions, dict) else None
        if not isinstance(retrain, dict):
            return data
        new = retrain.get("cooldown", old)
        try:
            differ = parse_duration(new) != parse_duration(old)
        except (TypeError, ValueError):
            return data  # the field's own validation names the bad value
        if differ:
            raise PydanticCustomError(
                "spec", "policy.retrain_cooldown ({old}) and actions.retrain.cooldown ({new}) "
                "disagree: keep only actions.retrain.cooldown", {"old": old, "new": new},
            )  # fmt: skip
        assert isinstance(actions, dict)
        return {**data, "actions": {**actions, "retrain": {**retrain, "cooldown": new}}}

    @model_validator(mode="after")
    def _check_roles(self) -> MonitorSpec:
        problems = _role_conflicts(self.columns) + _task_requirements(self) + _drift_columns(self)
        problems += _rule_metrics(self)
        problems += task_problems(self.actions, self.task.value)
        problems += service_problems(self.service, self.columns) + _slo_rules(self)
        problems += [
            f"policy.rules[{index}]: rule {rule.name!r} judges {rule.granularity} roll-ups: "
            f"list {rule.granularity!r} under rollups"
            for index, rule in enumerate(self.policy.rules)
            if rule.granularity != "window" and rule.granularity not in self.rollups
        ]
        if problems:
            raise PydanticCustomError("spec", "\n".join(problems))
        retrain = self.actions.retrain
        if retrain is not None and retrain.cooldown != self.policy.retrain_cooldown:
            # one retrain cooldown: the policy's retrain decisions follow the retraining's own
            policy = self.policy.model_copy(update={"retrain_cooldown": retrain.cooldown})
            object.__setattr__(self, "policy", policy)
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


def _slo_rules(spec: MonitorSpec) -> list[str]:
    names = [slo.name for slo in spec.service.slos]
    return [
        f"policy.rules[{index}]: rule {rule.name!r} watches SLO {rule.column!r}, which "
        f"service.slos does not declare (declared: {', '.join(names) or 'none'})"
        for index, rule in enumerate(spec.policy.rules)
        if rule.metric.startswith("slo.") and rule.column not in names
    ]


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


def _rule_metrics(spec: MonitorSpec) -> list[str]:
    """Rules on quality metrics the model's task does not store could never fire."""
    stored = TASK_METRICS[spec.task.value]
    problems = []
    for index, rule in enumerate(spec.policy.rules):
        where = f"policy.rules[{index}]: rule {rule.name!r}: {rule.metric} is not stored for a"
        if rule.metric.startswith("quality.") and rule.metric not in stored:
            problems.append(f"{where} {spec.task.value} model; it stores {', '.join(stored)}")
        if rule.metric.startswith("estimated.") and spec.task is Task.REGRESSION:
            problems.append(f"{where} regression model (its quality is not estimated)")
    return problems


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
