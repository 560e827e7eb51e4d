"""Token Metrics' `sources.tokenmetrics` section, its plan limits and its checks."""

from __future__ import annotations

from typing import Final

import attrs

from rulesd.durations import Duration
from rulesd.sources.checks import DEFAULT_MAX_MESSAGE, check_common
from rulesd.yaml_loader import Path, Report

# Token Metrics' documented limits: concurrent connections, symbols per connection.
PLANS: Final[dict[str, tuple[int, int]]] = {
    "basic": (1, 15),
    "advanced": (3, 60),
    "premium": (6, 120),
    "vip": (12, 250),
}


@attrs.frozen
class TokenMetricsConfig:
    api_key: str
    tokens: tuple[str, ...]
    url: str = "wss://price.data-service.tokenmetrics.com"
    plan: str = "basic"
    connect_timeout: Duration = Duration(10.0)
    ping_interval: Duration = Duration(20.0)
    max_message_size: int = DEFAULT_MAX_MESSAGE


def check(tm: TokenMetricsConfig, report: Report) -> None:
    here: Path = ("sources", "tokenmetrics")
    limits = PLANS.get(tm.plan)
    if limits is None:
        report((*here, "plan"), f"unknown Token Metrics plan {tm.plan!r} (one of "
                                f"{', '.join(PLANS)})")
    else:
        connections, per_connection = limits
        if len(tm.tokens) > connections * per_connection:
            report((*here, "tokens"),
                   f"{len(tm.tokens)} tokens exceed the {tm.plan} plan's limit of "
                   f"{connections} connection(s) x {per_connection} symbols = "
                   f"{connections * per_connection}")
    if not tm.tokens:
        report((*here, "tokens"), "list at least one token slug (e.g. bitcoin)")
    seen: set[str] = set()
    for i, slug in enumerate(tm.tokens):
        if slug in seen:
            report((*here, "tokens", i), f"{slug!r} is listed twice")
        seen.add(slug)
    check_common(tm, here, report)
