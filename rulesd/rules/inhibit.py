"""Inhibition (`inhibit:`, Alertmanager's idea): while a source alert holds, the alerts
of target rules that match it on the `equal` fields are recorded as `inhibited`, not
sent — a pump alert after a rug alert on the same token, price alerts of a vendor
whose stream is down.

A source rule of level kinds (or `absent`) holds while it fires; one of occurrence
kinds holds for `for` after each alert; `source_down` holds from a stream's
`source_down` until its `source_up`. `equal` takes `token` (the alert's key),
`chain` and `source`.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, Final

import attrs

from rulesd.suggest import did_you_mean
from rulesd.yaml_loader import Document, Problem

EQUAL: Final = ("token", "chain", "source")
SOURCE_DOWN: Final = "source_down"
WHILE_IT_HOLDS: Final = -1.0  # stored as the end of a hold that lasts while it fires


@attrs.frozen
class Inhibition:
    id: str  # stable across reloads while the entry is the same
    sources: tuple[str, ...]
    targets: tuple[str, ...]
    equal: tuple[str, ...]
    for_s: float | None

    def match(self, key: str, values: Mapping[str, Any]) -> str:
        """What a source and a target alert must share (a text: it is state)."""
        return "|".join(str(key if name == "token" else values.get(name))
                        for name in self.equal)


def compile_inhibitions(entries: Sequence[Any], rule_kinds: Mapping[str, bool],
                        doc: Document, problems: list[Problem]) -> list[Inhibition]:
    """`inhibit:` checked against the rules (name → whether it holds while firing)."""
    out = []
    for i, entry in enumerate(entries):
        here = ("inhibit", i)
        ok = True
        for side in ("source", "target"):
            for j, name in enumerate(getattr(entry, side)):
                known = name in rule_kinds or (side == "source" and name == SOURCE_DOWN)
                if not known:
                    ok = False
                    choices = [*rule_kinds, SOURCE_DOWN] if side == "source" else rule_kinds
                    problems.append(doc.problem((*here, side, j), f"unknown rule {name!r}"
                                                f"{did_you_mean(name, choices)}"))
        for j, name in enumerate(entry.equal):
            if name not in EQUAL:
                ok = False
                problems.append(doc.problem((*here, "equal", j), f"`equal` takes "
                                            f"{', '.join(EQUAL)}; got {name!r}"))
        events = [s for s in entry.source if s in rule_kinds and not rule_kinds[s]]
        if events and entry.for_ is None:
            ok = False
            problems.append(doc.problem(here, f"rule {events[0]!r} fires per event: say how "
                                        "long after its alert the targets are held (`for: "
                                        "1h`)"))
        if SOURCE_DOWN in entry.source and tuple(entry.equal) != ("source",):
            ok = False
            problems.append(doc.problem((*here, "equal"), "`source_down` holds for a whole "
                                        "source: `equal: [source]`"))
        if ok:
            out.append(Inhibition(
                f"{','.join(sorted(entry.source))}>{','.join(sorted(entry.target))}"
                f"/{','.join(entry.equal)}", tuple(entry.source), tuple(entry.target),
                tuple(entry.equal), None if entry.for_ is None else float(entry.for_)))
    return out


def attach(rules: Sequence[Any], inhibitions: Sequence[Inhibition]) -> list[Any]:
    """Each rule with the inhibitions it is a source or a target of."""
    return [attrs.evolve(
        rule, inhibits=tuple(i for i in inhibitions if rule.name in i.sources),
        inhibited_by=tuple(i for i in inhibitions if rule.name in i.targets))
        for rule in rules]
