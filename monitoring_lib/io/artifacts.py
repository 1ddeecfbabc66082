"""Where a model's files live under the artifact folder (profiles, reports, model versions)."""

from __future__ import annotations

import hashlib
import re
from pathlib import Path


def model_folder(artifacts: Path, model: str) -> Path:
    """A filesystem-safe folder per model; the hash keeps distinct names distinct."""
    slug = re.sub(r"[^A-Za-z0-9._-]+", "-", model).strip("-.")[:60] or "model"
    digest = hashlib.sha256(model.encode()).hexdigest()[:8]
    return artifacts / f"{slug}-{digest}"
