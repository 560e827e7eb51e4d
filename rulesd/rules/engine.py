"""The rule engine: rules indexed by kind, evaluated against each event.

Pure: no I/O and no clock of its own. `evaluate(event, state, now)` returns the
alerts that fire and records their firing times in the state store.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

import attrs

from rulesd.config import Rule
from rulesd.delivery.escaping import Format
from rulesd.delivery.templates import Rendered, RuleTemplates
from rulesd.events import Event
from rulesd.state import StateStore


@attrs.frozen
class Alert:
    """A rule that fired on an event, with the values that made it fire."""

    id: str
    rule: str
    kind: str
    key: str
    fired_at: float
    notify: tuple[str, ...]
    templates: RuleTemplates
    values: Mapping[str, Any]

    def render(self, fmt: Format) -> Rendered:
        return self.templates.render(self.kind, self.values, fmt)


def alert_key(event: Event) -> str:
    """The key cooldowns and dedupe work on: the token, else the stream."""
    if event.token is not None:
        return event.token.key
    return f"{event.source}:{event.stream}"


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
    """Rules indexed by the kinds they listen to."""

    def __init__(self, rules: Iterable[Rule]) -> None:
        self.rules = tuple(rules)
        self._by_kind: dict[str, list[tuple[Rule, RuleTemplates]]] = {}
        for rule in self.rules:
            templates = RuleTemplates(rule.title, rule.message)
            for kind in rule.kinds:
                self._by_kind.setdefault(kind, []).append((rule, templates))

    def evaluate(self, event: Event, state: StateStore, now: float) -> list[Alert]:
        candidates = self._by_kind.get(event.kind)
        if not candidates:
            return []
        values = event.context()
        key = alert_key(event)
        alerts = []
        for rule, templates in candidates:
            if not rule.condition(values):
                continue
            if rule.cooldown and state.in_cooldown(rule.name, key, rule.cooldown, now):
                continue
            state.fired(rule.name, key, now)
            alerts.append(Alert(
                id=f"{rule.name}|{key}|{occurrence_id(event)}",
                rule=rule.name,
                kind=event.kind,
                key=key,
                fired_at=now,
                notify=rule.notify,
                templates=templates,
                values={**values, "rule": rule.name},
            ))
        return alerts
