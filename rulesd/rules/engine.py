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

import math
from collections.abc import Callable, Collection, Iterable, Mapping
from typing import Any

import attrs

from rulesd.durations import format_duration
from rulesd.events import Event, series_key
from rulesd.rules import why
from rulesd.rules.alert import Alert
from rulesd.rules.compile import Rule
from rulesd.rules.index import RuleIndex
from rulesd.rules.inhibit import SOURCE_DOWN, WHILE_IT_HOLDS
from rulesd.rules.intervals import quiet
from rulesd.rules.predicates import Evaluation, NeedsBuilder, lookup
from rulesd.rules.runtime import FiringKey, Pending, Runtime
from rulesd.rules.why import Reason
from rulesd.silences import Silences
from rulesd.state import Needs, StateStore
from rulesd.state.store import Firing, Watch

# How an inhibited or muted alert's outbox row says what held it.
INHIBITED = "inhibited:"
MUTED = "muted:"
# A mute's digest names this many of the keys it held (and counts the rest).
DIGEST_KEYS = 20


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


class RuleSet:
    """Compiled rules, indexed by kind and by the equality keys of their `where`:
    immutable; what they learn at run time is the engine's (`Runtime`)."""

    def __init__(self, rules: Iterable[Rule], *, indexed: bool = True) -> None:
        self.rules = tuple(rules)
        self.indexed = indexed
        # Events in: the rules that see them at once; once their lookups answered
        # (market data), the rules that named those fields.
        self.index = RuleIndex(self.rules, indexed=indexed,
                               kinds_of=lambda r: [k for k in r.kinds if k not in r.waits_on])
        self.after_lookup = RuleIndex(self.rules, indexed=indexed,
                                      kinds_of=lambda r: r.waits_on)
        # The kinds whose events go to the lookups, with the lookups their rules name:
        # an empty mapping costs the frame path nothing.
        waiting: dict[str, frozenset[str]] = {}
        for rule in self.rules:
            for kind, lookups in rule.waits_on.items():
                waiting[kind] = waiting.get(kind, frozenset()) | lookups
        self.waiting_kinds: Mapping[str, frozenset[str]] = waiting
        self.watching = any(r.watch is not None for r in self.rules)
        self.by_name = {r.name: r for r in self.rules}
        needs = NeedsBuilder()
        for rule in self.rules:
            needs.merge(rule.needs)
        self.needs: Needs = needs.build()
        # The shortest `for`, `repeat` or `absent` window: nothing an event starts can
        # come due sooner than that after it (inf: no rule fires on the clock).
        self.min_wait = min([rule.for_s for rule in self.rules if rule.for_s]
                            + [1.0 for rule in self.rules if rule.mute or rule.active]
                            + [rule.repeat_s for rule in self.rules if rule.repeat_s]
                            + [rule.absent.window_s for rule in self.rules
                               if rule.absent is not None], default=math.inf)

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

    def changed(self, old: RuleSet) -> set[str]:
        """The rules of `old` that are gone here or whose condition is not the same."""
        return {name for name, rule in old.by_name.items()
                if name not in self.by_name or self.by_name[name].spec != rule.spec}


