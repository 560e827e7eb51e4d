"""The blaster: a separate process that speaks enough of a vendor's protocol to be
subscribed to, then writes pre-encoded frames as fast as the kernel takes them or at
a fixed rate.

    python benchmarks/blaster.py --vendor cmc --frames 50000 [--rate 5000] [--probe-every 100]

Prints `port N` once listening. After the last frame it prints one JSON line: when
the first and last frames went out (`time.monotonic()`, which other processes on
this machine share) and when each probe went out. Probes are frames a benchmark
rule alerts on: `--probe-every P` sends an "up" probe (which fires) and a "down"
probe (which re-arms it) every P frames; without it, one up probe ends the run.

Vendors: `cmc` (market@crypto_latest_price pushes for 100 coins after a subscribe
is acked), `mobula` (gzip `update-token` frames for 100 tokens of one view, after
the `pulse-v2` subscription and an `init`), `dex` (token-boosts/latest snapshots
of the 30 latest boosts, one new boost a frame).
"""

from __future__ import annotations

import argparse
import asyncio
import gzip
import json
import sys
import time
from typing import Any

from websockets.asyncio.server import ServerConnection, serve

COINS = 99  # with the probe coin, 100 subscriptions: one connection
PROBE_ID = 999_999
PROBE_TOKEN = "PROBEpulse1111111111111111111111111111111111"
TS0_MS = 1_778_663_880_000


def _cmc(i: int, cid: int, price: float) -> str:
    return json.dumps({"type": "data", "channel": "market@crypto_latest_price",
                       "params": {"crypto_ids": cid},
                       "data": {"cid": cid, "p": price, "vu": 29932025976.79,
                                "mc": 1626089237758.01, "cs": 20028706, "p24h": 0.53,
                                "p7d": -0.77, "p30d": 14.8, "p60d": 14.9, "p3m": 20.8,
                                "p1y": -21.1, "pytd": -8.3, "pall": 131301167.4,
                                "fdv24h": 0.53},
                       "ts": TS0_MS + i}, separators=(",", ":"))


def _mobula_token(address: str, price: float) -> dict[str, Any]:
    return {"token": {"address": address, "chainId": "solana:solana", "symbol": "TKN",
                      "name": "Token", "decimals": 6, "price": price, "marketCap": 50000.0,
                      "liquidity": 20000.0, "holdersCount": 500},
            "latest_price": price, "market_cap": 50000.0, "volume_1h": 1000.0,
            "volume_24h": 24000.0, "price_change_1h": 5.0, "trades_1h": 10,
            "buyers_1h": 5, "sellers_1h": 5}


def _mobula_address(n: int) -> str:
    return f"Tok{n:04d}" + "x" * 36


def _mobula(address: str, price: float) -> bytes:
    return gzip.compress(json.dumps({"type": "update-token", "payload": {
        "viewName": "new", "token": _mobula_token(address, price)}}).encode())


def _dex_item(address: str) -> dict[str, Any]:
    return {"url": f"https://dexscreener.com/solana/{address}", "chainId": "solana",
            "tokenAddress": address, "amount": 10, "totalAmount": 10, "icon": None,
            "description": "a token", "links": None}


class _DexList:
    """token-boosts/latest as a snapshot of the 30 latest boosts: one new item a frame."""

    def __init__(self) -> None:
        self.items: list[dict[str, Any]] = [_dex_item(f"Old{n:05d}" + "o" * 35)
                                            for n in range(30)]

    def frame(self, address: str) -> str:
        self.items = [_dex_item(address), *self.items[:29]]
        return json.dumps({"limit": 30, "data": self.items})


def frames(vendor: str, count: int, probe_every: int) -> tuple[list[str | bytes], dict[int, int]]:
    """The frames in order, and the index of each up probe (probe number → index)."""
    out: list[str | bytes] = []
    probes: dict[int, int] = {}
    dex = _DexList()

    def probe(up: bool) -> None:
        k = len(probes)
        if vendor == "cmc":
            out.append(_cmc(len(out), PROBE_ID, 2.0 + k if up else 1.0))
        elif vendor == "mobula":
            out.append(_mobula(PROBE_TOKEN, 2.0 + k if up else 1.0))
        elif up:
            out.append(dex.frame(f"PROBE{k:06d}" + "p" * 30))
        if up:
            probes[k] = len(out) - 1

    for i in range(count):
        if probe_every and i and i % probe_every == 0:
            probe(up=(i // probe_every) % 2 == 1)
        coin = i % COINS
        wiggle = 100.0 + (i // COINS) % 7 * 0.01
        if vendor == "cmc":
            out.append(_cmc(len(out), coin + 1, wiggle))
        elif vendor == "mobula":
            out.append(_mobula(_mobula_address(coin), wiggle))
        else:
            out.append(dex.frame(f"Tok{i:08d}" + "d" * 32))
    if not probe_every:
        probe(up=True)
    return out, probes


async def main(args: argparse.Namespace) -> None:
    sequence, probes = frames(args.vendor, args.frames, args.probe_every)
    done = asyncio.Event()

    async def handler(ws: ServerConnection) -> None:
        if args.vendor == "cmc":
            request = json.loads(await ws.recv())
            await ws.send(json.dumps({"type": "ack", "id": request.get("id"), "code": 0,
                                      "msg": "ok", "channel": request.get("channel")}))
        elif args.vendor == "mobula":
            await ws.recv()
            tokens = [_mobula_token(_mobula_address(n), 100.0) for n in range(COINS)]
            tokens.append(_mobula_token(PROBE_TOKEN, 1.0))
            init = {"type": "init", "subscriptionId": "bench", "payload": {"new": {"data": tokens}}}
            await ws.send(json.dumps(init))
        sent: dict[int, float] = {}
        interval = 1.0 / args.rate if args.rate else 0.0
        start = time.monotonic()
        first = start
        wanted = {index: k for k, index in probes.items()}
        for i, frame in enumerate(sequence):
            if interval:
                due = start + i * interval
                delay = due - time.monotonic()
                if delay > 0.001:
                    await asyncio.sleep(delay)
            if i in wanted:
                sent[wanted[i]] = time.monotonic()
            await ws.send(frame)
        last = time.monotonic()
        print(json.dumps({"first": first, "last": last, "sent": len(sequence),
                          "probes": sent}), flush=True)
        done.set()
        await ws.wait_closed()

    async with serve(handler, "127.0.0.1", 0, max_size=None, compression=None) as server:
        port = server.sockets[0].getsockname()[1]
        print(f"port {port}", flush=True)
        await asyncio.Future()  # until the benchmark kills us


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("--vendor", choices=["cmc", "mobula", "dex"], required=True)
    parser.add_argument("--frames", type=int, default=50_000)
    parser.add_argument("--rate", type=float, default=0.0, help="frames a second; 0: max")
    parser.add_argument("--probe-every", type=int, default=0)
    try:
        asyncio.run(main(parser.parse_args()))
    except KeyboardInterrupt:
        sys.exit(0)
