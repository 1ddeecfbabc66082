"""Links to pages under the artifact folder that a browser opens from the Prefect UI or Slack.

Browsers refuse ``file://`` links from a web page, so every link is an http(s) URL under a base
that serves the artifact folder: ``driftwise ui`` by default, or a team's own web server or
object-store website (``DRIFTWISE_REPORT_BASE_URL``).
"""

from __future__ import annotations

from pathlib import Path
from urllib.parse import quote


def page_url(path: Path, artifacts: Path, base_url: str) -> str:
    """``path``'s URL under ``base_url``, which serves ``artifacts``; a file outside the artifact
    folder keeps its ``file://`` URL (nothing serves it)."""
    try:
        relative = path.resolve().relative_to(artifacts.resolve())
    except ValueError:
        return path.resolve().as_uri()
    return base_url.rstrip("/") + "/" + quote(relative.as_posix())
