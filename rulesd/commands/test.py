"""`rulesd test FILE...`: rule unit tests, like `promtool test rules`.

A test file names a rules file and lists cases. Each case feeds normalized
events or raw vendor frames at time offsets through the same parsers, state
and rules as the daemon, on a virtual clock (time-driven rules are ticked every
second), and compares the alerts with what it expects:

    rules: ../rules.example.yaml
    cases:
      - name: a big Solana boost alerts
        input:
          - at: 0s
            event: {kind: boost, token: {chain: solana, address: AAA},
                    fields: {chain: solana, amount: 150, total_amount: 150}}
        expect:
          - {rule: solana-boost, key: "solana:AAA", at: 0s, contains: ["+150"]}
        expect_none: [takeover-claims]
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any, Final

import attrs

from rulesd import capture, loader
from rulesd.delivery.templates import render
from rulesd.durations import format_duration, parse_duration, parse_time
from rulesd.enrich.given import GivenAnswers
from rulesd.events import Event, TokenRef
from rulesd.replay import Replayer
from rulesd.rules.alert import Alert
from rulesd.rules.engine import Engine
from rulesd.sources import KINDS
from rulesd.state import StateStore
from rulesd.suggest import did_you_mean
from rulesd.yaml_loader import ConfigError, Document, Problem
from rulesd.yaml_loader import load as load_yaml

START: Final = 1_735_689_600.0  # 2025-01-01T00:00:00Z: offset 0 unless `start` says
_TOP: Final = ("rules", "env", "start", "cases")
_CASE: Final = ("name", "input", "expect", "expect_none", "until", "strict")
_INPUT: Final = ("at", "event", "frame")
_EVENT: Final = ("kind", "source", "stream", "token", "key", "fields")
_FRAME: Final = ("source", "stream", "text", "b64", "event")
_EXPECT: Final = ("rule", "key", "at", "contains")


@attrs.frozen
class Expected:
    rule: str
    key: str | None
    at: float
    contains: tuple[str, ...]

    def describe(self) -> str:
        key = f" {self.key}" if self.key else ""
        text = "".join(f' containing "{c}"' for c in self.contains)
        return f"{self.rule}{key} at {format_duration(self.at)}{text}"


@attrs.frozen
class Case:
    name: str
    inputs: tuple[tuple[float, Event | capture.Frame], ...]
    expected: tuple[Expected, ...]
    never: tuple[str, ...]
    until: float
    strict: bool


class _Reader:
    """Validates a test file's structure, collecting located problems."""

    def __init__(self, doc: Document) -> None:
        self.doc = doc
        self.problems: list[Problem] = []

    def mapping(self, value: Any, path: tuple[str | int, ...], allowed: Sequence[str],
                what: str) -> dict[str, Any]:
        if not isinstance(value, dict):
            self.fail(path, f"{what} must be a mapping")
            return {}
        for key in value:
            if key not in allowed:
                self.fail((*path, key), f"unknown key {key!r} in {what}"
                                        f"{did_you_mean(key, allowed)}", at_key=True)
        return value

    def fail(self, path: tuple[str | int, ...], message: str, at_key: bool = False) -> None:
        self.problems.append(self.doc.problem(path, message, at_key=at_key))

    def offset(self, value: Any, path: tuple[str | int, ...]) -> float:
        try:
            return parse_duration(value)
        except ValueError as exc:
            self.fail(path, str(exc))
            return 0.0

    def event(self, raw: Any, path: tuple[str | int, ...], t: float) -> Event | None:
        spec = self.mapping(raw, path, _EVENT, "an event")
        kind = spec.get("kind")
        if kind not in KINDS:
            self.fail((*path, "kind") if "kind" in spec else path,
                      f"an event needs `kind`, one of the event kinds"
                      f"{did_you_mean(str(kind), KINDS) if kind else ''}")
            return None
        token_spec = spec.get("token")
        token = None
        if isinstance(token_spec, dict):
            chain, address = token_spec.get("chain"), token_spec.get("address")
            extra = {k: v for k, v in token_spec.items() if k in ("symbol", "name", "slug")}
            if isinstance(chain, str) and isinstance(address, str):
                token = TokenRef.on_chain(chain, address, **extra)
            elif isinstance(token_spec.get("key"), str):
                token = TokenRef(key=token_spec["key"], **extra)
            else:
                self.fail((*path, "token"), "`token` needs `chain` and `address`, or `key`")
        elif isinstance(spec.get("key"), str):
            token = TokenRef(key=spec["key"])
        fields = spec.get("fields", {})
        if not isinstance(fields, dict):
            self.fail((*path, "fields"), "`fields` must be a mapping")
            fields = {}
        return Event(str(kind), str(spec.get("source", "test")), str(spec.get("stream", "test")),
                     token, t, t, dict(fields))

    def frame(self, raw: Any, path: tuple[str | int, ...], t: float) -> capture.Frame | None:
        spec = self.mapping(raw, path, _FRAME, "a frame")
        try:
            return capture.frame_of({**spec, "t": t})
        except ValueError as exc:
            self.fail(path, f"a frame needs `source`, `stream` and `text`: {exc}")
            return None


