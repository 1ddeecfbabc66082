"""`driftwise ui`: the HTML reports and each model's history page over HTTP, so the links in
Prefect artifacts and alerts open with one click."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich.console import Console
from rich.markup import escape

if TYPE_CHECKING:
    from monitoring_lib.settings import DriftwiseSettings

console = Console()
errors = Console(stderr=True)


def ui(
    specs: Annotated[
        list[Path] | None,
        typer.Argument(
            help="Monitor specs whose history pages to regenerate from the store first.",
            show_default=False,
        ),
    ] = None,
    host: Annotated[
        str | None,
        typer.Option(help="Address to listen on (default DRIFTWISE_UI_HOST, 127.0.0.1)."),
    ] = None,
    port: Annotated[
        int | None, typer.Option(help="Port (default DRIFTWISE_UI_PORT, 8765; 0: any free port).")
    ] = None,
) -> None:
    """Serve the reports and history pages under the artifact folder until Ctrl-C."""
    from monitoring_lib.pages.server import pages_server
    from monitoring_lib.settings import DriftwiseSettings

    settings = DriftwiseSettings()
    root = settings.artifacts
    if specs:
        _regenerate_history(specs, settings)
    root.mkdir(parents=True, exist_ok=True)
    server = pages_server(
        root, host or settings.ui_host, settings.ui_port if port is None else port
    )
    bound_host, bound_port = server.server_address[:2]
    console.print(
        f"serving {escape(str(root))} on http://{bound_host}:{bound_port}/ (Ctrl-C stops)",
        highlight=False,
        soft_wrap=True,
    )
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()


def _regenerate_history(specs: list[Path], settings: DriftwiseSettings) -> None:
    """Each spec's history page from the store, before serving (the flows' heavy imports)."""
    from monitoring_lib.pipeline.history import write_history_page
    from monitoring_lib.spec.monitor import SpecError, load_spec
    from monitoring_lib.store.engine import open_store

    for path in specs:
        try:
            spec = load_spec(path)
        except SpecError as error:
            errors.print(f"[bold red]error:[/] {escape(str(error))}", highlight=False)
            raise typer.Exit(1) from None
        with open_store(settings.store_url)() as session:
            page = write_history_page(session, spec, settings.artifacts)
        console.print(
            f"history of {escape(spec.name)}: {escape(str(page))}", highlight=False, soft_wrap=True
        )
