"""What the command line prints around flow runs: its own lines, Prefect's run logs only with
``--verbose``, and a failure as one final ``error:`` line (its traceback with ``--verbose``)."""

from __future__ import annotations

import logging
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Annotated

import typer
from rich import box
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from monitoring_lib.errors import DeterministicError

console = Console()
errors = Console(stderr=True)

VerboseOption = Annotated[
    bool,
    typer.Option("--verbose", "-v", help="Show Prefect's run logs, and a failure's traceback."),
]


def fail(message: str, code: int = 1) -> typer.Exit:
    """Print ``error: message`` on stderr; raise the returned Exit."""
    errors.print(f"[bold red]error:[/] {message}", highlight=False, soft_wrap=True)
    return typer.Exit(code)


def one_line(error: BaseException) -> str:
    """An error's message on one line (a spec's several problems joined by '; ')."""
    lines = [line.strip() for line in str(error).splitlines() if line.strip()]
    return "; ".join(lines) or type(error).__name__


class QuietConsole(logging.Filter):
    """Prefect's console without ``--verbose``: warnings, and errors driftwise's own tasks log.
    Prefect's INFO lines ("Finished in state Completed()") and its own error reports of a failed
    run (tracebacks included) stay in the run's logs in the UI; the command ends with the error
    in one line instead."""

    def __init__(self) -> None:
        super().__init__()
        import prefect

        self.prefect_dir = str(Path(prefect.__file__).resolve().parent)

    def filter(self, record: logging.LogRecord) -> bool:
        if record.levelno < logging.WARNING:
            return False
        from_prefect = str(Path(record.pathname).resolve()).startswith(self.prefect_dir)
        return record.levelno == logging.WARNING or not from_prefect


def _console_handlers() -> list[logging.Handler]:
    """Prefect's console handler(s): on the root logger and on the loggers that do not
    propagate to it."""
    from prefect.logging.handlers import PrefectConsoleHandler

    loggers = [logging.getLogger(), *logging.Logger.manager.loggerDict.values()]
    found = {
        id(handler): handler
        for logger in loggers
        if isinstance(logger, logging.Logger)
        for handler in logger.handlers
        if isinstance(handler, PrefectConsoleHandler)
    }
    return list(found.values())


def _quiet_prefect_console() -> None:
    """Install the quiet filter once; it stays for the rest of the process, so the temporary
    server's exit notice is quiet too."""
    for handler in _console_handlers():
        if not any(isinstance(f, QuietConsole) for f in handler.filters):
            handler.addFilter(QuietConsole())


def _loud_prefect_console() -> None:
    for handler in _console_handlers():
        for quiet in [f for f in handler.filters if isinstance(f, QuietConsole)]:
            handler.removeFilter(quiet)


@contextmanager
def flow_output(verbose: bool) -> Iterator[None]:
    """Around the flow runs of one command: Prefect's console quiet unless ``verbose``, and a
    failure turned into one ``error:`` line (re-raised with its traceback when ``verbose``).
    A ``DeterministicError`` names the file or column and the fix; anything else says where
    the traceback is."""
    if verbose:
        _loud_prefect_console()
    else:
        _quiet_prefect_console()
    try:
        yield
    except (typer.Exit, typer.Abort, KeyboardInterrupt):
        raise
    except DeterministicError as error:
        if verbose:
            raise
        raise fail(escape(one_line(error))) from None
    except Exception as error:
        if verbose:
            raise
        message = f"{type(error).__name__}: {one_line(error)} (--verbose shows the traceback)"
        raise fail(escape(message)) from None


def table(*columns: str, wrap: Sequence[str] = (), title: str | None = None) -> Table:
    """A table that keeps dates, statuses and numbers whole at any terminal width (never
    '2024-0…'): only the ``wrap`` columns (names, free text) fold, into the width that is left.
    Headers break at their spaces ('drift share' in two lines) and there are no vertical rules,
    so 80 columns hold a run's summary."""
    shown = Table(title=title, box=box.SIMPLE_HEAD)
    for name in columns:
        header = name.replace(" ", "\n")
        if name in wrap:
            shown.add_column(header, overflow="fold")
        else:
            shown.add_column(header, no_wrap=True)
    return shown
