"""Whether a saved HTML file runs a hostile payload or shows it as text (case 29)."""

from __future__ import annotations

import json
import re
from html.parser import HTMLParser

PAYLOAD = "</script><script>alert(1)</script>"
"""A category value or column name that closes the page's script and opens its own."""
INJECTED = "alert(1)"


class _Scripts(HTMLParser):
    """The text of every <script> element as a browser tokenises it, and the page's other text."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.scripts: list[str] = []
        self.text: list[str] = []
        self._inside = False

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag == "script":
            self._inside = True
            self.scripts.append("")

    def handle_endtag(self, tag: str) -> None:
        if tag == "script":
            self._inside = False

    def handle_data(self, data: str) -> None:
        if self._inside:
            self.scripts[-1] += data
        else:
            self.text.append(data)


def _js_unescaped(text: str) -> str:
    r"""Script text with JavaScript/JSON string escapes (\u003c, \/, \") read back."""
    return re.sub(
        r"\\(u[0-9a-fA-F]{4}|/|\"|\\)",
        lambda m: json.loads(f'"\\{m.group(1)}"') if m.group(1) != "/" else "/",
        text,
    )


def injected_scripts(page: str) -> list[str]:
    """<script> elements the payload created: ones whose whole code is the injected call."""
    parser = _Scripts()
    parser.feed(page)
    return [s for s in parser.scripts if s.strip() == INJECTED]


def shows_as_text(page: str, payload: str = PAYLOAD) -> bool:
    """The payload is in the page as data: escaped in its visible text or in a script's data."""
    parser = _Scripts()
    parser.feed(page)
    if payload in "".join(parser.text):
        return True
    return any(payload in _js_unescaped(script) for script in parser.scripts)
