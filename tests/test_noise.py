"""Less noise, same signal: exponential realert (more of issue 25 to come here)."""

from __future__ import annotations

import pytest

from rulesd import loader
from rulesd.events import Event, TokenRef
from rulesd.rules.engine import Engine
from rulesd.state import StateStore
from rulesd.state.db import StateDB
from rulesd.yaml_loader import ConfigError

GROWING = """\
version: 1
sources: {dexscreener: {}}
notifiers: {console: stdout}
defaults: {notify: [console]}
rules:
  - name: takeovers
    on: takeover
    cooldown: {start: 10m, factor: 2, max: 4h}
"""


def claim(t: float, address: str = "Loud1") -> Event:
    return Event("takeover", "dexscreener", "community-takeovers/latest",
                 TokenRef.on_chain("solana", address), t, t, {"chain": "solana"})


def fired_minutes(engine: Engine, minutes: range, start: float = 0.0,
                  address: str = "Loud1") -> list[int]:
    """A claim of one token every minute: the minutes at which the rule alerted."""
    return [m for m in minutes
            if engine.process(claim(start + m * 60, address), start + m * 60)]


def test_an_exponential_cooldown_waits_10_then_20_then_40_minutes_up_to_its_max() -> None:
    engine = Engine(loader.loads(GROWING, "r.yaml", {}).rules, StateStore())
    assert fired_minutes(engine, range(0, 600)) == [0, 10, 30, 70, 150, 310, 550]
    # Another token has its own wait.
    assert fired_minutes(engine, range(600, 612), address="Other1") == [600, 610]


def test_after_a_quiet_max_the_wait_starts_over() -> None:
    engine = Engine(loader.loads(GROWING, "r.yaml", {}).rules, StateStore())
    assert fired_minutes(engine, range(0, 71)) == [0, 10, 30, 70]  # the wait is now 80
    # Quiet for the whole max (4 h) after that wait ended: back to 10 minutes.
    assert fired_minutes(engine, range(70 + 80 + 240, 70 + 80 + 271)) == [390, 400, 420]


def test_the_grown_wait_survives_a_restart(tmp_path: object) -> None:
    rules = loader.loads(GROWING, "r.yaml", {}).rules
    db = StateDB(str(tmp_path) + "/state.db")  # type: ignore[operator]
    engine = Engine(rules, db.load())
    assert fired_minutes(engine, range(0, 31)) == [0, 10, 30]
    db.save(engine.state.take_changes(), [])
    db.close()
    again = StateDB(str(tmp_path) + "/state.db")  # type: ignore[operator]
    engine = Engine(rules, again.load())
    assert fired_minutes(engine, range(31, 75)) == [70]  # still 40 minutes
    again.close()


@pytest.mark.parametrize(("cooldown", "said"), [
    ("{start: 10m, factor: 0.5}", "`factor` must be 1 or more"),
    ("{start: 1h, factor: 2, max: 10m}", "`max` must be at least its `start`"),
    ("{start: 10m, factr: 2}", "factr"),
    ("{factor: 2}", "start"),
])
def test_check_locates_a_wrong_cooldown(cooldown: str, said: str) -> None:
    with pytest.raises(ConfigError) as refused:
        loader.loads(GROWING.replace("{start: 10m, factor: 2, max: 4h}", cooldown),
                     "r.yaml", {})
    (problem,) = refused.value.problems
    assert said in problem.message and str(problem).startswith("r.yaml:8:"), str(problem)
