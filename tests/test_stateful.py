"""Stateful conditions and the alert lifecycle, with explicit times and hand-made events."""

from __future__ import annotations

import textwrap
from collections.abc import Callable
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from rulesd import loader as config
from rulesd.delivery.templates import render
from rulesd.events import Event, TokenRef
from rulesd.rules.compile import Rule
from rulesd.rules.engine import Engine
from rulesd.state import StateStore
from rulesd.state.backend import StateBackend
from rulesd.state.store import Firing
from rulesd.yaml_loader import ConfigError

BTC = TokenRef(key="cmc:1", symbol="BTC", cmc_id=1)
SOL_TOKEN = TokenRef.on_chain("solana", "So1Token")


def ruleset(rules: str) -> tuple[Rule, ...]:
    text = "version: 1\nsources: {dexscreener: {}}\nnotifiers: {c: stdout}\n" \
           "defaults: {notify: [c]}\nrules:\n" + textwrap.indent(textwrap.dedent(rules), "  ")
    return config.loads(text, "rules.yaml", {}).rules


def price(value: float, ts: float, venue: str | None = None, token: TokenRef = BTC,
          source: str = "coinmarketcap") -> Event:
    fields: dict[str, Any] = {"price": value}
    if venue:
        fields["venue"] = venue
    return Event("price", source, "price", token, ts, ts, fields)


def boost(ts: float, token: TokenRef = SOL_TOKEN) -> Event:
    """A boost that is news (the seen-set logic has its own tests)."""
    return Event("boost", "dexscreener", "token-boosts/latest", token, ts, ts,
                 {"chain": token.chain, "address": token.address, "amount": 1})


class Run:
    """Feeds events through state and rules; collects alerts as (time, rule, resolved)."""

    def __init__(self, rules: tuple[Rule, ...], state: StateStore | None = None) -> None:
        self.state = state or StateStore()
        self.engine = Engine(rules, self.state)
        self.alerts: list[tuple[float, str, bool]] = []
        self.last: Any = None

    def feed(self, event: Event, now: float | None = None) -> Run:
        now = event.ts if now is None else now
        self._keep(self.engine.process(event, now), now)
        return self

    def tick(self, now: float) -> Run:
        self._keep(self.engine.tick(now), now)
        return self

    def _keep(self, alerts: list[Any], now: float) -> None:
        for alert in alerts:
            self.alerts.append((now, alert.rule, alert.resolved))
            self.last = alert


# --- change -------------------------------------------------------------------------------

CHANGE = """\
- name: move
  on: price
  where: {change: {of: price, window: 5m, pct: {gte: 2}}}
"""


@pytest.mark.parametrize(("ticks", "fires_at"), [
    # A series younger than the window compares with its first observation.
    ([(0, 100), (60, 101), (120, 102.5)], [120]),
    # Against the last observation at or before now - window.
    ([(0, 100), (250, 100), (300, 101), (360, 102.5)], [360]),
    ([(0, 100), (100, 101.5), (400, 102)], []),  # ref at 100 (101.5): +0.5 %
    # Never across a gap: the reference (t=0) is older than 2 x window.
    ([(0, 100), (700, 110)], []),
    # Level: fires once while up, re-arms after it went false, fires again.
    ([(0, 100), (60, 103), (90, 104), (120, 100), (180, 103)], [60, 180]),
    # Out of order: an older timestamp is dropped, and evaluates nothing.
    ([(0, 100), (120, 100.5), (60, 150)], []),
    # The same timestamp twice: the newer value replaces the older.
    ([(0, 100), (60, 101), (60, 103)], [60]),
])
def test_change_pct(ticks: list[tuple[float, float]], fires_at: list[float]) -> None:
    run = Run(ruleset(CHANGE))
    for ts, value in ticks:
        run.feed(price(value, ts))
    assert [t for t, _, _ in run.alerts] == fires_at


