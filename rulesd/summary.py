"""The info line a running daemon logs every 10 minutes: what each source and
delivery did since the last one, so "connected, nothing new" can be told from
"stuck". Pure: counters in, a line out."""

from __future__ import annotations

from collections.abc import Iterable, Mapping

import attrs

from rulesd.delivery.dispatcher import NotifierWorker
from rulesd.durations import format_duration
from rulesd.rules.runtime import RuleCounts
from rulesd.sources.health import SourceHealth


@attrs.frozen
class Totals:
    sources: Mapping[str, tuple[int, int, int]]  # by source: frames, events, faults
    sent: int
    dead: int
    silenced: int


def totals(healths: Iterable[SourceHealth], workers: Iterable[NotifierWorker],
           rule_counts: Mapping[str, RuleCounts]) -> Totals:
    """The counters now (since start); `rule_counts`: the engine's, by rule."""
    sources: dict[str, tuple[int, int, int]] = {}
    for h in healths:
        frames, events, faults = sources.get(h.source, (0, 0, 0))
        sources[h.source] = (frames + h.frames, events + h.events,
                             faults + sum(h.faults.values()))
    workers = list(workers)
    return Totals(sources, sum(w.counts["sent"] for w in workers),
                  sum(w.counts["dead"] for w in workers),
                  sum(c.silenced for c in rule_counts.values()))


def line(before: Totals, now: Totals, interval_s: float, waiting: int) -> str:
    parts = []
    for source, (frames, events, faults) in sorted(now.sources.items()):
        f0, e0, x0 = before.sources.get(source, (0, 0, 0))
        parts.append(f"{source}: {frames - f0} frames, {events - e0} events, "
                     f"{faults - x0} faults")
    return (f"last {format_duration(interval_s)}: {'; '.join(parts) or 'no sources'}; "
            f"alerts: {now.sent - before.sent} sent, {now.dead - before.dead} dead-lettered, "
            f"{now.silenced - before.silenced} silenced; outbox: {waiting} waiting")
