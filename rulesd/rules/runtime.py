"""What the engine learns while it runs, beside the state store: the `for` conditions
waiting out their time, what is firing with the alert that said so, when `repeat` is due,
and what each rule did. Compiled rules never hold any of it: a reload swaps the rules
and keeps this, forgetting only what belonged to rules that are gone or changed."""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Collection
from typing import Any

import attrs

from rulesd.rules.alert import Alert

# (rule name, series or group): what one level condition or absence is about.
FiringKey = tuple[str, str]


@attrs.define
class Pending:
    """A level condition waiting out its `for`: since when, and the values to send."""

    since: float
    values: dict[str, Any]
    key: str
    kind: str


@attrs.define
class RuleCounts:
    """What one rule did since start (for /metrics, summaries and dry-run)."""

    evaluated: int = 0  # events it was evaluated on
    matched: int = 0  # events its condition held on
    fired: int = 0
    cooldown: int = 0  # alerts its cooldown held back
    silenced: int = 0  # alerts a silence held (recorded, not sent)
    inhibited: int = 0  # alerts a source alert held (recorded, not sent)
    muted: int = 0  # alerts a time interval held (recorded; a digest when it ends)
    repeated: int = 0  # firing alerts sent again (`repeat`)


@attrs.define
class Runtime:
    pending: dict[FiringKey, Pending] = attrs.field(factory=dict)
    # What is firing now, with the alert that said so (the status API and page).
    firing_alerts: dict[FiringKey, Alert] = attrs.field(factory=dict)
    # When each firing alert of a rule with `repeat` is next sent again.
    repeat_due: dict[FiringKey, float] = attrs.field(factory=dict)
    counts: defaultdict[str, RuleCounts] = attrs.field(factory=lambda: defaultdict(RuleCounts))
    # When the last tick saw something come due next (inf: nothing waits).
    next_due: float = math.inf

    def forget(self, rules: Collection[str]) -> None:
        """Drop what these rules were waiting for or firing (removed, or changed)."""
        if not rules:
            return
        for table in (self.pending, self.firing_alerts, self.repeat_due):
            for key in [k for k in table if k[0] in rules]:
                del table[key]
