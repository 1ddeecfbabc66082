"""A trainer that, in a process given BLOCKING_TRAINER_MARK, says it started and then never
returns (a test kills that process); elsewhere it is the example trainer."""

from __future__ import annotations

import os
import threading
from pathlib import Path
from typing import Any

from monitoring_lib.example_trainer import train as example_train


def train(*args: Any, **kwargs: Any) -> Any:
    mark = os.environ.get("BLOCKING_TRAINER_MARK")
    if mark:
        Path(mark).touch()
        threading.Event().wait()
    return example_train(*args, **kwargs)
