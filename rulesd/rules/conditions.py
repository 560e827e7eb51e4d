"""Compile a rule's `where:` mapping into a predicate over an event's values.

Semantics users rely on (documented in the README): a bare value is equality;
a missing or null field fails every operator except `exists: false`; numeric
operators never match booleans, strings or NaN.
"""

from __future__ import annotations

import operator
import re
from collections.abc import Callable, Collection, Iterable, Mapping
from typing import Any, Final

import attrs
import re2  # type: ignore[import-untyped]

from rulesd.events import CONTEXT_FIELDS, TOKENREF_FIELDS, Event
from rulesd.schema import Field
from rulesd.state import Needs, StateStore
from rulesd.suggest import did_you_mean
from rulesd.yaml_loader import Path, Report

Values = Mapping[str, Any]


@attrs.define
class Evaluation:
    """What a condition sees: the event's values and, for stateful conditions, the
    event, the state, "now" and the rule's kinds. Conditions that hold write the
    values that made them hold into `why`."""

    values: Values
    event: Event | None = None
    state: StateStore | None = None
    now: float = 0.0
    kinds: tuple[str, ...] = ()
    why: dict[str, Any] = attrs.field(factory=dict)


Predicate = Callable[[Evaluation], bool]


@attrs.define
class NeedsBuilder:
    """Collects, while compiling, what the rules need the state to remember."""

    series: dict[str, float] = attrs.field(factory=dict)
    counts_s: float = 0.0
    kinds_s: float = 0.0
    absent: AbsentSpec | None = None
    # Fields the rule restricts to a few values at the top of `where`
    # (`view: new`, `chain: {in: [solana, base]}`): field → the values.
    equals: dict[str, set[Any]] = attrs.field(factory=dict)

    def build(self) -> Needs:
        return Needs(dict(self.series), self.counts_s, self.kinds_s)

    def merge(self, other: NeedsBuilder) -> None:
        for field, window in other.series.items():
            self.series[field] = max(window, self.series.get(field, 0.0))
        self.counts_s = max(self.counts_s, other.counts_s)
        self.kinds_s = max(self.kinds_s, other.kinds_s)


@attrs.frozen
class AbsentSpec:
    window_s: float
    per: str  # "token" or "stream"


OPERATORS: Final = frozenset(
    {"eq", "ne", "gt", "gte", "lt", "lte", "in", "not_in", "between", "contains", "matches",
     "exists"}
)
COMBINATORS: Final = frozenset({"all", "any", "not"})
# Keys of `where` that are conditions on state rather than fields.
STATEFUL: Final = frozenset({"change", "crosses", "count", "seen", "first_seen", "absent"})

def lookup(values: Values, path: str) -> Any:
    """The value at a dotted path, or None when any step is missing."""
    return getter(path)(values)


def getter(path: str) -> Callable[[Values], Any]:
    """A function reading the value at a dotted path (split once, here)."""
    if "." not in path:
        return lambda values: values.get(path)
    parts = tuple(path.split("."))

    def get(values: Values) -> Any:
        current: Any = values
        for part in parts:
            if not isinstance(current, Mapping):
                return None
            current = current.get(part)
        return current

    return get


def _is_number(value: Any) -> bool:
    kind = type(value)
    return (kind is float and value == value) or kind is int  # not bool, not NaN


def _equal(a: Any, b: Any) -> bool:
    if isinstance(a, bool) or isinstance(b, bool):
        return type(a) is type(b) and a == b
    if _is_number(a) and _is_number(b):
        return bool(a == b)
    return type(a) is type(b) and a == b


def _equals(arg: Any) -> Callable[[Any], bool]:
    """`v == arg` with the rules' equality (no bool/number mixing), specialized once."""
    if type(arg) is str:
        return lambda v: v == arg and type(v) is str
    if _is_number(arg):
        return lambda v: (type(v) is int or type(v) is float) and v == arg
    return lambda v: _equal(v, arg)


# Rule regexes run on RE2: linear time whatever the pattern and the text, so a
# pattern like `(a+)+$` cannot freeze the event loop on a vendor's description.
_RE2_OPTIONS: Final = re2.Options()
_RE2_OPTIONS.log_errors = False  # problems are reported by `check`, not on stderr
_REPEAT: Final = re.compile(r"\{(\d+)(?:,(\d*))?\}")
MAX_REPEAT: Final = 1000  # RE2's own limit; larger counts overflow in the binding


def regex_problem(pattern: str) -> str | None:
    """Why RE2 cannot take `pattern`, if it cannot."""
    for match in _REPEAT.finditer(pattern):
        counts = [int(c) for c in match.groups() if c]
        if any(c > MAX_REPEAT for c in counts):
            return (f"`matches`: a repetition over {MAX_REPEAT} in {pattern!r} "
                    "(rule regexes run on RE2, in linear time)")
    try:
        compile_regex(pattern)
    except re2.error as exc:
        reason = exc.args[0].decode() if exc.args and isinstance(exc.args[0], bytes) \
            else str(exc)
        return (f"`matches`: invalid regular expression {pattern!r} for RE2: {reason} "
                "(rule regexes run in linear time: no backreferences or lookaround)")
    return None