class Engine:
    """The state, the rules and what they learn at run time: an event or a tick in,
    alerts out."""

    def __init__(self, rules: Iterable[Rule], state: StateStore,
                 silences: Silences | None = None, *, indexed: bool = True) -> None:
        self.state = state
        self.silences = silences or Silences()
        self.ruleset = RuleSet(rules, indexed=indexed)
        self.runtime = Runtime()
        self._adopt(set())

    def _adopt(self, forget: Collection[str]) -> None:
        """Make the state serve the rules: their needs, and no firing state of rules that
        are gone or changed (a removed `absent` rule must not fire from its old presence)."""
        self.state.needs = self.ruleset.needs
        names = self.ruleset.by_name
        for journal in (self.state.firing, self.state.presence):
            for key in journal:
                if key[0] not in names or key[0] in forget:
                    journal.discard(key)
        for key in self.state.watches:  # a removed rule's watches end with it
            if key[0] not in names:
                self.state.watches.discard(key)
        self.runtime.forget(forget)

    def reload(self, rules: Iterable[Rule]) -> None:
        """Serve new rules from the same state and runtime: a pending `for`, what is
        firing, `repeat` and the counters go on; only what belonged to rules that are
        gone or whose condition changed is forgotten."""
        old, self.ruleset = self.ruleset, RuleSet(rules, indexed=self.ruleset.indexed)
        self._adopt(self.ruleset.changed(old))

    def process(self, event: Event, now: float,
                wait: Callable[[Event], None] | None = None) -> list[Alert]:
        """Apply one event to the state and evaluate the rules that see it at once; hand
        it to `wait` when some rule sees it only with its lookups' answers."""
        if not self.state.apply(event, now):
            return []
        if event.kind in ("source_down", "source_up"):
            if event.kind == "source_down":
                self.state.down[(event.source, event.stream)] = now
            else:
                self.state.down.discard((event.source, event.stream))
        if wait is not None and event.kind in self.ruleset.waiting_kinds:
            wait(event)
        return self.evaluate(event, now)

    def evaluate(self, event: Event, now: float, *, looked_up: bool = False) -> list[Alert]:
        """The rules on an event already applied to the state: those that see it at
        once, or (`looked_up`) those that waited for its lookups' answers."""
        index = self.ruleset.after_lookup if looked_up else self.ruleset.index
        if not index.listens(event.kind):
            return []
        values = event.context()
        alerts: list[Alert] = []
        ev = Evaluation(values, event, self.state, now)  # one per event, reset per rule
        counts = self.runtime.counts
        for rule in index.candidates(event.kind, values):
            ev.kinds = rule.kinds
            if ev.why:  # a condition of the rule before held; never shared with an alert
                ev.why = {}
            holds = rule.condition(ev)
            count = counts[rule.name]
            count.evaluated += 1
            if holds:
                count.matched += 1
            if rule.absent is not None:
                alerts.extend(self._present(rule, event, holds, now))
            elif event.kind in rule.levels:
                alerts.extend(self._level(rule, event, ev, holds, now))
            elif holds:
                alerts.extend(self._fire(rule, event.kind, event.key, occurrence_id(event), ev,
                                         now))
        return alerts

    def _fire(self, rule: Rule, kind: str, key: str, occurrence: str, ev: Evaluation,
              now: float) -> list[Alert]:
        count = self.runtime.counts[rule.name]
        if rule.cooldown and self.state.in_cooldown(rule.name, key, rule.cooldown, now):
            count.cooldown += 1
            return []
        silence = self.silences.match(rule.name, key, ev.values, now)
        if silence is not None:  # recorded, not sent; and no cooldown starts
            count.silenced += 1
            self._hold(rule, key, ev.values, now)
            alert = _alert(rule, kind, key, occurrence, ev.values, ev.why, now)
            return [attrs.evolve(alert, silenced=silence.id)]
        source = self._inhibited(rule, key, ev.values, now) if rule.inhibited_by else None
        if source is not None:  # recorded as inhibited, not sent
            count.inhibited += 1
            alert = _alert(rule, kind, key, occurrence, ev.values, ev.why, now)
            return [attrs.evolve(alert, silenced=f"{INHIBITED}{source}")]
        muted = self._muted(rule, now) if rule.mute or rule.active else None
        if muted is not None:  # recorded as muted; a digest says it when the mute ends
            count.muted += 1
            if rule.on_unmute == "digest":
                why_, held, keys, since = self.state.muted.get(rule.name, (muted, 0, [], now))
                self.state.muted[rule.name] = (why_, held + 1,
                                               [*keys, key][:DIGEST_KEYS], since)
            alert = _alert(rule, kind, key, occurrence, ev.values, ev.why, now)
            return [attrs.evolve(alert, silenced=f"{MUTED}{muted}")]
        self._hold(rule, key, ev.values, now)
        count.fired += 1
        growth = rule.cooldown_growth
        self.state.fired(rule.name, key, now,
                         None if growth is None else (rule.cooldown, *growth))
        if rule.watch is not None:
            self._watch(rule, key, ev.values, now)
        return [_alert(rule, kind, key, occurrence, ev.values, ev.why, now)]

    @staticmethod
    def _muted(rule: Rule, now: float) -> str | None:
        """Why a time interval keeps `rule` quiet now, if one does."""
        return quiet(rule.mute, rule.active, now)

    def _unmuted(self, now: float) -> list[Alert]:
        """One digest for each rule whose mute ended, of what it held."""
        alerts = []
        for name, (why_, held, keys, since) in self.state.muted.items():
            rule = self.ruleset.by_name.get(name)
            if rule is not None and self._muted(rule, now) is not None:
                continue
            self.state.muted.discard(name)
            if rule is None:
                continue
            more = f" and {held - len(keys)} more" if held > len(keys) else ""
            values = {"rule": name, "held": held, "held_keys": keys, "muted": why_,
                      "since": since, "kind": rule.kinds[0], "source": "rulesd",
                      "stream": "mute", "token": None}
            alert = _alert(rule, rule.kinds[0], f"muted:{name}", f"digest@{now:.0f}",
                           values, {}, now)
            alerts.append(attrs.evolve(
                alert, group=None, title=f"{name}: {held} alert(s) held {why_}",
                message="{{ held_keys | join(', ') }}" + more))
        return alerts

    def _hold(self, rule: Rule, key: str, values: Mapping[str, Any], now: float) -> None:
        """An alert of `rule` holds its inhibitions' targets: while it fires (a level,
        `absent`) or for `for` (an occurrence)."""
        for spec in rule.inhibits:
            until = now + spec.for_s if spec.for_s is not None and not (
                rule.levels or rule.absent) else WHILE_IT_HOLDS
            self.state.inhibitors[(spec.id, spec.match(key, values))] = until

    def _inhibited(self, rule: Rule, key: str, values: Mapping[str, Any],
                   now: float) -> str | None:
        """The source that holds this alert of `rule` back, if one does."""
        state = self.state
        for spec in rule.inhibited_by:
            if SOURCE_DOWN in spec.sources and any(
                    src == values.get("source") for src, _ in state.down):
                return SOURCE_DOWN
            until = state.inhibitors.get((spec.id, spec.match(key, values)))
            if until is not None and (until == WHILE_IT_HOLDS or now < until):
                return ",".join(s for s in spec.sources if s != SOURCE_DOWN)
        return None

    def _watch(self, rule: Rule, key: str, values: Mapping[str, Any], now: float) -> None:
        """Start (or lengthen) the watch of the token an alert of `rule` told about."""
        assert rule.watch is not None
        chain, address = values.get("chain"), values.get("address")
        if not isinstance(chain, str) or not isinstance(address, str):
            return  # no address on a chain: nothing DEX Screener could be asked about
        market = values.get("market")
        price = market.get("price") if isinstance(market, Mapping) else None
        if price is None and values.get("source") == "dexscreener":
            price = values.get("price")
        known = self.state.watches.get((rule.name, key))
        since = known.since if known is not None else now
        price = known.price if known is not None else price
        for_s, every_s = rule.watch
        symbol = values.get("symbol")
        self.state.watches[(rule.name, key)] = Watch(
            since, now + for_s, every_s, price if isinstance(price, float) else None,
            chain, address, symbol if isinstance(symbol, str) else None)

    def _level(self, rule: Rule, event: Event, ev: Evaluation, holds: bool,
               now: float) -> list[Alert]:
        fkey = (rule.name, firing_key(event))
        pendings = self.runtime.pending
        if not holds:
            ladder = rule.ladder
            if ladder is not None and ladder.level is not None and fkey in self.state.firing:
                value = ladder.value(ev.values, ev.why)
                if value is not None and ladder.beyond(value):  # past a `crosses` level
                    return self._climb(rule, fkey, event, ev, now)
            pendings.pop(fkey, None)
            return self._clear(rule, fkey, event.kind, event.key, ev.values, now)
        if fkey in self.state.firing:
            return self._climb(rule, fkey, event, ev, now) if rule.ladder else []
        if rule.for_s:
            pending = pendings.get(fkey)
            if pending is None:
                pendings[fkey] = Pending(now, {**ev.values, "why": ev.why}, event.key,
                                         event.kind)
                return []
            if now - pending.since < rule.for_s:
                pending.values = {**ev.values, "why": ev.why}
                return []
            del pendings[fkey]
        return self._start_firing(rule, fkey, event.kind, event.key, f"{event.ts:.3f}", ev,
                                  now)

    def _climb(self, rule: Rule, fkey: FiringKey, event: Event, ev: Evaluation,
               now: float) -> list[Alert]:
        """A firing level with `rearm`: alert again once its value is a step beyond the
        last rung it alerted at (the way it went)."""
        assert rule.ladder is not None
        rung = self.state.ladders.get(fkey)
        value = rule.ladder.value(ev.values, ev.why)
        if rung is None or value is None:
            return []
        last, at, up = rung
        if not rule.ladder.passed(value, last, up):
            return []
        ev.why = {**ev.why, "rearm": why.Rearm(value, last, at,
                                                rule.ladder.source == "change.pct")}
        alerts = self._fire(rule, event.kind, event.key, f"{event.ts:.3f}|rung", ev, now)
        if alerts:
            self.state.ladders[fkey] = (value, now, up)
            self.runtime.firing_alerts[fkey] = alerts[0]
        return alerts

    def _start_firing(self, rule: Rule, fkey: FiringKey, kind: str, key: str,
                      occurrence: str, ev: Evaluation, now: float) -> list[Alert]:
        """A level condition or an absence became true: its episode begins (sent, or
        held by a cooldown or a silence, and then not notified)."""
        alerts = self._fire(rule, kind, key, occurrence, ev, now)
        self.state.firing[fkey] = Firing(now, bool(alerts))
        if alerts:
            self.runtime.firing_alerts[fkey] = alerts[0]
            if rule.ladder is not None:
                value = rule.ladder.value(ev.values, ev.why)
                if value is not None:
                    self.state.ladders[fkey] = (value, now, rule.ladder.direction(value))
            if rule.repeat_s:
                self.runtime.repeat_due[fkey] = now + rule.repeat_s
        return alerts

    def _clear(self, rule: Rule, fkey: FiringKey, kind: str, key: str,
               values: Mapping[str, Any], now: float) -> list[Alert]:
        firing = self.state.firing.get(fkey)
        if firing is None:
            return []
        self.state.firing.discard(fkey)
        self.state.ladders.discard(fkey)  # a ladder starts over
        for spec in rule.inhibits:  # what it held while it fired goes out again
            self.state.inhibitors.discard((spec.id, spec.match(key, values)))
        self.runtime.firing_alerts.pop(fkey, None)
        self.runtime.repeat_due.pop(fkey, None)
        since, notified = firing
        if not (rule.notify_resolved and notified):
            return []
        return [_alert(rule, kind, key, f"{since:.3f}", values, {}, now, resolved=True)]

    def _present(self, rule: Rule, event: Event, holds: bool, now: float) -> list[Alert]:
        """An event that matches an `absent` rule proves presence, and clears it."""
        if not holds:
            return []
        assert rule.absent is not None
        group = event.key if rule.absent.per == "token" else \
            f"{event.source}:{event.stream}"
        self.state.presence[(rule.name, group)] = (now, event.kind, event.source, event.stream)
        return self._clear(rule, (rule.name, group), event.kind, group,
                           {**event.context(), "key": group}, now)

    def tick(self, now: float) -> list[Alert]:
        """Time-driven firing at `now`: `for` that has held long enough, `absent`
        windows, `repeat`. Records in `runtime.next_due` when the next of what waits
        comes due."""
        alerts: list[Alert] = []
        rules, state, runtime = self.ruleset.by_name, self.state, self.runtime
        next_due = math.inf
        for fkey, pending in list(runtime.pending.items()):
            rule = rules.get(fkey[0])
            if rule is None:
                del runtime.pending[fkey]
            elif fkey in state.firing:
                next_due = now  # not expected; keep looking every tick
            elif now - pending.since < rule.for_s:
                next_due = min(next_due, pending.since + rule.for_s)
            else:
                del runtime.pending[fkey]
                ev = Evaluation(pending.values, None, state, now, rule.kinds,
                                dict(pending.values.get("why", {})))
                alerts.extend(self._start_firing(rule, fkey, pending.kind, pending.key,
                                                 f"{pending.since:.3f}", ev, now))
        for (name, group), (at, kind, source, stream) in state.presence.items():
            rule = rules.get(name)
            if rule is None or rule.absent is None or (name, group) in state.firing:
                continue  # a firing absence waits for an event, not for the clock
            if now - at < rule.absent.window_s:
                next_due = min(next_due, at + rule.absent.window_s)
                continue
            reasons: dict[str, Reason] = {"absent": why.Absent(
                format_duration(rule.absent.window_s), at, format_duration(now - at))}
            token = {"key": group} if rule.absent.per == "token" else None
            ev = Evaluation({"key": group, "kind": kind, "source": source, "stream": stream,
                             "token": token}, None, state, now, rule.kinds, reasons)
            alerts.extend(self._start_firing(rule, (name, group), kind, group, f"{at:.3f}",
                                             ev, now))
        if runtime.repeat_due:
            repeated, next_due = self._repeat(now, next_due)
            alerts.extend(repeated)
        if len(state.muted):
            alerts.extend(self._unmuted(now))
            if len(state.muted):
                next_due = min(next_due, now + 1.0)  # a mute's end is looked for each second
        runtime.next_due = next_due
        return alerts

    def _repeat(self, now: float, next_due: float) -> tuple[list[Alert], float]:
        """Firing alerts of rules with `repeat` that are due again: sent again (as new
        alerts of the same episode; a silence that matches now holds them)."""
        alerts: list[Alert] = []
        runtime = self.runtime
        for fkey, due in list(runtime.repeat_due.items()):
            rule = self.ruleset.by_name.get(fkey[0])
            alert = runtime.firing_alerts.get(fkey)
            if rule is None or alert is None or fkey not in self.state.firing \
                    or not rule.repeat_s:
                del runtime.repeat_due[fkey]
            elif now >= due:
                again = attrs.evolve(alert, id=f"{alert.id}|repeat@{now:.0f}", fired_at=now,
                                     silenced=None)
                silence = self.silences.match(rule.name, alert.key, alert.values, now)
                if silence is not None:
                    again = attrs.evolve(again, silenced=silence.id)
                    runtime.counts[rule.name].silenced += 1
                else:
                    runtime.counts[rule.name].repeated += 1
                alerts.append(again)
                runtime.repeat_due[fkey] = now + rule.repeat_s
                next_due = min(next_due, now + rule.repeat_s)
            else:
                next_due = min(next_due, due)
        return alerts, next_due


def _alert(rule: Rule, kind: str, key: str, occurrence: str, values: Mapping[str, Any],
           reasons: Mapping[str, Reason], now: float, resolved: bool = False) -> Alert:
    group = None
    if rule.group is not None:
        group = "|".join([rule.name, *(str(lookup(values, f)) for f in rule.group.by)])
    return Alert(
        id=f"{rule.name}|{key}|{occurrence}{'|resolved' if resolved else ''}",
        rule=rule.name, kind=kind, key=key, fired_at=now, notify=rule.notify,
        title=rule.title, message=rule.message, resolved=resolved, group=group,
        values={**values, "rule": rule.name, "why": why.values(reasons),
                "why_text": why.text(reasons),
                "resolved": resolved},
    )
