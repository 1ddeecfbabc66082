"""`driftwise models ...`: the built-in registry's versions, and vouching for a version's file."""

from __future__ import annotations

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
