"""The `driftwise` command line. Heavy imports (Evidently, Prefect) happen inside the commands
that need them, so `driftwise --help` and `driftwise validate` stay fast."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.console import Console
from rich.markup import escape

from driftwise import __version__
from driftwise.cli_alerts import alerts_app
from driftwise.cli_metrics import metrics_app
from driftwise.cli_models import models_app
from driftwise.cli_policy import policy_app
from driftwise.prefect_env import prepare_prefect

if TYPE_CHECKING:
    from monitoring_lib.spec import MonitorSpec

app = typer.Typer(
    name="driftwise",
    help="Watch ML models in production: profile, detect drift, measure quality, alert and act.",
    no_args_is_help=True,
    rich_markup_mode="rich",
    pretty_exceptions_enable=False,
)
db_app = typer.Typer(help="Create or upgrade the metric store's schema.", no_args_is_help=True)
labels_app = typer.Typer(help="Late labels: rescore past windows.", no_args_is_help=True)
app.add_typer(db_app, name="db")
app.add_typer(labels_app, name="labels")
app.add_typer(policy_app, name="policy")
app.add_typer(alerts_app, name="alerts")
app.add_typer(metrics_app, name="metrics")
app.add_typer(models_app, name="models")

console = Console()
errors = Console(stderr=True)

SpecPaths = Annotated[
    list[Path],
    typer.Argument(help="Monitor spec files (YAML), or folders of them.", show_default=False),
]
UrlOption = Annotated[
    str | None,
    typer.Option(
        "--url",
        help=(
            "Store URL, as the schema's owner; default: DRIFTWISE_MIGRATION_DATABASE_URL, else "
            "DRIFTWISE_DATABASE_URL, else the local SQLite file."
        ),
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
    """The store as migrations see it: connected as the schema's owner."""
    from monitoring_lib.settings import DriftwiseSettings
    from monitoring_lib.store.engine import make_engine

    return make_engine(url or DriftwiseSettings().migration_url)


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


@db_app.command("grant")
def db_grant(
    role: Annotated[str, typer.Argument(help="The application role the flows connect as.")],
    url: UrlOption = None,
    schema: Annotated[str, typer.Option(help="The schema driftwise's tables live in.")] = "public",
) -> None:
    """Let an application role read and write rows, now and in later migrations' tables, but
    not DROP, ALTER or TRUNCATE (PostgreSQL; run as the schema's owner after `db upgrade`)."""
    from monitoring_lib.store.engine import SchemaNotCurrentError
    from monitoring_lib.store.roles import RoleError, grant_application_role

    try:
        warnings = grant_application_role(_engine(url), role, schema)
    except (RoleError, SchemaNotCurrentError) as error:
        raise _fail(escape(str(error))) from None
    for warning in warnings:
        errors.print(f"[yellow]warning:[/] {escape(warning)}", highlight=False, soft_wrap=True)
    console.print(
        f"{role}: SELECT, INSERT, UPDATE, DELETE on driftwise's tables in {schema} (and on "
        "tables later migrations add); no DROP, ALTER or TRUNCATE",
        highlight=False,
    )


@app.command()
def validate(
    specs: SpecPaths,
    offline: Annotated[bool, typer.Option(help="Check the spec only, not its sources.")] = False,
) -> None:
    """Check monitor specs, and that their sources exist and carry the named columns.

    Reads only file headers and query schemas: nothing is computed or stored.
    """
    from monitoring_lib.spec import spec_files

    files = [f for target in specs for f in spec_files(target)]
    if not files:
        raise _fail(f"no spec files found in {', '.join(map(str, specs))}")
    failed = 0
    for path in files:
        spec, problems = _spec_problems(path, offline)
        if problems or spec is None:
            failed += 1
            _print_problems(problems)
        else:
            console.print(
                f"[green]✓[/] {path}: {spec.name} ({spec.task}) is valid", highlight=False
            )
    if failed:
        raise typer.Exit(1)


def _spec_problems(path: Path, offline: bool) -> tuple[MonitorSpec | None, list[str]]:
    """What `validate` reports for one spec file; `serve` refuses to start on the same."""
    from monitoring_lib.io.loading import check_sources
    from monitoring_lib.spec import SpecError, load_spec

    try:
        spec = load_spec(path)
    except SpecError as error:
        return None, error.problems
    return spec, [] if offline else [f"{path}: {p}" for p in check_sources(spec)]


def _print_problems(problems: list[str]) -> None:
    for problem in problems:
        errors.print(f"[red]✗[/] {problem}", highlight=False, soft_wrap=True)


SpecPath = Annotated[Path, typer.Argument(help="Monitor spec file (YAML).", show_default=False)]


