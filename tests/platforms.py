"""Telegram, Discord and Slack as Apprise's real plugins meet them, on 127.0.0.1.

`Platforms` is an HTTPS proxy: a client with `HTTPS_PROXY` pointing at it opens a
CONNECT tunnel to api.telegram.org, discord.com or hooks.slack.com; the proxy
terminates TLS there with a certificate from a throwaway authority (`trustme`;
`REQUESTS_CA_BUNDLE` points at it, so certificate checks stay on) and answers as
that platform does: its success bodies, its 429s with their bodies and headers,
its errors with their real wording. Every request it received is kept, decoded,
for tests to assert on what the platform would show.
"""

from __future__ import annotations

import contextlib
import http.server
import json
import ssl
import threading
import time
from collections.abc import Iterator
from typing import Any
from urllib.parse import parse_qs, urlsplit

import attrs
import trustme

HOSTS = ("api.telegram.org", "discord.com", "hooks.slack.com")


@attrs.define
class Answer:
    """What the platform answers next: status, body (JSON-encoded unless bytes), headers."""

    status: int
    body: Any = None
    headers: dict[str, str] = attrs.field(factory=dict)


def telegram_ok() -> Answer:
    return Answer(200, {"ok": True, "result": {"message_id": 1, "chat": {"id": -100}}})


def telegram_error(code: int, description: str, retry_after: int | None = None) -> Answer:
    body: dict[str, Any] = {"ok": False, "error_code": code, "description": description}
    if retry_after is not None:
        body["parameters"] = {"retry_after": retry_after}
    return Answer(code, body)


def discord_rate_limited(retry_after: float) -> Answer:
    return Answer(429, {"message": "You are being rate limited.", "retry_after": retry_after,
                        "global": False}, {"Retry-After": str(int(retry_after + 0.999))})


def slack_error(status: int, text: str, headers: dict[str, str] | None = None) -> Answer:
    return Answer(status, text.encode(), headers or {})


_DEFAULT: dict[str, Answer] = {
    "api.telegram.org": telegram_ok(),
    "discord.com": Answer(204, b""),
    "hooks.slack.com": Answer(200, b"ok"),
}


@attrs.define
class Request:
    host: str
    method: str
    path: str
    query: dict[str, list[str]]
    body: Any  # decoded JSON when it is JSON
    at: float  # time.monotonic()
    status: int  # what was answered


class Platforms:
    """The HTTPS proxy and the three platforms behind it (start with `running()`)."""

    def __init__(self, ca: trustme.CA, ca_file: str) -> None:
        self.ca_file = ca_file
        self.requests: list[Request] = []
        self.script: dict[str, list[Answer]] = {host: [] for host in HOSTS}
        self.always: dict[str, Answer] = dict(_DEFAULT)
        self._lock = threading.Lock()
        self._contexts: dict[str, ssl.SSLContext] = {}
        for host in HOSTS:
            context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
            ca.issue_cert(host).configure_cert(context)
            self._contexts[host] = context
        self._server = self._proxy()
        self.port = self._server.server_address[1]
        self.url = f"http://127.0.0.1:{self.port}"

    def answer(self, host: str, *answers: Answer) -> None:
        """The next answers of `host`, in order; then its usual one."""
        with self._lock:
            self.script[host].extend(answers)

    def received(self, host: str) -> list[Request]:
        with self._lock:
            return [r for r in self.requests if r.host == host]

    def env(self) -> dict[str, str]:
        """What a process needs to reach the platforms through this proxy."""
        return {"HTTPS_PROXY": self.url, "https_proxy": self.url,
                "REQUESTS_CA_BUNDLE": self.ca_file, "NO_PROXY": "", "no_proxy": ""}

    def _next(self, host: str) -> Answer:
        with self._lock:
            return self.script[host].pop(0) if self.script[host] else self.always[host]

    def _proxy(self) -> http.server.ThreadingHTTPServer:
        platforms = self

        class Platform(http.server.BaseHTTPRequestHandler):
            """One platform's HTTP, inside the TLS tunnel."""

            protocol_version = "HTTP/1.1"
            host = ""

            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                raw = self.rfile.read(length)
                try:
                    body: Any = json.loads(raw)
                except ValueError:
                    body = {k: v[0] for k, v in parse_qs(raw.decode("utf-8", "replace")).items()}
                answer = platforms._next(self.host)
                parts = urlsplit(self.path)
                with platforms._lock:
                    platforms.requests.append(Request(
                        self.host, "POST", parts.path, parse_qs(parts.query), body,
                        time.monotonic(), answer.status))
                data = answer.body if isinstance(answer.body, bytes) else \
                    json.dumps(answer.body).encode() if answer.body is not None else b""
                self.send_response(answer.status)
                for name, value in answer.headers.items():
                    self.send_header(name, value)
                if not isinstance(answer.body, bytes):
                    self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            do_GET = do_POST

            def log_message(self, *args: Any) -> None:
                pass

        class Proxy(http.server.BaseHTTPRequestHandler):
            """CONNECT host:443 → TLS as that host → the platform."""

            protocol_version = "HTTP/1.1"

            def do_CONNECT(self) -> None:
                host = self.path.split(":", 1)[0]
                context = platforms._contexts.get(host)
                if context is None:  # tests never reach out
                    self.send_error(403, "not a platform of this test")
                    return
                self.send_response(200, "Connection established")
                self.end_headers()
                with contextlib.suppress(OSError, ssl.SSLError):
                    tls = context.wrap_socket(self.connection, server_side=True)
                    handler = type("Handler", (Platform,), {"host": host})
                    handler(tls, self.client_address, self.server)
                self.close_connection = True

            def log_message(self, *args: Any) -> None:
                pass

        server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Proxy)
        server.daemon_threads = True
        return server

    @contextlib.contextmanager
    def running(self) -> Iterator[Platforms]:
        thread = threading.Thread(target=self._server.serve_forever, args=(0.01,),
                                  daemon=True)
        thread.start()
        try:
            yield self
        finally:
            self._server.shutdown()
            self._server.server_close()


