"""A monitor run in a process of its own, with a hook in the window's persist step:

- ``die``: end the process with ``os._exit`` right after the window's metric rows are written
  inside its transaction (before the commit), having noted how many the transaction saw;
- ``barrier``: wait, inside the persist transaction before its first statement and again before
  delivering the outbox, until the test lets every run it holds there go at once (over a
  loopback socket), so concurrent runs overlap at both steps for certain.

Run as ``python -m tests.flows.persist_hooks HOOK ARG SPEC DAY [RUNS]`` from the project's
root. With RUNS > 1 the process imports the flow once, then forks into RUNS processes, each its
own flow run (importing takes longer than the run); it exits 0 only if every run completed.
"""

from __future__ import annotations

import os
import socket
import sys
import threading
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from datetime import date
from pathlib import Path
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

DIED = 9
"""The exit code of a run the ``die`` hook ended."""


def die_after_metrics(mark: Path) -> None:
    """Wrap the window's row writer: write, note the rows the transaction sees, die uncommitted."""
    from monitoring_lib.pipeline import persist
    from monitoring_lib.store.models import MetricRow

    write = persist.replace_window

    def write_then_die(session: Session, model: int, *args: Any, **kwargs: Any) -> int:
        run_id = write(session, model, *args, **kwargs)
        query = select(func.count()).select_from(MetricRow).where(MetricRow.run_id == run_id)
        mark.write_text(str(session.execute(query).scalar_one()))
        os._exit(DIED)

    persist.replace_window = write_then_die  # type: ignore[assignment]


def _wait_at(port: int) -> None:
    """Tell the test this run is here; return on its go."""
    with socket.create_connection(("127.0.0.1", port), timeout=300) as gate:
        gate.sendall(b"here\n")
        assert gate.makefile("rb").readline() == b"go\n", "released without a go"


def barrier_before_persist_and_delivery(port: int) -> None:
    """Wrap the persist step and the delivery of the outbox: each waits for the test's go."""
    from tasks import monitoring

    def held(step: Callable[..., Any]) -> Callable[..., Any]:
        def wait_then_step(*args: Any, **kwargs: Any) -> Any:
            _wait_at(port)
            return step(*args, **kwargs)

        return wait_then_step

    monitoring.persist_window = held(monitoring.persist_window)  # type: ignore[assignment]
    monitoring.deliver_pending = held(monitoring.deliver_pending)  # type: ignore[assignment]


HOOKS: dict[str, Callable[[str], None]] = {
    "die": lambda mark: die_after_metrics(Path(mark)),
    "barrier": lambda port: barrier_before_persist_and_delivery(int(port)),
}


def main(argv: Sequence[str]) -> int:
    hook, argument, spec, day, *runs = argv
    HOOKS[hook](argument)
    from flows.monitor import MonitorParams, monitor_model

    params = MonitorParams(
        spec_path=spec, window_date=date.fromisoformat(day), write_report=False, relabel_days=0
    )
    if not runs or int(runs[0]) == 1:
        monitor_model(params)
        return 0
    assert threading.active_count() == 1, "fork only before any thread starts"
    children = []
    for _ in range(int(runs[0])):
        child = os.fork()
        if child == 0:
            code = 1
            try:
                code = 0 if monitor_model(params, return_state=True).is_completed() else 1
            finally:
                sys.stdout.flush()
                sys.stderr.flush()
                os._exit(code)
        children.append(child)
    return max(os.waitstatus_to_exitcode(os.waitpid(child, 0)[1]) for child in children)


@contextmanager
def gate(runs: int, timeout: float = 300) -> Iterator[tuple[int, Callable[[], None]]]:
    """A loopback barrier for ``runs`` processes: (its port, a call that waits until every run
    has arrived at its next hold and then lets them all go at once)."""
    with socket.create_server(("127.0.0.1", 0)) as server:
        server.settimeout(timeout)

        def release() -> None:
            held = []
            try:
                while len(held) < runs:
                    connection, _ = server.accept()
                    held.append(connection)
                    assert connection.makefile("rb").readline() == b"here\n"
                for connection in held:
                    connection.sendall(b"go\n")
            finally:
                for connection in held:
                    connection.close()

        yield server.getsockname()[1], release


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
