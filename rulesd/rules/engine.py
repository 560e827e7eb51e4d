"""The rule engine: rules indexed by kind, evaluated against each event and on a tick.

Pure: no I/O and no clock of its own. `Engine.process(event, now)` and
`Engine.tick(now)` are the one entry point the daemon, `rulesd test` and the
tests use: they apply the event to the state, return the alerts that fire and
record firing state and cooldowns in the state store. An Alert is plain data;
rendering it is delivery's.

Lifecycle (DESIGN §4): occurrence kinds fire per matching event. Level kinds
fire when the condition becomes true for a series (token, source, venue) and
re-arm once it was false again; `for` asks it to hold that long first;
`notify_resolved` also sends when it clears. `cooldown` bounds how often a rule
alerts for one token. Rules with `absent` fire on the tick when nothing matched
for their window.
"""

from __future__ import annotations

import collections
import math
from collections.abc import Collection, Iterable, Mapping
from typing import Any

import attrs

from rulesd.durations import format_duration
from rulesd.events import Event, series_key
from rulesd.rules.compile import Rule
from rulesd.rules.conditions import Evaluation, NeedsBuilder, lookup
from rulesd.rules.index import RuleIndex
from rulesd.silences import Silences
from rulesd.state import Needs, StateStore


@attrs.frozen
class Alert:
    """A rule that fired (or cleared), with the values that made it so."""

    id: str
    rule: str
    kind: str
    key: str
    fired_at: float
    notify: tuple[str, ...]
    values: Mapping[str, Any]
    title: str | None = None  # the rule's templates (None: the default)
    message: str | None = None
    resolved: bool = False
    group: str | None = None  # alerts sharing it go out in one message
    silenced: str | None = None  # the silence that holds it: recorded, not sent


def firing_key(event: Event) -> str:
    """The key a level condition is true or false for: the series (token, source, venue)."""
    token, source, venue = series_key(event)
    return f"{token}|{source}|{venue}"


def occurrence_id(event: Event) -> str:
    occ = event.occurrence
    if occ is not None:
        version = occ.version
        if version is None:
            return occ.id
        return f"{occ.id}@{float(version)!r}" if isinstance(version, int | float) \
            else f"{occ.id}@{version}"
    return f"{event.ts:.3f}"


def why_text(why: Mapping[str, Any]) -> str:
    """One line per stateful condition that held, for the default message."""
    lines = []
    if "change" in why:
        c = why["change"]
        amount = f"{c['pct']:+.2f}%" if c["pct"] is not None else f"{c['delta']:+g}"
        lines.append(f"{c['of']} {amount} in {c['window']}: {c['from']:,.8g} → {c['to']:,.8g}")
    if "crosses" in why:
        c = why["crosses"]
        lines.append(f"{c['of']} crossed {c['side']} {c['level']:,.8g}: "
                     f"{c['from']:,.8g} → {c['to']:,.8g}")
    if "count" in why:
        c = why["count"]
        lines.append(f"{c['count']} {'/'.join(c['kinds'])} events in {c['window']}")
    if "seen" in why:
        lines.append(f"{why['seen']['kind']} seen {why['seen']['ago']} ago")
    if "first_seen" in why:
        lines.append(f"first seen {why['first_seen']['ago']} ago")
    if "absent" in why:
        a = why["absent"]
        lines.append(f"nothing for {a['window']} (last {a['ago']} ago)")
    return "\n".join(lines)


@attrs.define
class _Pending:
    """A level condition waiting out its `for`: since when, and the values to send."""

    since: float
    values: dict[str, Any]
    key: str
    kind: str


