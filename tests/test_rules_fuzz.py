"""Fuzzing `check` and reload with mutated rules files (issue 12).

The seeds are the files users start from: the example file as shipped, the example
with every commented-out source and rule enabled, and the README's full example.
Each is mutated as text (lines deleted, doubled, re-indented, values swapped for
hostile ones) or as structure (a value anywhere replaced, a key dropped or
misspelled). Whatever comes out, rulesd must either refuse it with every problem
located at file:line:col, or accept it and then run it: the whole daemon (sources,
rules, delivery) started on it, reloaded into it from the example, and a capture
replayed through it — never a traceback, never accepted-then-crash.
"""

from __future__ import annotations

import io
import os
import re
from pathlib import Path
from typing import Any

import attrs
import pytest
import trio
import trio.testing
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from rulesd import loader
from rulesd.clock import TrioClock
from rulesd.commands import dry_run as dryrun
from rulesd.daemon import Daemon
from rulesd.loader import LoadedConfig
from rulesd.yaml_loader import ConfigError
from rulesd.yaml_loader import load as load_yaml

ROOT = Path(__file__).parent.parent
EXAMPLE = (ROOT / "rules.example.yaml").read_text()
ENV = {"CMC_API_KEY": "sekrit-cmc", "TOKENMETRICS_API_KEY": "sekrit-tm",
       "MOBULA_API_KEY": "sekrit-mobula", "TG_BOT_TOKEN": "123:sekrit-tg",
       "TG_CHAT_ID": "-100777", "DISCORD_WEBHOOK_ID": "777", "DISCORD_WEBHOOK_TOKEN":
       "sekrit-discord", "SLACK_A": "SEKRITA", "SLACK_B": "SEKRITB", "SLACK_C": "SEKRITC"}
CAPTURE = ROOT / "contrib" / "captures" / "dexscreener-sample.jsonl"
CLOSED = "ws://127.0.0.1:9"  # nothing listens: sources connect, fail and back off


def _enabled(example: str) -> str:
    text = re.sub(r"(?m)^  # (?=coinmarketcap:|tokenmetrics:|mobula:|  |- name:)", "  ",
                  example)
    return re.sub(r"(?m)^  # (?=telegram:|team:|discord:)", "  ", text)


def _readme_example() -> str:
    readme = (ROOT / "README.md").read_text()
    return next(block for block in re.findall(r"```yaml\n(.*?)```", readme, re.S)
                if "version:" in block and "rules:" in block)


SEEDS = [EXAMPLE, _enabled(EXAMPLE), _readme_example()]

HOSTILE = [
    ".nan", ".inf", "-.inf", "1e400", "1" + "0" * 400, "-1", "0", "0.0000001", "''", "~",
    "true", "[]", "{}", "[[[[[[[[]]]]]]]]", "&a [*a]", "'{{ amount | intcomma }}'",
    "'{{ token.__class__.__mro__ }}'", "'{% for x in range(99999999) %}x{% endfor %}'",
    "'{{ '", "'(a+)+$'", "'a{4294967296}'", "'(?P<x'", "'${MISSING}'", "'${CMC_API_KEY}'",
    "'\\x1b[31m red'", "\"\\u202e gnp.exe\"", "'" + "x" * 5000 + "'", "1h", "-5m", "10y",
    "20y", "1/s", "0/s", "5/0s", "'@everyone <!channel>'", "json://127.0.0.1:9/x",
    "'tgram://'", "stdout", "boost", "price", "{gte: 1}", "{between: [2, 1]}",
    "{matches: '('}", "{in: []}", "{change: {of: price, window: 5m, pct: {gte: 1}}}",
    "{absent: {window: .nan}}", "[console, console]",
]


@st.composite
def text_mutants(draw: st.DrawFn) -> str:
    lines = draw(st.sampled_from(SEEDS)).splitlines()
    for _ in range(draw(st.integers(1, 3))):
        i = draw(st.integers(0, len(lines) - 1))
        line = lines[i]
        indent = line[:len(line) - len(line.lstrip())]
        op = draw(st.sampled_from(["delete", "double", "value", "insert", "indent",
                                   "dedent", "splice"]))
        if op == "delete":
            del lines[i]
        elif op == "double":
            lines.insert(i, line)
        elif op == "value" and ": " in line:
            lines[i] = line.split(": ", 1)[0] + ": " + draw(st.sampled_from(HOSTILE))
        elif op == "insert":
            key = draw(st.sampled_from(["where", "for", "cooldown", "window", "url",
                                        "title", "message", "notify", "x", "group", "rate",
                                        "refresh", "max_message_size", "ping_interval"]))
            lines.insert(i, f"{indent}{key}: {draw(st.sampled_from(HOSTILE))}")
        elif op == "indent":
            lines[i] = "  " + line
        elif op == "dedent":
            lines[i] = line[2:] if line.startswith("  ") else line
        elif op == "splice" and line:
            a = draw(st.integers(0, len(line)))
            b = draw(st.integers(a, len(line)))
            lines[i] = line[:a] + draw(st.sampled_from(HOSTILE)) + line[b:]
        if not lines:
            break
    return "\n".join(lines) + "\n"