def test_change_says_why() -> None:
    run = Run(ruleset(CHANGE)).feed(price(100_000, 0)).feed(price(102_500, 300))
    why = run.last.values["why"]["change"]
    assert (why["from"], why["to"], why["pct"], why["from_ts"], why["window"]) == (
        100_000, 102_500, 2.5, 0, "5m")
    assert run.last.values["why_text"] == "price +2.50% in 5m: 100,000 → 102,500"
    body = render(run.last, "text").body
    assert body.startswith("price +2.50% in 5m: 100,000 → 102,500")


@pytest.mark.parametrize(("measure", "ticks", "fires"), [
    ("abs_pct: {gte: 2}", [(0, 100), (60, 97)], True),
    ("pct: {lte: -2}", [(0, 100), (60, 97)], True),
    ("pct: {gte: 2}", [(0, 100), (60, 97)], False),
    ("delta: {gte: 500}", [(0, 100_000), (60, 100_600)], True),
    ("delta: {between: [-10, 10]}", [(0, 100), (60, 105)], True),
])
def test_change_measures(measure: str, ticks: list[tuple[float, float]], fires: bool) -> None:
    run = Run(ruleset(CHANGE.replace("pct: {gte: 2}", measure)))
    for ts, value in ticks:
        run.feed(price(value, ts))
    assert bool(run.alerts) is fires


def test_interleaved_venues_never_look_like_a_move() -> None:
    run = Run(ruleset(CHANGE))
    for i in range(20):
        run.feed(price(100.0, i * 10, venue="gate"))
        run.feed(price(110.0, i * 10 + 5, venue="binance"))
    assert run.alerts == []
    run.feed(price(103.0, 300, venue="gate"))
    assert [r for _, r, _ in run.alerts] == ["move"]


# --- crosses ------------------------------------------------------------------------------

def test_crosses_above_and_below() -> None:
    rules = ruleset("""\
        - name: up
          on: price
          where: {crosses: {of: price, above: 100}}
        - name: down
          on: price
          where: {crosses: {of: price, below: 100}}
        """)
    run = Run(rules)
    for ts, value in [(0, 99), (1, 101), (2, 102), (3, 99), (4, 100), (5, 99.5)]:
        run.feed(price(value, ts))
    assert [(t, r) for t, r, _ in run.alerts] == [(1, "up"), (3, "down"), (4, "up"),
                                                  (5, "down")]
    assert run.last.values["why_text"] == "price crossed below 100: 100 → 99.5"


# --- count, seen, first_seen ------------------------------------------------------------------

def test_count_within_a_window_includes_this_event() -> None:
    run = Run(ruleset("""\
        - name: thrice
          on: boost
          where: {count: {window: 1h, gte: 3}}
        """))
    for t in (0, 600, 1200, 1800, 5000):
        run.feed(boost(t))
    # Boosts are occurrences: every one with 3+ in the last hour fires.
    assert [t for t, _, _ in run.alerts] == [1200, 1800]
    assert run.last.values["why"]["count"] == {"count": 4, "window": "1h", "kinds": ["boost"]}


def test_seen_joins_vendors_on_the_token_key() -> None:
    rules = ruleset("""\
        - name: boosted-and-pumping
          on: price
          where:
            seen: {kind: boost, within: 1h}
            change: {of: price, window: 5m, pct: {gte: 2}}
        """)
    run = Run(rules)
    run.feed(boost(0, SOL_TOKEN))
    run.feed(price(1.0, 100, token=SOL_TOKEN, source="coinmarketcap"))
    run.feed(price(1.05, 200, token=SOL_TOKEN, source="coinmarketcap"))
    assert [t for t, _, _ in run.alerts] == [200]
    assert run.last.values["why"]["seen"]["kind"] == "boost"
    # Without a boost within the hour, the same move says nothing.
    late = Run(rules)
    late.feed(boost(0, SOL_TOKEN))
    late.feed(price(1.0, 4000, token=SOL_TOKEN)).feed(price(1.05, 4100, token=SOL_TOKEN))
    assert late.alerts == []


