"""Rules dispatched by kind and by the equality keys of their `where`.

A rule whose `where` pins a field to a few values at the top level (`symbol: BTC`,
`token.cmc_id: 1`, `chain: {in: [solana, base]}`) is filed under those values,
so an event meets only the rules that can match it: per event the work is a
few dictionary lookups, however many rules are loaded. Rules with no such key
stay in a per-kind list and are evaluated for every event of their kinds. The
index only preselects: every candidate's whole condition still decides.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Iterable, Sequence
from typing import Any, Final

from rulesd.rules.compile import Rule
from rulesd.rules.predicates import Values, getter

# Fields to file a rule under when it pins several: the most selective first.
PREFERENCE: Final = (
    "token.key", "address", "token.address", "token.cmc_id", "cmc_id", "token.slug", "slug",
    "symbol", "token.symbol", "name", "token.name", "view", "chain", "token.chain", "source",
    "stream",
)


def _field_of(rule: Rule) -> str | None:
    equals = rule.needs.equals
    if not equals:
        return None
    for field in PREFERENCE:
        if field in equals:
            return field
    return min(equals)  # any pinned field preselects; the smallest name for determinism


class _Plan:
    """The rules of one kind: those to scan, and those filed by field and value."""

    __slots__ = ("indexed", "scan")

    def __init__(self) -> None:
        self.scan: list[Rule] = []
        self.indexed: dict[str, tuple[Callable[[Values], Any], dict[Any, list[Rule]]]] = {}


class RuleIndex:
    def __init__(self, rules: Sequence[Rule], *, indexed: bool = True,
                 kinds_of: Callable[[Rule], Iterable[str]] = lambda rule: rule.kinds
                 ) -> None:
        """`indexed=False` scans every rule of a kind (the reference the tests compare
        the index with); `kinds_of` says which of a rule's kinds to file it under."""
        self._position = {rule.name: i for i, rule in enumerate(rules)}
        self._plans: dict[str, _Plan] = {}
        for rule in rules:
            field = _field_of(rule) if indexed else None
            for kind in kinds_of(rule):
                plan = self._plans.setdefault(kind, _Plan())
                if field is None:
                    plan.scan.append(rule)
                    continue
                _, buckets = plan.indexed.setdefault(field, (getter(field), {}))
                for value in rule.needs.equals[field]:
                    buckets.setdefault(value, []).append(rule)

    def listens(self, kind: str) -> bool:
        return kind in self._plans

    def candidates(self, kind: str, values: Values) -> Iterable[Rule]:
        """The rules that may match an event of `kind` with these values, in file order."""
        plan = self._plans.get(kind)
        if plan is None:
            return ()
        found = [plan.scan] if plan.scan else []
        for get, buckets in plan.indexed.values():
            value = get(values)
            kind_of = type(value)
            if kind_of is str or kind_of is int or kind_of is float:
                bucket = buckets.get(value)
                if bucket:
                    found.append(bucket)
        if len(found) == 1:
            return found[0]
        if not found:
            return ()
        position = self._position
        return sorted(itertools.chain.from_iterable(found), key=lambda r: position[r.name])
