"""What compiled conditions are made of, beneath both compilers (`conditions`, the
field conditions, and `stateful`, the conditions over time): what a condition sees
(`Evaluation`), what the rules need the state to remember (`NeedsBuilder`), the
operators and how values compare, and what a compiler offers the stateful part."""

from __future__ import annotations

import operator
import re
from collections.abc import Callable, Collection, Mapping
from typing import Any, Final, Protocol

import attrs
import re2  # type: ignore[import-untyped]

from rulesd.events import Event
from rulesd.rules.why import Reason
from rulesd.schema import Field
from rulesd.state import Needs, StateStore
from rulesd.yaml_loader import Path

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
    why: dict[str, Reason] = attrs.field(factory=dict)


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
    # The first part of every field the condition names (`market` of `market.price`).
    heads: set[str] = attrs.field(factory=set)
    names: set[str] = attrs.field(factory=set)  # and every field it names, whole

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
            # Event values are plain dicts: checked by type first (an ABC check costs
            # more than the lookup).
            if type(current) is not dict and not isinstance(current, Mapping):
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


def never(ev: Evaluation) -> bool:
    return False


def always(ev: Evaluation) -> bool:
    return True


class Compiler(Protocol):
    """What the stateful conditions ask of the compiler of a rule's `where`."""

    fields: Mapping[str, Field] | None
    kinds: Collection[str]
    needs: NeedsBuilder
    depth: int

    def report(self, path: Path, message: str, at_key: bool = False) -> None: ...

    def not_a_number(self, name: str) -> str | None: ...