def test_first_seen_within() -> None:
    run = Run(ruleset("""\
        - name: fresh
          on: boost
          where: {first_seen: {within: 1h}}
        """))
    other = TokenRef.on_chain("solana", "Other")
    run.feed(boost(0)).feed(boost(1800)).feed(boost(4000)).feed(boost(4000, other))
    assert [t for t, _, _ in run.alerts] == [0, 1800, 4000]
    assert run.last.values["token"]["key"] == other.key


# --- for, notify_resolved, cooldown --------------------------------------------------------------

HIGH = """\
- name: high
  on: price
  where: {price: {gte: 100}}
"""


def test_a_level_fires_once_until_it_clears() -> None:
    run = Run(ruleset(HIGH))
    for ts, value in [(0, 101), (1, 102), (2, 103), (3, 99), (4, 105), (5, 106)]:
        run.feed(price(value, ts))
    assert [t for t, _, _ in run.alerts] == [0, 4]


def test_notify_resolved_sends_when_it_clears() -> None:
    run = Run(ruleset(HIGH + "  notify_resolved: true\n"))
    for ts, value in [(0, 101), (1, 99), (2, 98)]:
        run.feed(price(value, ts))
    assert run.alerts == [(0, "high", False), (1, "high", True)]
    assert render(run.last, "text").title.startswith("Resolved: ")


@pytest.mark.parametrize(("events", "ticks", "fires_at"), [
    ([(0, 101), (60, 102), (120, 103)], [], [120]),      # held 2 m at an event
    ([(0, 101)], [60, 119, 121], [121]),                  # held 2 m, seen on the tick
    ([(0, 101), (60, 99), (90, 101)], [150, 211], [211]),  # went false: starts over
])
def test_for_holds_before_firing(events: list[tuple[float, float]], ticks: list[float],
                                 fires_at: list[float]) -> None:
    run = Run(ruleset(HIGH + "  for: 2m\n"))
    timeline = sorted([(t, "event", v) for t, v in events] + [(t, "tick", 0.0) for t in ticks])
    for t, what, value in timeline:
        if what == "event":
            run.feed(price(value, t))
        else:
            run.tick(t)
    assert [t for t, _, _ in run.alerts] == fires_at


def test_cooldown_bounds_a_level_that_flaps() -> None:
    run = Run(ruleset(HIGH + "  cooldown: 10m\n"))
    for ts, value in [(0, 101), (60, 99), (120, 101), (180, 99), (700, 101)]:
        run.feed(price(value, ts))
    assert [t for t, _, _ in run.alerts] == [0, 700]


def test_a_restart_neither_repeats_a_firing_alert_nor_forgets_a_cooldown(
    open_backend: Callable[[], StateBackend],
) -> None:
    rules = ruleset(HIGH + "  cooldown: 10m\n")
    db = open_backend()
    run = Run(rules, db.load())
    run.feed(price(101, 0)).feed(price(150, 10))
    db.save(run.state.take_changes())
    db.close()
    db = open_backend()
    loaded = db.load()
    (firing,) = loaded.firing.items()  # a typed record again, as it was written
    assert firing[1] == Firing(since=0, notified=True) and firing[1].since == 0
    again = Run(ruleset(HIGH + "  cooldown: 10m\n"), loaded)
    again.feed(price(120, 20))  # still firing: no repeat
    again.feed(price(90, 30)).feed(price(120, 40))  # re-armed, but in cooldown
    again.feed(price(90, 650)).feed(price(120, 660))  # cooldown over
    assert [t for t, _, _ in run.alerts] == [0]
    assert [t for t, _, _ in again.alerts] == [660]
    db.close()


# --- absent -----------------------------------------------------------------------------------

def test_absent_fires_once_on_the_tick_and_clears_on_the_next_event() -> None:
    run = Run(ruleset("""\
        - name: silent
          on: price
          where: {source: coinmarketcap, absent: {window: 5m}}
          notify_resolved: true
        """))
    run.feed(price(100, 0))
    run.tick(200).tick(299)
    assert run.alerts == []
    run.tick(300).tick(400)
    assert run.alerts == [(300, "silent", False)]
    assert run.last.values["why_text"] == "nothing for 5m (last 5m ago)"
    run.feed(price(101, 500))
    assert run.alerts[-1] == (500, "silent", True)
    run.feed(price(100, 600, source="tokenmetrics"))  # not matching: no presence
    run.tick(801)
    assert run.alerts[-1] == (801, "silent", False)


