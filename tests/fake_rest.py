"""REST services as real HTTP(S) servers on 127.0.0.1, in the test's trio run (so
MockClock drives their delays): DEX Screener's `/tokens/v1/{chain}/{addresses}` with
the shapes of `../shared/vendors/dexscreener-rest.md` (prices as strings, keys
missing or null, several pairs per token, answers cut to `cut` rows), and GoPlus's
and RugCheck's token reports as `../shared/vendors/security-apis.md` shows them
(flags as strings, taxes as fractions, addresses lower-cased, tokens missing from
`result`, RugCheck's 404), each with 429s (`Retry-After`) and slowness."""

from __future__ import annotations

import ssl
import urllib.parse
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


class FakeRest:
    """A REST service: `_answer(path)` says what each request gets."""

    def __init__(self, tls: ssl.SSLContext | None = None) -> None:
        self.port = 0
        self.tls = tls
        self.delay_s = 0.0
        # Answers given before the real one, in order: (status, headers, body).
        self.refusals: list[tuple[int, list[tuple[str, str]], bytes]] = []
        self.requests: list[tuple[float, str]] = []  # (trio time, path)
        self.answer_hook: Callable[[str], None] | None = None
        self._heard = trio.Event()

    @property
    def url(self) -> str:
        return f"{'https' if self.tls else 'http'}://127.0.0.1:{self.port}"

    def asked(self, prefix: str = "/") -> list[str]:
        return [path for _, path in self.requests if path.startswith(prefix)]

    async def wait_requests(self, count: int) -> None:
        """Until `count` requests came (a sender's thread may take real time)."""
        while len(self.requests) < count:
            await self._heard.wait()

    async def serve(self, *, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED
                    ) -> None:
        listeners = await trio.open_tcp_listeners(0, host="127.0.0.1")
        self.port = listeners[0].socket.getsockname()[1]
        async with trio.open_nursery() as nursery:
            task_status.started()
            await trio.serve_listeners(self._tls, listeners, handler_nursery=nursery)

    async def _tls(self, stream: trio.SocketStream) -> None:
        if self.tls is None:
            await self._connection(stream)
            return
        wrapped = trio.SSLStream(stream, self.tls, server_side=True)
        try:
            await wrapped.do_handshake()
        except trio.BrokenResourceError:
            return
        await self._connection(wrapped)  # type: ignore[arg-type]

    def _next(self, path: str) -> tuple[int, list[tuple[str, str]], bytes]:
        if self.refusals:
            return self.refusals.pop(0)
        return self._answer(path)

    def _answer(self, path: str) -> tuple[int, list[tuple[str, str]], bytes]:
        raise NotImplementedError

    async def _connection(self, stream: trio.SocketStream) -> None:
        conn = h11.Connection(h11.SERVER)
        request: h11.Request | None = None
        body = b""
        try:
            while True:
                event = conn.next_event()
                if event is h11.NEED_DATA:
                    data = await stream.receive_some(65536)
                    if not data:
                        return
                    conn.receive_data(data)
                elif isinstance(event, h11.Request):
                    request, body = event, b""
                elif isinstance(event, h11.Data):
                    body += event.data
                elif isinstance(event, h11.EndOfMessage) and request is not None:
                    path = request.target.decode()
                    self.requests.append((trio.current_time(), path))
                    self.received(request, body)
                    self._heard.set()
                    self._heard = trio.Event()
                    await self.pause(path)
                    status, headers, answer = self._next(path)
                    await stream.send_all(conn.send(h11.Response(
                        status_code=status,
                        headers=[*headers, ("content-length", str(len(answer)))])))
                    await stream.send_all(conn.send(h11.Data(data=answer)))
                    await stream.send_all(conn.send(h11.EndOfMessage()))
                    conn.start_next_cycle()
                    request = None
                elif isinstance(event, h11.ConnectionClosed):
                    return
        except (trio.BrokenResourceError, h11.RemoteProtocolError, trio.ClosedResourceError):
            return

    def received(self, request: h11.Request, body: bytes) -> None:
        """A whole request came (a receiver keeps it)."""

    async def pause(self, path: str) -> None:
        """Before the answer: the service's slowness."""
        if self.delay_s:
            await trio.sleep(self.delay_s)


class FakeDexRest(FakeRest):
    def __init__(self) -> None:
        super().__init__()
        self.pairs: dict[tuple[str, str], list[dict[str, Any]]] = defaultdict(list)
        self.cut: int | None = None  # answer at most this many pairs (silently)

    def add(self, token: str, *pairs: dict[str, Any], chain: str = "solana") -> None:
        self.pairs[(chain, token)].extend(pairs)

    def _answer(self, path: str) -> tuple[int, list[tuple[str, str]], bytes]:
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

JSON = [("content-type", "application/json")]


