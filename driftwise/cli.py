"""The `driftwise` command line. Heavy imports (Evidently, Prefect) happen inside the commands
that need them, so `driftwise --help` and `driftwise validate` stay fast."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console

from driftwise import __version__
from driftwise.cli_policy import policy_app

app = typer.Typer(
    name="driftwise",
    help="Watch ML models in production: profile, detect drift, measure quality, alert and act.",
    no_args_is_help=True,
    rich_markup_mode="rich",
    pretty_exceptions_enable=False,
)
db_app = typer.Typer(help="Create or upgrade the metric store's schema.", no_args_is_help=True)
app.add_typer(db_app, name="db")
app.add_typer(policy_app, name="policy")

console = Console()
errors = Console(stderr=True)

SpecPaths = Annotated[
    list[Path],
    typer.Argument(help="Monitor spec files (YAML), or folders of them.", show_default=False),
]
UrlOption = Annotated[
    str | None,
    typer.Option(
        "--url", help="Store URL; default: DRIFTWISE_DATABASE_URL or the local SQLite file."
    ),
]


def _fail(message: str, code: int = 1) -> typer.Exit:
    errors.print(f"[bold red]error:[/] {message}", highlight=False, soft_wrap=True)
    return typer.Exit(code)


@app.command()
def version() -> None:
    """Print the driftwise version."""
    console.print(__version__)


def _engine(url: str | None):  # type: ignore[no-untyped-def]
    from monitoring_lib.settings import DriftwiseSettings
    from monitoring_lib.store.engine import make_engine

    return make_engine(url or DriftwiseSettings().store_url)


@db_app.command("upgrade")
def db_upgrade(
    url: UrlOption = None,
    revision: Annotated[str, typer.Option(help="Target revision.")] = "head",
) -> None:
    """Apply the migrations in sql/ to the metric store (creates it when new)."""
    from monitoring_lib.settings import safe_url
    from monitoring_lib.store.engine import current_revision, upgrade

    engine = _engine(url)
    before = current_revision(engine)
    upgrade(engine, revision)
    after = current_revision(engine)
    console.print(f"{safe_url(engine.url)}: {before or 'empty'} -> {after}", highlight=False)


@db_app.command("downgrade")
def db_downgrade(
    revision: Annotated[str, typer.Argument(help="Target revision, e.g. -1 or base.")],
    url: UrlOption = None,
) -> None:
    """Revert migrations (base removes every driftwise table)."""
    from monitoring_lib.store.engine import current_revision, downgrade

    engine = _engine(url)
    downgrade(engine, revision)
    console.print(f"now at {current_revision(engine) or 'base'}")


@db_app.command("current")
def db_current(url: UrlOption = None) -> None:
    """Show the store's schema revision and whether it is the head this code expects."""
    from monitoring_lib.settings import safe_url
    from monitoring_lib.store.engine import current_revision, head_revision

    engine = _engine(url)
    current, head = current_revision(engine), head_revision(engine)
    state = "up to date" if current == head else "run `driftwise db upgrade`"
    console.print(
        f"{safe_url(engine.url)}: at {current or 'base'}, head {head} ({state})", highlight=False
    )
    if current != head:
        raise typer.Exit(1)


@app.command()
def validate(
    specs: SpecPaths,
    offline: Annotated[bool, typer.Option(help="Check the spec only, not its sources.")] = False,
) -> None:
    """Check monitor specs, and that their sources exist and carry the named columns.

    Reads only file headers and query schemas: nothing is computed or stored.
    """
    from monitoring_lib.loading import check_sources
    from monitoring_lib.spec import SpecError, load_spec, spec_files

    failed = 0
    files = [f for target in specs for f in spec_files(target)]
    if not files:
        raise _fail(f"no spec files found in {', '.join(map(str, specs))}")
    for path in files:
        try:
            spec = load_spec(path)
            problems = [] if offline else [f"{path}: {p}" for p in check_sources(spec)]
        except SpecError as error:
            problems = error.problems
        if problems:
            failed += 1
            for problem in problems:
                errors.print(f"[red]✗[/] {problem}", highlight=False, soft_wrap=True)
        else:
            console.print(
                f"[green]✓[/] {path}: {spec.name} ({spec.task}) is valid", highlight=False
            )
    if failed:
        raise typer.Exit(1)
