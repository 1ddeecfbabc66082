"""Writing HTML that holds data from production logs without letting it run.

Column names and category values come from whoever writes the prediction log. Inside a
``<script>`` block the HTML parser ends the script at the first ``</script`` whatever the
JavaScript around it means, so a category value ``</script><script>...`` would start a script of
its own. Every JSON that goes into a page passes through :func:`script_json`, every text through
:func:`text`.
"""

from __future__ import annotations

import html
import json
import os
import tempfile
from pathlib import Path
from typing import Any

ASSET_FOLDER = "_evidently"
"""Beside a model's reports: Evidently's script bundle and font, written once, linked by each."""

_SCRIPT_UNSAFE = {
    "<": "\\u003c",  # no '</script' and no '<!--' can form inside the block
    ">": "\\u003e",
    "&": "\\u0026",
    "\u2028": "\\u2028",  # line separators end a JavaScript string in older engines
    "\u2029": "\\u2029",
}


def script_json(
    value: Any, *, encoder: type[json.JSONEncoder] | None = None, allow_nan: bool = False
) -> str:
    """JSON that can sit inside a ``<script>`` element and evaluates back to ``value``.

    In JSON, ``<``, ``>`` and ``&`` can only occur inside strings, where their ``\\u`` escapes
    mean the same characters, so the data is unchanged and shown as text. ``allow_nan`` lets
    ``NaN`` through as the JavaScript literal (for script code, not for ``JSON.parse``)."""
    return escape_script_json(json.dumps(value, cls=encoder, allow_nan=allow_nan))


def escape_script_json(encoded: str) -> str:
    """Escape an already encoded JSON text for a ``<script>`` element (see ``script_json``)."""
    for unsafe, safe in _SCRIPT_UNSAFE.items():
        encoded = encoded.replace(unsafe, safe)
    return encoded


def text(value: object) -> str:
    """Any value as HTML text (also safe inside a quoted attribute)."""
    return html.escape(str(value), quote=True)


def write_atomically(path: Path, content: str | bytes) -> Path:
    """Write through a temporary file in the same folder and rename it over ``path``, so a reader
    (the browser, ``driftwise ui``, a sync to an object store) never sees half a page."""
    path.parent.mkdir(parents=True, exist_ok=True)
    data = content.encode("utf-8") if isinstance(content, str) else content
    handle, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(handle, "wb") as out:
            out.write(data)
        os.chmod(temporary, 0o644)
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise
    return path
