"""Stateful conditions: change, crosses, count, seen, first_seen, absent.

Each compiles its YAML arguments (reporting problems with their path) into a
predicate over an Evaluation. A condition that holds records why in
`ev.why[<name>]`, so alerts can say what made them fire.

Times: `change` and `crosses` compare a series' observations by the vendor's
timestamps; `count`, `seen`, `first_seen` and `absent` use the time rulesd
received events (the injected clock).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any, Final

from rulesd.durations import format_duration, parse_duration
from rulesd.rules import why
from rulesd.rules.predicates import (
    AbsentSpec,
    Compiler,
    Evaluation,
    Predicate,
    always,
    argument_problem,
    operator_test,
)
from rulesd.suggest import did_you_mean
from rulesd.yaml_loader import Path

_NUMERIC_OPS: Final = ("eq", "ne", "gt", "gte", "lt", "lte", "between")
_MEASURES: Final = ("pct", "abs_pct", "delta")


def _never(ev: Evaluation) -> bool:
    return False


class _Args:
    """Reads one condition's mapping, reporting every problem with its path."""

    def __init__(self, name: str, spec: Any, path: Path, compiler: Compiler) -> None:
        self.name, self.path, self.compiler = name, path, compiler
        self.ok = isinstance(spec, Mapping)
        self.spec: Mapping[str, Any] = spec if isinstance(spec, Mapping) else {}
        if not self.ok:
            compiler.report(path, f"`{name}` needs a mapping, e.g. {_EXAMPLES[name]}")

    def unknown(self, allowed: tuple[str, ...]) -> None:
        for key in self.spec:
            if key not in allowed:
                self.fail(f"`{self.name}` takes no {key!r}{did_you_mean(str(key), allowed)}",
                          key, at_key=True)

    def fail(self, message: str, key: str | None = None, at_key: bool = False) -> None:
        self.ok = False
        self.compiler.report((*self.path, key) if key else self.path, message, at_key)

    def duration(self, key: str) -> float:
        if key not in self.spec:
            self.fail(f"`{self.name}` needs `{key}` (a duration like 5m)")
            return 0.0
        try:
            seconds = parse_duration(self.spec[key])
        except ValueError as exc:
            self.fail(str(exc), key)
            return 0.0
        if seconds <= 0:
            self.fail(f"`{key}` must be longer than 0", key)
        return seconds

    def field(self, key: str = "of") -> str:
        value = self.spec.get(key)
        if not isinstance(value, str) or not value:
            self.fail(f"`{self.name}` needs `{key}`: the numeric field to watch (e.g. price)")
            return ""
        fields = self.compiler.fields
        if fields is not None and value not in fields:
            self.fail(f"unknown field {value!r} for this rule's kinds"
                      f"{did_you_mean(value, fields)}", key)
        elif (mismatch := self.compiler.not_a_number(value)) is not None:
            self.fail(f"`{self.name}` watches a number, but {mismatch}", key)
        return value

    def comparison(self, spec: Any, key: str) -> Callable[[Any], bool]:
        """`{gte: 2}` and the like, applied to a computed number."""
        if not isinstance(spec, Mapping) or not spec:
            self.fail(f"`{key}` needs operators, e.g. {{gte: 2}}", key)
            return lambda v: False
        tests = []
        for op, arg in spec.items():
            if op not in _NUMERIC_OPS:
                self.fail(f"unknown operator {op!r} here{did_you_mean(str(op), _NUMERIC_OPS)}",
                          key)
                continue
            problem = argument_problem(op, arg)
            if problem or (op in ("eq", "ne") and not isinstance(arg, int | float)):
                self.fail(problem or f"`{op}` needs a number, got {arg!r}", key)
                continue
            tests.append(operator_test(op, arg))
        return lambda v: all(t(v) for t in tests)


_EXAMPLES: Final = {
    "change": "{of: price, window: 5m, pct: {gte: 2}}",
    "crosses": "{of: price, above: 100000}",
    "count": "{window: 1h, gte: 3}",
    "seen": "{kind: boost, within: 1h}",
    "first_seen": "{within: 24h}",
    "absent": "{window: 10m}",
}


def _change(args: _Args) -> Predicate:
    args.unknown(("of", "window", *_MEASURES))
    field, window = args.field(), args.duration("window")
    measures = [m for m in _MEASURES if m in args.spec]
    if len(measures) != 1:
        args.fail("`change` needs exactly one of `pct`, `abs_pct` or `delta`")
        return _never
    measure = measures[0]
    test = args.comparison(args.spec[measure], measure)
    if not args.ok:
        return _never
    args.compiler.needs.series[field] = max(window, args.compiler.needs.series.get(field, 0.0))

    def change(ev: Evaluation) -> bool:
        assert ev.state is not None and ev.event is not None
        series = ev.state.series_of(ev.event, field)
        if series is None or not ev.state.in_order.get(field):
            return False
        current = series.last()
        reference = series.reference(ev.event.ts, window)
        if current is None or reference is None:
            return False
        delta = current[1] - reference[1]
        if measure == "delta":
            amount = delta
        elif reference[1] == 0:
            return False
        else:
            amount = delta / abs(reference[1]) * 100.0
            amount = abs(amount) if measure == "abs_pct" else amount
        if not test(amount):
            return False
        ev.why["change"] = why.Change(
            field, format_duration(window), reference[1], reference[0], current[1], delta,
            delta / abs(reference[1]) * 100.0 if reference[1] else None)
        return True

    return change