def test_absent_per_stream_watches_the_whole_stream() -> None:
    run = Run(ruleset("""\
        - name: quiet-stream
          on: boost
          where: {absent: {window: 10m, per: stream}}
        """))
    run.feed(boost(0, TokenRef.on_chain("solana", "A")))
    run.feed(boost(300, TokenRef.on_chain("solana", "B")))
    run.tick(850)
    assert run.alerts == []
    run.tick(900)
    assert run.alerts == [(900, "quiet-stream", False)]
    assert run.last.key == "dexscreener:token-boosts/latest"


def test_a_removed_absent_rule_leaves_no_firing_state() -> None:
    rules = ruleset("""\
        - name: silent
          on: price
          where: {absent: {window: 5m}}
        """)
    run = Run(rules)
    run.feed(price(100, 0)).tick(400)
    assert run.alerts and ("silent", "cmc:1") in run.state.presence
    run.engine.reload(ruleset(HIGH))
    assert len(run.state.presence) == 0 and len(run.state.firing) == 0
    assert ("presence", ("silent", "cmc:1")) in run.state.take_changes().deletes


# --- check ------------------------------------------------------------------------------------

@pytest.mark.parametrize(("where", "message"), [
    ("{change: {of: price, window: 5m}}", "8:21: `change` needs exactly one of"),
    ("{change: {of: prise, window: 5m, pct: {gte: 2}}}",
     "8:26: unknown field 'prise' for this rule's kinds (did you mean 'price'?)"),
    ("{change: {of: price, window: soon, pct: {gte: 2}}}", "8:41: expected a duration"),
    ("{change: {of: price, window: 5m, pct: {gtee: 2}}}", "8:50: unknown operator 'gtee'"),
    ("{change: {of: price, window: 5m, pct: {gte: 2}, per: x}}",
     "8:60: `change` takes no 'per'"),
    ("{crosses: {of: price, above: high}}", "8:41: `above` needs a number"),
    ("{crosses: {of: price, above: 1, below: 2}}", "8:22: `crosses` needs exactly one"),
    ("{count: {window: 1h}}", "8:20: `count` needs a comparison"),
    ("{seen: {kind: boots, within: 1h}}", "8:26: `seen` needs `kind`: one of the event kinds "
                                          "(did you mean 'boost'?)"),
    ("{first_seen: {}}", "8:25: `first_seen` needs `within`"),
    ("{any: [{absent: {window: 5m}}]}", "8:28: `absent` must stand at the top"),
    ("{absent: {window: 5m, per: venue}}", "8:39: `per` is `token` or `stream`"),
    ("{change: 5}", "8:21: `change` needs a mapping"),
])
def test_stateful_arguments_are_checked_with_their_place(where: str, message: str) -> None:
    text = ("version: 1\nsources: {dexscreener: {}}\nnotifiers: {c: stdout}\n"
            "defaults: {notify: [c]}\nrules:\n  - name: r\n    on: [price, boost]\n"
            f"    where: {where}\n")
    with pytest.raises(ConfigError) as info:
        config.loads(text, "rules.yaml", {})
    assert any(str(p).startswith(f"rules.yaml:{message}") for p in info.value.problems), \
        [str(p) for p in info.value.problems]


def test_for_and_notify_resolved_make_no_sense_on_occurrences() -> None:
    text = ("version: 1\nsources: {dexscreener: {}}\nnotifiers: {c: stdout}\n"
            "defaults: {notify: [c]}\nrules:\n  - name: r\n    on: boost\n    for: 1m\n"
            "    notify_resolved: true\n")
    with pytest.raises(ConfigError) as info:
        config.loads(text, "rules.yaml", {})
    assert [str(p)[:20] for p in info.value.problems] == ["rules.yaml:8:5: `for",
                                                          "rules.yaml:9:5: `not"]


# --- properties ---------------------------------------------------------------------------------

