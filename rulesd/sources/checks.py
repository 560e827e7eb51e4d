"""Config checks every source shares: the url and the lower bounds of its settings."""

from __future__ import annotations

from typing import Any, Final

from rulesd.yaml_loader import Path, Report

DEFAULT_MAX_MESSAGE: Final = 4 * 1024 * 1024

# Lower bounds that keep a source from hammering a vendor or itself.
_MINIMUMS: Final = {
    "refresh": (1.0, "1s"),
    "connect_timeout": (1.0, "1s"),
    "ping_interval": (0.1, "100ms"),
    "max_message_size": (1024, "1024 bytes"),
}


# A frame (or an inflated one) larger than this is not a vendor's message.
MAX_MESSAGE_SIZE: Final = 1 << 30


def check_common(config: Any, here: Path, report: Report) -> None:
    url = getattr(config, "url", None)
    if url is not None and not url.startswith(("ws://", "wss://")):
        report((*here, "url"), "the url must start with ws:// or wss://")
    for key, (minimum, shown) in _MINIMUMS.items():
        if hasattr(config, key) and getattr(config, key) < minimum:
            report((*here, key), f"`{key}` must be at least {shown}")
    for key in ("max_message_size", "max_inflated_size"):
        if getattr(config, key, 0) > MAX_MESSAGE_SIZE:
            report((*here, key), f"`{key}` must be at most {MAX_MESSAGE_SIZE} (1 GiB)")
