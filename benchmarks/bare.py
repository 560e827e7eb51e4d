"""A bare receive loop, for the benchmark's baseline: subscribe as the vendor wants,
then only decode each frame (gunzip where binary, orjson.loads) until the probe.

    python benchmarks/bare.py --lib trio|websockets --vendor cmc URL [--queue N] [--buffer B]

Prints the `time.monotonic()` at which the probe arrived, and the frames read.
"""

from __future__ import annotations

import argparse
import asyncio
import gzip
import time
from typing import Any

import orjson

PROBE_MARK = {"cmc": b"\"cid\":999999", "mobula": b"PROBEpulse", "dex": b"PROBE"}
SUBSCRIBE = {
    "cmc": {"id": 1, "method": "subscribe", "channel": "market@crypto_latest_price",
            "params": {"crypto_ids": [1]}},
    "mobula": {"type": "pulse-v2", "authorization": "bench", "payload": {"assetMode": True}},
}


def _probe(frame: str | bytes, vendor: str) -> bool:
    data = gzip.decompress(frame) if isinstance(frame, bytes) else frame.encode()
    message: Any = orjson.loads(data)
    return PROBE_MARK[vendor] in data and message is not None


async def _trio(args: argparse.Namespace) -> tuple[float, int]:
    import trio_websocket

    async with trio_websocket.open_websocket_url(
            args.url, message_queue_size=args.queue, max_message_size=16 << 20,
            receive_buffer_size=args.buffer) as ws:
        if args.vendor in SUBSCRIBE:
            await ws.send_message(orjson.dumps(SUBSCRIBE[args.vendor]).decode())
        n = 0
        while True:
            frame = await ws.get_message()
            n += 1
            if _probe(frame, args.vendor) and n > 2:
                return time.monotonic(), n


async def _websockets(args: argparse.Namespace) -> tuple[float, int]:
    from websockets.asyncio.client import connect

    async with connect(args.url, max_size=16 << 20, compression=None) as ws:
        if args.vendor in SUBSCRIBE:
            await ws.send(orjson.dumps(SUBSCRIBE[args.vendor]).decode())
        n = 0
        async for frame in ws:
            n += 1
            if _probe(frame, args.vendor) and n > 2:
                return time.monotonic(), n
    raise AssertionError("closed before the probe")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--lib", choices=["trio", "websockets"], required=True)
    parser.add_argument("--vendor", choices=["cmc", "mobula", "dex"], required=True)
    parser.add_argument("url")
    parser.add_argument("--queue", type=int, default=64)
    parser.add_argument("--buffer", type=int, default=4096)
    args = parser.parse_args()
    if args.lib == "trio":
        import trio

        at, n = trio.run(_trio, args)
    else:
        at, n = asyncio.run(_websockets(args))
    print(f"{at} {n}", flush=True)


if __name__ == "__main__":
    main()
