"""Real processes for serve tests: a `prefect server start` of their own, and `driftwise serve`."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx

PREFECT = Path(sys.executable).with_name("prefect")
STARTUP_TIMEOUT = 180.0
"""Seconds a server or `driftwise serve` may take to start on 2 busy cores."""


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _healthy(api_url: str) -> bool:
    try:
        return httpx.get(f"{api_url}/health", timeout=2).status_code == 200
    except httpx.HTTPError:
        return False


def _stop(process: subprocess.Popen[bytes], timeout: float = 30) -> None:
    """SIGTERM to the process's group (it leads one), SIGKILL if that is not enough."""
    for stop_signal in (signal.SIGTERM, signal.SIGKILL):
        with suppress(ProcessLookupError):
            os.killpg(process.pid, stop_signal)
        try:
            process.wait(timeout)
            return
        except subprocess.TimeoutExpired:
            continue


@dataclass(frozen=True)
class PrefectServer:
    api_url: str
    process: subprocess.Popen[bytes]

    def stop(self) -> None:
        _stop(self.process)


@contextmanager
def prefect_server(home: Path, **settings: str) -> Iterator[PrefectServer]:
    """A `prefect server start` on a free port with its own PREFECT_HOME, stopped after."""
    port = free_port()
    env = {
        **os.environ,
        "PREFECT_HOME": str(home),
        "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
        "PREFECT_UI_ENABLED": "false",
        **settings,
    }
    env.pop("PREFECT_API_URL", None)
    command = [str(PREFECT), "server", "start", "--host", "127.0.0.1", "--port", str(port)]
    with (home / "server.log").open("wb") as log:
        process = subprocess.Popen(
            command, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
        )
    server = PrefectServer(f"http://127.0.0.1:{port}/api", process)
    try:
        deadline = time.monotonic() + STARTUP_TIMEOUT
        while not _healthy(server.api_url):
            if process.poll() is not None or time.monotonic() > deadline:
                log_text = (home / "server.log").read_text(errors="replace")[-3000:]
                raise AssertionError(f"prefect server did not start:\n{log_text}")
            time.sleep(0.5)
        yield server
    finally:
        server.stop()


def _sigint_as_in_a_terminal() -> None:
    """A child of a background job of a non-interactive shell is born ignoring SIGINT."""
    signal.signal(signal.SIGINT, signal.SIG_DFL)


def start_serve(
    target: Path,
    api_url: str,
    log: Path,
    *args: str,
    code: Path | None = None,
    env: dict[str, str] | None = None,
) -> subprocess.Popen[bytes]:
    """`driftwise serve TARGET` against ``api_url``, output to ``log``, in a session of its own
    (so a test can stop it and every run it started by process group). ``code``: a checkout to
    import driftwise from instead (benchmarks compare versions); ``env`` adds variables."""
    env = {
        **os.environ,
        "PREFECT_API_URL": api_url,
        "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
        **(env or {}),
    }
    with log.open("wb") as output:
        return subprocess.Popen(
            [sys.executable, "-m", "driftwise", "serve", str(target), *args],
            env=env,
            stdout=output,
            stderr=subprocess.STDOUT,
            start_new_session=True,
            preexec_fn=_sigint_as_in_a_terminal,
            cwd=code,
        )


def group_alive(process: subprocess.Popen[bytes]) -> bool:
    """Whether any process of ``process``'s group (itself, the runs it started) is left."""
    try:
        os.killpg(process.pid, 0)
    except ProcessLookupError:
        return False
    return True


@contextmanager
def serving(
    target: Path, api_url: str, log: Path, *args: str, **options: Any
) -> Iterator[subprocess.Popen[bytes]]:
    """`driftwise serve` for the block's length; whatever it left running is stopped after."""
    process = start_serve(target, api_url, log, *args, **options)
    try:
        yield process
    finally:
        _stop(process)
