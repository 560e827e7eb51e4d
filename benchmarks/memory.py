"""Memory per tracked token with price windows, measured with tracemalloc.

Feeds N tokens x M observations of `price` through the state store with the
series a `change` rule of a given window needs, then reports bytes per token
and per stored observation, side by side with the targets (DESIGN/issue 4:
≤ 1 KB per tracked token plus ≤ 24 bytes per stored observation).

Run: .venv/bin/python benchmarks/memory.py
"""

from __future__ import annotations

import gc
import tracemalloc

from rulesd.events import Event, TokenRef
from rulesd.state import Needs, StateStore

WINDOW_S = 300.0


def _events(tokens: int, observations: int) -> list[list[Event]]:
    refs = [TokenRef(key=f"cmc:{i}", cmc_id=i) for i in range(tokens)]
    return [[Event("price", "coinmarketcap", "price", ref, 1000.0 + k, 1000.0 + k,
                   {"price": 100.0 + k % 7})
             for ref in refs] for k in range(observations)]


def measure(tokens: int, observations: int) -> tuple[int, int]:
    """(bytes held by the store, observations stored)."""
    batches = _events(tokens, observations)
    gc.collect()
    tracemalloc.start()
    base = tracemalloc.take_snapshot()
    store = StateStore(needs=Needs(series={"price": WINDOW_S}))
    for batch in batches:
        for event in batch:
            store.apply(event, event.ts)
    # The events themselves belong to the caller; only what the store keeps counts.
    store.latest.clear()
    gc.collect()
    held = sum(s.size_diff for s in tracemalloc.take_snapshot().compare_to(base, "filename"))
    tracemalloc.stop()
    stored = sum(len(s.times) for s in store.series.values())
    return held, stored


def main() -> None:
    tokens = 2000
    few_bytes, few_points = measure(tokens, 2)
    many_bytes, many_points = measure(tokens, 400)
    per_point = (many_bytes - few_bytes) / (many_points - few_points)
    per_token = (few_bytes - per_point * few_points) / tokens
    print(f"tokens: {tokens}, window {WINDOW_S:g}s")
    print(f"stored observations: {few_points} → {many_points}")
    print(f"per tracked token:    {per_token:8.0f} B   (target ≤ 1024 B: "
          f"{per_token / 1024:.2f} of it)")
    print(f"per observation:      {per_point:8.1f} B   (target ≤ 24 B: "
          f"{per_point / 24:.2f} of it)")


if __name__ == "__main__":
    main()
