"""Writes dexscreener-sample.jsonl: a SYNTHESIZED capture, not a recording.

Frames follow the payload shapes of DEX Screener's WebSocket document (the
`{limit, data}` snapshot, single items, heartbeats), with made-up tokens, so a
new user can try `rulesd dry-run` on `rules.example.yaml` offline.
Run: python contrib/captures/make_sample.py
"""

from __future__ import annotations

import json
from pathlib import Path

T0 = 1_763_719_200.0  # 2025-11-21 10:00:00 UTC
SOL = {"A": "7GCihgDB8fe6KNjn2MYtkzZcRjQy3t9GHdC8uHYmW2hr",
       "D": "9BB6NFEcjBCtnNLFko2FqVQBq8HHM13kCyYcdQbgpump",
       "G": "EKpQGSJtjMFqKZ9KQanSqYXRcF8fBopzLHYxdM65zcjm",
       "C": "Dez9MtyTq1ZDLgCXLwqgWPKnFtLEwYExZGJjSA9ypump",
       "X": "CokehEuHjbVp6E6WepR9ukMWQsivssch4ZirYZSZGwoW",
       "Y": "5jSCJNT8ck4Fda1wJLkaDsDNRyJno7DqiG5GUhiJpump",
       "P": "DPQxrrxJfTrLEjyknrUBcMDsAMYbAQJMnKTuJh4kbonk"}
BSC = "0x55d398326f99059ff775485246999027b3197955"


def boost(address: str, amount: float, total: float, chain: str = "solana") -> dict:
    return {"url": f"https://dexscreener.com/{chain}/{address}", "chainId": chain,
            "tokenAddress": address, "amount": amount, "totalAmount": total,
            "icon": None, "header": None, "description": "a synthesized token", "links": None}


def profile(address: str, description: str) -> dict:
    return {"url": f"https://dexscreener.com/solana/{address}", "chainId": "solana",
            "tokenAddress": address, "icon": "https://example.invalid/i.png", "header": None,
            "description": description,
            "links": [{"type": "telegram", "label": None, "url": "https://t.me/example"}]}


def claim(address: str, date: str, description: str | None) -> dict:
    return {**profile(address, description or ""), "description": description,
            "claimDate": date}


def main() -> None:
    boosts, top = "token-boosts/latest/v1", "token-boosts/top/v1"
    claims, profiles = "community-takeovers/latest/v1", "token-profiles/latest/v1"
    lines: list[tuple[float, str, object]] = []

    def snap(t: float, stream: str, *items: dict) -> None:
        lines.append((t, stream, {"limit": 30, "data": list(items)}))

    for stream in (boosts, top, claims, profiles):
        lines.append((0.0, stream, None))
    base = [boost(SOL["A"], 100, 500), boost(BSC, 50, 50, "bsc"), boost(SOL["C"], 20, 20)]
    snap(0.2, boosts, *base)
    snap(0.3, top, boost(SOL["A"], 100, 500))
    snap(0.4, claims, claim(SOL["X"], "2025-11-21T08:00:00Z", "old claim"))
    snap(0.5, profiles, profile(SOL["C"], "an old profile"))
    snap(30, boosts, boost(SOL["D"], 150, 150), *base)            # new Solana boost ≥ 100
    lines.append((60, boosts, {"type": "heartbeat"}))
    lines.append((95, boosts, boost(SOL["A"], 200, 700)))         # A's total grew
    snap(120, boosts, boost(SOL["G"], 10, 10), *base)             # G boosted ...
    snap(300, claims, claim(SOL["Y"], "2025-11-21T10:05:00Z",     # a takeover claim
                            "CTO! join us on t.me/example"),
         claim(SOL["X"], "2025-11-21T08:00:00Z", "old claim"))
    snap(400, top, boost(SOL["D"], 150, 900), boost(SOL["A"], 100, 500))  # D enters the top
    snap(600, boosts, boost(SOL["G"], 10, 20), *base)             # ... again ...
    snap(610, profiles, profile(SOL["P"], "@everyone [FREE AIRDROP](https://evil.invalid)"),
         profile(SOL["C"], "an old profile"))                      # escaped in alerts
    snap(900, boosts, boost(SOL["G"], 10, 30), *base)             # ... three times in 1h
    out = Path(__file__).with_name("dexscreener-sample.jsonl")
    with out.open("w") as file:
        for t, stream, frame in lines:
            line = {"t": T0 + t, "source": "dexscreener", "stream": stream}
            if frame is None:
                line["event"] = "connected"
            else:
                line["text"] = json.dumps(frame)
            file.write(json.dumps(line) + "\n")


if __name__ == "__main__":
    main()
