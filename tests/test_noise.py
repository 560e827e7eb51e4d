"""Less noise, same signal: exponential realert, escalating thresholds, and the
structured webhook (issue 25)."""

from __future__ import annotations

import hashlib
import hmac
import textwrap
from pathlib import Path

import jsonschema
import orjson
import pytest
import trio
import trio.testing

from rulesd import config as config_mod
from rulesd import loader
from rulesd.clock import TrioClock
from rulesd.daemon import Daemon
from rulesd.events import Event, TokenRef
from rulesd.rules.engine import Engine
from rulesd.state import StateStore
from rulesd.state.db import StateDB
from rulesd.state.outbox import DELIVERED
from rulesd.yaml_loader import ConfigError
from tests import helpers
from tests.fake_rest import Receiver
from tests.fakes import FakeDexScreener
from tests.helpers import BOOSTS, boosts_file, snapshot

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


LADDERS = """\
version: 1
sources: {coinmarketcap: {api_key: k, subscriptions: [{channel: market@crypto_latest_price,
                                                       params: {crypto_ids: [1]}}]}}
notifiers: {console: stdout}
defaults: {notify: [console]}
rules:
  - name: pump
    on: price
    where: {token.cmc_id: 1, change: {of: price, window: 1h, pct: {gte: 10}}}
    rearm: {every: 10%}
  - name: high
    on: price
    where: {token.cmc_id: 1, price: {gte: 100}}
    rearm: {every: 10%}
  - name: crossing
    on: price
    where: {token.cmc_id: 1, crosses: {of: price, below: 50}}
    rearm: {every: 5}
"""


def tick(price: float, t: float) -> Event:
    return Event("price", "coinmarketcap", "market", TokenRef(key="cmc:1", symbol="BTC",
                                                              cmc_id=1), t, t,
                 {"price": price})


def climb(engine: Engine, prices: list[float]) -> list[tuple[str, float, str]]:
    """One price a minute: (rule, price, why line) of each alert."""
    out = []
    for i, price in enumerate(prices):
        for alert in engine.process(tick(price, 60.0 * i), 60.0 * i):
            out.append((alert.rule, price, alert.values["why_text"].split("\n")[0]))
    return out


def test_a_pump_ladder_fires_at_each_further_step_and_not_between() -> None:
    engine = Engine(loader.loads(LADDERS, "r.yaml", {}).rules, StateStore())
    prices = [80.0, 80.0, 85.0, 88.0, 90.0, 92.0, 95.0, 96.0, 100.0, 102.0, 104.0, 105.0]
    fired = [(price, why) for rule, price, why in climb(engine, prices) if rule == "pump"]
    assert [price for price, _ in fired] == [88.0, 96.0, 104.0]  # +10 %, +20 %, +30 %
    assert fired[1][1] == "+20.00%, was +10.00% at 00:03 UTC"
    # It fell back under +10 %: the ladder starts over, and +10 % alerts again.
    more = climb(engine, [*prices, 85.0, 85.0, 89.0])
    assert [p for r, p, _ in more if r == "pump"][-1] == 89.0


def test_a_threshold_ladder_climbs_by_a_share_of_the_value() -> None:
    engine = Engine(loader.loads(LADDERS, "r.yaml", {}).rules, StateStore())
    prices = [90.0, 100.0, 105.0, 109.0, 110.0, 115.0, 121.0, 95.0, 101.0]
    assert [p for r, p, _ in climb(engine, prices) if r == "high"] == \
        [100.0, 110.0, 121.0, 101.0]  # 100, +10 % of 100, +10 % of 110; then afresh


def test_a_crossing_ladder_alerts_at_each_further_level_while_beyond_it() -> None:
    engine = Engine(loader.loads(LADDERS, "r.yaml", {}).rules, StateStore())
    prices = [60.0, 49.0, 47.0, 44.0, 43.0, 38.0, 55.0, 49.0]
    assert [p for r, p, _ in climb(engine, prices) if r == "crossing"] == \
        [49.0, 44.0, 38.0, 49.0]  # down through 50, 45, 40; back above: crosses again


