"""A local stand-in for Slack: the Web API methods driftwise calls, and incoming webhooks.

slack-sdk takes a base URL, so the real clients talk HTTP to this server. It listens on 127.0.0.1
only, serves each request in its own thread, keeps what it received, and answers as scripted:

- ``ok``: the normal answer (the message becomes visible);
- ``rate_limited``: HTTP 429 with ``Retry-After`` (``retry_after`` seconds);
- ``server_error``: HTTP 500;
- ``hang``: record the message as posted, then wait past the client's timeout before answering
  (Slack accepted it but the client never hears so);
- ``invalid_auth``: the answer to a bad token (``ok: false`` for the Web API, 403 for a webhook).

Bounded: request bodies over 1 MB are refused, a hang lasts at most ``hang_seconds``, and the
server stops itself after ``lifetime`` seconds even if a test forgets to.
"""

from __future__ import annotations

import contextlib
import json
import threading
import time
from collections import deque
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qsl, urlsplit

BEHAVIOURS = ("ok", "rate_limited", "server_error", "hang", "invalid_auth")
ENDPOINTS = ("chat.postMessage", "conversations.history", "auth.test", "webhook", "json")
MAX_BODY = 1_000_000
MAX_RECORDED = 10_000


@dataclass(frozen=True)
class Received:
    """One request as the server saw it."""

    endpoint: str
    headers: dict[str, str]
    body: dict[str, Any]
    behaviour: str
    at: float = field(default_factory=time.monotonic)


class SlackTestServer:
    """Scriptable fake Slack on a free loopback port; use as a context manager."""

    def __init__(
        self,
        *,
        token: str,
        webhook_path: str = "/services/T000/B000/webhook-secret-path",
        retry_after: int = 1,
        hang_seconds: float = 3.0,
        lifetime: float = 60.0,
    ) -> None:
        self.token = token
        self.webhook_path = webhook_path
        self.retry_after = retry_after
        self.hang_seconds = hang_seconds
        self.lifetime = lifetime
        self.received: list[Received] = []
        self.messages: list[dict[str, Any]] = []
        self._scripts: dict[str, deque[str]] = {name: deque() for name in ENDPOINTS}
        self._lock = threading.Lock()
        self._stopping = threading.Event()
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), _handler_for(self))
        self._server.daemon_threads = True
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )
        self._timer = threading.Timer(lifetime, self.stop)
        self._timer.daemon = True

    @property
    def port(self) -> int:
        return int(self._server.server_address[1])

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/api/"

    @property
    def webhook_url(self) -> str:
        return f"http://127.0.0.1:{self.port}{self.webhook_path}"

    @property
    def json_webhook_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/hooks/json"

    def script(self, endpoint: str, *behaviours: str) -> None:
        """Answer the next requests to ``endpoint`` with ``behaviours``, then ``ok`` again."""
        if endpoint not in ENDPOINTS or any(b not in BEHAVIOURS for b in behaviours):
            raise ValueError(f"unknown endpoint {endpoint!r} or behaviour in {behaviours}")
        with self._lock:
            self._scripts[endpoint].extend(behaviours)

    def requests_to(self, endpoint: str) -> list[Received]:
        with self._lock:
            return [r for r in self.received if r.endpoint == endpoint]

    def __enter__(self) -> SlackTestServer:
        self._thread.start()
        self._timer.start()
        return self

    def __exit__(self, *_exc: object) -> None:
        self.stop()

    def stop(self) -> None:
        if self._stopping.is_set():
            return
        self._stopping.set()
        self._timer.cancel()
        self._server.shutdown()
        self._server.server_close()

    # ---- called from request threads

    def next_behaviour(self, endpoint: str) -> str:
        with self._lock:
            queue = self._scripts[endpoint]
            return queue.popleft() if queue else "ok"

    def record(self, received: Received, message: dict[str, Any] | None) -> None:
        with self._lock:
            if len(self.received) < MAX_RECORDED:
                self.received.append(received)
            if message is not None:
                message["ts"] = f"{time.time():.6f}"
                self.messages.append(message)

    def hang(self) -> None:
        self._stopping.wait(self.hang_seconds)

    def history(self, params: dict[str, Any]) -> dict[str, Any]:
        """conversations.history: newest first, metadata only when asked for, paginated."""
        oldest = float(params.get("oldest") or 0)
        with_metadata = str(params.get("include_all_metadata", "")).lower() in ("1", "true")
        limit = max(1, min(int(params.get("limit") or 100), 1000))
        offset = int(params.get("cursor") or 0)
        with self._lock:
            found = [
                m
                for m in self.messages
                if m.get("channel") == params.get("channel") and float(m["ts"]) >= oldest
            ]
        found.sort(key=lambda m: float(m["ts"]), reverse=True)
        page = found[offset : offset + limit]
        shown = [
            {"type": "message", "ts": m["ts"], "text": m.get("text", "")}
            | ({"metadata": m["metadata"]} if with_metadata and "metadata" in m else {})
            for m in page
        ]
        more = offset + limit < len(found)
        cursor = str(offset + limit) if more else ""
        return {
            "ok": True,
            "messages": shown,
            "has_more": more,
            "response_metadata": {"next_cursor": cursor},
        }


