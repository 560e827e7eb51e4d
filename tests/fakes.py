"""Real servers on 127.0.0.1 for tests: a fake DEX Screener and an HTTP sink."""

from __future__ import annotations

import contextlib
import http.server
import json
import threading
import time
from collections import Counter, defaultdict
from collections.abc import Callable
from typing import Any

import trio
import trio_websocket


class LoopbackServer:
    """A trio-websocket server on 127.0.0.1 (port 0) whose tests wait on its state."""

    def __init__(self) -> None:
        self.port = 0
        self._changed = trio.Event()

    async def handler(self, request: trio_websocket.WebSocketRequest) -> None:
        raise NotImplementedError

    def _notify(self) -> None:
        self._changed.set()
        self._changed = trio.Event()

    async def wait(self, condition: Callable[[], bool]) -> None:
        """Return once `condition()` holds (checked after every change)."""
        while not condition():
            await self._changed.wait()

    async def serve(self, *, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED
                    ) -> None:
        async with trio.open_nursery() as nursery:
            server = await nursery.start(
                trio_websocket.serve_websocket, self.handler, "127.0.0.1", 0, None)
            self.port = server.port
            task_status.started()


class FakeDexScreener(LoopbackServer):
    """Speaks DEX Screener's documented stream protocol at `/<stream>/v1`.

    `snapshots[path]` is sent to every new connection; `push` sends to the
    connections open now; `drop` closes them (the client must reconnect).
    """

    def __init__(self) -> None:
        super().__init__()
        self.snapshots: dict[str, list[str | bytes]] = defaultdict(list)
        self.connections: Counter[str] = Counter()
        self.headers: list[dict[str, str]] = []
        self.reject_status: int | None = None
        self._clients: dict[str, list[trio_websocket.WebSocketConnection]] = defaultdict(list)

    @property
    def url(self) -> str:
        return f"ws://127.0.0.1:{self.port}"

    async def handler(self, request: trio_websocket.WebSocketRequest) -> None:
        self.headers.append({k.decode().lower(): v.decode() for k, v in request.headers})
        if self.reject_status is not None:
            await request.reject(self.reject_status)
            return
        ws = await request.accept()
        path = request.path
        try:
            for frame in self.snapshots[path]:
                await ws.send_message(frame)
        except trio_websocket.ConnectionClosed:  # the client went away at once
            self.connections[path] += 1
            self._notify()
            return
        # Counted once it gets pushes: a test that waits for the connection and then
        # pushes must not push before the snapshot went out (under load it did).
        self._clients[path].append(ws)
        self.connections[path] += 1
        self._notify()
        try:
            while True:
                await ws.get_message()
        except trio_websocket.ConnectionClosed:
            pass
        finally:
            self._clients[path].remove(ws)

    async def wait_connections(self, path: str, count: int) -> None:
        await self.wait(lambda: self.connections[path] >= count)

    async def push(self, path: str, frame: str | bytes) -> None:
        """To every connection open now (one that just went away is skipped)."""
        for ws in list(self._clients[path]):
            with contextlib.suppress(trio_websocket.ConnectionClosed):
                await ws.send_message(frame)

    async def drop(self, path: str) -> None:
        for ws in list(self._clients[path]):
            await ws.aclose()


class HttpSink:
    """A local HTTP server Apprise's json:// posts to; records every message."""

    def __init__(self) -> None:
        self.messages: list[dict[str, Any]] = []
        self.status = 200
        self.script: list[int] = []  # statuses for the next requests, then `status`
        self.error_body = b""
        self.attempts: list[tuple[float, int]] = []  # (monotonic time, status answered)
        self._token = trio.lowlevel.current_trio_token()
        self._changed = trio.Event()
        sink = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length", 0))
                body = json.loads(self.rfile.read(length) or b"{}")
                status = sink.script.pop(0) if sink.script else sink.status
                sink.attempts.append((time.monotonic(), status))
                self.send_response(status)
                self.send_header("Content-Length", str(len(sink.error_body)
                                                       if status >= 300 else 0))
                self.end_headers()
                if status >= 300:
                    self.wfile.write(sink.error_body)
                else:
                    with contextlib.suppress(trio.RunFinishedError):
                        sink._token.run_sync_soon(sink._record, body)

            def log_message(self, *args: Any) -> None:
                pass

        # Polled every 10 ms, so close() returns at once (not after the default 0.5 s).
        self._server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        # Join request threads on close: none may outlive its test (a daemon thread
        # writing at interpreter exit can abort the test run).
        self._server.daemon_threads = False
        self._server.block_on_close = True
        self.port = self._server.server_address[1]
        self._thread = threading.Thread(target=self._server.serve_forever, args=(0.01,),
                                        daemon=True)
        self._thread.start()

    def url(self, path: str = "alerts") -> str:
        return f"json://127.0.0.1:{self.port}/{path}"

    def _record(self, body: dict[str, Any]) -> None:
        self.messages.append(body)
        self._changed.set()
        self._changed = trio.Event()

    async def wait_for(self, count: int) -> list[dict[str, Any]]:
        while len(self.messages) < count:
            await self._changed.wait()
        return self.messages

    def close(self) -> None:
        self._server.shutdown()
        self._server.server_close()


class FreezableProxy:
    """A TCP proxy on 127.0.0.1; `freeze()` black-holes the connections open now.

    A frozen connection stays open at the TCP level but carries nothing — the
    half-dead link that only keepalives can detect.
    """

    def __init__(self, target_port: int) -> None:
        self.target_port = target_port
        self.port = 0
        self._live: list[trio.Event] = []

    @property
    def url(self) -> str:
        return f"ws://127.0.0.1:{self.port}"

    def freeze(self) -> None:
        for frozen in self._live:
            frozen.set()

    async def _pump(self, source: trio.SocketStream, sink: trio.SocketStream,
                    frozen: trio.Event) -> None:
        try:
            async for chunk in source:
                if not frozen.is_set():
                    await sink.send_all(chunk)
        except (trio.BrokenResourceError, trio.ClosedResourceError):
            pass

    async def _handle(self, client: trio.SocketStream) -> None:
        frozen = trio.Event()
        self._live.append(frozen)
        server = await trio.open_tcp_stream("127.0.0.1", self.target_port)
        async with client, server, trio.open_nursery() as nursery:
            nursery.start_soon(self._pump, client, server, frozen)
            await self._pump(server, client, frozen)
            nursery.cancel_scope.cancel()

    async def serve(self, *, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED
                    ) -> None:
        listeners = await trio.open_tcp_listeners(0, host="127.0.0.1")
        self.port = listeners[0].socket.getsockname()[1]
        async with trio.open_nursery() as nursery:
            nursery.start_soon(trio.serve_listeners, self._handle, listeners)
            task_status.started()