@pytest.mark.parametrize(("rearm", "where", "said"), [
    ("{every: 10%}", "{price: {gte: 1}, volume_24h: {gte: 1}}", "one value to climb"),
    ("{every: -5}", "{price: {gte: 1}}", "positive step"),
    ("{step: 5}", "{price: {gte: 1}}", "takes `every`"),
])
def test_check_locates_a_rearm_it_cannot_follow(rearm: str, where: str, said: str) -> None:
    text = LADDERS.split("  - name: pump")[0] + \
        f"  - name: r\n    on: price\n    where: {where}\n    rearm: {rearm}\n"
    with pytest.raises(ConfigError) as refused:
        loader.loads(text, "r.yaml", {})
    (problem,) = refused.value.problems
    assert said in problem.message and str(problem).startswith("r.yaml:10:"), str(problem)


def readme_schema() -> dict[str, object]:
    """The webhook body's JSON Schema, as the README documents it."""
    import json
    import re
    from pathlib import Path

    readme = (Path(__file__).parent.parent / "README.md").read_text()
    (block,) = [b for b in re.findall(r"```json\n(.*?)```", readme, re.S)
                if '"title": "rulesd webhook alert"' in b]
    return json.loads(textwrap.dedent(block))


async def test_the_webhook_posts_the_documented_json_signed_with_its_idempotency_key(
        nursery: trio.Nursery, fake_dex: FakeDexScreener, tmp_path: Path,
        autojump_clock: trio.testing.MockClock) -> None:
    receiver = Receiver()
    await nursery.start(receiver.serve)
    receiver.refusals = [(429, [("retry-after", "7")], b'{"error": "slow down"}')]
    path = boosts_file(tmp_path, fake_dex.url, f"""\
notifiers:
  bot: {{urls: ["webhook+http://127.0.0.1:{receiver.port}/rulesd?token=abcdef123456"],
        secret: s3cret-key-for-hmac}}
rules:
  - {{name: boosts, on: boost, notify: [bot], title: "Boost {{{{ address }}}}"}}
""")
    fake_dex.snapshots[BOOSTS] = [snapshot(helpers.boost("OLD1", 1))]
    daemon = Daemon.create(loader.load(path, env={}), TrioClock(1_700_000_000.0))
    shutdown = trio.Event()
    await nursery.start(daemon.run, shutdown)
    await fake_dex.wait_connections(BOOSTS, 1)
    await trio.sleep(1)
    await fake_dex.push(BOOSTS, snapshot(helpers.boost("NEW1", 5, description="<@&123> gm"),
                                         helpers.boost("OLD1", 1)))
    await trio.sleep(30)
    outbox = daemon.db.outbox(DELIVERED)
    shutdown.set()
    # The 429 was waited out as asked, and the same alert sent again: same key, same body.
    (first, _), (headers, body) = receiver.posts
    assert first["idempotency-key"] == headers["idempotency-key"]
    times = [t for t, _ in receiver.requests]
    assert times[1] - times[0] >= 7.0
    document = orjson.loads(body)
    jsonschema.validate(document, readme_schema())
    assert headers["idempotency-key"] == document["alert_id"] == outbox[0].delivery.alert_id
    expected = "sha256=" + hmac.new(b"s3cret-key-for-hmac", body, hashlib.sha256).hexdigest()
    assert hmac.compare_digest(headers["x-rulesd-signature"], expected)
    assert headers["content-type"] == "application/json"
    assert document["rule"] == "boosts" and document["kind"] == "boost"
    assert document["token"]["address"] == "NEW1" and document["token"]["chain"] == "solana"
    assert document["fields"]["total_amount"] == 5 and document["title"] == "Boost NEW1"
    assert document["time"] == "2023-11-14T22:13:21Z"
    assert receiver.requests[0][1] == "/rulesd?token=abcdef123456"
    # Neither the secret nor the URL's token is anywhere the operator looks.
    assert "s3cret" not in str(outbox) and "abcdef123456" not in str(outbox)
    assert daemon.delivery.workers["bot"].notifier.describe() == \
        f"webhook+http://127.0.0.1:{receiver.port}/…"


