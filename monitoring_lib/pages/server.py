"""The small web server of ``driftwise ui``: the reports and history pages under the artifact
folder, over HTTP, so the links in Prefect artifacts and alerts open with one click.

Only pages are served: ``<model folder>/reports/*.html`` and the Evidently bundle beside them.
Profiles, model files and anything outside the artifact folder are not, whatever the path says
(``..``, encoded slashes, symbolic links). It listens on 127.0.0.1 unless told otherwise.
"""

from __future__ import annotations

import gzip
import mimetypes
from collections.abc import Callable
from functools import lru_cache, partial
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import unquote, urlsplit

from monitoring_lib.pages.html import ASSET_FOLDER, text
from monitoring_lib.pages.timeseries import PAGE_NAME

SERVED_SUFFIXES = {".html": "text/html; charset=utf-8", ".js": "text/javascript", ".woff2": ""}


def resolve_page(root: Path, url_path: str) -> Path | None:
    """The file a URL path names, or None when it is not a page this server may serve."""
    raw = unquote(urlsplit(url_path).path)
    if "\x00" in raw or "\\" in raw:
        return None
    parts = [p for p in raw.split("/") if p]
    if any(p in (".", "..") or (p.startswith(".")) for p in parts):
        return None
    allowed = (len(parts) == 3 and parts[1] == "reports") or (
        len(parts) == 4 and parts[1] == "reports" and parts[2] == ASSET_FOLDER
    )
    if not allowed or Path(parts[-1]).suffix not in SERVED_SUFFIXES:
        return None
    base = root.resolve()
    candidate = (base / Path(*parts)).resolve()
    if not candidate.is_relative_to(base) or not candidate.is_file():
        return None
    return candidate


def index_page(root: Path) -> str:
    """Every model folder with its history page and its latest reports."""
    items = []
    for folder in sorted(p for p in root.iterdir() if (p / "reports").is_dir()):
        reports = sorted(
            (p.name for p in (folder / "reports").glob("*.html") if p.name != PAGE_NAME),
            reverse=True,
        )
        name = text(folder.name)
        history = (
            f'<a href="{name}/reports/{PAGE_NAME}">history</a>'
            if (folder / "reports" / PAGE_NAME).is_file()
            else "no history page yet"
        )
        latest = " ".join(
            f'<a href="{name}/reports/{text(r)}">{text(r[:-5])}</a>' for r in reports[:14]
        )
        items.append(
            f"<li><b>{name}</b>: {history}<br><small>reports: {latest or 'none'}</small></li>"
        )
    body = "".join(items) or "<li>No reports yet.</li>"
    return (
        '<!DOCTYPE html><html lang="en"><head><meta charset="UTF-8"><title>driftwise</title>'
        "<style>body{font-family:system-ui,sans-serif;margin:24px} li{margin:10px 0}</style>"
        f"</head><body><h1>driftwise: models</h1><ul>{body}</ul></body></html>"
    )


@lru_cache(maxsize=16)
def _gzipped(path: Path, mtime_ns: int) -> bytes:
    return gzip.compress(path.read_bytes(), compresslevel=6)


class PagesHandler(BaseHTTPRequestHandler):
    """GET and HEAD of pages under ``root``; everything else is refused."""

    server_version = "driftwise-ui"

    def __init__(self, *args: object, root: Path, **kwargs: object) -> None:
        self.root = root
        super().__init__(*args, **kwargs)  # type: ignore[arg-type]

    def do_GET(self) -> None:
        self._respond(with_body=True)

    def do_HEAD(self) -> None:
        self._respond(with_body=False)

    def _respond(self, *, with_body: bool) -> None:
        if urlsplit(self.path).path in ("", "/", "/index.html"):
            self._send(index_page(self.root).encode(), SERVED_SUFFIXES[".html"], with_body)
            return
        page = resolve_page(self.root, self.path)
        if page is None:
            self.send_error(HTTPStatus.NOT_FOUND, "not a driftwise page")
            return
        kind = SERVED_SUFFIXES[page.suffix] or (mimetypes.guess_type(page.name)[0] or "")
        accepts_gzip = "gzip" in self.headers.get("Accept-Encoding", "")
        if accepts_gzip and page.suffix in (".js", ".html"):
            body = _gzipped(page, page.stat().st_mtime_ns)
            self._send(body, kind, with_body, encoding="gzip")
        else:
            self._send(page.read_bytes(), kind, with_body)

    def _send(self, body: bytes, kind: str, with_body: bool, encoding: str | None = None) -> None:
        self.send_response(HTTPStatus.OK)
        self.send_header("Content-Type", kind or "application/octet-stream")
        self.send_header("Content-Length", str(len(body)))
        self.send_header("X-Content-Type-Options", "nosniff")
        self.send_header("Referrer-Policy", "no-referrer")
        self.send_header("Cache-Control", "no-cache")
        if encoding:
            self.send_header("Content-Encoding", encoding)
            self.send_header("Vary", "Accept-Encoding")
        self.end_headers()
        if with_body:
            self.wfile.write(body)

    def log_message(self, format: str, *args: object) -> None:
        """Quiet: a person browsing reports does not need an access log on the terminal."""


def pages_server(root: Path, host: str = "127.0.0.1", port: int = 8765) -> ThreadingHTTPServer:
    """A server bound to ``host:port`` (port 0: any free port); call ``serve_forever``."""
    handler: Callable[..., PagesHandler] = partial(PagesHandler, root=root)
    return ThreadingHTTPServer((host, port), handler)
