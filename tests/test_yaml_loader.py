"""The strict YAML reader: 1.2 scalars, duplicate keys, marks."""

from __future__ import annotations

import math

import pytest

from rulesd.durations import format_duration, parse_duration
from rulesd.yaml_loader import ConfigError, Mark, load


@pytest.mark.parametrize(("text", "value"), [
    ("on", "on"), ("yes", "yes"), ("off", "off"), ("y", "y"), ("True", True),
    ("false", False), ("0123", 123), ("0x1f", 31), ("0o17", 15), ("1_000", "1_000"),
    ("1.5", 1.5), ("1e3", 1000.0), ("~", None), ("null", None), ("'12'", "12"),
    ("2026-11-21", "2026-11-21"), ("12:30", "12:30"),
])
def test_scalars_follow_yaml_1_2(text: str, value: object) -> None:
    assert load(f"k: {text}\n", "f.yaml").data == {"k": value}


def test_special_floats() -> None:
    data = load("a: .inf\nb: -.inf\nc: .nan\n", "f.yaml").data
    assert data["a"] == math.inf and data["b"] == -math.inf and math.isnan(data["c"])


def test_marks_of_keys_and_values() -> None:
    doc = load("rules:\n  - name: a\n    on: [boost, ad]\n", "f.yaml")
    assert doc.key_mark(("rules", 0, "on")) == Mark(3, 5)
    assert doc.mark(("rules", 0, "on", 1)) == Mark(3, 17)
    assert doc.mark(("rules", 0, "missing")) == Mark(2, 5)


@pytest.mark.parametrize(("text", "message"), [
    ("a: 1\na: 2\n", "f.yaml:2:1: duplicate key 'a' (first defined at line 1)"),
    ("a: {b: 1, b: 2}\n", "f.yaml:1:11: duplicate key 'b' (first defined at line 1)"),
    ("c:\n  <<: 5\n", "f.yaml:2:7: << merges a mapping (or a list of mappings)"),
    ("a: !!python/object:os.system x\n", "f.yaml:1:4: unsupported YAML tag"),
    ("a: [1\n", "f.yaml:2:1: YAML syntax error"),
    ("? [a]\n: 1\n", "f.yaml:1:3: a mapping key must be a plain string"),
])
def test_problems_are_located(text: str, message: str) -> None:
    with pytest.raises(ConfigError) as info:
        load(text, "f.yaml")
    assert str(info.value).startswith(message)


@pytest.mark.parametrize(("text", "seconds"), [
    ("30s", 30), ("10m", 600), ("1h30m", 5400), ("2d", 172800), ("500ms", 0.5),
    (45, 45), (1.5, 1.5), ("1h 30m", 5400),
])
def test_durations(text: str | float, seconds: float) -> None:
    assert parse_duration(text) == seconds


@pytest.mark.parametrize("bad", ["", "10", "10 minutes", "m", "-5s", -1, True, None, "1h-"])
def test_bad_durations(bad: object) -> None:
    with pytest.raises(ValueError, match="duration"):
        parse_duration(bad)


def test_format_duration() -> None:
    assert [format_duration(s) for s in (0.25, 59, 90, 3600, 900, 90061)] == [
        "250ms", "59s", "1m30s", "1h", "15m", "1d1h1m1s"]


def test_merge_keys_merge_with_the_lines_where_values_are_written() -> None:
    doc = load("base: &b {on: boost, notify: [c]}\nmore: &m {on: price, cooldown: 1h}\n"
               "rule:\n  <<: [*b, *m]\n  name: r\n  on: takeover\n", "f.yaml")
    assert doc.data["rule"] == {"name": "r", "on": "takeover", "notify": ["c"],
                                "cooldown": "1h"}  # written here wins, then the first
    assert doc.mark(("rule", "notify")) == Mark(1, 30)  # where the anchor has it
    assert doc.mark(("rule", "on")) == Mark(6, 7)
