"""When a failed task is worth another attempt: only when the error may pass next time."""

from __future__ import annotations

from typing import Any

from prefect.cache_policies import NO_CACHE
from prefect.states import State

from monitoring_lib.errors import DeterministicError
from tasks import timeouts


def worth_retrying(task: object, task_run: object, state: State[Any]) -> bool:
    """Prefect's ``retry_condition_fn``: a ``DeterministicError`` (bad spec, no file matching,
    missing column, schema revision, refused rerun) fails the same way every time, so the run
    fails at once with its message; anything else (a dropped connection, a locked database)
    is retried. A step that timed out already waited its whole bound: not retried either."""
    return not isinstance(state.data, DeterministicError | TimeoutError)


STORE_STEP: dict[str, Any] = {
    "cache_policy": NO_CACHE,
    "timeout_seconds": timeouts.QUICK,
    "retries": 2,
    "retry_delay_seconds": [2, 10],
    "retry_condition_fn": worth_retrying,
}
"""Options of a short store transaction that a dropped connection or a lock may fail once."""
