"""How flow parameters read in the Prefect UI's run form."""

from __future__ import annotations

from typing import Any


def optional_in_form(schema: dict[str, Any]) -> None:
    """JSON-schema hook for an optional parameter (``X | None = None``): the UI's form shows one
    input that may be left empty, instead of a choice of types whose 'None' branch reads
    "Property is type 'None'". Python callers still pass None; an empty input is left out."""
    branches = [branch for branch in schema.pop("anyOf", []) if branch.get("type") != "null"]
    if len(branches) == 1:
        schema.update(branches[0])
    elif branches:
        schema["anyOf"] = branches
    if schema.get("default", ...) is None:
        del schema["default"]
