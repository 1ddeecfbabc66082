"""Small CSV files parsed once per process.

A monitor run reads the prediction log to count the window's rows, to load the window and to
rescore past windows with late labels, and a backfill runs every window in one process: a CSV
log of a few megabytes was parsed dozens of times for a handful of rows each time. Files up to
``MAX_FILE_BYTES`` are parsed whole once and kept, keyed by path and a digest of the bytes (so
a rewritten file is read again even within the file system's timestamp granularity); larger
ones are streamed chunk by chunk as before.
"""

from __future__ import annotations

import hashlib
import threading
from collections import OrderedDict
from collections.abc import Callable
from pathlib import Path

import pandas as pd

MAX_FILE_BYTES = 64 * 2**20
"""Files above this are never kept: they are read in chunks, so memory follows the chunk."""
MAX_KEPT_BYTES = 256 * 2**20
"""Total size (on disk) of the files kept at once; the least recently used go first."""

_Key = tuple[str, int, str]
_kept: OrderedDict[_Key, tuple[int, pd.DataFrame]] = OrderedDict()
_lock = threading.Lock()


def cacheable(path: Path) -> bool:
    return path.stat().st_size <= MAX_FILE_BYTES


def parsed_csv(path: Path, parse: Callable[[], pd.DataFrame]) -> pd.DataFrame:
    """The whole file as ``parse`` reads it, parsed at most once while the file is unchanged.

    Callers must not modify the frame in place (selecting columns or rows makes a new one)."""
    content = path.read_bytes()  # hashing a few MB costs a few ms; parsing them, 100s of ms
    key = (str(path.resolve()), len(content), hashlib.blake2b(content, digest_size=16).hexdigest())
    with _lock:
        if key in _kept:
            _kept.move_to_end(key)
            return _kept[key][1]
    frame = parse()
    with _lock:
        _kept[key] = (len(content), frame)
        while sum(size for size, _ in _kept.values()) > MAX_KEPT_BYTES and len(_kept) > 1:
            _kept.popitem(last=False)
    return frame


def clear() -> None:
    """Forget every kept file (tests, or a process that wants its memory back)."""
    with _lock:
        _kept.clear()
