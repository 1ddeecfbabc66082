"""Errors that trying again cannot fix, kept apart from those that may pass next time.

A ``DeterministicError`` (a spec that does not validate, a source with no file or no such column,
values of the wrong type, a store at another schema revision, a refused rerun) fails the same way
on every attempt: tasks do not retry it, and the command line prints it as one line saying what
is wrong, where (file, key, column) and what to change. Anything else (a dropped connection, a
locked database) may pass on a retry.
"""

from __future__ import annotations


class DeterministicError(Exception):
    """Fails the same way on every attempt: its message names the file or column and the fix."""
