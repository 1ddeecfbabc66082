"""Parse saved pages the way a browser's tokenizer does and list their script elements."""

from __future__ import annotations

from html.parser import HTMLParser

PAYLOAD = "</script><script>alert(1)</script>"
"""A value a hostile log could carry, as a category value or a column name."""


class _Scripts(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.scripts: list[tuple[dict[str, str | None], str]] = []
        self._open: dict[str, str | None] | None = None
        self._body: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag == "script":
            self._open, self._body = dict(attrs), []

    def handle_data(self, data: str) -> None:
        if self._open is not None:
            self._body.append(data)

    def handle_endtag(self, tag: str) -> None:
        if tag == "script" and self._open is not None:
            self.scripts.append((self._open, "".join(self._body)))
            self._open = None


def script_elements(page: str) -> list[tuple[dict[str, str | None], str]]:
    """(attributes, code) of every script element, split where a browser splits them."""
    parser = _Scripts()
    parser.feed(page)
    parser.close()
    return parser.scripts


def injected_scripts(page: str) -> list[str]:
    """Script elements whose code is the payload's: what would run when the page is opened."""
    return [code for _, code in script_elements(page) if code.strip().startswith("alert(")]