class RuleSet:
    """Rules indexed by kind and by the equality keys of their `where`."""

    def __init__(self, rules: Iterable[Rule], *, indexed: bool = True,
                 silences: Silences | None = None) -> None:
        self.rules = tuple(rules)
        self.silences = silences or Silences()
        self._index = RuleIndex(self.rules, indexed=indexed)
        self._by_name = {r.name: r for r in self.rules}
        self._pending: dict[tuple[str, str], _Pending] = {}
        # What is firing now, with the alert that said so (the status API and page).
        self.firing_alerts: dict[tuple[str, str], Alert] = {}
        # (rule, "fired" | "cooldown"): what each rule did, for dry-run summaries.
        self.counts: collections.Counter[tuple[str, str]] = collections.Counter()
        # Per rule: events it was evaluated on, and how often its condition held.
        self.evaluated: collections.Counter[str] = collections.Counter()
        self.matched: collections.Counter[str] = collections.Counter()
        needs = NeedsBuilder()
        for rule in self.rules:
            needs.merge(rule.needs)
        self.needs: Needs = needs.build()
        # The shortest `for` or `absent` window: nothing an event starts can come due
        # sooner than that after it (inf: no rule fires on the clock).
        self.min_wait = min([rule.for_s for rule in self.rules if rule.for_s]
                            + [rule.repeat_s for rule in self.rules if rule.repeat_s]
                            + [rule.absent.window_s for rule in self.rules
                               if rule.absent is not None], default=math.inf)
        # When each firing alert of a rule with `repeat` is next sent again.
        self._repeat_due: dict[tuple[str, str], float] = {}
        # When the last tick saw something come due next (inf: nothing waits).
        self.next_due = math.inf

    @property
    def time_driven(self) -> bool:
        """Whether some rule fires on the clock (`for`, `absent`): then `tick` matters."""
        return self.min_wait != math.inf

    def values_in_use(self, kinds: Collection[str], field: str) -> set[Any] | None:
        """The values of `field` some rule on `kinds` can match (e.g. the Mobula views
        pulse rules name); None: some rule matches any value."""
        used: set[Any] = set()
        for rule in self.rules:
            if not set(kinds) & set(rule.kinds):
                continue
            values = rule.needs.equals.get(field)
            if values is None:
                return None
            used |= values
        return used

    def adopt(self, state: StateStore) -> None:
        """Make `state` serve these rules: their needs, and no firing state of rules that
        are gone (a removed `absent` rule must not fire from its old presence)."""
        state.needs = self.needs
        names = {rule.name for rule in self.rules}
        for journal in (state.firing, state.presence):
            for key in journal:
                if key[0] not in names:
                    journal.discard(key)

    def evaluate(self, event: Event, state: StateStore, now: float) -> list[Alert]:
        if not self._index.listens(event.kind):
            return []
        values = event.context()
        alerts: list[Alert] = []
        ev = Evaluation(values, event, state, now)  # one per event, reset per rule
        evaluated, matched = self.evaluated, self.matched
        for rule in self._index.candidates(event.kind, values):
            ev.kinds = rule.kinds
            if ev.why:  # a condition of the rule before held; never shared with an alert
                ev.why = {}
            holds = rule.condition(ev)
            evaluated[rule.name] += 1
            if holds:
                matched[rule.name] += 1
            if rule.absent is not None:
                alerts.extend(self._present(rule, event, holds, state, now))
            elif event.kind in rule.levels:
                alerts.extend(self._level(rule, event, ev, holds, state, now))
            elif holds:
                alerts.extend(self._fire(rule, event.kind, event.key, occurrence_id(event), ev,
                                         state, now))
        return alerts

    def _fire(self, rule: Rule, kind: str, key: str,
              occurrence: str, ev: Evaluation, state: StateStore, now: float) -> list[Alert]:
        if rule.cooldown and state.in_cooldown(rule.name, key, rule.cooldown, now):
            self.counts[(rule.name, "cooldown")] += 1
            return []
        silence = self.silences.match(rule.name, key, ev.values, now)
        if silence is not None:  # recorded, not sent; and no cooldown starts
            self.counts[(rule.name, "silenced")] += 1
            alert = self._alert(rule, kind, key, occurrence, ev.values, ev.why, now)
            return [attrs.evolve(alert, silenced=silence.id)]
        self.counts[(rule.name, "fired")] += 1
        state.fired(rule.name, key, now)
        return [self._alert(rule, kind, key, occurrence, ev.values, ev.why, now)]

    def _alert(self, rule: Rule, kind: str, key: str,
               occurrence: str, values: Mapping[str, Any], why: Mapping[str, Any], now: float,
               resolved: bool = False) -> Alert:
        group = None
        if rule.group is not None:
            group = "|".join([rule.name, *(str(lookup(values, f)) for f in rule.group.by)])
        return Alert(
            id=f"{rule.name}|{key}|{occurrence}{'|resolved' if resolved else ''}",
            rule=rule.name, kind=kind, key=key, fired_at=now, notify=rule.notify,
            title=rule.title, message=rule.message, resolved=resolved, group=group,
            values={**values, "rule": rule.name, "why": dict(why), "why_text": why_text(why),
                    "resolved": resolved},
        )

    def _level(self, rule: Rule, event: Event, ev: Evaluation,
               holds: bool, state: StateStore, now: float) -> list[Alert]:
        fkey = (rule.name, firing_key(event))
        if not holds:
            self._pending.pop(fkey, None)
            return self._clear(rule, fkey, event.kind, event.key,
                               ev.values, state, now)
        if fkey in state.firing:
            return []
        if rule.for_s:
            pending = self._pending.get(fkey)
            if pending is None:
                self._pending[fkey] = _Pending(now, {**ev.values, "why": ev.why},
                                               event.key, event.kind)
                return []
            if now - pending.since < rule.for_s:
                pending.values = {**ev.values, "why": ev.why}
                return []
            del self._pending[fkey]
        alerts = self._fire(rule, event.kind, event.key,
                            f"{event.ts:.3f}", ev, state, now)
        state.firing[fkey] = (now, bool(alerts))
        if alerts:
            self._firing(rule, fkey, alerts[0], now)
        return alerts

    def _firing(self, rule: Rule, fkey: tuple[str, str], alert: Alert, now: float) -> None:
        self.firing_alerts[fkey] = alert
        if rule.repeat_s:
            self._repeat_due[fkey] = now + rule.repeat_s

    def _repeat(self, state: StateStore, now: float, next_due: float) -> tuple[list[Alert],
                                                                             float]:
        """Firing alerts of rules with `repeat` that are due again: sent again (as new
        alerts of the same episode; a silence that matches now holds them)."""
        alerts: list[Alert] = []
        for fkey, due in list(self._repeat_due.items()):
            rule, alert = self._by_name.get(fkey[0]), self.firing_alerts.get(fkey)
            if rule is None or alert is None or fkey not in state.firing \
                    or not rule.repeat_s:
                del self._repeat_due[fkey]
            elif now >= due:
                again = attrs.evolve(alert, id=f"{alert.id}|repeat@{now:.0f}", fired_at=now,
                                     silenced=None)
                silence = self.silences.match(rule.name, alert.key, alert.values, now)
                if silence is not None:
                    again = attrs.evolve(again, silenced=silence.id)
                self.counts[(rule.name, "silenced" if silence else "repeated")] += 1
                alerts.append(again)
                self._repeat_due[fkey] = now + rule.repeat_s
                next_due = min(next_due, now + rule.repeat_s)
            else:
                next_due = min(next_due, due)
        return alerts, next_due

    def _clear(self, rule: Rule, fkey: tuple[str, str], kind: str,
               key: str, values: Mapping[str, Any], state: StateStore, now: float
               ) -> list[Alert]:
        firing = state.firing.get(fkey)
        if firing is None:
            return []
        state.firing.discard(fkey)
        self.firing_alerts.pop(fkey, None)
        self._repeat_due.pop(fkey, None)
        since, notified = firing
        if not (rule.notify_resolved and notified):
            return []
        return [self._alert(rule, kind, key, f"{since:.3f}", values, {}, now,
                            resolved=True)]

    def _present(self, rule: Rule, event: Event, holds: bool, state: StateStore, now: float
                 ) -> list[Alert]:
        """An event that matches an `absent` rule proves presence, and clears it."""
        if not holds:
            return []
        assert rule.absent is not None
        group = event.key if rule.absent.per == "token" else \
            f"{event.source}:{event.stream}"
        state.presence[(rule.name, group)] = (now, event.kind, event.source, event.stream)
        return self._clear(rule, (rule.name, group), event.kind,
                           group, {**event.context(), "key": group}, state, now)

    def tick(self, state: StateStore, now: float) -> list[Alert]:
        """Time-driven firing: `for` that has held long enough, `absent` windows.
        Records in `next_due` when the next of what waits comes due."""
        alerts: list[Alert] = []
        rules = self._by_name
        next_due = math.inf
        for fkey, pending in list(self._pending.items()):
            rule = rules.get(fkey[0])
            if rule is None:
                del self._pending[fkey]
            elif fkey in state.firing:
                next_due = now  # not expected; keep looking every tick
            elif now - pending.since < rule.for_s:
                next_due = min(next_due, pending.since + rule.for_s)
            else:
                del self._pending[fkey]
                ev = Evaluation(pending.values, None, state, now, rule.kinds,
                                dict(pending.values.get("why", {})))
                fired = self._fire(rule, pending.kind,
                                   pending.key, f"{pending.since:.3f}", ev, state, now)
                state.firing[fkey] = (now, bool(fired))
                if fired:
                    self._firing(rule, fkey, fired[0], now)
                alerts.extend(fired)
        for (name, group), (at, kind, source, stream) in state.presence.items():
            rule = rules.get(name)
            if rule is None or rule.absent is None or (name, group) in state.firing:
                continue  # a firing absence waits for an event, not for the clock
            if now - at < rule.absent.window_s:
                next_due = min(next_due, at + rule.absent.window_s)
                continue
            why = {"absent": {"window": format_duration(rule.absent.window_s), "last": at,
                              "ago": format_duration(now - at)}}
            token = {"key": group} if rule.absent.per == "token" else None
            ev = Evaluation({"key": group, "kind": kind, "source": source, "stream": stream,
                             "token": token}, None, state, now, rule.kinds, why)
            fired = self._fire(rule, kind, group, f"{at:.3f}", ev,
                               state, now)
            state.firing[(name, group)] = (now, bool(fired))
            if fired:
                self._firing(rule, (name, group), fired[0], now)
            alerts.extend(fired)
        if self._repeat_due:
            repeated, next_due = self._repeat(state, now, next_due)
            alerts.extend(repeated)
        self.next_due = next_due
        return alerts


