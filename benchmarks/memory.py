"""Memory per tracked token and per stored observation, with the daemon's real events.

CoinMarketCap market pushes (CMC's own reference example, one coin per id) go
through the CoinMarketCap parser and the engine with a `change` rule of a 5-minute
window per coin, as `rulesd run` would; tracemalloc measures what the engine's
state holds. Two runs with few and many observations separate the cost of a token
from the cost of an observation. Targets: ≤ 1 KB per tracked token, ≤ 24 B per
stored observation.

Run: .venv/bin/python benchmarks/memory.py
"""

from __future__ import annotations

import gc
import json
import tracemalloc
from pathlib import Path

from rulesd import loader
from rulesd.rules.engine import Engine
from rulesd.sources.coinmarketcap.parse import CmcParser, Naming
from rulesd.sources.health import SourceHealth
from rulesd.state import StateStore

REFERENCE = (Path(__file__).parent.parent / "tests" / "data" / "coinmarketcap" / "reference"
             / "market_crypto_latest_price.json")
TOKENS = 2000
PUSH_EVERY_S = 5.0  # CoinMarketCap's cadence for the top 500 coins

RULES = """\
version: 1
sources: {}
notifiers: {c: stdout}
defaults: {notify: [c]}
rules:
  - name: move
    on: price
    where: {change: {of: price, window: 5m, abs_pct: {gte: 50}}}
"""


def frames(observations: int) -> list[tuple[float, str]]:
    push = json.loads(REFERENCE.read_text())
    out = []
    for k in range(observations):
        for cid in range(1, TOKENS + 1):
            t = 1_778_663_880 + k * PUSH_EVERY_S
            push["params"] = {"crypto_ids": cid}
            push["data"] = {**push["data"], "cid": cid, "p": 100.0 + k % 7}
            push["ts"] = int(t * 1000)
            out.append((t, json.dumps(push)))
    return out


def measure(observations: int) -> tuple[int, int]:
    """(bytes the engine's state holds, observations stored in its series)."""
    stream = CmcParser(Naming()).stream("coinmarketcap #1", SourceHealth("bench"))
    engine = Engine(loader.loads(RULES, "r.yaml", {}).rules, StateStore())
    feed = frames(observations)
    gc.collect()
    tracemalloc.start()
    base = tracemalloc.take_snapshot()
    for t, frame in feed:
        for event in stream.feed(frame, t):
            engine.process(event, t)
    engine.state.take_changes()  # what the daemon writes and forgets at each commit
    del feed
    gc.collect()
    held = sum(s.size_diff for s in tracemalloc.take_snapshot().compare_to(base, "filename")
               if "tracemalloc" not in str(s.traceback))
    tracemalloc.stop()
    stored = sum(len(s.times) for s in engine.state.series.values())
    return held, stored


def main() -> None:
    few_bytes, few_points = measure(2)
    many_bytes, many_points = measure(120)  # 10 minutes of pushes
    per_point = (many_bytes - few_bytes) / (many_points - few_points)
    per_token = (few_bytes - per_point * few_points) / TOKENS
    print(f"tokens: {TOKENS}, a push every {PUSH_EVERY_S:g}s, a 5m change rule")
    print(f"stored observations: {few_points} → {many_points} "
          f"({many_points / TOKENS:.0f} a token: the window and the point before it)")
    print(f"per tracked token:    {per_token:8.0f} B   (target ≤ 1024 B: "
          f"{per_token / 1024:.2f} of it)")
    print(f"per observation:      {per_point:8.1f} B   (target ≤ 24 B: "
          f"{per_point / 24:.2f} of it)")


if __name__ == "__main__":
    main()
