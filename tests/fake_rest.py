"""DEX Screener's REST API as a real HTTP server on 127.0.0.1, in the test's trio run
(so MockClock drives its delays), answering `/tokens/v1/{chain}/{addresses}` with
the shapes of `../shared/vendors/dexscreener-rest.md`: prices as strings, keys
missing or null, several pairs per token, answers cut to `cut` rows, 429s with
`Retry-After`, slowness."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable
from typing import Any

import h11
import orjson
import trio

SOL = "So11111111111111111111111111111111111111112"


def pair(token: str, *, chain: str = "solana", price: str | None = "0.002391",
         liquidity: float | None = 81234.5, created_ms: float | None = 1733400000000,
         dex: str = "raydium", address: str | None = None, symbol: str = "EXM",
         quote: tuple[str, str] = (SOL, "SOL"), base: bool = True,
         extra: dict[str, Any] | None = None) -> dict[str, Any]:
    """One Pair as the reference shows it (`base=False`: the token is the quote)."""
    me = {"address": token, "name": "Example", "symbol": symbol}
    other = {"address": quote[0], "name": "Quote", "symbol": quote[1]}
    out: dict[str, Any] = {
        "chainId": chain, "dexId": dex,
        "url": f"https://dexscreener.com/{chain}/{(address or token + 'pair').lower()}",
        "pairAddress": address or f"{token}pair",
        "baseToken": me if base else other, "quoteToken": other if base else me,
        "priceNative": "0.00001234",
        "txns": {"m5": {"buys": 12, "sells": 7}, "h1": {"buys": 140, "sells": 98},
                 "h6": {"buys": 800, "sells": 650}, "h24": {"buys": 3100, "sells": 2800}},
        "volume": {"m5": 1520.3, "h1": 20431.9, "h6": 98112.0, "h24": 402113.5},
        "priceChange": {"m5": 0.8, "h1": -3.2, "h6": 12.5, "h24": 48.1},
        "fdv": 2391000, "marketCap": 2391000,
    }
    if price is not None:
        out["priceUsd"] = price
    if liquidity is not None:
        out["liquidity"] = {"usd": liquidity, "base": 17000000, "quote": 220.4}
    if created_ms is not None:
        out["pairCreatedAt"] = created_ms
    out.update(extra or {})
    return out


class FakeDexRest:
    def __init__(self) -> None:
        self.port = 0
        self.pairs: dict[tuple[str, str], list[dict[str, Any]]] = defaultdict(list)
        self.cut: int | None = None  # answer at most this many pairs (silently)
        self.delay_s = 0.0
        # Answers given before the real one, in order: (status, headers, body).
        self.refusals: list[tuple[int, list[tuple[str, str]], bytes]] = []
        self.requests: list[tuple[float, str]] = []  # (trio time, path)
        self.answer_hook: Callable[[str], None] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def add(self, token: str, *pairs: dict[str, Any], chain: str = "solana") -> None:
        self.pairs[(chain, token)].extend(pairs)

    def asked(self, prefix: str = "/tokens/v1/") -> list[str]:
        return [path for _, path in self.requests if path.startswith(prefix)]

    async def serve(self, *, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED
                    ) -> None:
        listeners = await trio.open_tcp_listeners(0, host="127.0.0.1")
        self.port = listeners[0].socket.getsockname()[1]
        async with trio.open_nursery() as nursery:
            task_status.started()
            await trio.serve_listeners(self._connection, listeners, handler_nursery=nursery)

    def _answer(self, path: str) -> tuple[int, list[tuple[str, str]], bytes]:
        if self.refusals:
            return self.refusals.pop(0)
        parts = path.strip("/").split("/")
        if len(parts) != 4 or parts[:2] != ["tokens", "v1"]:
            return 404, [], b'{"error": "not found"}'
        chain, addresses = parts[2], parts[3].split(",")
        if len(addresses) > 30:
            return 400, [], b'{"error": "too many addresses"}'
        rows: list[dict[str, Any]] = []
        for address in addresses:
            rows.extend(self.pairs.get((chain, address), []))
        if self.cut is not None:
            rows = rows[:self.cut]
        return 200, [("content-type", "application/json")], orjson.dumps(rows)

    async def _connection(self, stream: trio.SocketStream) -> None:
        conn = h11.Connection(h11.SERVER)
        try:
            while True:
                event = conn.next_event()
                if event is h11.NEED_DATA:
                    data = await stream.receive_some(65536)
                    if not data:
                        return
                    conn.receive_data(data)
                    continue
                if isinstance(event, h11.Request):
                    path = event.target.decode()
                    self.requests.append((trio.current_time(), path))
                    if self.delay_s:
                        await trio.sleep(self.delay_s)
                    status, headers, body = self._answer(path)
                    await stream.send_all(conn.send(h11.Response(
                        status_code=status,
                        headers=[*headers, ("content-length", str(len(body)))])))
                    await stream.send_all(conn.send(h11.Data(data=body)))
                    await stream.send_all(conn.send(h11.EndOfMessage()))
                elif isinstance(event, h11.EndOfMessage):
                    conn.start_next_cycle()
                elif isinstance(event, h11.ConnectionClosed):
                    return
        except (trio.BrokenResourceError, h11.RemoteProtocolError, trio.ClosedResourceError):
            return