def _crosses(args: _Args) -> Predicate:
    args.unknown(("of", "above", "below"))
    field = args.field()
    sides = [s for s in ("above", "below") if s in args.spec]
    if len(sides) != 1:
        args.fail("`crosses` needs exactly one of `above` or `below`")
        return _never
    side, level = sides[0], args.spec[sides[0]]
    problem = argument_problem("gt", level)
    if problem:
        args.fail(f"`{side}` needs a number, got {level!r}", side)
    if not args.ok:
        return _never
    args.compiler.needs.series.setdefault(field, 0.0)

    def crosses(ev: Evaluation) -> bool:
        assert ev.state is not None and ev.event is not None
        series = ev.state.series_of(ev.event, field)
        if series is None or not ev.state.in_order.get(field):
            return False
        before, now = series.previous(), series.last()
        if before is None or now is None:
            return False
        # Reaching the level counts as being above it, on the way up and down.
        crossed = bool(before[1] < level <= now[1]) if side == "above" else bool(
            before[1] >= level > now[1])
        if crossed:
            ev.why["crosses"] = why.Crosses(field, side, level, before[1], now[1])
        return crossed

    return crosses


def _count(args: _Args) -> Predicate:
    args.unknown(("window", *_NUMERIC_OPS))
    window = args.duration("window")
    ops = {k: v for k, v in args.spec.items() if k in _NUMERIC_OPS}
    if not ops:
        args.fail("`count` needs a comparison, e.g. {window: 1h, gte: 3}")
        return _never
    test = args.comparison(ops, "count")
    if not args.ok:
        return _never
    args.compiler.needs.counts_s = max(args.compiler.needs.counts_s, window)

    def count(ev: Evaluation) -> bool:
        assert ev.state is not None
        key = _key(ev)
        n = ev.state.count(key, ev.kinds, ev.now - window)
        if not test(n):
            return False
        ev.why["count"] = why.Count(n, format_duration(window), tuple(ev.kinds))
        return True

    return count


def _seen(args: _Args) -> Predicate:
    args.unknown(("kind", "within"))
    within = args.duration("within")
    kind = str(args.spec.get("kind", ""))
    kinds = args.compiler.kinds
    if kind not in kinds:
        args.fail(f"`seen` needs `kind`: one of the event kinds"
                  f"{did_you_mean(kind, kinds) if kind else ''}",
                  "kind" if kind else None)
    if not args.ok:
        return _never
    args.compiler.needs.kinds_s = max(args.compiler.needs.kinds_s, within)

    def seen(ev: Evaluation) -> bool:
        assert ev.state is not None
        at = ev.state.kind_seen.get((_key(ev), kind))
        if at is None or ev.now - at > within:
            return False
        ev.why["seen"] = why.Seen(kind, at, format_duration(ev.now - at))
        return True

    return seen


def _first_seen(args: _Args) -> Predicate:
    args.unknown(("within",))
    within = args.duration("within")
    if not args.ok:
        return _never

    def first_seen(ev: Evaluation) -> bool:
        assert ev.state is not None
        at = ev.state.first_seen.get(_key(ev))
        if at is None or ev.now - at > within:
            return False
        ev.why["first_seen"] = why.FirstSeen(at, format_duration(ev.now - at))
        return True

    return first_seen


def _absent(args: _Args) -> Predicate:
    args.unknown(("window", "per"))
    window = args.duration("window")
    per = args.spec.get("per", "token")
    if per not in ("token", "stream"):
        args.fail(f"`per` is `token` or `stream`, got {per!r}", "per")
    if args.compiler.depth:
        args.fail("`absent` must stand at the top of `where`, not inside all/any/not")
    if args.compiler.needs.absent is not None:
        args.fail("a rule has at most one `absent`")
    if args.ok:
        args.compiler.needs.absent = AbsentSpec(window, per)
    return always  # evaluated on the daemon's tick, not on events


def _key(ev: Evaluation) -> str:
    event = ev.event
    assert event is not None
    return event.key


_COMPILERS: Final[dict[str, Callable[[_Args], Predicate]]] = {
    "change": _change, "crosses": _crosses, "count": _count, "seen": _seen,
    "first_seen": _first_seen, "absent": _absent,
}


def compile_stateful(name: str, spec: Any, path: Path, compiler: Compiler) -> Predicate:
    args = _Args(name, spec, path, compiler)
    if not args.ok:
        return _never
    return _COMPILERS[name](args)
