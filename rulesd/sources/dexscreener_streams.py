"""DEX Screener's stream paths and the event kind each announces."""

from __future__ import annotations

from typing import Final

STREAMS: Final[dict[str, str]] = {
    "token-boosts/latest": "boost",
    "token-boosts/top": "top_boost",
    "community-takeovers/latest": "takeover",
    "token-profiles/latest": "profile",
    "token-profiles/recent-updates": "profile_update",
    "ads/latest": "ad",
}
