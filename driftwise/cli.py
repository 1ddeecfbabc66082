"""The `driftwise` command line. Heavy imports (Evidently, Prefect) happen inside the commands
that need them, so `driftwise --help` and `driftwise validate` stay fast."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.markup import escape

from driftwise import __version__
from driftwise.cli_alerts import alerts_app
from driftwise.cli_db import db_app
from driftwise.cli_metrics import metrics_app
from driftwise.cli_models import models_app
from driftwise.cli_policy import policy_app
from driftwise.cli_ui import ui
from driftwise.output import VerboseOption, console, errors, fail, flow_output, table
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
labels_app = typer.Typer(help="Late labels: rescore past windows.", no_args_is_help=True)
app.add_typer(db_app, name="db")
app.add_typer(labels_app, name="labels")
app.add_typer(policy_app, name="policy")
app.add_typer(alerts_app, name="alerts")
app.add_typer(metrics_app, name="metrics")
app.add_typer(models_app, name="models")
app.command("ui")(ui)

SpecPaths = Annotated[
    list[Path],
    typer.Argument(help="Monitor spec files (YAML), or folders of them.", show_default=False),
]


@app.command()
def version() -> None:
    """Print the driftwise version."""
    console.print(__version__)


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
        raise fail(f"no spec files found in {', '.join(map(str, specs))}")
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
    """What `validate` reports for one spec file; `serve` refuses to start on the same.
    Offline, nothing but the spec is read (no pandas, pyarrow or SQL driver is imported)."""
    from monitoring_lib.spec import SpecError, load_spec

    try:
        spec = load_spec(path)
    except SpecError as error:
        return None, error.problems
    if offline:
        return spec, []
    from monitoring_lib.io.loading import check_sources

    return spec, [f"{path}: {p}" for p in check_sources(spec)]


def _print_problems(problems: list[str]) -> None:
    for problem in problems:
        errors.print(f"[red]✗[/] {problem}", highlight=False, soft_wrap=True)


SpecPath = Annotated[Path, typer.Argument(help="Monitor spec file (YAML).", show_default=False)]


def _checked_spec(path: Path) -> MonitorSpec:
    """The spec, or one error line before any flow starts (a spec's problems never get better
    by running)."""
    from monitoring_lib.spec import SpecError, load_spec

    try:
        return load_spec(path)
    except SpecError as error:
        _print_problems(error.problems)
        raise fail(
            f"{path}: {len(error.problems)} problem(s) above; fix them (`driftwise validate` "
            "checks a spec)"
        ) from None


def _print_summaries(results: list[dict[str, Any]]) -> None:
    from monitoring_lib.pipeline.summary import shown

    columns = ("model", "window", "rows", "labels", "drift share", "drifted columns", "status")
    summaries = table(*columns, wrap=["model", "drifted columns"])
    for result in results:
        summaries.add_row(
            result["model"],
            result["window"],
            str(result["rows"]),
            shown(result["label_coverage"], 2),
            shown(result["drift_share"], 2),
            ", ".join(result["drifted_columns"]) or "—",
            result["status"],
        )
    console.print(summaries)


@app.command()
def run(
    spec: SpecPath,
    date: Annotated[
        datetime | None,
        typer.Option(
            "--date",
            formats=["%Y-%m-%d"],
            metavar="YYYY-MM-DD",
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
    verbose: VerboseOption = False,
) -> None:
    """Run the monitor flow for one window, ad hoc, through Prefect."""
    _checked_spec(spec)
    prepare_prefect()
    from flows.monitor import MonitorParams, monitor_model

    day = date.date() if date else None
    with flow_output(verbose):
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
        datetime,
        typer.Option(
            formats=["%Y-%m-%d"], metavar="YYYY-MM-DD", help="Local date of the first window."
        ),
    ],
    end: Annotated[
        datetime,
        typer.Option(
            formats=["%Y-%m-%d"],
            metavar="YYYY-MM-DD",
            help="Local date of the last window (inclusive).",
        ),
    ],
    recompute: Annotated[bool, typer.Option(help="Recompute windows already complete.")] = False,
    concurrency: Annotated[int, typer.Option(min=1, max=16, help="Windows computed at once.")] = 2,
    use_current_reference: Annotated[
        bool,
        typer.Option(help="With --recompute: compare old windows with today's reference."),
    ] = False,
    reports: Annotated[
        bool, typer.Option(help="Write an Evidently HTML report per window.")
    ] = True,
    alerts: Annotated[
        bool, typer.Option(help="Raise and deliver per-window alerts (off: the summary only).")
    ] = False,
    actions: Annotated[
        bool, typer.Option(help="Let windows start retraining or rollback.")
    ] = False,
    verbose: VerboseOption = False,
) -> None:
    """Compute every window from --start to --end, both included (idempotent: complete windows
    are skipped). As in the backfill deployment's form, no alerts or actions unless asked."""
    _checked_spec(spec)
    if end < start:
        raise fail(f"--end ({end:%Y-%m-%d}) is before --start ({start:%Y-%m-%d})")
    prepare_prefect()
    from flows.backfill import BackfillParams, backfill_model

    params = BackfillParams(
        spec_path=str(spec.resolve()),
        start=start.date(),
        end=end.date(),
        recompute=recompute,
        concurrency=concurrency,
        write_reports=reports,
        send_alerts=alerts,
        allow_actions=actions,
        use_current_reference=use_current_reference,
    )
    with flow_output(verbose):
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
        raise fail(f"no monitor specs in {target}")
    specs, problems = _servable_specs(files, offline)
    if problems:
        _print_problems(problems)
        raise fail(f"nothing served: {len(problems)} problem(s) in the specs above")
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
        raise fail(
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
        typer.Option(
            formats=["%Y-%m-%d"],
            metavar="YYYY-MM-DD",
            help="Only windows starting on or after this date.",
        ),
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
        raise fail(str(error)) from None
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
    verbose: VerboseOption = False,
) -> None:
    """Simulate a credit model in production and monitor every day through Prefect: quiet while
    nothing changes, drift and a quality drop after the change, retraining behind the gate."""
    if change_after >= days:
        raise fail(f"--change-after ({change_after}) must be before the last day ({days})")
    prepare_prefect()
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    from driftwise.cli_demo import print_demo
    from flows.demo import run_demo

    columns = (
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
    )
    with flow_output(verbose), Progress(*columns, console=console, transient=False) as progress:
        task = progress.add_task("monitoring day by day", total=days)

        def on_day(_index: int, result: dict[str, Any]) -> None:
            note = f"{result['window']}: {result['status']}, decision {result['decision']}"
            progress.update(task, advance=1, description=note)

        run = run_demo(days=days, change_after=change_after, rows_per_day=rows, on_day=on_day)
    print_demo(run)
