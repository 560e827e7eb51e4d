"""Field conditions: operators, dotted paths, combinators, missing values."""

from __future__ import annotations

import math
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from rulesd.rules.conditions import compile_where
from rulesd.rules.predicates import OPERATORS, Evaluation

EVENT = {
    "chain": "solana",
    "amount": 150,
    "total_amount": 500.0,
    "description": "community takeover, join t.me/x",
    "links": [{"type": "twitter"}],
    "tags": ["meme", "cto"],
    "ratio": math.nan,
    "flag": True,
    "token": {"symbol": "BONK", "address": "AbC", "chain": "solana"},
}


def check(where: dict[str, Any]) -> bool:
    problems: list[str] = []
    predicate = compile_where(where, report=lambda path, msg, at_key=False: problems.append(msg))
    assert not problems, problems
    return predicate(Evaluation(EVENT))


@pytest.mark.parametrize(("where", "expected"), [
    ({"chain": "solana"}, True),
    ({"chain": "Solana"}, False),
    ({"amount": 150}, True),
    ({"amount": 150.0}, True),
    ({"amount": "150"}, False),
    ({"flag": 1}, False),
    ({"flag": True}, True),
    ({"amount": {"gte": 150}}, True),
    ({"amount": {"gt": 150}}, False),
    ({"amount": {"lt": 151, "gt": 149}}, True),
    ({"amount": {"lte": 149}}, False),
    ({"amount": {"between": [100, 150]}}, True),
    ({"amount": {"between": [151, 200]}}, False),
    ({"chain": {"in": ["base", "solana"]}}, True),
    ({"chain": {"not_in": ["base", "solana"]}}, False),
    ({"chain": {"ne": "base"}}, True),
    ({"description": {"contains": "takeover"}}, True),
    ({"tags": {"contains": "cto"}}, True),
    ({"tags": {"contains": "rug"}}, False),
    ({"description": {"matches": r"t\.me/\w+"}}, True),
    ({"description": {"matches": "^join"}}, False),
    ({"token.symbol": "BONK"}, True),
    ({"token.symbol": {"in": ["WIF"]}}, False),
    ({"token.name": {"exists": False}}, True),
    ({"token.name": {"exists": True}}, False),
    ({"links": {"exists": True}}, True),
    # A missing field fails every operator but `exists: false`.
    ({"missing": {"ne": "x"}}, False),
    ({"missing": {"not_in": ["x"]}}, False),
    ({"missing": {"lt": 5}}, False),
    ({"token.symbol.deeper": "x"}, False),
    # NaN and strings never compare as numbers.
    ({"ratio": {"gte": 0}}, False),
    ({"ratio": {"lt": 0}}, False),
    ({"chain": {"gt": 0}}, False),
    ({"any": [{"chain": "base"}, {"amount": {"gt": 100}}]}, True),
    ({"all": [{"chain": "solana"}, {"amount": {"gt": 200}}]}, False),
    ({"not": {"chain": "base"}}, True),
    ({"not": {"any": [{"chain": "solana"}, {"chain": "base"}]}}, False),
])
def test_condition_table(where: dict[str, Any], expected: bool) -> None:
    assert check(where) is expected


def test_no_where_matches_everything() -> None:
    assert compile_where(None, report=lambda *a, **k: None)(Evaluation({}))


scalars = st.one_of(st.none(), st.booleans(), st.integers(), st.floats(allow_nan=True),
                    st.text(max_size=8))
values = st.recursive(scalars, lambda inner: st.one_of(
    st.lists(inner, max_size=3), st.dictionaries(st.text(max_size=4), inner, max_size=3)),
    max_leaves=8)


@given(op=st.sampled_from(sorted(OPERATORS)), arg=values, field=values)
def test_any_argument_is_either_reported_or_safe_on_any_value(
    op: str, arg: Any, field: Any
) -> None:
    """Whatever a user writes and whatever a vendor sends: a problem or a boolean, no crash."""
    problems: list[str] = []
    predicate = compile_where({"x": {op: arg}},
                              report=lambda path, msg, at_key=False: problems.append(msg))
    if not problems:
        assert predicate(Evaluation({"x": field})) in (True, False)


@given(field=values)
def test_not_is_the_negation(field: Any) -> None:
    where = {"x": {"gte": 1}}
    report = lambda *a, **k: None  # noqa: E731
    positive = compile_where(where, report=report)
    negative = compile_where({"not": where}, report=report)
    assert positive(Evaluation({"x": field})) is not negative(Evaluation({"x": field}))


def test_a_catastrophic_regex_runs_in_linear_time() -> None:
    """`(a+)+$` took 5.8 s on 26 characters with Python's re, doubling per character."""
    import time

    predicate = compile_where({"description": {"matches": "(a+)+$"}}, report=_no_problem)
    start = time.perf_counter()
    assert not predicate(Evaluation({"description": "a" * 5000 + "!"}))
    # Not a benchmark: a backtracking engine would need about 2**5000 steps (it hangs).
    assert time.perf_counter() - start < 5


@pytest.mark.parametrize(("pattern", "words"), [
    ("(?=x)y", "invalid regular expression"),
    ("(a)\\1", "invalid regular expression"),
    ("a{4294967296}", "a repetition over 1000"),
])
def test_patterns_re2_cannot_take_are_check_errors(pattern: str, words: str) -> None:
    problems: list[str] = []
    compile_where({"description": {"matches": pattern}},
                  report=lambda path, message, at_key=False: problems.append(message))
    assert len(problems) == 1 and words in problems[0]


def _no_problem(path: object, message: str, at_key: bool = False) -> None:
    raise AssertionError(message)