def _case(reader: _Reader, raw: Any, path: tuple[str | int, ...], start: float) -> Case | None:
    spec = reader.mapping(raw, path, _CASE, "a case")
    name = spec.get("name")
    if not isinstance(name, str):
        reader.fail(path, "a case needs a `name`")
        name = f"case {path[-1]}"
    inputs: list[tuple[float, Event | capture.Frame]] = []
    for i, item in enumerate(spec.get("input") or []):
        at_path = (*path, "input", i)
        entry = reader.mapping(item, at_path, _INPUT, "an input")
        t = reader.offset(entry.get("at", 0), (*at_path, "at"))
        if ("event" in entry) == ("frame" in entry):
            reader.fail(at_path, "an input has either `event` or `frame`")
            continue
        made = (reader.event(entry["event"], (*at_path, "event"), start + t) if "event" in entry
                else reader.frame(entry["frame"], (*at_path, "frame"), start + t))
        if made is not None:
            inputs.append((t, made))
    expected = []
    for i, item in enumerate(spec.get("expect") or []):
        at_path = (*path, "expect", i)
        entry = reader.mapping(item, at_path, _EXPECT, "an expected alert")
        if not isinstance(entry.get("rule"), str):
            reader.fail(at_path, "an expected alert needs `rule`")
            continue
        contains = entry.get("contains", [])
        contains = [contains] if isinstance(contains, str) else contains
        expected.append(Expected(entry["rule"], entry.get("key"),
                                 reader.offset(entry.get("at", 0), (*at_path, "at")),
                                 tuple(str(c) for c in contains)))
    never = spec.get("expect_none") or []
    last = max((t for t, _ in inputs), default=0.0)
    until = reader.offset(spec["until"], (*path, "until")) if "until" in spec else last
    inputs.sort(key=lambda pair: pair[0])
    return Case(name, tuple(inputs), tuple(expected), tuple(map(str, never)), until,
                bool(spec.get("strict", True)))


def _run_case(loaded: loader.LoadedConfig, case: Case, start: float) -> list[Alert]:
    engine = Engine(loaded.rules, StateStore())
    replayer = Replayer(loaded.sources)
    given = GivenAnswers()
    waiting: list[Event] = []
    alerts: list[Alert] = []
    tick = 0.0
    for offset, item in case.inputs:
        while tick + 1 <= offset:
            tick += 1
            alerts.extend(engine.tick(start + tick))
        if not isinstance(item, Event) and given.take(item):
            continue
        events = [item] if isinstance(item, Event) else replayer.events(item)
        now = start + offset
        for event in events:
            alerts.extend(engine.process(event, now, waiting.append))
            for waited in waiting:
                alerts.extend(engine.evaluate(given.looked_up(waited, now), now,
                                              looked_up=True))
            waiting.clear()
    while tick + 1 <= case.until:
        tick += 1
        alerts.extend(engine.tick(start + tick))
    return alerts