def _print_summaries(results: list[dict[str, Any]]) -> None:
    from rich.table import Table

    from monitoring_lib.pipeline.summary import shown

    table = Table("model", "window", "rows", "labels", "drift share", "drifted columns", "status")
    for result in results:
        table.add_row(
            result["model"],
            result["window"],
            str(result["rows"]),
            shown(result["label_coverage"], 2),
            shown(result["drift_share"], 2),
            ", ".join(result["drifted_columns"]) or "—",
            result["status"],
        )
    console.print(table)


@app.command()
def run(
    spec: SpecPath,
    date: Annotated[
        datetime | None,
        typer.Option(
            "--date",
            formats=["%Y-%m-%d"],
            help="Local start date of the window [default: yesterday's window].",
        ),
    ] = None,
    report: Annotated[bool, typer.Option(help="Write the Evidently HTML report.")] = True,
    use_current_reference: Annotated[
        bool,
        typer.Option(
            help="Rerun a stored window against today's reference even if it was computed "
            "against another one (otherwise refused)."
        ),
    ] = False,
) -> None:
    """Run the monitor flow for one window, ad hoc, through Prefect."""
    prepare_prefect()
    from flows.monitor import MonitorParams, monitor_model

    day = date.date() if date else None
    result = monitor_model(
        MonitorParams(
            spec_path=str(spec.resolve()), window_date=day, write_report=report,
            use_current_reference=use_current_reference,
        )
    )  # fmt: skip
    _print_summaries([result])
    if result.get("report_path"):
        console.print(f"report: {result['report_path']}", highlight=False)


@app.command()
def backfill(
    spec: SpecPath,
    start: Annotated[
        datetime, typer.Option(formats=["%Y-%m-%d"], help="Local date of the first window.")
    ],
    end: Annotated[
        datetime,
        typer.Option(formats=["%Y-%m-%d"], help="Local date of the last window (inclusive)."),
    ],
    recompute: Annotated[bool, typer.Option(help="Recompute windows already complete.")] = False,
    concurrency: Annotated[int, typer.Option(min=1, max=16, help="Windows computed at once.")] = 2,
    use_current_reference: Annotated[
        bool,
        typer.Option(help="With --recompute: compare old windows with today's reference."),
    ] = False,
) -> None:
    """Compute every window in a date range (idempotent: complete windows are skipped)."""
    prepare_prefect()
    from flows.backfill import BackfillParams, backfill_model

    params = BackfillParams(
        spec_path=str(spec.resolve()),
        start=start.date(),
        end=end.date(),
        recompute=recompute,
        concurrency=concurrency,
        use_current_reference=use_current_reference,
    )
    state = backfill_model(params, return_state=True)
    results = state.result(raise_on_failure=False)
    if isinstance(results, list):
        _print_summaries(results)
        console.print(f"{len(results)} windows computed", highlight=False)
    if state.is_failed():
        console.print(f"[red]{escape(state.message or '')}[/red]", highlight=False)
        console.print("rerun the same command to compute only the failed and missing windows")
        raise typer.Exit(1)


@app.command()
def serve(
    target: Annotated[Path, typer.Argument(help="A spec file or a folder of specs.")] = Path(
        "deployments/specs"
    ),
    offline: Annotated[
        bool, typer.Option(help="Check the specs only, not that their sources exist.")
    ] = False,
    stop_timeout: Annotated[
        float,
        typer.Option(min=1, help="Seconds a stop may take (cancel runs, pause schedules)."),
    ] = 10.0,
) -> None:
    """Serve a scheduled monitor deployment, and backfill, retrain and rollback deployments, per
    spec until Ctrl-C or SIGTERM. Every spec is checked first, as `validate` does: one problem
    and nothing is served."""
    from monitoring_lib.spec import spec_files

    files = spec_files(target)
    if not files:
        raise _fail(f"no monitor specs in {target}")
    specs, problems = _servable_specs(files, offline)
    if problems:
        _print_problems(problems)
        raise _fail(f"nothing served: {len(problems)} problem(s) in the specs above")
    prepare_prefect()
    from flows.deployments import spec_deployments
    from flows.serving import serve_deployments

    deployments = [d for path, spec in specs for d in spec_deployments(path, spec)]

    def ready() -> None:
        console.print(f"serving {len(deployments)} deployments (stop with Ctrl-C or SIGTERM):")
        for deployment in deployments:
            console.print(f"  {deployment.flow_name}/{deployment.name}", highlight=False)

    unfinished = serve_deployments(deployments, on_ready=ready, stop_timeout=stop_timeout)
    if unfinished:
        raise _fail(
            f"stopped, but not cleanly ({unfinished}; is the Prefect API reachable?):"
            " some schedules may still be active, some runs may still show as running"
        )


