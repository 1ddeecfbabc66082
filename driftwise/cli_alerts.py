"""`driftwise alerts ...`: check that a monitor's alert channels work before an alert needs them."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich.console import Console
from rich.markup import escape

if TYPE_CHECKING:
    from monitoring_lib.spec.alerts import AlertsSpec

alerts_app = typer.Typer(help="Check a monitor's alert channels.", no_args_is_help=True)

console = Console()
errors = Console(stderr=True)


@alerts_app.callback()
def alerts() -> None:
    """Check a monitor's alert channels."""


def _fail(message: str) -> typer.Exit:
    errors.print(f"[bold red]error:[/] {escape(message)}", highlight=False, soft_wrap=True)
    return typer.Exit(1)


def _load(path: Path) -> tuple[str, AlertsSpec]:
    """The model name and its alerts section, or an exit naming every problem."""
    from pydantic import ValidationError

    from monitoring_lib.spec.alerts import AlertsSpec
    from monitoring_lib.spec.monitor import SpecError, load_spec

    try:
        spec = load_spec(path)
    except SpecError as error:
        raise _fail("\n".join(error.problems)) from None
    try:
        # The spec may still hold the alerts section as plain data: validate it here either way.
        section = AlertsSpec.model_validate(spec.alerts.model_dump())
    except ValidationError as error:
        lines = [
            f"{path}: {'.'.join(str(p) for p in ('alerts', *item['loc']))}: {item['msg']}"
            for item in error.errors(include_url=False)
        ]
        raise _fail("\n".join(lines)) from None
    if not section.channels:
        raise _fail(f"{path}: alerts.channels is empty: there is nowhere to send a test message")
    return spec.name, section


@alerts_app.command("test")
def test_channels(
    spec: Annotated[Path, typer.Argument(help="The monitor spec file (YAML).", show_default=False)],
) -> None:
    """Send a test message to every channel of a spec's alerts section and say what happened.

    Secrets come from DRIFTWISE_SLACK_TOKEN, DRIFTWISE_SLACK_WEBHOOK_URL and the variables the
    spec names; nothing is stored in the outbox.
    """
    from monitoring_lib.alerts.channels.factory import channels_from_settings
    from monitoring_lib.alerts.planning import AlertContent, dedup_key
    from monitoring_lib.settings import DriftwiseSettings

    model, section = _load(spec)
    configured = channels_from_settings(section, DriftwiseSettings())
    now = datetime.now(UTC)
    content = AlertContent(
        model=model,
        window_label=now.strftime("%Y-%m-%d %H:%M UTC"),
        severity="info",
        kind="test",
        rule="test",
        decision="none",
        runbook_url=section.runbook_url,
    )
    failed = len(configured.problems)
    for problem in configured.problems:
        console.print(f"[red]✗[/] {escape(problem)}", highlight=False, soft_wrap=True)
    for channel in configured.channels:
        result = channel.post([content], [dedup_key(model, "test", now, "test")])
        if result.ok:
            console.print(f"[green]✓[/] {escape(channel.name)}: test message sent", highlight=False)
        else:
            failed += 1
            console.print(
                f"[red]✗[/] {escape(channel.name)}: {escape(result.error)}",
                highlight=False,
                soft_wrap=True,
            )
    if failed:
        raise _fail(f"{failed} of {len(section.channels)} channel(s) did not take the message")
