"""The rule engine: pure evaluation with an explicit `now`."""

from __future__ import annotations

import pytest

from rulesd import loader as config
from rulesd.events import Event, Occurrence, TokenRef
from rulesd.rules.engine import Engine
from rulesd.state import StateStore

RULES = """\
version: 1
sources: {dexscreener: {}}
notifiers: {console: stdout}
defaults: {notify: [console]}
rules:
  - name: big-boost
    on: boost
    where: {amount: {gte: 100}}
    cooldown: 1h
  - name: any-boost
    on: [boost, takeover]
  - name: claims
    on: takeover
  - name: off
    on: boost
    enabled: false
"""


def engine(state: StateStore | None = None, rules: str = RULES) -> Engine:
    return Engine(config.loads(rules, "rules.yaml", {}).rules, state or StateStore())


def boost(address: str, amount: float, total: float) -> Event:
    token = TokenRef.on_chain("solana", address)
    return Event("boost", "dexscreener", "token-boosts/latest", token, 0.0, 0.0,
                 {"chain": "solana", "amount": amount, "total_amount": total},
                 Occurrence("dexscreener:token-boosts/latest", token.key, total))


def fired(events: list[tuple[Event, float]]) -> list[list[str]]:
    rules = engine()
    return [[a.rule for a in rules.evaluate(e, now)] for e, now in events]


def test_rules_see_only_their_kinds_and_disabled_rules_none() -> None:
    claim = Event("takeover", "dexscreener", "community-takeovers/latest",
                  TokenRef.on_chain("solana", "X"), 0.0, 0.0, {"chain": "solana"})
    assert fired([(boost("A", 500, 500), 0), (claim, 0)]) == [
        ["big-boost", "any-boost"], ["any-boost", "claims"]]


@pytest.mark.parametrize(("later_s", "expected"), [
    (60, []),          # within the hour: dropped
    (3599, []),
    (3600, ["big-boost"]),  # the cooldown has passed
])
def test_cooldown_per_rule_and_token(later_s: float, expected: list[str]) -> None:
    rules = engine()
    assert [a.rule for a in rules.evaluate(boost("A", 100, 100), 1000)] == [
        "big-boost", "any-boost"]
    again = [a.rule for a in rules.evaluate(boost("A", 100, 200), 1000 + later_s)]
    assert [r for r in again if r == "big-boost"] == expected
    # Another token has its own cooldown; a rule without one always fires.
    other = [a.rule for a in rules.evaluate(boost("B", 100, 100), 1000 + later_s)]
    assert other == ["big-boost", "any-boost"]


def test_alerts_carry_a_stable_id_and_the_values_that_fired() -> None:
    one = engine().evaluate(boost("A", 150, 300), 5)[0]
    two = engine().evaluate(boost("A", 150, 300), 9)[0]
    assert one.id == two.id == "big-boost|solana:A|solana:A@300.0"
    assert one.values["amount"] == 150 and one.values["rule"] == "big-boost"
    assert one.key == "solana:A"


def test_stream_events_key_on_the_stream() -> None:
    rules = engine(rules=RULES.replace("on: takeover", "on: source_down"))
    down = Event("source_down", "dexscreener", "ads/latest", None, 0, 0, {"reason": "x"})
    (alert,) = rules.evaluate(down, 0)
    assert alert.key == "dexscreener:ads/latest"
