"""Model files a swapped file cannot turn into code execution.

A pickle runs whatever its bytes say when it is loaded, so a model file replaced under the
artifact folder ran a shell command when a flow scored the champion. Two defences:

- the bytes are written with **skops** where the model allows it: skops rebuilds only the types
  it trusts (scikit-learn, NumPy, SciPy, plus the short list below and ``DRIFTWISE_MODEL_TRUSTED_
  TYPES``) and refuses any other at load, so its files cannot run code. A model holding a type
  outside that list (a user's own class) falls back to joblib, a pickle, with a warning;
- every file's **sha256** is registered with its version and checked before the bytes are
  parsed, whatever the format. The bytes hashed are the bytes loaded (read once), so the file
  cannot change between the check and the load.
"""

from __future__ import annotations

import hashlib
import io
import logging
import os
import tempfile
from collections.abc import Collection
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import joblib

log = logging.getLogger(__name__)

SKOPS = "skops"
JOBLIB = "joblib"
FORMATS = (SKOPS, JOBLIB)
"""File formats, also the file name suffixes: ``v3-1a2b3c4d.skops``."""

BUILT_IN_TRUSTED = (
    "numpy.dtype",
    "monitoring_lib.example_trainer.as_text",
    "monitoring_lib.actions.external.ServingModel",
)
"""Types skops asks about for the example trainer's pipeline: a NumPy dtype, and the
module-level function the pipeline calls to turn categories into text (code shipped with
driftwise, not code from the file); and the marker an external version (the serving model)
stores instead of a model."""


class ModelFileError(RuntimeError):
    """A model file cannot be loaded safely; the message names the version and the fix."""


class ModelIntegrityError(ModelFileError):
    """The file's bytes are not the ones registered: it was replaced or damaged."""


class UnverifiedModelError(ModelFileError):
    """The version has no registered hash (it predates the check): nothing vouches for it."""


@dataclass(frozen=True)
class ModelBytes:
    """A serialised model: its bytes, their format and their sha256."""

    data: bytes
    format: str
    sha256: str


def _skops() -> Any:
    """skops.io, imported at first use: importing it imports every scikit-learn estimator
    (~15 s of CPU), which a monitor run that never saves or loads a model file should not pay."""
    import skops.io

    return skops.io


def sha256_of(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def serialise(model: Any, trusted: Collection[str] = ()) -> ModelBytes:
    """skops bytes when the model reloads from them with only trusted types, else joblib's."""
    allowed = [*BUILT_IN_TRUSTED, *trusted]
    skops_io = _skops()
    try:
        data = skops_io.dumps(model)
        needed = set(skops_io.get_untrusted_types(data=data)) - set(allowed)
        if not needed:
            skops_io.loads(data, trusted=allowed)  # a file we could not load back is no use
            return ModelBytes(data, SKOPS, sha256_of(data))
        why = (
            f"it holds types skops does not trust: {sorted(needed)} (add them to "
            "DRIFTWISE_MODEL_TRUSTED_TYPES if they are yours and safe)"
        )
    except Exception as error:  # skops cannot hold every object a trainer may return
        why = f"skops cannot save it ({type(error).__name__}: {error})"
    log.warning(
        "saving %s with joblib (a pickle; its sha256 is still checked at load): %s",
        type(model).__name__,
        why,
    )
    buffer = io.BytesIO()
    joblib.dump(model, buffer)
    data = buffer.getvalue()
    return ModelBytes(data, JOBLIB, sha256_of(data))


def deserialise(
    data: bytes, *, file_format: str, sha256: str | None, what: str, trusted: Collection[str] = ()
) -> Any:
    """The model in ``data``, after its hash matched the registered one; ``what`` names the
    version (and the fix) in errors."""
    if sha256 is None:
        raise UnverifiedModelError(f"{what} has no registered sha256, so it is not loaded")
    actual = sha256_of(data)
    if actual != sha256:
        raise ModelIntegrityError(
            f"{what}: the file's sha256 is {actual}, not the registered {sha256}: it was "
            "replaced or damaged after registration, so it is not loaded"
        )
    if file_format == SKOPS:
        from skops.io.exceptions import UntrustedTypesFoundException

        try:
            return _skops().loads(data, trusted=[*BUILT_IN_TRUSTED, *trusted])
        except UntrustedTypesFoundException as error:
            raise ModelFileError(
                f"{what}: the file needs types that are not trusted here ({error}); "
                "list them in DRIFTWISE_MODEL_TRUSTED_TYPES if they are yours and safe"
            ) from error
    if file_format == JOBLIB:
        return joblib.load(io.BytesIO(data))
    raise ModelFileError(f"{what}: unknown model file format {file_format!r}")


def format_of(path: Path | str) -> str:
    """The format a registry's file name says (``.skops`` or ``.joblib``)."""
    suffix = Path(path).suffix.lstrip(".")
    if suffix not in FORMATS:
        raise ModelFileError(f"{path}: not a model file driftwise wrote (.skops or .joblib)")
    return suffix


def write_atomically(data: bytes, path: Path) -> Path:
    """Write via a temporary file and a rename: a reader never sees half a model."""
    path.parent.mkdir(parents=True, exist_ok=True)
    handle, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(handle, "wb") as out:
            out.write(data)
            out.flush()
            os.fsync(out.fileno())
        os.replace(temporary, path)
    finally:
        Path(temporary).unlink(missing_ok=True)
    return path