def _matches(expected: Expected, alert: Alert, start: float) -> bool:
    if alert.rule != expected.rule or abs(alert.fired_at - start - expected.at) > 1e-6:
        return False
    if expected.key is not None and alert.key != expected.key:
        return False
    rendered = render(alert, "text")
    text = f"{rendered.title}\n{rendered.body}"
    return all(fragment in text for fragment in expected.contains)


def _describe(alert: Alert, start: float) -> str:
    """An alert with the values the rule evaluated (its `why`, else its title)."""
    why = alert.values.get("why_text") or render(alert, "text").title
    return (f"{alert.rule} {alert.key} at {format_duration(alert.fired_at - start)} "
            f"({why.replace(chr(10), '; ')})")


def _compare(case: Case, alerts: list[Alert], start: float) -> list[str]:
    remaining = list(alerts)
    lines = []
    for expected in case.expected:
        hit = next((a for a in remaining if _matches(expected, a, start)), None)
        if hit is None:
            lines.append(f"  missing:    {expected.describe()}")
            near = [a for a in alerts if a.rule == expected.rule]
            lines.extend(f"    the rule gave: {_describe(a, start)}" for a in near)
            if not near:
                lines.append("    the rule gave: no alert in this case")
        else:
            remaining.remove(hit)
    for alert in remaining:
        if case.strict or alert.rule in case.never:
            lines.append(f"  unexpected: {_describe(alert, start)}")
    return lines


def run_files(paths: Sequence[str], out: Any) -> int:
    """Run every case of every file; print PASS/FAIL with a diff, then one summary
    line; 0 when all pass."""
    failed = ran = broken = 0
    for path in paths:
        try:
            loaded, cases, start = _load(path)
        except ConfigError as exc:
            for problem in exc.problems:
                print(problem, file=out)
            broken += 1
            continue
        for rules_file, config in loaded:
            label = f"{path}: " if len(loaded) == 1 else f"{path} [{rules_file}]: "
            for case in cases:
                diff = _compare(case, _run_case(config, case, start), start)
                print(f"{'FAIL' if diff else 'PASS'} {label}{case.name}", file=out)
                for line in diff:
                    print(line, file=out)
                failed += bool(diff)
                ran += 1
    summary = f"{ran - failed} passed, {failed} failed"
    if broken:
        summary += f"; {broken} file(s) could not be read"
    print(summary, file=out)
    return 1 if failed or broken else 0


def _load(path: str
          ) -> tuple[list[tuple[str, loader.LoadedConfig]], list[Case], float]:
    try:
        text = Path(path).read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError([Problem(path, None, "cannot read the test file: "
                                   f"{exc.strerror or exc}")]) from exc
    except UnicodeDecodeError as exc:
        raise ConfigError([Problem(path, None, f"the test file is not UTF-8 text "
                                   f"(byte {exc.start})")]) from exc
    doc = load_yaml(text, path)
    reader = _Reader(doc)
    top = reader.mapping(doc.data, (), _TOP, "a test file")
    start = START
    if "start" in top:
        try:
            start = parse_time(str(top["start"]))
        except ValueError:
            reader.fail(("start",), "`start` is an ISO time or epoch seconds")
    names = top.get("rules")
    names = [names] if isinstance(names, str) else names
    if not isinstance(names, list) or not names or not all(isinstance(n, str) for n in names):
        reader.fail(("rules",) if "rules" in top else (),
                    "a test file needs `rules`: the rules file (or a list of them) to test")
        raise ConfigError(reader.problems)
    env = {**os.environ, **{str(k): str(v) for k, v in (top.get("env") or {}).items()}}
    loaded = [(name, loader.load(Path(path).parent / name, env=env)) for name in names]
    cases = [c for i, raw in enumerate(top.get("cases") or [])
             if (c := _case(reader, raw, ("cases", i), start)) is not None]
    if not cases:
        reader.fail((), "a test file needs `cases`")
    if reader.problems:
        raise ConfigError(reader.problems)
    return loaded, cases, start


def add(command: argparse.ArgumentParser, shared: argparse.ArgumentParser) -> None:
    command.add_argument("files", nargs="+", help="test files (YAML)")


def run(args: argparse.Namespace) -> int:
    return run_files(args.files, sys.stdout)