def compile_regex(pattern: str) -> Any:
    return re2.compile(pattern, _RE2_OPTIONS)


_COMPARISONS: Final[dict[str, Callable[[Any, Any], bool]]] = {
    "gt": operator.gt, "gte": operator.ge, "lt": operator.lt, "lte": operator.le,
}


def operator_test(name: str, arg: Any) -> Callable[[Any], bool]:
    """The test of one operator against a (present, non-null) field value."""
    if name == "eq":
        return _equals(arg)
    if name == "ne":
        equals = _equals(arg)
        return lambda v: not equals(v)
    if name in _COMPARISONS:
        compare = _COMPARISONS[name]
        return lambda v: _is_number(v) and compare(v, arg)
    if name == "in":
        tests = [_equals(a) for a in arg]
        return lambda v: any(t(v) for t in tests)
    if name == "not_in":
        tests = [_equals(a) for a in arg]
        return lambda v: not any(t(v) for t in tests)
    if name == "between":
        low, high = arg
        return lambda v: _is_number(v) and low <= v <= high
    if name == "contains":
        def contains(v: Any) -> bool:
            if isinstance(v, str):
                return isinstance(arg, str) and arg in v
            if isinstance(v, list | tuple):
                return any(_equal(item, arg) for item in v)
            return False
        return contains
    if name == "matches":
        pattern = compile_regex(arg)
        return lambda v: isinstance(v, str) and pattern.search(v) is not None
    raise AssertionError(name)


def argument_problem(name: str, arg: Any) -> str | None:
    """Why `arg` is not a valid argument for operator `name`, if it is not."""
    if name in ("gt", "gte", "lt", "lte") and not _is_number(arg):
        return f"`{name}` needs a number, got {arg!r}"
    if name in ("in", "not_in") and not isinstance(arg, list):
        return f"`{name}` needs a list, got {arg!r}"
    if name == "between" and not (
        isinstance(arg, list) and len(arg) == 2 and all(_is_number(a) for a in arg)
        and arg[0] <= arg[1]
    ):
        return f"`between` needs two numbers [low, high] with low <= high, got {arg!r}"
    if name in ("eq", "ne", "contains") and isinstance(arg, dict | list):
        return f"`{name}` needs a single value, got {arg!r}"
    if name == "matches":
        if not isinstance(arg, str):
            return f"`matches` needs a regular expression string, got {arg!r}"
        return regex_problem(arg)
    if name == "exists" and not isinstance(arg, bool):
        return f"`exists` needs true or false, got {arg!r}"
    return None


# Operators that compare numbers: on a field the schema says is not a number, a
# rule could never fire.
NUMERIC_OPERATORS: Final = frozenset({"gt", "gte", "lt", "lte", "between"})


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
            return _never
        parts = [self.entry(str(key), value, (*path, key)) for key, value in spec.items()]
        return _all(parts)

    def entry(self, key: str, value: Any, path: Path) -> Predicate:
        if key in ("all", "any"):
            if not isinstance(value, list) or not value:
                self.report(path, f"`{key}` needs a non-empty list of conditions")
                return _never
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
            from rulesd.rules.stateful import compile_stateful

            return compile_stateful(key, value, path, self)
        self.check_field(key, path)
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
        head, _, rest = name.partition(".")
        known = set(self.fields) | CONTEXT_FIELDS
        if head not in known:
            self.report(path, f"unknown field {head!r} for this rule's kinds"
                              f"{_unknown_hint(head, known | COMBINATORS)}", True)
        elif head == "token" and rest and rest.split(".")[0] not in TOKENREF_FIELDS:
            sub = rest.split(".")[0]
            self.report(path, f"unknown token field {sub!r}{did_you_mean(sub, TOKENREF_FIELDS)}",
                        True)

    def not_a_number(self, name: str) -> str | None:
        """Why a numeric comparison on `name` could never hold, if the schema says so."""
        if self.fields is None or name in ("ts",):
            return None
        field = self.fields.get(name)
        if field is None or field.type == "number":
            return None  # unknown fields are reported on their own; dotted paths unchecked
        return f"`{name}` is a {field.type}, not a number"

    def field(self, name: str, spec: Any, path: Path) -> Predicate:
        if isinstance(spec, list):
            self.report(path, f"a list needs an operator: write `{name}: {{in: [...]}}`")
            return _never
        if not isinstance(spec, Mapping):
            spec = {"eq": spec}
        if not spec:
            self.report(path, f"`{name}` needs at least one operator")
            return _never
        tests: list[Callable[[Any], bool]] = []
        exists: bool | None = None
        for op, arg in spec.items():
            op_path = (*path, op)
            if op not in OPERATORS:
                self.report(op_path, f"unknown operator {op!r}{did_you_mean(str(op), OPERATORS)}",
                            True)
                continue
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


def _never(ev: Evaluation) -> bool:
    return False


def always(ev: Evaluation) -> bool:
    return True


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