ticks = st.lists(st.tuples(st.floats(0, 2000), st.floats(1, 1000)), min_size=1, max_size=40)


@settings(max_examples=200)
@given(ticks)
def test_change_never_compares_across_a_gap(points: list[tuple[float, float]]) -> None:
    run = Run(ruleset(CHANGE.replace("pct: {gte: 2}", "abs_pct: {gte: 0}")))
    firsts: float | None = None
    for ts, value in points:
        run.alerts.clear()
        firsts = ts if firsts is None else firsts
        run.feed(price(value, ts))
        if run.alerts:
            why = run.last.values["why"]["change"]
            young = run.state.series_of(price(0, 0), "price").born > ts - 300  # type: ignore[union-attr]
            assert young or ts - 600 <= why["from_ts"] <= ts - 300


@settings(max_examples=200)
@given(st.lists(st.floats(90, 110), min_size=1, max_size=60))
def test_a_level_never_fires_twice_without_clearing_in_between(prices: list[float]) -> None:
    run = Run(ruleset(HIGH))
    states = []
    for ts, value in enumerate(prices):
        before = len(run.alerts)
        run.feed(price(value, ts))
        states.append((value >= 100, len(run.alerts) > before))
    fired_since_clear = False
    for holds, fired in states:
        if fired:
            assert not fired_since_clear
            fired_since_clear = True
        if not holds:
            fired_since_clear = False


# --- reload -----------------------------------------------------------------------------------

@pytest.mark.parametrize("reload_at", [None, 120, 299])
def test_a_reload_of_the_same_rules_changes_nothing_a_user_sees(reload_at: float | None) -> None:
    """`for: 5m` true from t=0 fires at t=300 with or without a reload on the way (it
    fired at 420 after a reload at 120); then `repeat: 10m` sends it again at 900
    across another reload, and the counters go on."""
    rules = HIGH + "  for: 5m\n  repeat: 10m\n"
    run = Run(ruleset(rules))
    run.feed(price(150, 0))
    for t in range(60, 1000, 60):
        if (reload_at is not None and t - 60 < reload_at <= t) or t == 600:
            run.engine.reload(ruleset(rules))  # between the events of t - 60 and t
        run.feed(price(150, t)).tick(t)
    assert [(t, r) for t, r, _ in run.alerts] == [(300, "high"), (900, "high")]
    counts = run.engine.runtime.counts["high"]
    assert (counts.fired, counts.repeated) == (1, 1)
    assert counts.evaluated == 17  # every event since t=0, across both reloads


def test_a_reload_forgets_what_a_changed_or_removed_rule_was_waiting_for() -> None:
    run = Run(ruleset(HIGH + "  for: 5m\n"))
    run.feed(price(150, 0))
    run.engine.reload(ruleset(HIGH.replace("gte: 100", "gte: 120") + "  for: 5m\n"))
    run.feed(price(150, 60)).tick(300)
    assert run.alerts == []  # the changed condition waits its `for` from t=60 anew
    run.tick(360)
    assert [t for t, _, _ in run.alerts] == [360]
    run.engine.reload(ruleset(HIGH.replace("name: high", "name: other") + "  for: 5m\n"))
    assert not [key for key in run.state.firing if key[0] == "high"]
    assert not run.engine.runtime.firing_alerts


def test_what_check_samples_is_what_an_alert_carries() -> None:
    """`rulesd check` renders templates against `why.sample`: a template that passes
    check sees the same keys under `why.<condition>` as a real alert does."""
    from rulesd.rules import why

    run = Run(ruleset(CHANGE)).feed(price(100_000, 0)).feed(price(102_500, 300))
    real = run.last.values["why"]
    assert set(real) == {"change"}
    assert set(real["change"]) == set(why.sample("price")["change"])
    crossing = Run(ruleset("""\
        - name: up
          on: price
          where: {crosses: {of: price, above: 100}}
        """)).feed(price(99, 0)).feed(price(101, 1))
    assert set(crossing.last.values["why"]["crosses"]) == set(why.sample("price")["crosses"])
