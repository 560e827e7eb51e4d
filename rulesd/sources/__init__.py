"""The vendors rulesd reads, as one registry, and the kinds they produce.

Everything outside `rulesd.sources` reaches a vendor through `SOURCES` and the
`Source` protocol (`base.py`): the daemon, `record`, replay and `rulesd test`,
`check`, reload, template samples and the README's field tables.
"""

from __future__ import annotations

from typing import Final

from rulesd.schema import Kind, merge, string
from rulesd.sources import coinmarketcap, dexscreener, mobula, tokenmetrics
from rulesd.sources.base import Parser, Running, Source, StreamParser

__all__ = ["KINDS", "SOURCES", "UNWATCHED_KINDS", "Parser", "Running", "Source", "StreamParser"]

SOURCES: Final[dict[str, Source]] = {
    source.name: source
    for source in (dexscreener.SOURCE, coinmarketcap.SOURCE, tokenmetrics.SOURCE,
                   mobula.SOURCE)
}

_REASON: Final = {"reason": string("what happened, e.g. `connect timed out`")}
# The daemon's own kinds: a stream connecting or failing.
DAEMON_KINDS: Final = (
    Kind("source_up", "a stream connected (first time, or after an outage) [rulesd]",
         _REASON, occurrence=True, token=False, label="Source up",
         sentence="{{ stream }} connected"),
    Kind("source_down", "a stream failed to connect, or its key was refused [rulesd]",
         _REASON, occurrence=True, token=False, label="Source down",
         sentence="{{ stream }} is down: {{ reason }}"),
)

# Every kind a rule may listen to, with the union of the fields its sources give it.
KINDS: Final[dict[str, Kind]] = merge(
    [kind for source in SOURCES.values() for kind in source.kinds] + list(DAEMON_KINDS))
# The same where no rule has `watch`: no price event then carries what only a watch's
# polls give (`change_1h`, `watch.rule`, ...), and `check` says so rather than accept
# a condition that could never hold.
UNWATCHED_KINDS: Final[dict[str, Kind]] = merge(
    [kind for source in SOURCES.values() for kind in source.kinds
     if kind is not dexscreener.WATCHED] + list(DAEMON_KINDS))
