"""Mobula's `sources.mobula` section: the Pulse V2 payload, its view limits, checks."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Final

import attrs

from rulesd.durations import Duration
from rulesd.sources.checks import check_common
from rulesd.yaml_loader import Path, Report

# Mobula's documented Pulse V2 limits, and the views of `model: default`.
MAX_VIEWS: Final = 10
MAX_PER_VIEW: Final = 100
MAX_TOKENS: Final = 1000
DEFAULT_VIEWS: Final = {"new": 50, "bonding": 50, "bonded": 50}


@attrs.frozen
class MobulaConfig:
    api_key: str
    # None: try the document's host, then the one Mobula's SDK uses.
    url: str | None = None
    payload: Mapping[str, Any] = attrs.field(
        factory=lambda: {"model": "default", "assetMode": True})
    ping_interval: Duration = Duration(30.0)
    connect_timeout: Duration = Duration(10.0)
    # An init of 10 views x 100 tokens is several megabytes.
    max_message_size: int = 16 * 1024 * 1024
    # A compressed frame may inflate to at most this (a gzip bomb is refused).
    max_inflated_size: int = 64 * 1024 * 1024


def mobula_views(config: MobulaConfig) -> dict[str, int]:
    """View name → its token limit (100, Mobula's maximum, when it sets none)."""
    views = config.payload.get("views")
    if not isinstance(views, list):
        return dict(DEFAULT_VIEWS) if config.payload.get("model") == "default" else {}
    out: dict[str, int] = {}
    for view in views:
        if isinstance(view, Mapping) and isinstance(view.get("name"), str):
            limit = view.get("limit", MAX_PER_VIEW)
            out[view["name"]] = limit if isinstance(limit, int) else MAX_PER_VIEW
    return out


def check(mob: MobulaConfig, report: Report) -> None:
    here: Path = ("sources", "mobula", "payload")
    views = mob.payload.get("views")
    if views is None and mob.payload.get("model") != "default":
        report(here, "the payload needs `views` or `model: default`")
    if views is not None and not isinstance(views, list):
        report((*here, "views"), "`views` must be a list of views")
        views = []
    names: set[str] = set()
    for i, view in enumerate(views or []):
        at: Path = (*here, "views", i)
        if not isinstance(view, Mapping) or not isinstance(view.get("name"), str):
            report(at, "each view needs a `name`")
            continue
        if view["name"] in names:
            report((*at, "name"), f"view name {view['name']!r} is used twice")
        names.add(view["name"])
        limit = view.get("limit")
        if limit is not None and (not isinstance(limit, int) or isinstance(limit, bool)
                                  or not 1 <= limit <= MAX_PER_VIEW):
            report((*at, "limit"), f"`limit` must be 1 to {MAX_PER_VIEW} "
                                   "(Mobula's maximum per view)")
    if views and len(views) > MAX_VIEWS:
        report((*here, "views"), f"{len(views)} views exceed Mobula's limit of "
                                 f"{MAX_VIEWS} per connection")
    total = sum(mobula_views(mob).values())
    if total > MAX_TOKENS:
        report((*here, "views"), f"the views' limits add up to {total} tokens, over Mobula's "
                                 f"{MAX_TOKENS} per connection (a view without "
                                 f"`limit` counts {MAX_PER_VIEW})")
    if not mob.api_key:
        report(("sources", "mobula", "api_key"), "`api_key` is empty")
    check_common(mob, ("sources", "mobula"), report)