def _servable_specs(
    files: list[Path], offline: bool
) -> tuple[list[tuple[Path, MonitorSpec]], list[str]]:
    """The specs, and every problem: each spec's as `validate` finds them, and model names
    that two specs share (their deployments would overwrite each other)."""
    specs: list[tuple[Path, MonitorSpec]] = []
    problems: list[str] = []
    seen: dict[str, Path] = {}
    for path in files:
        spec, found = _spec_problems(path, offline)
        problems += found
        if spec is None:
            continue
        if spec.name in seen:
            problems.append(f"{path}: model name {spec.name!r} is also used by {seen[spec.name]}")
        seen.setdefault(spec.name, path)
        specs.append((path, spec))
    return specs, problems


@labels_app.command("refresh")
def labels_refresh(
    spec: SpecPath,
    since: Annotated[
        datetime | None,
        typer.Option(formats=["%Y-%m-%d"], help="Only windows starting on or after this date."),
    ] = None,
) -> None:
    """Recompute quality for past windows whose labels arrived since; drift is left as it was."""
    from zoneinfo import ZoneInfo

    from monitoring_lib.pipeline.late_labels import refresh_labels
    from monitoring_lib.settings import DriftwiseSettings
    from monitoring_lib.spec.monitor import SpecError, load_spec
    from monitoring_lib.store.engine import open_store

    try:
        monitor = load_spec(spec)
    except SpecError as error:
        raise _fail(str(error)) from None
    start = since.replace(tzinfo=ZoneInfo(monitor.window.timezone)) if since else None
    outcomes = refresh_labels(monitor, open_store(DriftwiseSettings().store_url), since=start)
    for outcome in outcomes:
        verb = "rescored" if outcome.refreshed else "unchanged"
        counts = f"labelled rows {outcome.labelled_before} -> {outcome.labelled_now}"
        console.print(f"{outcome.window.label}: {verb} ({counts})", highlight=False)
    console.print(
        f"{sum(o.refreshed for o in outcomes)} of {len(outcomes)} windows rescored", highlight=False
    )


@app.command("demo")
def demo_command(
    days: Annotated[int, typer.Option(min=20, max=365, help="Days of traffic to simulate.")] = 60,
    change_after: Annotated[int, typer.Option(min=5, help="Days before the world changes.")] = 35,
    rows: Annotated[int, typer.Option(min=200, help="Applications scored per day.")] = 1_500,
) -> None:
    """Simulate a credit model in production and monitor every day through Prefect: quiet while
    nothing changes, drift and a quality drop after the change, retraining behind the gate."""
    if change_after >= days:
        raise _fail(f"--change-after ({change_after}) must be before the last day ({days})")
    prepare_prefect()
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    from flows.demo import run_demo

    columns = (
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
    )
    with Progress(*columns, console=console, transient=False) as progress:
        task = progress.add_task("monitoring day by day", total=days)

        def on_day(_index: int, result: dict[str, Any]) -> None:
            note = f"{result['window']}: {result['status']}, decision {result['decision']}"
            progress.update(task, advance=1, description=note)

        run = run_demo(days=days, change_after=change_after, rows_per_day=rows, on_day=on_day)
    _print_demo(run)


def _print_demo(run: Any) -> None:
    from rich.table import Table

    from monitoring_lib.pipeline.summary import shown

    table = Table(
        "day",
        "world",
        "labels",
        "drift share",
        "accuracy",
        "ROC AUC",
        "decision",
        "champion",
        title="Each day as its run saw it (labels: the share known at run time)",
    )
    events = []
    for day in run.days:
        quality = day["quality"]
        table.add_row(
            day["window"],
            day["world"],
            shown(day["label_coverage"], 2),
            shown(day["drift_share"], 2),
            shown(quality.get("accuracy")),
            shown(quality.get("roc_auc")),
            day["decision"],
            f"v{day['champion']}",
        )
        if day["decision"] != "none":
            events += [f"{day['window']}: {reason}" for reason in day["reasons"]]
    console.print(table)
    console.print("[bold]What the policy did[/]")
    for event in events or ["nothing fired"]:
        console.print(f"  {event}", highlight=False, soft_wrap=True)
    console.print(f"monitor spec: {run.world.spec_path}", highlight=False)
    console.print(f"metric store: {run.store}", highlight=False)
    console.print(f"HTML reports and profiles: {run.artifacts}", highlight=False)
    console.print(
        "see the runs and artifacts: `prefect server start`, then open http://127.0.0.1:4200",
        highlight=False,
    )