def _handler_for(server: SlackTestServer) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, format: str, *args: Any) -> None:
            """Quiet: the tests read ``server.received`` instead."""

        def do_GET(self) -> None:
            self.do_POST()

        def do_POST(self) -> None:
            url = urlsplit(self.path)
            length = int(self.headers.get("Content-Length") or 0)
            if length > MAX_BODY:
                self._reply(413, {"ok": False, "error": "request_too_large"})
                return
            raw = self.rfile.read(length).decode("utf-8") if length else ""
            body = dict(parse_qsl(url.query))
            if raw:
                is_json = "json" in (self.headers.get("Content-Type") or "")
                body.update(json.loads(raw) if is_json else dict(parse_qsl(raw)))
            if url.path.startswith("/api/"):
                self._web_api(url.path.removeprefix("/api/"), body)
            elif url.path == server.webhook_path:
                self._webhook("webhook", body, invalid=(403, "invalid_token"))
            elif url.path == "/hooks/json":
                self._webhook("json", body, invalid=(401, "unauthorized"))
            else:
                self._reply(404, "no_service")

        def _web_api(self, method: str, body: dict[str, Any]) -> None:
            if method not in ENDPOINTS:
                self._reply(404, {"ok": False, "error": "unknown_method"})
                return
            behaviour = server.next_behaviour(method)
            authorised = self.headers.get("Authorization") == f"Bearer {server.token}"
            if not authorised:
                behaviour = "invalid_auth"
            posted = method == "chat.postMessage" and behaviour in ("ok", "hang")
            message = {k: body[k] for k in ("channel", "text", "blocks", "metadata") if k in body}
            server.record(
                Received(method, dict(self.headers), body, behaviour), message if posted else None
            )
            if self._scripted_failure(
                behaviour, invalid=(200, {"ok": False, "error": "invalid_auth"})
            ):
                return
            if method == "conversations.history":
                self._reply(200, server.history(body))
            elif method == "auth.test":
                self._reply(200, {"ok": True, "team": "Test", "user": "driftwise", "bot_id": "B1"})
            else:
                self._reply(
                    200, {"ok": True, "channel": message.get("channel"), "ts": message["ts"]}
                )

        def _webhook(self, endpoint: str, body: dict[str, Any], invalid: tuple[int, str]) -> None:
            behaviour = server.next_behaviour(endpoint)
            posted = behaviour in ("ok", "hang")
            server.record(
                Received(endpoint, dict(self.headers), body, behaviour),
                {"channel": endpoint, **body} if posted else None,
            )
            if not self._scripted_failure(behaviour, invalid=invalid):
                self._reply(200, "ok")

        def _scripted_failure(self, behaviour: str, invalid: tuple[int, Any]) -> bool:
            if behaviour == "rate_limited":
                self._reply(429, "rate_limited", {"Retry-After": str(server.retry_after)})
            elif behaviour == "server_error":
                self._reply(500, "server_error")
            elif behaviour == "invalid_auth":
                self._reply(*invalid)
            elif behaviour == "hang":
                server.hang()
                self._reply(200, {"ok": True})
            return behaviour != "ok"

        def _reply(self, status: int, payload: Any, headers: dict[str, str] | None = None) -> None:
            is_text = isinstance(payload, str)
            data = (payload if is_text else json.dumps(payload)).encode("utf-8")
            # A client that gave up on a scripted hang has closed the socket: nothing to tell it.
            with contextlib.suppress(BrokenPipeError, ConnectionResetError):
                self.send_response(status)
                kind = "text/plain" if is_text else "application/json"
                self.send_header("Content-Type", f"{kind}; charset=utf-8")
                self.send_header("Content-Length", str(len(data)))
                for name, value in (headers or {}).items():
                    self.send_header(name, value)
                self.end_headers()
                self.wfile.write(data)

    return Handler