def test_check_refuses_a_webhook_without_a_host() -> None:
    text = GROWING.replace("notifiers: {console: stdout}",
                           'notifiers: {console: stdout, bot: "webhook+https:///path"}')
    with pytest.raises(ConfigError) as refused:
        loader.loads(text, "r.yaml", {})
    assert "a webhook URL needs a host" in refused.value.problems[0].message


INHIBIT = """\
version: 1
sources:
  coinmarketcap: {api_key: k, subscriptions: [{channel: market@crypto_latest_price,
                                               params: {crypto_ids: [1]}}]}
  dexscreener: {}
notifiers: {console: stdout}
defaults: {notify: [console]}
inhibit:
  - {source: [rug], target: [pump], equal: [token]}
  - {source: [claims], target: [pump], equal: [token], for: 1h}
  - {source: [source_down], target: [pump], equal: [source]}
rules:
  - name: rug
    on: price
    where: {change: {of: liquidity_usd, window: 1h, pct: {lte: -50}}}
  - name: pump
    on: price
    where: {change: {of: price, window: 1h, pct: {gte: 10}}}
  - name: claims
    on: takeover
"""


def quote(token: str, t: float, price: float, liquidity: float,
          source: str = "coinmarketcap") -> Event:
    return Event("price", source, "market", TokenRef(key=token, symbol=token), t, t,
                 {"price": price, "liquidity_usd": liquidity})


def rules_fired(engine: Engine, event: Event) -> list[tuple[str, str | None]]:
    return [(a.rule, a.silenced) for a in engine.process(event, event.ts)]


def test_a_target_is_inhibited_exactly_while_its_source_fires_on_the_same_token() -> None:
    engine = Engine(loader.loads(INHIBIT, "r.yaml", {}).rules, StateStore())
    for token in ("cmc:1", "cmc:2"):
        assert rules_fired(engine, quote(token, 0, 100, 1000)) == []
    # cmc:1 is rugged (liquidity halved): its pump is held; cmc:2's is not.
    assert rules_fired(engine, quote("cmc:1", 60, 100, 400)) == [("rug", None)]
    assert rules_fired(engine, quote("cmc:1", 120, 120, 400)) == [("pump", "inhibited:rug")]
    assert rules_fired(engine, quote("cmc:2", 120, 120, 1000)) == [("pump", None)]
    # The rug clears (liquidity back): the next pump of cmc:1 goes out.
    assert rules_fired(engine, quote("cmc:1", 180, 90, 1000)) == []
    assert rules_fired(engine, quote("cmc:1", 240, 121, 1000)) == [("pump", None)]
    assert engine.runtime.counts["pump"].inhibited == 1


def test_an_event_source_holds_its_targets_for_its_for() -> None:
    engine = Engine(loader.loads(INHIBIT, "r.yaml", {}).rules, StateStore())
    claim = Event("takeover", "dexscreener", "community-takeovers/latest",
                  TokenRef(key="cmc:1"), 0, 0, {})
    assert rules_fired(engine, claim) == [("claims", None)]
    assert rules_fired(engine, quote("cmc:1", 10, 100, 1000)) == []
    assert rules_fired(engine, quote("cmc:1", 3000, 115, 1000)) == \
        [("pump", "inhibited:claims")]
    assert rules_fired(engine, quote("cmc:1", 3100, 100, 1000)) == []  # clears
    assert rules_fired(engine, quote("cmc:1", 3700, 116, 1000)) == [("pump", None)]  # >1h


