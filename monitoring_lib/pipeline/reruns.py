"""Reruns of a stored window and the reference it was compared with.

A window's drift, data-quality and estimated metrics are relative to the reference; after the
reference changes (a promotion adopts new training data), rerunning an old window against
today's reference would change its verdict and overwrite it: a quiet day could turn into drift.
So each run records the reference's content hash, and a rerun against another reference is
refused with the reason, unless the caller asks for today's reference on purpose.
"""

from __future__ import annotations

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from monitoring_lib.errors import DeterministicError
from monitoring_lib.store.models import ReferenceProfile, Run
from monitoring_lib.store.repository import model_id
from monitoring_lib.windows import Window


class ReferenceChangedError(DeterministicError, RuntimeError):
    """A rerun would compare a window with a reference other than the one it was computed with."""


def _described(session: Session, model: int, content_hash: str) -> str:
    row = session.execute(
        select(ReferenceProfile).where(
            ReferenceProfile.model_id == model, ReferenceProfile.content_hash == content_hash
        )
    ).scalar_one_or_none()
    if row is None:
        return f"{content_hash[:12]}"
    return f"{content_hash[:12]} ({row.row_count:,} rows, first used {row.created_at:%Y-%m-%d})"


def check_rerun_reference(
    session: Session,
    model_name: str,
    window: Window,
    content_hash: str,
    reference_rows: int,
    *,
    use_current: bool,
) -> str | None:
    """Refuse (``ReferenceChangedError``) to store a rerun computed against another reference
    than the window's first run; with ``use_current``, allow it and return a note saying so."""
    model = model_id(session, model_name)
    if model is None:
        return None
    stored = session.execute(
        select(Run.reference_hash).where(Run.model_id == model, Run.window_start == window.start)
    ).scalar_one_or_none()
    if stored is None or stored == content_hash:
        return None
    then = _described(session, model, stored)
    now = f"{content_hash[:12]} ({reference_rows:,} rows)"
    if use_current:
        return (
            f"{model_name} {window.label}: recomputed against today's reference {now} instead "
            f"of {then}, as asked"
        )
    raise ReferenceChangedError(
        f"{model_name} {window.label}: this window was computed against the reference {then}; "
        f"the reference is now {now}. Rerunning it would compare it with today's reference and "
        "overwrite its drift. Restore that reference to rerun it as it was, or ask for today's "
        "on purpose: use_current_reference=True (driftwise run --use-current-reference)."
    )


def record_run_reference(session: Session, run_id: int, content_hash: str) -> None:
    """The reference a stored run compared its window with."""
    session.execute(update(Run).where(Run.id == run_id).values(reference_hash=content_hash))
