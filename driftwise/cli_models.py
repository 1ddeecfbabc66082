"""`driftwise models ...`: the built-in registry's versions, vouching for a version's file, and
the serving model as champion."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.markup import escape

models_app = typer.Typer(help="The built-in model registry's versions.", no_args_is_help=True)

console = Console()
errors = Console(stderr=True)

ModelName = Annotated[str, typer.Argument(help="The model's name (the spec's name).")]
UrlOption = Annotated[
    str | None,
    typer.Option(
        "--url", help="Store URL; default: DRIFTWISE_DATABASE_URL or the local SQLite file."
    ),
]


@models_app.callback()
def models() -> None:
    """The built-in model registry's versions."""


def _fail(message: str) -> typer.Exit:
    errors.print(f"[bold red]error:[/] {escape(message)}", highlight=False, soft_wrap=True)
    return typer.Exit(1)


@models_app.command("list")
def list_versions(model: ModelName, url: UrlOption = None) -> None:
    """Every version: aliases, good mark, and whether its file's hash is registered."""
    from monitoring_lib.actions.store_registry import StoreRegistry
    from monitoring_lib.settings import DriftwiseSettings
    from monitoring_lib.store.engine import open_store
    from monitoring_lib.store.repository import UnknownModelError

    settings = DriftwiseSettings()
    with open_store(url or settings.store_url)() as session:
        registry = StoreRegistry(session, settings.artifacts)
        try:
            versions = registry.versions(model)
        except UnknownModelError as error:
            raise _fail(str(error)) from None
        aliases = {name: registry.get_alias(model, name) for name in ("champion", "challenger")}
    for info in versions:
        named = [name for name, version in aliases.items() if version == info.version]
        state = f"sha256 {info.sha256[:12]}" if info.sha256 else "UNVERIFIED (no sha256)"
        good = "good" if info.is_good else "-"
        line = f"v{info.version}  {good:4}  {state}  {' '.join(named)}  {info.uri}"
        console.print(escape(line), highlight=False, soft_wrap=True)


@models_app.command("trust")
def trust(
    model: ModelName,
    version: Annotated[int, typer.Argument(help="The version whose file you checked.")],
    url: UrlOption = None,
) -> None:
    """Register the sha256 of a version's file as it is now.

    For versions registered before driftwise checked model files (loading them is refused until
    then). Run it only after checking that the file is the one you registered: from then on,
    any other file in its place is refused.
    """
    from monitoring_lib.actions.registry import UnknownVersionError
    from monitoring_lib.actions.store_registry import StoreRegistry
    from monitoring_lib.settings import DriftwiseSettings
    from monitoring_lib.store.engine import open_store
    from monitoring_lib.store.repository import UnknownModelError

    settings = DriftwiseSettings()
    try:
        with open_store(url or settings.store_url).begin() as session:
            digest = StoreRegistry(session, settings.artifacts).trust(model, version)
    except (UnknownModelError, UnknownVersionError, OSError) as error:
        raise _fail(str(error)) from None
    console.print(f"{escape(model)} v{version}: sha256 {digest} registered", highlight=False)


@models_app.command("register")
def register(
    spec_path: Annotated[
        Path, typer.Argument(metavar="SPEC", help="The monitor spec (YAML).", show_default=False)
    ],
    replace: Annotated[
        bool,
        typer.Option(help="Make the serving model the champion even if a champion exists."),
    ] = False,
    url: UrlOption = None,
) -> None:
    """Register the model whose predictions are in the log as the champion (an external version:
    its baseline from the reference's own predictions and outcomes). Monitor runs do it by
    themselves at a model's first run; this does it ahead of them, or after a change of model."""
    from monitoring_lib.actions.external import (
        can_register,
        reference_scores,
        register_serving_model,
        versions_summary,
    )
    from monitoring_lib.actions.registry import CHAMPION
    from monitoring_lib.actions.store_registry import StoreRegistry
    from monitoring_lib.io.sources import SourceError
    from monitoring_lib.settings import DriftwiseSettings
    from monitoring_lib.spec.monitor import SpecError, load_spec
    from monitoring_lib.store.engine import SchemaNotCurrentError, open_store
    from monitoring_lib.store.repository import ensure_model, require_model_id

    try:
        spec = load_spec(spec_path)
    except SpecError as error:
        raise _fail("\n".join(error.problems)) from None
    if not can_register(spec):
        raise _fail(f"{spec_path}: columns.prediction and columns.target are both needed")
    settings = DriftwiseSettings()
    try:
        with open_store(url or settings.store_url).begin() as session:
            ensure_model(session, spec.name, spec.task.value)
            require_model_id(session, spec.name, lock=True)
            registry = StoreRegistry(session, settings.artifacts)
            champion = registry.get_alias(spec.name, CHAMPION)
            if champion is not None and not replace:
                raise _fail(
                    f"{spec.name}: v{champion} is the champion already; pass --replace to make "
                    "the serving model the champion instead"
                )
            version = register_serving_model(
                registry, spec, reference_scores(spec), now=datetime.now(UTC), how="by hand"
            )
            lines = versions_summary(registry, spec.name)
    except (SchemaNotCurrentError, SourceError) as error:
        raise _fail(str(error)) from None
    console.print(
        escape(f"{spec.name}: the serving model is v{version}, the champion"), highlight=False
    )
    for line in lines:
        console.print(escape(f"  {line}"), highlight=False)
