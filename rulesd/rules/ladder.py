"""`rearm: {every: 10%}`: a level rule that fired speaks again only past each further
step of the value that made it fire — a pump ladder (+10 %, +20 %, +30 % …).

The value is the rule's `change` (its percent, or its delta with `delta:`), else the
field of its `crosses`, else its one numeric field condition (`price: {gte: 100}`);
`of:` names the field where that is not clear. On a change, `every: 10%` is ten
points (+10 % → +20 %); on a field, 10 % of the value the last alert told (a price of
100 → 110), and a bare number is a step in the field's unit. The direction is the
condition's (`gte`, `above`: up; `lte`, `below`: down), or for a change the one its
first alert went. A ladder starts over when the condition turns false.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Final

import attrs

from rulesd.rules.predicates import lookup

_UP: Final = {"gt": True, "gte": True, "lt": False, "lte": False}


@attrs.frozen
class Ladder:
    step: float
    relative: bool  # the step is a fraction of the last value told
    source: str  # "change.pct", "change.delta" or a field
    up: bool | None = None  # None: the way the first alert went
    # A `crosses` level: the condition holds at the crossing only, so the episode (and
    # its ladder) lasts while the value stays beyond the level.
    level: float | None = None

    def value(self, values: Mapping[str, Any], why: Mapping[str, Any]) -> float | None:
        if self.source.startswith("change."):
            reason = why.get("change")
            found = getattr(reason, self.source.split(".", 1)[1], None)
        else:
            found = lookup(values, self.source)
        return float(found) if isinstance(found, int | float) and not isinstance(
            found, bool) else None

    def beyond(self, value: float) -> bool:
        """Still on the far side of the `crosses` level it alerted past."""
        return self.level is not None and (value >= self.level if self.up
                                           else value <= self.level)

    def direction(self, first: float) -> bool:
        return self.up if self.up is not None else first >= 0

    def passed(self, value: float, last: float, up: bool) -> bool:
        """Whether `value` is a whole step beyond `last`, the way the ladder climbs."""
        step = abs(last) * self.step if self.relative else self.step
        slack = 1e-9 * max(1.0, abs(last))  # +20 % computed as 20.000000000000004
        return value >= last + step - slack if up else value <= last - step + slack


def ladder_of(spec: Any, where: Any) -> tuple[Ladder | None, str | None]:
    """The ladder `rearm:` asks for on a rule with this `where`, or why there is none."""
    if not isinstance(spec, Mapping) or set(spec) - {"every", "of"} or "every" not in spec:
        return None, "`rearm` takes `every` (10%, or a step in the value's unit) and " \
                     "optionally `of`"
    every, of = spec["every"], spec.get("of")
    percent = isinstance(every, str) and every.strip().endswith("%")
    try:
        step = float(every.strip().rstrip("%")) if isinstance(every, str) else float(every)
    except ValueError:
        step = -1.0
    if isinstance(every, bool) or not step > 0:
        return None, f"`every` must be a positive step like 10% or 0.5, got {every!r}"
    where = where if isinstance(where, Mapping) else {}
    change, crosses = where.get("change"), where.get("crosses")
    if of is None and isinstance(change, Mapping):
        source = "change.delta" if "delta" in change else "change.pct"
        return Ladder(step, False, source), None
    if of is None and isinstance(crosses, Mapping) and isinstance(crosses.get("of"), str):
        up = "above" in crosses
        level = crosses.get("above" if up else "below")
        return Ladder(step / 100 if percent else step, percent, crosses["of"], up,
                      float(level) if isinstance(level, int | float) else None), None
    numeric = {name: ops for name, ops in where.items()
               if isinstance(ops, Mapping) and set(ops) & set(_UP)}
    if of is not None:
        numeric = {of: numeric.get(of, {})} if isinstance(of, str) else {}
    if len(numeric) != 1:
        return None, ("`rearm` needs one value to climb: a `change`, a `crosses` or one "
                      "numeric condition (`price: {gte: 100}`); name it with `of`")
    (name, ops), = numeric.items()
    ways = {_UP[op] for op in ops if op in _UP}
    return Ladder(step / 100 if percent else step, percent, name,
                  ways.pop() if len(ways) == 1 else None), None
