"""rulesd: an alerting and rules daemon for crypto market data streams."""

from __future__ import annotations

__version__ = "0.1.0"
