"""`driftwise policy ...`: look at a monitor's policy against stored metrics without acting."""

from __future__ import annotations

from collections import Counter
from datetime import UTC, datetime, time, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Annotated
from zoneinfo import ZoneInfo

import typer
from rich.console import Console
from rich.table import Table
from rich.text import Text

from driftwise.output import table

if TYPE_CHECKING:
    from monitoring_lib.policy.rules import Evaluation, RuleResult
    from monitoring_lib.spec.monitor import MonitorSpec
    from monitoring_lib.spec.policy import PolicySpec

policy_app = typer.Typer(
    help="Check a monitor's policy against the metric store.", no_args_is_help=True
)

console = Console()
errors = Console(stderr=True)

TIME_FORMATS = ["%Y-%m-%d", "%Y-%m-%dT%H:%M", "%Y-%m-%dT%H:%M:%S", "%Y-%m-%d %H:%M"]


@policy_app.callback()
def policy() -> None:
    """Check a monitor's policy against the metric store."""


def _fail(message: str) -> typer.Exit:
    errors.print(f"[bold red]error:[/] {message}", highlight=False, soft_wrap=True)
    return typer.Exit(1)


def _load(path: Path) -> tuple[MonitorSpec, PolicySpec]:
    """The spec and its policy, or an exit naming every problem."""
    from pydantic import ValidationError

    from monitoring_lib.spec.monitor import SpecError, load_spec
    from monitoring_lib.spec.policy import PolicySpec

    try:
        spec = load_spec(path)
    except SpecError as error:
        raise _fail("\n".join(error.problems)) from None
    try:
        policy = PolicySpec.model_validate(spec.policy.model_dump())
    except ValidationError as error:
        lines = []
        for item in error.errors(include_url=False):
            location = ".".join(str(part) for part in ("policy", *item["loc"]))
            lines.append(f"{path}: {location}: {item['msg']}")
        raise _fail("\n".join(lines)) from None
    if not policy.rules:
        raise _fail(f"{path}: policy.rules is empty: there is nothing to replay")
    return spec, policy


def _aware(moment: datetime, zone: str) -> datetime:
    """A time given without an offset is read in the monitor's own time zone."""
    local = moment if moment.tzinfo else moment.replace(tzinfo=ZoneInfo(zone))
    return local.astimezone(UTC)


def _through(end: datetime, zone: str) -> datetime:
    """The exclusive bound after an inclusive ``--end``: a date takes in the windows that start
    on it (up to the next local midnight), a time the windows starting at or before it."""
    if end.tzinfo is None and end.time() == time(0):
        following = datetime.combine(end.date() + timedelta(days=1), time(0), ZoneInfo(zone))
        return following.astimezone(UTC)
    return _aware(end, zone) + timedelta(microseconds=1)


def _label(start: datetime, zone: str) -> str:
    local = start.astimezone(ZoneInfo(zone))
    return local.date().isoformat() if local.time() == time(0) else f"{local:%Y-%m-%d %H:%M}"


def _fired(result: RuleResult) -> str:
    if result.cleared:
        return "cleared"
    if result.firing and result.in_cooldown:
        return "held (cooldown)"
    if result.firing:
        return "[bold]yes[/]" if result.decision != "none" else "firing"
    return "breach" if result.breached else ""


def _number(value: float | None) -> str:
    return "—" if value is None else f"{value:.4g}"


def _statistic(result: RuleResult) -> str:
    """A CUSUM's statistic against h, or a pooled value's span and rows; '' for other rules."""
    stats = result.statistics
    if stats.get("kind") == "cusum":
        z = stats.get("z")
        shown_z = f", z {z:+.2f}" if isinstance(z, int | float) else ""
        return f"CUSUM {stats['statistic']:.3g} / h {stats['h']:g}{shown_z}"
    if stats.get("kind") == "pool":
        rows = stats.get("pooled_rows")
        shown_rows = f"{rows:,.0f} rows, " if isinstance(rows, int | float) else ""
        return f"{stats['pool']} pool: {shown_rows}{stats['pooled_windows']} windows"
    return ""


def _shown(evaluations: list[Evaluation], show_all: bool) -> list[tuple[Evaluation, RuleResult]]:
    """The rules that breached, fired or cleared (every rule with ``show_all``), per window."""
    return [
        (evaluation, result)
        for evaluation in evaluations
        for result in evaluation.results
        if show_all or result.breached or result.firing or result.cleared
    ]


