"""Compile a rule's `where:` mapping into a predicate over an event's values.

Semantics users rely on (documented in the README): a bare value is equality;
a missing or null field fails every operator except `exists: false`; numeric
operators never match booleans, strings or NaN.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Collection, Iterable, Mapping
from typing import Any, Final

from rulesd.durations import parse_duration
from rulesd.events import CONTEXT_FIELDS, TOKENREF_FIELDS
from rulesd.rules.predicates import (
    COMBINATORS,
    NUMERIC_OPERATORS,
    OPERATORS,
    STATEFUL,
    Evaluation,
    NeedsBuilder,
    Predicate,
    always,
    argument_problem,
    getter,
    never,
    operator_test,
)
from rulesd.rules.stateful import compile_stateful
from rulesd.schema import NUMERIC, Field
from rulesd.suggest import did_you_mean
from rulesd.yaml_loader import Path, Report


class _Compiler:
    def __init__(self, fields: Mapping[str, Field] | None, kinds: Collection[str],
                 report: Report, needs: NeedsBuilder) -> None:
        self.fields = fields
        self.kinds = kinds
        self.report = report
        self.needs = needs
        self.depth = 0

    def where(self, spec: Any, path: Path) -> Predicate:
        if not isinstance(spec, Mapping):
            self.report(path, f"a condition must be a mapping of fields, got {spec!r}")
            return never
        parts = [self.entry(str(key), value, (*path, key)) for key, value in spec.items()]
        return _all(parts)

    def entry(self, key: str, value: Any, path: Path) -> Predicate:
        if key in ("all", "any"):
            if not isinstance(value, list) or not value:
                self.report(path, f"`{key}` needs a non-empty list of conditions")
                return never
            self.depth += 1
            parts = [self.where(item, (*path, i)) for i, item in enumerate(value)]
            self.depth -= 1
            return _all(parts) if key == "all" else _any(parts)
        if key == "not":
            self.depth += 1
            inner = self.where(value, path)
            self.depth -= 1
            return lambda ev: not inner(ev)
        if key in STATEFUL:
            return compile_stateful(key, value, path, self)
        self.check_field(key, path)
        self.needs.heads.add(key.partition(".")[0])
        self.needs.names.add(key)
        if not self.depth:
            self._note_equality(key, value)
        return self.field(key, value, path)

    def _note_equality(self, key: str, value: Any) -> None:
        """A top-level `field: value` (or `{eq: v}`, `{in: [...]}`) restricts every
        event the rule can match to those values of the field."""
        if isinstance(value, Mapping):
            if len(value) != 1 or not {"eq", "in"} & set(value):
                return
            value = value.get("eq", value.get("in"))
        values = value if isinstance(value, list) else [value]
        if all(isinstance(v, str | int) and not isinstance(v, bool) for v in values):
            self.needs.equals[key] = set(values)

    def check_field(self, name: str, path: Path) -> None:
        if self.fields is None:
            return
        if name in self.fields:
            return
        head, _, rest = name.partition(".")
        known = set(self.fields) | CONTEXT_FIELDS
        nested = sorted(f for f in self.fields if f.startswith(f"{head}."))
        if nested and rest:  # a typed object (`market.`): its parts are declared one by one
            self.report(path, f"unknown field {name!r}{did_you_mean(name, nested)}", True)
        elif head not in known and not nested:
            self.report(path, f"unknown field {head!r} for this rule's kinds"
                              f"{_unknown_hint(head, known | COMBINATORS)}", True)
        elif head == "token" and rest and rest.split(".")[0] not in TOKENREF_FIELDS:
            sub = rest.split(".")[0]
            self.report(path, f"unknown token field {sub!r}{did_you_mean(sub, TOKENREF_FIELDS)}",
                        True)

    def _duration(self, name: str) -> bool:
        field = self.fields.get(name) if self.fields is not None else None
        return field is not None and field.type == "duration"

    def not_a_number(self, name: str) -> str | None:
        """Why a numeric comparison on `name` could never hold, if the schema says so."""
        if self.fields is None or name in ("ts",):
            return None
        field = self.fields.get(name)
        if field is None or field.type in NUMERIC:
            return None  # unknown fields are reported on their own; dotted paths unchecked
        return f"`{name}` is a {field.type}, not a number"

    def field(self, name: str, spec: Any, path: Path) -> Predicate:
        if isinstance(spec, list):
            self.report(path, f"a list needs an operator: write `{name}: {{in: [...]}}`")
            return never
        if not isinstance(spec, Mapping):
            spec = {"eq": spec}
        if not spec:
            self.report(path, f"`{name}` needs at least one operator")
            return never
        tests: list[Callable[[Any], bool]] = []
        exists: bool | None = None
        for op, arg in spec.items():
            op_path = (*path, op)
            if op not in OPERATORS:
                self.report(op_path, f"unknown operator {op!r}{did_you_mean(str(op), OPERATORS)}",
                            True)
                continue
            if self._duration(name) and op in NUMERIC_OPERATORS:
                arg = _seconds(arg)
            problem = argument_problem(op, arg)
            if problem:
                self.report(op_path, problem)
                continue
            mismatch = self.not_a_number(name) if op in NUMERIC_OPERATORS else None
            if mismatch:
                self.report(op_path, f"`{op}` compares numbers, but {mismatch}", True)
                continue
            if op == "exists":
                exists = arg
            else:
                tests.append(operator_test(op, arg))
        return _field_predicate(name, tests, exists)


def _seconds(arg: Any) -> Any:
    """A duration field's comparison argument in seconds (`24h`, `[1h, 2d]`); what is
    not a duration is left for the operator's own check to refuse."""
    try:
        if isinstance(arg, list):
            return [parse_duration(a) for a in arg]
        return parse_duration(arg)
    except ValueError:
        return arg


