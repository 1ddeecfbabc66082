"""The monitor spec: one YAML file per model, validated on load (pydantic, strict, frozen)."""

from monitoring_lib.spec.actions import ActionsSpec, RetrainSpec, RollbackSpec
from monitoring_lib.spec.alerts import AlertsSpec, ChannelSpec
from monitoring_lib.spec.base import Decision, Severity, Strict, Task
from monitoring_lib.spec.columns import ColumnsSpec
from monitoring_lib.spec.drift import DriftSettings
from monitoring_lib.spec.monitor import MonitorSpec, SpecError, load_spec, parse_spec, spec_files
from monitoring_lib.spec.policy import Direction, PolicySpec, Rule
from monitoring_lib.spec.sources import FileSource, SourcesSpec, SqlSource
from monitoring_lib.spec.window import MemorySpec, WindowSpec

__all__ = [
    "ActionsSpec", "AlertsSpec", "ChannelSpec", "ColumnsSpec", "Decision", "Direction",
    "DriftSettings", "FileSource", "MemorySpec", "MonitorSpec", "PolicySpec", "RetrainSpec",
    "RollbackSpec", "Rule", "Severity", "SourcesSpec", "SpecError", "SqlSource", "Strict", "Task",
    "WindowSpec", "load_spec", "parse_spec", "spec_files",
]  # fmt: skip