def goplus_evm(*, honeypot: str = "0", buy_tax: str = "0", sell_tax: str = "0",
               mintable: str = "0", top: tuple[str, ...] = ("0.05", "0.03"),
               lp_locked: str | None = "0.95", **more: Any) -> dict[str, Any]:
    """A GoPlus EVM entry as real answers give it: every value a string."""
    entry: dict[str, Any] = {
        "is_honeypot": honeypot, "buy_tax": buy_tax, "sell_tax": sell_tax,
        "is_mintable": mintable, "is_proxy": "0", "is_blacklisted": "0",
        "transfer_pausable": "0", "hidden_owner": "0", "owner_change_balance": "0",
        "cannot_sell_all": "0", "is_open_source": "1", "holder_count": "1234",
        "token_name": "Example", "token_symbol": "EXM", "total_supply": "1000000000",
        "holders": [{"address": f"0x{i:040x}", "balance": "1", "percent": p, "is_locked": 0,
                     "tag": "", "is_contract": 0} for i, p in enumerate(top)],
    }
    if lp_locked is not None:
        entry["lp_holders"] = [
            {"address": "0x000000000000000000000000000000000000dead", "percent": lp_locked,
             "is_locked": 1, "tag": "Null Address"},
            {"address": "0x" + "ab" * 20, "percent": "0.05", "is_locked": 0, "tag": ""}]
    entry.update(more)
    return entry


def goplus_solana(*, mintable: str = "0", freezable: str = "0",
                  top: tuple[str, ...] = ("0.04",)) -> dict[str, Any]:
    """A GoPlus Solana entry: authorities as `{"authority": [...], "status": "0"}`."""
    return {
        "mintable": {"authority": [], "status": mintable},
        "freezable": {"authority": [], "status": freezable},
        "closable": {"authority": [], "status": "0"},
        "balance_mutable_authority": {"authority": [], "status": "0"},
        "metadata_mutable": {"metadata_upgrade_authority": [], "status": "1"},
        "holder_count": "5120",
        "holders": [{"account": f"Holder{i}", "percent": p, "is_locked": 0, "tag": ""}
                    for i, p in enumerate(top)],
        "dex": [{"dex_name": "raydium", "tvl": "51234.5", "price": "0.002"}],
    }


class FakeGoPlus(FakeRest):
    """`/api/v1/token_security/{chain id}` and `/api/v1/solana/token_security`, each
    `?contract_addresses=A,B`: `{"code": 1, "message": "OK", "result": {...}}` with EVM
    addresses lower-cased and unknown tokens left out."""

    def __init__(self, tls: ssl.SSLContext | None = None) -> None:
        super().__init__(tls)
        self.entries: dict[tuple[str, str], dict[str, Any]] = {}  # (chain id, address)

    def _answer(self, path: str) -> tuple[int, list[tuple[str, str]], bytes]:
        url = urllib.parse.urlsplit(path)
        asked = urllib.parse.parse_qs(url.query).get("contract_addresses", [""])[0]
        parts = url.path.strip("/").split("/")
        chain = "solana" if parts[:3] == ["api", "v1", "solana"] else parts[-1]
        result = {}
        for address in filter(None, asked.split(",")):
            key = address if chain == "solana" else address.lower()
            entry = self.entries.get((chain, key))
            if entry is not None:
                result[key] = entry
        return 200, JSON, orjson.dumps({"code": 1, "message": "OK", "result": result})


