"""The daemon's HTTP API and status page, as a small ASGI app (served by hypercorn).

GET  /-/healthy            200 while the process serves
GET  /-/ready              200 once every source connected or failed once, one is
                           connected and the outbox is resumed; 503 otherwise
GET  /metrics              Prometheus text
GET  /api/v1/status        sources, rules, notifiers, outbox, uptime, config and hash
GET  /api/v1/alerts        what is firing now, with why, since when, the last send
GET  /api/v1/alerts/recent the last alerts (`?limit=N`, at most 500) and their delivery
POST /-/reload             reads the rules file again: {"applied", "problems"}
GET  /api/v1/silences      every silence, with its state
POST /api/v1/silences      {"rule", "token", "chain", "source", "for" | "ends", "comment"}
POST /api/v1/silences/ID/expire
GET  /                     the status page (POST /silences, /silences/ID/expire: its forms)

Mutating endpoints need `Authorization: Bearer <http.token>` unless the daemon
listens on a loopback address.
"""

from __future__ import annotations

import hmac
import ipaddress
import logging
import time
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any
from urllib.parse import parse_qs

import orjson

from rulesd import silences
from rulesd.http import metrics, page, view
from rulesd.http.model import Served
from rulesd.state.backend import StateDBError
from rulesd.state.outbox import OutboxRow

Scope = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[MutableMapping[str, Any]]]
Send = Callable[[MutableMapping[str, Any]], Awaitable[None]]
_RECENT_MAX = 500
_bug = logging.getLogger("rulesd.bug")


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