def _field_predicate(
    name: str, tests: list[Callable[[Any], bool]], exists: bool | None
) -> Predicate:
    get = getter(name)
    if exists is False:  # only `exists: false` (with tests it could never hold)
        return lambda ev: not tests and get(ev.values) is None
    if len(tests) == 1:
        (test,) = tests

        def one(ev: Evaluation) -> bool:
            value = get(ev.values)
            return value is not None and test(value)

        return one

    def predicate(ev: Evaluation) -> bool:
        value = get(ev.values)
        if value is None:
            return False
        return all(test(value) for test in tests)

    return predicate


def _all(parts: Iterable[Predicate]) -> Predicate:
    items = tuple(parts)
    if not items:
        return always
    if len(items) == 1:
        return items[0]
    if len(items) == 2:
        first, second = items
        return lambda ev: first(ev) and second(ev)

    def every(ev: Evaluation) -> bool:
        for part in items:  # noqa: SIM110 - a loop: no generator per event
            if not part(ev):
                return False
        return True

    return every


def _any(parts: Iterable[Predicate]) -> Predicate:
    items = tuple(parts)

    def some(ev: Evaluation) -> bool:
        for part in items:  # noqa: SIM110 - a loop: no generator per event
            if part(ev):
                return True
        return False

    return some


def compile_where(
    spec: Any,
    *,
    fields: Mapping[str, Field] | None = None,
    kinds: Collection[str] = (),
    report: Report,
    path: Path = (),
    needs: NeedsBuilder | None = None,
) -> Predicate:
    """Compile `where:`; every problem goes to `report(path, message)`.

    `fields` are the typed fields the rule's kinds carry (None: do not check),
    `kinds` every kind there is (for `seen`); what stateful conditions need
    remembered is added to `needs`.
    """
    if spec is None:
        return always
    return _Compiler(fields, kinds, report, needs or NeedsBuilder()).where(spec, path)


_CHANGE_FIELD: Final = re.compile(r"^(?:price_)?change_(\d+[smhdw])$")


def _unknown_hint(name: str, known: Collection[str]) -> str:
    """A misspelling gets its nearest name; a vendor's change window that this kind does
    not carry (`change_1h` on CoinMarketCap) gets rulesd's own change over any window —
    the nearest name there (`change_1y`) would be a different number altogether."""
    window = _CHANGE_FIELD.match(name)
    if window and "price" in known:
        return (f": this kind carries no {window[1]} change; rulesd computes one over any "
                f"window: `change: {{of: price, window: {window[1]}, pct: {{gte: 5}}}}`")
    return did_you_mean(name, known)