def _paths(node: Any, path: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    found = [path]
    if isinstance(node, dict):
        for key, value in node.items():
            found += _paths(value, (*path, key))
    elif isinstance(node, list):
        for i, value in enumerate(node):
            found += _paths(value, (*path, i))
    return found


def _yaml(text: str) -> Any:
    """YAML 1.2 as rulesd reads it (PyYAML's own loader would make `on:` a boolean)."""
    return load_yaml(text, "seed.yaml").data


# The hostile values a structure can take (a recursive alias cannot be a value).
HOSTILE_VALUES = [v for v in HOSTILE if "*a" not in v] + ["2000000000000000000000", "-0.0"]


@st.composite
def structure_mutants(draw: st.DrawFn) -> str:
    data = _yaml(draw(st.sampled_from(SEEDS)))
    for _ in range(draw(st.integers(1, 3))):
        path = draw(st.sampled_from(_paths(data)[1:]))
        parent = data
        for step in path[:-1]:
            parent = parent[step]
        last = path[-1]
        op = draw(st.sampled_from(["replace", "drop", "misspell", "wrap"]))
        if op == "replace":
            parent[last] = _yaml("v: " + draw(st.sampled_from(HOSTILE_VALUES)))["v"]
        elif op == "drop":
            del parent[last]
        elif op == "misspell" and isinstance(parent, dict) and isinstance(last, str) \
                and len(last) > 1:
            parent[last[:-1]] = parent.pop(last)
        elif op == "wrap":
            parent[last] = [parent[last]]
    return yaml.safe_dump(data, sort_keys=False, allow_unicode=True)


class _Quiet:
    """A notifier that keeps what would be sent (the fuzzed files may send anything)."""

    format = "text"

    def __init__(self, name: str) -> None:
        self.name = name
        self.sent = 0

    def describe(self) -> str:
        return f"fuzz → {self.name}"

    async def send(self, message: object) -> None:
        self.sent += 1


def _local(loaded: LoadedConfig) -> LoadedConfig:
    """The same file with every source pointed at a local port nobody listens on."""
    return attrs.evolve(loaded, sources={
        name: attrs.evolve(cfg, url=CLOSED) for name, cfg in loaded.sources.items()})


async def _run_then_reload(mutant: LoadedConfig) -> None:
    """The example running; a reload into the mutant; the daemon runs on it a while."""
    base = _local(loader.loads(_enabled(EXAMPLE), "base.yaml", ENV))
    mutant = _local(mutant)
    names = set(base.config.notifiers) | set(mutant.config.notifiers)
    notifiers = {name: _Quiet(name) for name in names}
    daemon = Daemon.create(base, TrioClock(), notifiers,  # type: ignore[arg-type]
                           state_path=":memory:")
    shutdown = trio.Event()
    async with trio.open_nursery() as nursery:
        await nursery.start(daemon.run, shutdown)
        await trio.sleep(5)
        await daemon.reload(mutant)  # applied, or refused as a whole: either is fine
        await trio.sleep(120)
        shutdown.set()


def _exercise(text: str) -> None:
    try:
        loaded = loader.loads(text, "rules.yaml", ENV)
    except ConfigError as exc:
        assert exc.problems
        for problem in exc.problems:
            shown = str(problem)
            assert problem.mark is not None or shown.startswith("rules.yaml: YAML error"), \
                shown
            for secret in ENV.values():
                assert secret not in shown, shown
        return
    out = io.StringIO()
    assert dryrun.replay_file(loaded, str(CAPTURE), None, None, "text", out) == 0
    trio.run(_run_then_reload, loaded, clock=trio.testing.MockClock(autojump_threshold=0))


# The suite runs a fixed 100 of each; RULESD_FUZZ=5000 explores afresh (random seed).
_DEEP = int(os.environ.get("RULESD_FUZZ", "0"))
FUZZ = settings(max_examples=_DEEP or 100, deadline=None, derandomize=not _DEEP,
                suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])


@pytest.mark.parametrize("seed", range(len(SEEDS)))
def test_the_seeds_are_valid_and_run(seed: int) -> None:
    loader.loads(SEEDS[seed], "rules.yaml", ENV)  # the fuzzing starts from good files
    _exercise(SEEDS[seed])


@FUZZ
@given(text_mutants())
def test_text_mutations_are_refused_located_or_run(text: str) -> None:
    _exercise(text)


@FUZZ
@given(structure_mutants())
def test_structure_mutations_are_refused_located_or_run(text: str) -> None:
    _exercise(text)