def rugcheck_report(mint: str, *, mint_authority: str | None = None,
                    freeze_authority: str | None = None, top: tuple[float, ...] = (4.2, 3.1),
                    lp_locked: float = 100.0, rugged: bool = False, score: int = 101,
                    risks: list[dict[str, Any]] | None = None) -> dict[str, Any]:
    """RugCheck's full report (`/v1/tokens/{mint}/report`), percents as 0-100."""
    return {
        "mint": mint, "tokenProgram": "TokenkegQfeZyiNwAJbNbGKPFXCWuBvf9Ss623VQ5DA",
        "creator": "Creator1111", "token": {"mintAuthority": mint_authority,
                                            "freezeAuthority": freeze_authority,
                                            "supply": 1000000000, "decimals": 6},
        "tokenMeta": {"name": "Example", "symbol": "EXM", "mutable": False},
        "topHolders": [{"address": f"H{i}", "pct": p, "insider": False, "uiAmount": 1}
                       for i, p in enumerate(top)],
        "risks": risks if risks is not None else [],
        "score": score, "score_normalised": min(score // 10, 100),
        "markets": [{"marketType": "raydium", "lp": {"lpLockedPct": lp_locked,
                                                     "lpLockedUSD": 40000.0}}],
        "totalMarketLiquidity": 41000.0, "totalHolders": 5200, "rugged": rugged,
    }


class FakeRugCheck(FakeRest):
    """`/v1/tokens/{mint}/report`: the report, or 404 for a mint it has none of."""

    def __init__(self, tls: ssl.SSLContext | None = None) -> None:
        super().__init__(tls)
        self.reports: dict[str, dict[str, Any]] = {}

    def _answer(self, path: str) -> tuple[int, list[tuple[str, str]], bytes]:
        parts = path.strip("/").split("/")
        if len(parts) == 4 and parts[:2] == ["v1", "tokens"] and parts[3] == "report":
            report = self.reports.get(parts[2])
            if report is not None:
                return 200, JSON, orjson.dumps(report)
        return 404, JSON, b'{"error": "not found"}'


class Receiver(FakeRest):
    """A webhook receiver: keeps each POST's headers and JSON body; answers 200 (or
    `refusals` first)."""

    def __init__(self) -> None:
        super().__init__()
        self.posts: list[tuple[dict[str, str], bytes]] = []

    def received(self, request: h11.Request, body: bytes) -> None:
        if request.method == b"POST":
            self.posts.append(({k.decode().lower(): v.decode() for k, v in request.headers},
                               body))

    def _answer(self, path: str) -> tuple[int, list[tuple[str, str]], bytes]:
        return 200, JSON, b'{"ok": true}'


class FakeBotApi(FakeRest):
    """Telegram's Bot API: `getUpdates` hands out the scripted `updates` past the asked
    offset (long-polling: an empty answer after `hold_s`), `sendMessage` is kept."""

    def __init__(self, tls: ssl.SSLContext | None = None, token: str = "") -> None:
        super().__init__(tls)
        self.token = token
        self.updates: list[dict[str, Any]] = []
        self.sent: list[dict[str, Any]] = []
        self.offsets: list[int] = []
        self.conflict = 0  # answer this many polls 409 (another consumer)
        self.calls: list[tuple[str, dict[str, Any]]] = []  # every other method called
        self._changed = trio.Event()
        # Answers one method gets before the real one: method → [(status, headers, body)].
        self.refusals_for: dict[str, list[tuple[int, list[tuple[str, str]], bytes]]] = {}
        self.reply_delay_s = 0.0  # how long each sendMessage takes to answer

    def say(self, update_id: int, user: int, chat: int, text: str) -> None:
        self.updates.append({"update_id": update_id, "message": {
            "message_id": update_id, "from": {"id": user, "is_bot": False},
            "chat": {"id": chat, "type": "supergroup"}, "date": 0, "text": text}})

    def received(self, request: h11.Request, body: bytes) -> None:
        path = request.target.decode()
        method = path.rsplit("/", 1)[-1]
        params = orjson.loads(body) if body else {}
        if method == "getUpdates":
            self.offsets.append(int(params.get("offset", 0)))
        elif method == "sendMessage":
            self.sent.append(params)
        else:
            self.calls.append((method, params))
        if method != "getUpdates":
            self._changed.set()
            self._changed = trio.Event()
        self._last = (path, params)

    def too_many(self, method: str, retry_after: int) -> None:
        """The next call of `method` is answered 429, as Telegram answers a flood."""
        self.refusals_for.setdefault(method, []).append((429, JSON, orjson.dumps({
            "ok": False, "error_code": 429,
            "description": f"Too Many Requests: retry after {retry_after}",
            "parameters": {"retry_after": retry_after}})))

    def _next(self, path: str) -> tuple[int, list[tuple[str, str]], bytes]:
        waiting = self.refusals_for.get(path.rsplit("/", 1)[-1])
        return waiting.pop(0) if waiting else super()._next(path)

    async def pause(self, path: str) -> None:
        """A long poll with nothing to give waits (a second here) before answering; a
        reply takes `reply_delay_s`."""
        if path.endswith("/sendMessage"):
            await trio.sleep(self.reply_delay_s)
        if path.endswith("/getUpdates") and not self.conflict:
            offset = self.offsets[-1] if self.offsets else 0
            if not any(u["update_id"] >= offset for u in self.updates):
                await trio.sleep(1.0)

    def press(self, update_id: int, user: int, chat: int, data: str) -> None:
        """A button pressed under message 7 of `chat`."""
        self.updates.append({"update_id": update_id, "callback_query": {
            "id": f"cb{update_id}", "from": {"id": user, "is_bot": False}, "data": data,
            "message": {"message_id": 7, "chat": {"id": chat, "type": "supergroup"}}}})

    async def wait_calls(self, count: int) -> None:
        while len(self.calls) < count:
            await self._changed.wait()

    async def wait_sent(self, count: int) -> None:
        while len(self.sent) < count:
            await self._changed.wait()

    def _answer(self, path: str) -> tuple[int, list[tuple[str, str]], bytes]:
        if f"/bot{self.token}/" not in path:
            return 404, JSON, b'{"ok": false, "error_code": 404, "description": "Not Found"}'
        method = path.rsplit("/", 1)[-1]
        if method == "getUpdates":
            if self.conflict:
                self.conflict -= 1
                return 409, JSON, orjson.dumps({"ok": False, "error_code": 409,
                                                "description": "Conflict: terminated by "
                                                "other getUpdates request"})
            offset = self.offsets[-1] if self.offsets else 0
            pending = [u for u in self.updates if u["update_id"] >= offset]
            return 200, JSON, orjson.dumps({"ok": True, "result": pending})
        return 200, JSON, orjson.dumps({"ok": True, "result": {"message_id": 1}})