class WebApp:
    def __init__(self, daemon: Served, host: str, token: str | None) -> None:
        self.daemon = daemon
        self._open = is_loopback(host)  # loopback: mutating endpoints need no token
        self._token = token

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "lifespan":
            while True:
                message = await receive()
                if message["type"] == "lifespan.startup":
                    await send({"type": "lifespan.startup.complete"})
                elif message["type"] == "lifespan.shutdown":
                    await send({"type": "lifespan.shutdown.complete"})
                    return
        if scope["type"] != "http":
            return
        try:
            status, kind, body = await self._route(scope, receive)
        except Exception:  # a bug of ours: said once, loudly; the daemon goes on
            _bug.exception("a bug in rulesd answering %s %s; please report it",
                           scope["method"], scope["path"])
            status, kind, body = _json(500, {"error": "internal error (logged)"})
        headers = [(b"content-type", kind.encode()), (b"cache-control", b"no-store")]
        if status == 303:
            headers.append((b"location", body))
        await send({"type": "http.response.start", "status": status, "headers": headers})
        await send({"type": "http.response.body", "body": body})

    async def _route(self, scope: Scope, receive: Receive) -> tuple[int, str, bytes]:
        method, path = scope["method"], scope["path"]
        query = parse_qs(scope.get("query_string", b"").decode("latin-1"))
        daemon = self.daemon
        routes: dict[str, Callable[[], Awaitable[tuple[int, str, bytes]]]] = {
            "/-/healthy": self._healthy, "/-/ready": self._ready, "/metrics": self._metrics,
            "/api/v1/status": self._status, "/api/v1/alerts": self._alerts, "/": self._page,
        }
        if path == "/-/reload":
            if method != "POST":
                return _json(405, {"error": "POST to reload"})
            refused = self._refuse(scope)
            if refused:
                return refused
            result = await daemon.reload_file(daemon.loaded.file)
            return _json(200 if result.applied else 422,
                         {"applied": result.applied, "problems": result.problems,
                          "needs_restart": result.refused})
        if path.startswith(("/api/v1/silences", "/silences")):
            return await self._silences(scope, receive, method, path)
        if path == "/api/v1/alerts/recent" and method == "GET":
            try:
                limit = min(_RECENT_MAX, max(1, int(query.get("limit", ["50"])[0])))
            except ValueError:
                return _json(400, {"error": "limit is a number"})
            rows = await self._recent(limit)
            return _json(200, [view.row_view(r) for r in rows])
        handler = routes.get(path)
        if handler is None:
            return _json(404, {"error": f"no such endpoint: {path}"})
        if method not in ("GET", "HEAD"):
            return _json(405, {"error": f"{path} answers GET"})
        return await handler()

    async def _silences(self, scope: Scope, receive: Receive, method: str, path: str
                        ) -> tuple[int, str, bytes]:
        """The API (`/api/v1/silences`: JSON) and the page's forms (`/silences`: a form
        post, answered with a redirect to the page)."""
        daemon, now = self.daemon, self.daemon.clock.now()
        form = path.startswith("/silences")
        if method == "GET" and path == "/api/v1/silences":
            return _json(200, [silences.view(s, now) for s in await self.daemon.silences.all()])
        if method != "POST":
            return _json(405, {"error": "POST to add or expire a silence"})
        refused = self._refuse(scope)
        if refused:
            return refused
        parts = path.strip("/").split("/")
        if parts[-1] == "expire" and len(parts) >= 3:
            ended = await daemon.silences.expire(parts[-2])
            if ended is None:
                return _json(404, {"error": f"no silence {parts[-2]!r}"})
            return _back() if form else _json(200, silences.view(ended, now))
        try:
            body = await _read(receive)
            fields = {k: v[0] for k, v in parse_qs(body.decode()).items()} if form \
                else orjson.loads(body or b"{}")
            if not isinstance(fields, dict):
                raise ValueError("expected a JSON object")
            silence = silences.new([r.name for r in daemon.loaded.rules], fields, now)
        except (ValueError, UnicodeDecodeError, orjson.JSONDecodeError) as exc:
            return _json(400, {"error": str(exc)})
        await daemon.silences.add(silence)
        return _back() if form else _json(200, silences.view(silence, now))

    def _refuse(self, scope: Scope) -> tuple[int, str, bytes] | None:
        """Why a mutating request is not allowed, if it is not."""
        if self._open:
            return None
        if not self._token:
            return _json(403, {"error": "set http.token in the rules file to allow this on "
                                        "a non-loopback address"})
        headers = dict(scope.get("headers", []))
        given = headers.get(b"authorization", b"").decode("latin-1")
        if not hmac.compare_digest(given, f"Bearer {self._token}"):
            return _json(401, {"error": "a bearer token is needed"})
        return None

    async def _healthy(self) -> tuple[int, str, bytes]:
        return 200, "text/plain; charset=utf-8", b"OK\n"

    async def _ready(self) -> tuple[int, str, bytes]:
        ok, text = view.readiness(self.daemon)
        return (200 if ok else 503), "text/plain; charset=utf-8", f"{text}\n".encode()

    # The database may be out of reach (a standby waiting for PostgreSQL): the pages
    # and the API still answer, with what is known.
    async def _counts(self) -> dict[str, int]:
        daemon = self.daemon
        try:
            return await daemon.delivery.call(daemon.db.outbox_counts)
        except StateDBError:
            return {}

    async def _recent(self, limit: int) -> list[OutboxRow]:
        daemon = self.daemon
        try:
            return await daemon.delivery.call(daemon.db.recent, limit)
        except StateDBError:
            return []

    async def _metrics(self) -> tuple[int, str, bytes]:
        body = metrics.exposition(self.daemon, await self._counts(), time.time())
        return 200, "text/plain; version=0.0.4; charset=utf-8", body

    async def _status(self) -> tuple[int, str, bytes]:
        return _json(200, view.status(self.daemon, await self._counts(),
                                      await self.daemon.silences.all()))

    async def _firing(self) -> list[dict[str, Any]]:
        daemon = self.daemon
        rows = await self._recent(_RECENT_MAX)
        last = {}
        for row in reversed(rows):  # oldest first: the newest send of an alert wins
            last[row.delivery.alert_id] = row
        return view.firing(daemon, last)

    async def _alerts(self) -> tuple[int, str, bytes]:
        return _json(200, await self._firing())

    async def _page(self) -> tuple[int, str, bytes]:
        daemon = self.daemon
        listed = await self.daemon.silences.all()
        status = view.status(daemon, await self._counts(), listed)
        recent = [view.row_view(r) for r in await self._recent(50)]
        now = daemon.clock.now()
        shown = [silences.view(s, now) for s in listed]
        html = page.render(status, await self._firing(), recent, shown,
                           [r.name for r in daemon.loaded.rules])
        return 200, "text/html; charset=utf-8", html.encode()


async def _read(receive: Receive, limit: int = 64 * 1024) -> bytes:
    body = b""
    while True:
        message = await receive()
        chunk: bytes = message.get("body", b"")
        body += chunk
        if len(body) > limit:
            raise ValueError("request too large")
        if not message.get("more_body"):
            return body


def _back() -> tuple[int, str, bytes]:
    """After a form: back to the page (303, so a reload does not post again)."""
    return 303, "text/plain; charset=utf-8", b"/"


def _json(status: int, data: Any) -> tuple[int, str, bytes]:
    return status, "application/json", orjson.dumps(data)
