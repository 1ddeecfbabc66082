"""Serve deployments until SIGINT or SIGTERM, then stop the same bounded way for both.

Prefect's `serve` stops differently per signal. Ctrl-C cancels its event loop's main task: a run
in progress is not cancelled and stays "Running" in the UI (its process may outlive serve).
SIGTERM calls `sys.exit` from inside the loop, which can cut the pausing of the schedules short.
Both wait on the API with retries: with the server gone a stop took 70 s. Here either signal asks
the runner to stop (runs in progress are cancelled, then every schedule is paused), and the wait
for that is bounded.
"""

from __future__ import annotations

import asyncio
import signal
from collections.abc import Callable, Coroutine, Iterator, Sequence
from contextlib import contextmanager
from typing import Any

from prefect.deployments.runner import RunnerDeployment
from prefect.logging import get_logger
from prefect.runner import Runner

STOP_TIMEOUT_SECONDS = 10.0
"""How long a stop may take (cancel runs, pause schedules) before the process leaves anyway."""

logger = get_logger("driftwise.serve")


class _StopRequests:
    """The first signal asks for a graceful stop; a second one cuts it short."""

    def __init__(self) -> None:
        self.stop = asyncio.Event()
        self.leave = asyncio.Event()
        self._loop = asyncio.get_running_loop()

    def from_signal_handler(self, *_args: object) -> None:
        """A signal arrived: count it on the loop (a plain handler runs outside its callbacks)."""
        self._loop.call_soon_threadsafe(self._count)

    def _count(self) -> None:
        (self.leave if self.stop.is_set() else self.stop).set()


class _Runner(Runner):
    """Prefect's runner, its SIGTERM routed to the stop requests."""

    def __init__(self, requests: _StopRequests, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self._requests = requests

    def handle_sigterm(self, *args: Any, **kwargs: Any) -> None:
        """`Runner.start` installs this for SIGTERM; the base class's exits mid-loop."""
        self._requests.from_signal_handler()


def serve_deployments(
    deployments: Sequence[RunnerDeployment],
    on_ready: Callable[[], None] = lambda: None,
    stop_timeout: float = STOP_TIMEOUT_SECONDS,
) -> str | None:
    """Serve until SIGINT or SIGTERM. None after a complete stop; otherwise why it is not (some
    schedules may then still be active, some runs still marked running)."""
    return asyncio.run(_serve(deployments, on_ready, stop_timeout))


async def _serve(
    deployments: Sequence[RunnerDeployment], on_ready: Callable[[], None], stop_timeout: float
) -> str | None:
    requests = _StopRequests()
    with _stop_on_signals(requests):
        runner = _Runner(requests, pause_on_shutdown=True, limit=None)
        for deployment in deployments:
            await runner.aadd_deployment(deployment)
        serving = asyncio.create_task(runner.start())
        if not requests.stop.is_set():
            on_ready()
        await _first_of(serving, requests.stop.wait())
        if serving.done():
            serving.result()  # the runner ended by itself: raise its error
            return None
        return await _stop(runner, serving, requests, stop_timeout)


@contextmanager
def _stop_on_signals(requests: _StopRequests) -> Iterator[None]:
    """SIGINT and SIGTERM request a stop, until the loop closes.

    Plain handlers, not the loop's: `Runner.start` replaces SIGTERM's with `handle_sigterm`,
    and a loop handler left registered beside it would count every SIGTERM twice.
    """
    signals = [signal.SIGTERM]
    # A SIGINT ignored from birth (a background job of a non-interactive shell) stays ignored:
    # Ctrl-C in that terminal is not meant for this process.
    if signal.getsignal(signal.SIGINT) is not signal.SIG_IGN:
        signals.append(signal.SIGINT)
    previous = {number: signal.signal(number, requests.from_signal_handler) for number in signals}
    try:
        yield
    finally:
        for number, handler in previous.items():
            signal.signal(number, handler)


async def _stop(
    runner: Runner, serving: asyncio.Task[None], requests: _StopRequests, timeout: float
) -> str | None:
    logger.info(
        "Stopping: cancelling runs in progress and pausing schedules "
        "(at most %g s; signal again to leave now)...",
        timeout,
    )
    graceful = asyncio.create_task(_graceful_stop(runner, serving))
    await _first_of(graceful, requests.leave.wait(), timeout=timeout)
    if graceful.done():
        error = graceful.exception()
        return None if error is None else f"{type(error).__name__}: {error}"
    graceful.cancel()
    serving.cancel()
    await asyncio.wait({graceful, serving}, timeout=1)  # a moment to unwind, no more
    if requests.leave.is_set():
        return "a second signal cut it short"
    return f"it took longer than {timeout:g} s"


async def _graceful_stop(runner: Runner, serving: asyncio.Task[None]) -> None:
    while not runner.started and not serving.done():  # the signal came while starting
        await asyncio.sleep(0.05)
    if runner.started:
        await runner.astop()
    await serving


async def _first_of(
    task: asyncio.Task[Any], other: Coroutine[Any, Any, Any], timeout: float | None = None
) -> None:
    """Wait until ``task`` or ``other`` is done (or ``timeout`` passes); ``task`` keeps running."""
    waiter = asyncio.ensure_future(other)
    await asyncio.wait({task, waiter}, timeout=timeout, return_when=asyncio.FIRST_COMPLETED)
    waiter.cancel()
