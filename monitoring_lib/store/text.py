"""Text the store can keep, whatever production data holds.

PostgreSQL refuses NUL in text columns and ``\\u0000`` in JSONB, a lone surrogate (what a
non-UTF-8 byte becomes under ``surrogateescape``) cannot be encoded at all, and a value longer
than its column fails the whole transaction. One bad category value must not make a window
unsaveable, and nothing may vanish silently: such code points are written escaped the way Python
shows them (``\\x00``, ``\\udcff``), raw bytes as their ``\\xNN`` escapes, and an over-long value is
cut with a marker that gives its full length and a hash of the whole.
"""

from __future__ import annotations

import hashlib
import re

_REFUSED = re.compile("[\x00\ud800-\udfff]")
"""NUL (refused by PostgreSQL text and JSONB) and the surrogates (refused by UTF-8)."""


def _escaped(match: re.Match[str]) -> str:
    code = ord(match.group())
    return f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}"


def store_text(value: str) -> str:
    """``value`` with every code point the store refuses written as its escape."""
    return _REFUSED.sub(_escaped, value) if _REFUSED.search(value) else value


def bytes_text(value: bytes) -> str:
    """Raw bytes as text: UTF-8 where they are, ``\\xNN`` escapes where not (NUL included)."""
    return store_text(value.decode("utf-8", "backslashreplace"))


def fit_length(value: str, length: int | None) -> str:
    """``value`` cut to ``length`` characters with a visible marker; unchanged when it fits.

    The marker names a hash of the whole value, so two long values that share their beginning
    stay two different keys.
    """
    if length is None or len(value) <= length:
        return value
    digest = hashlib.sha256(value.encode("utf-8", "surrogatepass")).hexdigest()[:12]
    marker = f"…[cut: {len(value)} chars in all, sha256 {digest}]"
    keep = max(0, length - len(marker))
    return (value[:keep] + marker)[:length]