def test_a_sources_alerts_are_inhibited_while_one_of_its_streams_is_down() -> None:
    engine = Engine(loader.loads(INHIBIT, "r.yaml", {}).rules, StateStore())
    down = Event("source_down", "coinmarketcap", "market#1", None, 5, 5, {"reason": "x"})
    up = Event("source_up", "coinmarketcap", "market#1", None, 65, 65, {"reason": "ok"})
    assert rules_fired(engine, quote("cmc:1", 0, 100, 1000)) == []
    assert rules_fired(engine, quote("cmc:7", 0, 100, 1000, source="mobula")) == []
    engine.process(down, 5)
    assert rules_fired(engine, quote("cmc:1", 60, 120, 1000)) == \
        [("pump", "inhibited:source_down")]
    assert rules_fired(engine, quote("cmc:7", 60, 120, 1000, source="mobula")) == \
        [("pump", None)]  # another source is not down
    engine.process(up, 65)
    assert rules_fired(engine, quote("cmc:1", 70, 80, 1000)) == []
    assert rules_fired(engine, quote("cmc:1", 80, 130, 1000)) == [("pump", None)]


def test_an_inhibited_alert_is_recorded_as_inhibited(tmp_path: Path) -> None:
    from rulesd.state.outbox import INHIBITED, Delivery

    db = StateDB(str(tmp_path / "state.db"))
    db.save(engine_changes := StateStore().take_changes(), [
        Delivery("pump|cmc:1|1", "console", 1.0, "pump", "price", None, "t", "b",
                 silenced="inhibited:rug")])
    del engine_changes
    (row,) = db.outbox(INHIBITED)
    assert row.last_error == "inhibited by rug" and db.outbox() == []
    db.close()


@pytest.mark.parametrize(("entry", "said", "line"), [
    ("{source: [rugg], target: [pump]}", "unknown rule 'rugg' (did you mean 'rug'?)", 9),
    ("{source: [claims], target: [pump]}", "fires per event", 9),
    ("{source: [source_down], target: [pump]}", "`equal: [source]`", 9),
    ("{source: [rug], target: [pump], equal: [venue]}", "`equal` takes token", 9),
])
def test_check_locates_a_wrong_inhibition(entry: str, said: str, line: int) -> None:
    text = INHIBIT.replace("  - {source: [rug], target: [pump], equal: [token]}\n"
                           "  - {source: [claims], target: [pump], equal: [token], for: 1h}\n"
                           "  - {source: [source_down], target: [pump], equal: [source]}\n",
                           f"  - {entry}\n")
    with pytest.raises(ConfigError) as refused:
        loader.loads(text, "r.yaml", {})
    (problem,) = refused.value.problems
    assert said in problem.message and str(problem).startswith(f"r.yaml:{line}:"), \
        str(problem)


NIGHT = """\
version: 1
sources: {dexscreener: {}}
notifiers: {console: stdout}
defaults: {notify: [console]}
time_intervals:
  - name: night
    time_intervals:
      - times: [{start_time: "22:00", end_time: "24:00"}, {start_time: "00:00", end_time: "07:00"}]
        location: Europe/Berlin
  - name: weekdays
    time_intervals: [{weekdays: ["monday:friday"], location: Europe/Berlin}]
rules:
  - name: claims
    on: takeover
    mute_during: [night]
  - name: quiet-weekend
    on: takeover
    active_during: [weekdays]
    on_unmute: drop
"""


def berlin(text: str) -> float:
    """Epoch seconds of a wall-clock time in Berlin."""
    from datetime import datetime
    from zoneinfo import ZoneInfo

    return datetime.fromisoformat(text).replace(tzinfo=ZoneInfo("Europe/Berlin")).timestamp()


@pytest.mark.parametrize("night", ["2025-03-29", "2025-10-25"])  # into summer, into winter
def test_a_night_in_berlin_is_22_to_7_on_its_wall_clock_across_a_dst_change(
        night: str) -> None:
    from rulesd.rules.intervals import compile_intervals

    problems: list[str] = []
    raw = config_mod.parse(NIGHT, "r.yaml", {}).config.time_intervals
    intervals = compile_intervals(raw, lambda path, message, at_key=False: problems.append(
        message))
    assert not problems
    nxt = night[:-2] + f"{int(night[-2:]) + 1:02d}"
    holds = intervals["night"].holds
    assert not holds(berlin(f"{night}T21:59")) and holds(berlin(f"{night}T22:00"))
    assert holds(berlin(f"{nxt}T01:30")) and holds(berlin(f"{nxt}T06:59"))
    assert not holds(berlin(f"{nxt}T07:00"))