def _table(rows: list[tuple[Evaluation, RuleResult]], zone: str) -> Table:
    """One line per shown rule: its reason is printed below the table, so a row never wraps
    into a column of a few characters; the statistic column appears when a CUSUM or pooled
    rule is in the policy."""
    sequential = any(result.statistics for _, result in rows)
    columns = ("window", "rule", "value", "threshold", *(("statistic",) if sequential else ()))
    replayed = table(
        *columns, "fired", "action", wrap=("rule", "statistic"),
        title="Policy replay (nothing written, nothing acted on)",
    )  # fmt: skip
    for evaluation, result in rows:
        action = "" if result.decision == "none" else str(result.decision)
        statistic = (_statistic(result),) if sequential else ()
        replayed.add_row(
            _label(evaluation.window_start, zone),
            Text(result.rule),
            _number(result.value),
            _number(result.threshold),
            *statistic,
            _fired(result),
            action,
        )
    return replayed


def _reasons(rows: list[tuple[Evaluation, RuleResult]], zone: str) -> list[Text]:
    """'window: reason', one per shown rule (plain text: '[high]' is not rich markup)."""
    return [Text(f"{_label(e.window_start, zone)} {result.reason}") for e, result in rows]


def champion_periods_text(evaluations: list[Evaluation], zone: str) -> str:
    """Which champion's baseline each stretch of windows was judged against."""
    parts: list[str] = []
    start = 0
    for index in range(1, len(evaluations) + 1):
        if index < len(evaluations) and (
            evaluations[index].baseline_version == evaluations[start].baseline_version
        ):
            continue
        first = _label(evaluations[start].window_start, zone)
        last = _label(evaluations[index - 1].window_start, zone)
        span = first if first == last else f"{first} .. {last}"
        version = evaluations[start].baseline_version
        who = "no champion" if version is None else f"champion v{version}"
        parts.append(f"{who} for {span}")
        start = index
    return "baselines: " + "; ".join(parts)


@policy_app.command("replay")
def replay(
    spec_path: Annotated[
        Path, typer.Argument(metavar="SPEC", help="The monitor spec (YAML).", show_default=False)
    ],
    start: Annotated[
        datetime,
        typer.Option(
            formats=TIME_FORMATS,
            metavar="YYYY-MM-DD",
            help="Replay windows starting on or after this date (or YYYY-MM-DDTHH:MM), in the "
            "spec's time zone.",
            show_default=False,
        ),
    ],
    end: Annotated[
        datetime | None,
        typer.Option(
            formats=TIME_FORMATS,
            metavar="YYYY-MM-DD",
            help="...up to the windows starting on this date, included, as `backfill --end` "
            "(with a time: starting at or before it). Default: now.",
            show_default=False,
        ),
    ] = None,
    show_all: Annotated[
        bool, typer.Option("--all", help="List every rule of every window, not only breaches.")
    ] = False,
) -> None:
    """Show what the policy would have decided over the stored windows from --start to --end
    (both included); acts on nothing."""
    from monitoring_lib.policy.store import replay_policy
    from monitoring_lib.settings import DriftwiseSettings
    from monitoring_lib.store.engine import SchemaNotCurrentError, open_store
    from monitoring_lib.store.repository import UnknownModelError

    spec, policy = _load(spec_path)
    zone = spec.window.timezone
    first = _aware(start, zone)
    last = _through(end, zone) if end else datetime.now(UTC)
    if last <= first:
        raise _fail(f"--end ({end:%Y-%m-%d %H:%M}) is before --start ({start:%Y-%m-%d %H:%M})")
    try:
        sessions = open_store(DriftwiseSettings().store_url)
        with sessions() as session:
            evaluations = replay_policy(session, spec.name, policy, first, last)
    except (SchemaNotCurrentError, UnknownModelError) as error:
        raise _fail(str(error)) from None
    if not evaluations:
        console.print(f"{spec.name}: no stored windows between {first} and {last}")
        return
    rows = _shown(evaluations, show_all)
    console.print(_table(rows, zone))
    for reason in _reasons(rows, zone):
        console.print(reason, highlight=False, soft_wrap=True)
    console.print(champion_periods_text(evaluations, zone), highlight=False)
    decisions = Counter(str(e.decision) for e in evaluations if e.decision != "none")
    summary = ", ".join(f"{name} x{count}" for name, count in sorted(decisions.items())) or "none"
    console.print(
        f"{spec.name}: {len(evaluations)} windows replayed; decisions: {summary}. "
        "Nothing was written and no action was taken.",
        highlight=False,
    )
