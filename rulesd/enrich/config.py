"""The safety services' `sources:` sections (`goplus`, `rugcheck`), and their checks.

With no section a service is not called. Every key is optional.
"""

from __future__ import annotations

from typing import Final

import attrs

from rulesd.durations import Duration, parse_rate_window
from rulesd.yaml_loader import Path, Report


@attrs.frozen
class ServiceConfig:
    url: str
    api_key: str | None = None
    rate: str = "30/min"  # the host's whole budget
    ttl: Duration = Duration(600.0)  # a token's report is reused this long
    timeout: Duration = Duration(5.0)  # how long an event waits for it

    def budget(self) -> tuple[int, float]:
        count, seconds = parse_rate_window(self.rate)
        return max(1, int(count)), seconds


@attrs.frozen
class GoPlusConfig(ServiceConfig):
    url: str = "https://api.gopluslabs.io"


@attrs.frozen
class RugCheckConfig(ServiceConfig):
    url: str = "https://api.rugcheck.xyz"
    rate: str = "60/min"
    timeout: Duration = Duration(10.0)  # slow for a mint it has not seen before


SERVICES: Final[dict[str, type[ServiceConfig]]] = {"goplus": GoPlusConfig,
                                                    "rugcheck": RugCheckConfig}


def check(name: str, config: ServiceConfig, report: Report) -> None:
    here: Path = ("sources", name)
    try:
        count, _ = parse_rate_window(config.rate)
        if count < 1:
            report((*here, "rate"), "a budget needs at least one request")
    except ValueError as exc:
        report((*here, "rate"), str(exc))
    if not config.url.startswith(("https://", "http://")):
        report((*here, "url"), f"expected an http(s) URL, got {config.url!r}")
    if config.timeout <= 0:
        report((*here, "timeout"), "an event must be given some time to wait")