def test_a_muted_rule_sends_nothing_at_night_and_one_digest_when_it_ends() -> None:
    engine = Engine(loader.loads(NIGHT, "r.yaml", {}).rules, StateStore())
    sent: list[tuple[float, str, str | None]] = []

    def at(text: str, address: str | None = None) -> None:
        now = berlin(text)
        alerts = engine.tick(now) if address is None else engine.process(claim(now, address),
                                                                         now)
        sent.extend((now, a.title or a.rule, a.silenced) for a in alerts
                    if a.rule == "claims")

    at("2025-03-29T21:30", "Early1")  # before the night: sent
    at("2025-03-29T23:10", "Late1")  # the night of the change to summer time
    at("2025-03-30T03:30", "Later1")  # 02:00 did not exist that night
    for minute in range(0, 60):
        at(f"2025-03-30T06:{minute:02d}")  # ticks: still night
    at("2025-03-30T07:00")  # the night ends: one digest
    at("2025-03-30T07:00:01")
    assert [(title, held) for _, title, held in sent] == [
        ("claims", None),
        ("claims", "muted:during night"),
        ("claims", "muted:during night"),
        ("claims: 2 alert(s) held during night", None)]
    assert sent[-1][0] == berlin("2025-03-30T07:00")
    assert engine.runtime.counts["claims"].muted == 2


def test_active_during_holds_outside_its_interval_and_drop_sends_no_digest() -> None:
    engine = Engine(loader.loads(NIGHT, "r.yaml", {}).rules, StateStore())
    saturday = berlin("2025-03-29T12:00")
    monday = berlin("2025-03-31T12:00")
    assert [(a.rule, a.silenced) for a in engine.process(claim(saturday), saturday)
            if a.rule == "quiet-weekend"] == [("quiet-weekend", "muted:outside weekdays")]
    assert [a.rule for a in engine.tick(monday)] == []  # `drop`: nothing when it ends
    assert [(a.rule, a.silenced) for a in engine.process(claim(monday, "Mon1"), monday)
            if a.rule == "quiet-weekend"] == [("quiet-weekend", None)]


@pytest.mark.parametrize(("change", "said", "line"), [
    ('start_time: "22:00", end_time: "24:00"', 'start_time: "25:00", end_time: "24:00"',
     "a time range is"),
    ("location: Europe/Berlin\n  - name: weekdays", "location: Europe/Berlim\n  - name: weekdays",
     "unknown time zone 'Europe/Berlim'"),
    ("mute_during: [night]", "mute_during: [nite]", "unknown time interval 'nite' (did you "
                                                    "mean 'night'?)"),
    ('weekdays: ["monday:friday"]', 'weekdays: ["friday:monday"]',
     "the range ends before it starts"),
    ("on_unmute: drop", "on_unmute: later", "`on_unmute` is `digest`"),
])
def test_check_locates_each_kind_of_interval_mistake(change: str, said: str, line: str
                                                     ) -> None:
    text = NIGHT.replace(change, said)
    assert text != NIGHT
    with pytest.raises(ConfigError) as refused:
        loader.loads(text, "r.yaml", {})
    (problem,) = refused.value.problems
    assert line in problem.message, str(problem)
    assert str(problem).startswith("r.yaml:") and problem.mark is not None


