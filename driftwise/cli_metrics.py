"""`driftwise metrics ...`: each model's latest window in Prometheus' text format."""

from __future__ import annotations

import threading
from typing import Annotated

import typer
from rich.console import Console
from rich.markup import escape

metrics_app = typer.Typer(
    help="Expose the latest values per model to Prometheus.", no_args_is_help=True
)

console = Console()
errors = Console(stderr=True)

UrlOption = Annotated[
    str | None,
    typer.Option(
        "--url", help="Store URL; default: DRIFTWISE_DATABASE_URL or the local SQLite file."
    ),
]


@metrics_app.callback()
def metrics() -> None:
    """Expose the latest values per model to Prometheus."""


def _fail(message: str) -> typer.Exit:
    errors.print(f"[bold red]error:[/] {escape(message)}", highlight=False, soft_wrap=True)
    return typer.Exit(1)


def _sessions(url: str | None):  # type: ignore[no-untyped-def]
    from monitoring_lib.settings import DriftwiseSettings
    from monitoring_lib.store.engine import SchemaNotCurrentError, open_store

    try:
        return open_store(url or DriftwiseSettings().store_url)
    except SchemaNotCurrentError as error:
        raise _fail(str(error)) from None


@metrics_app.command("serve")
def serve(
    url: UrlOption = None,
    host: Annotated[
        str | None, typer.Option(help="Listen address; default DRIFTWISE_METRICS_HOST, 127.0.0.1.")
    ] = None,
    port: Annotated[
        int | None, typer.Option(help="Port; default DRIFTWISE_METRICS_PORT or 9746.")
    ] = None,
) -> None:
    """Serve /metrics; every scrape reads the store, so it always shows the latest windows."""
    from monitoring_lib.observability.prometheus import start_metrics_server
    from monitoring_lib.settings import DriftwiseSettings

    settings = DriftwiseSettings()
    address = host or settings.metrics_host
    try:
        server, _thread = start_metrics_server(
            _sessions(url), address, settings.metrics_port if port is None else port
        )
    except OSError as error:
        raise _fail(f"cannot listen on {address}:{port}: {error.strerror or error}") from None
    console.print(
        f"serving http://{address}:{server.server_port}/metrics (Ctrl-C stops)", highlight=False
    )
    try:
        threading.Event().wait()
    except KeyboardInterrupt:
        pass
    finally:
        server.shutdown()


@metrics_app.command("show")
def show(url: UrlOption = None) -> None:
    """Print what /metrics would answer now."""
    from prometheus_client import generate_latest

    from monitoring_lib.observability.prometheus import store_registry

    typer.echo(generate_latest(store_registry(_sessions(url))).decode("utf-8"), nl=False)


@metrics_app.command("push")
def push(
    model: Annotated[str, typer.Argument(help="The model (spec name).", show_default=False)],
    url: UrlOption = None,
) -> None:
    """Push one model's latest values to DRIFTWISE_PUSHGATEWAY_URL."""
    from monitoring_lib.observability.prometheus import push_model_metrics
    from monitoring_lib.settings import DriftwiseSettings

    settings = DriftwiseSettings()
    if settings.pushgateway_url is None:
        raise _fail("no Pushgateway configured: set DRIFTWISE_PUSHGATEWAY_URL")
    result = push_model_metrics(
        _sessions(url),
        model,
        settings.pushgateway_url,
        job=settings.pushgateway_job,
        timeout=settings.pushgateway_timeout_seconds,
    )
    if not result.ok:
        raise _fail(result.message)
    console.print(result.message, highlight=False)