class Engine:
    """The state and the rules together: an event or a tick in, alerts out."""

    def __init__(self, rules: Iterable[Rule], state: StateStore,
                 silences: Silences | None = None) -> None:
        self.state = state
        self.silences = silences or Silences()
        self.ruleset = RuleSet(rules, silences=self.silences)
        self.ruleset.adopt(state)

    def reload(self, rules: Iterable[Rule]) -> None:
        """Serve new rules from the same state (what removed rules held is forgotten)."""
        old = self.ruleset
        self.ruleset = RuleSet(rules, silences=self.silences)
        self.ruleset.adopt(self.state)
        self.ruleset.firing_alerts = {key: alert for key, alert in old.firing_alerts.items()
                                      if key in self.state.firing}
        self.ruleset._repeat_due = {key: due for key, due in old._repeat_due.items()
                                    if key in self.ruleset.firing_alerts}
        # Counters live on across reloads (for /metrics and summaries).
        self.ruleset.counts, self.ruleset.evaluated, self.ruleset.matched = \
            old.counts, old.evaluated, old.matched

    def process(self, event: Event, now: float) -> list[Alert]:
        """Apply one event to the state and evaluate the rules on it."""
        if not self.state.apply(event, now):
            return []
        return self.ruleset.evaluate(event, self.state, now)

    def tick(self, now: float) -> list[Alert]:
        """Time-driven rules (`for`, `absent`) at `now`."""
        return self.ruleset.tick(self.state, now)