async def test_the_daemon_mutes_at_night_and_sends_the_digest_at_seven(
        nursery: trio.Nursery, fake_dex: FakeDexScreener, tmp_path: Path,
        autojump_clock: trio.testing.MockClock) -> None:
    from rulesd.http import view
    from tests.test_e2e_market import Recorder

    recorder = Recorder()
    path = boosts_file(tmp_path, fake_dex.url, """\
notifiers: {rec: stdout}
time_intervals:
  - name: night
    time_intervals:
      - times: [{start_time: "22:00", end_time: "24:00"},
                {start_time: "00:00", end_time: "07:00"}]
        location: Europe/Berlin
rules:
  - {name: boosts, on: boost, notify: [rec], mute_during: [night]}
""")
    fake_dex.snapshots[BOOSTS] = [snapshot(helpers.boost("OLD1", 1))]
    daemon = Daemon.create(loader.load(path, env={}), TrioClock(berlin("2025-03-30T06:58")),
                           {"rec": recorder})  # type: ignore[dict-item]
    shutdown = trio.Event()
    await nursery.start(daemon.run, shutdown)
    await fake_dex.wait_connections(BOOSTS, 1)
    await trio.sleep(1)
    await fake_dex.push(BOOSTS, snapshot(helpers.boost("NIGHT1", 5), helpers.boost("OLD1", 1)))
    await trio.sleep(30)
    assert recorder.sent == []  # muted: recorded, not sent
    assert view.status(daemon, {}, [])["time_intervals"] == {"night": True}
    await trio.sleep(120)  # past 07:00
    shutdown.set()
    (_sent_at, title, body), = recorder.sent
    assert title == "boosts: 1 alert(s) held during night" and body == "solana:NIGHT1"
    assert daemon.clock.now() >= berlin("2025-03-30T07:00")
    assert daemon.engine.runtime.counts["boosts"].muted == 1


@pytest.fixture
def patient_clock() -> trio.testing.MockClock:
    """Virtual time that waits for Apprise's sending threads before it jumps."""
    return trio.testing.MockClock(autojump_threshold=0.05)


async def test_a_muted_notifier_records_what_it_holds_and_sends_one_digest_per_url(
        nursery: trio.Nursery, fake_dex: FakeDexScreener, tmp_path: Path,
        patient_clock: trio.testing.MockClock) -> None:
    receiver = Receiver()
    await nursery.start(receiver.serve)
    path = boosts_file(tmp_path, fake_dex.url, f"""\
notifiers:
  quiet: {{urls: ["json://127.0.0.1:{receiver.port}/a", "json://127.0.0.1:{receiver.port}/b"],
          mute_during: [night]}}
time_intervals:
  - name: night
    time_intervals:
      - times: [{{start_time: "00:00", end_time: "07:00"}}]
        location: Europe/Berlin
rules:
  - {{name: boosts, on: boost, notify: [quiet]}}
""")
    fake_dex.snapshots[BOOSTS] = [snapshot(helpers.boost("OLD1", 1))]
    daemon = Daemon.create(loader.load(path, env={}), TrioClock(berlin("2025-03-30T06:59")))
    shutdown = trio.Event()
    await nursery.start(daemon.run, shutdown)
    await fake_dex.wait_connections(BOOSTS, 1)
    await trio.sleep(1)
    await fake_dex.push(BOOSTS, snapshot(helpers.boost("N1", 5), helpers.boost("N2", 5),
                                         helpers.boost("OLD1", 1)))
    await trio.sleep(15)
    muted = await daemon.delivery.call(daemon.db.outbox, "muted")
    assert len(muted) == 4 and not receiver.posts  # two alerts, two URLs each: recorded
    # 07:00: the night ends; Apprise sends in threads, which take real time
    with trio.fail_after(600):
        await receiver.wait_requests(2)
    shutdown.set()
    assert daemon.clock.now() >= berlin("2025-03-30T07:00")
    paths = sorted(path for _, path in receiver.requests)
    assert paths == ["/a", "/b"]  # one digest per URL
    bodies = [orjson.loads(body) for _, body in receiver.posts]
    assert {b["title"] for b in bodies} == {"2 alert(s) held during night"}
    assert all("N1" in b["message"] and "N2" in b["message"] for b in bodies)
