"""Which column of the log plays which role: time, id, features, prediction, target, segments."""

from __future__ import annotations

from monitoring_lib.spec.base import Strict


class ColumnsSpec(Strict):
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
    latency: str | None = None
    """Service health: each prediction's latency, in milliseconds."""
    status: str | None = None
    """Service health: each prediction's status; ``service.errors`` says which values are errors."""

    def roles(self) -> list[tuple[str, str]]:
        """(key, column) for every column role, in spec order, for duplicate checks."""
        single = [("timestamp", self.timestamp), ("id", self.id)]
        if self.prediction:
            single.append(("prediction", self.prediction))
        if self.target:
            single.append(("target", self.target))
        single += [(key, column) for key, column in self.service_roles()]
        listed = [(f"categorical[{i}]", c) for i, c in enumerate(self.categorical)]
        listed += [(f"numerical[{i}]", c) for i, c in enumerate(self.numerical)]
        probability = self.probability
        if isinstance(probability, str):
            single.append(("probability", probability))
        elif isinstance(probability, dict):
            listed += [(f"probability.{k}", c) for k, c in probability.items()]
        return single + listed

    def service_roles(self) -> list[tuple[str, str]]:
        """(key, column) of the service-health roles the spec names (latency, status)."""
        named = (("latency", self.latency), ("status", self.status))
        return [(key, column) for key, column in named if column]

    @property
    def service_columns(self) -> list[str]:
        """The prediction log's latency and status columns (the reference has none)."""
        return [column for _, column in self.service_roles()]

    @property
    def features(self) -> list[str]:
        return [*self.numerical, *self.categorical]
