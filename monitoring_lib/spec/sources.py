"""Where a model's data comes from: files (globs of parquet or CSV) or SQL queries."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import (
    Discriminator,
    SecretStr,
    Tag,
    model_validator,
)
from pydantic_core import PydanticCustomError

from monitoring_lib.spec.base import Strict


class FileSource(Strict):
    path: str
    """A file or glob (relative to the spec's folder), e.g. 'data/predictions/*.parquet'."""
    format: Literal["auto", "parquet", "csv"] = "auto"
    """'auto' picks by file extension."""


class SqlSource(Strict):
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


class SourcesSpec(Strict):
    predictions: Source
    """The prediction log: timestamp, id, features, prediction (and probabilities)."""
    reference: Source
    """The reference (training) data: features, and target/prediction where available."""
    labels: Source | None = None
    """Delayed ground truth: id and target (and optionally when each label arrived)."""
