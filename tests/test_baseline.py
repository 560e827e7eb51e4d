"""An empty first snapshot is a baseline too (issue 27): a stream that starts empty
alerts the first item that appears in it, once — live, after a restart on either
backend, in a replay, in `rulesd test` — and a seen-set emptied by forgetting is not
a new stream."""

from __future__ import annotations

import io
import re
from pathlib import Path

import orjson
import trio

from rulesd import capture, loader
from rulesd.commands.dry_run import replay_file
from rulesd.commands.test import run_files
from rulesd.rules.engine import Engine
from rulesd.sources.dexscreener.parse import DexParser
from rulesd.sources.health import SourceHealth
from rulesd.state import SEEN_RETENTION_S, StateStore
from rulesd.state.db import StateDB
from tests.fakes import FakeDexScreener, HttpSink
from tests.helpers import BOOSTS, boost, boost_rules, snapshot, start, write_rules

EMPTY = '{"limit": 30, "data": []}'
T0 = 1_763_719_200.0  # 2025-11-21T10:00:00Z


def frames(stream: str, *texts: str) -> list:
    parser = DexParser().stream(stream, SourceHealth("t"))
    parser.connected()
    return [event for i, text in enumerate(texts) for event in parser.feed(text, T0 + i)]


def test_the_item_after_an_empty_first_snapshot_is_news_once() -> None:
    state = StateStore()
    events = frames("token-boosts/latest/v1".removesuffix("/v1"), EMPTY,
                    snapshot(boost("NEW1", 5)), snapshot(boost("NEW1", 5)))
    assert [state.apply(e, T0) for e in events] == [False, True, False]


def test_a_seen_set_emptied_by_forgetting_is_not_a_new_stream() -> None:
    state = StateStore()
    parser = DexParser().stream("token-boosts/latest", SourceHealth("t"))
    parser.connected()
    first = parser.feed(snapshot(boost("OLD1", 5)), T0)
    assert [state.apply(e, T0) for e in first] == [False]  # the baseline
    later_t = T0 + SEEN_RETENTION_S + 1
    state.prune(later_t)  # a quiet week: the seen-set is emptied
    assert state.seen["dexscreener:token-boosts/latest"] == {}
    later = parser.feed(snapshot(boost("NEW1", 5)), later_t)
    assert [state.apply(e, later_t) for e in later] == [True]


def test_an_old_state_file_keeps_its_streams_baselines(tmp_path: Path) -> None:
    """A state file written before baselines were their own fact: a stream with a
    seen-set had taken it, and forgetting that seen-set later takes no second one."""
    path = str(tmp_path / "state.db")
    db = StateDB(path)
    state = StateStore()
    for event in frames("token-boosts/latest", snapshot(boost("OLD1", 5))):
        state.apply(event, T0)
    changes = state.take_changes()
    db.save(type(changes)(changes.seen_upserts, [], [], []), [])  # seen rows only
    db.close()
    again = StateDB(path)
    loaded = again.load()
    assert "dexscreener:token-boosts/latest" in loaded.baselines
    again.save(loaded.take_changes(), [])  # the migrated fact is written
    loaded.prune(T0 + SEEN_RETENTION_S + 1)
    news = frames("token-boosts/latest", snapshot(boost("NEW1", 5)))
    assert [loaded.apply(e, T0 + SEEN_RETENTION_S + 2) for e in news] == [True]
    again.close()


async def test_live_an_empty_first_snapshot_then_a_claim_alerts_it_across_a_restart(
        nursery: trio.Nursery, fake_dex: FakeDexScreener, sink: HttpSink, tmp_path: Path,
        state_spec: str) -> None:
    rules = boost_rules(tmp_path, fake_dex.url, sink.url(), state=state_spec)
    fake_dex.snapshots[BOOSTS] = [EMPTY]
    with trio.fail_after(20):
        daemon, shutdown = await start(nursery, rules)
        await fake_dex.wait_connections(BOOSTS, 1)
        await fake_dex.push(BOOSTS, snapshot(boost("NEW1", 5)))
        (message,) = await sink.wait_for(1)
        assert "NEW1" in str(message["message"])
        while daemon.delivery.stats.sent < 1:  # noqa: ASYNC110 - its delivered mark
            await trio.sleep(0.02)
        shutdown.set()
    # Restarted on the same state: the list is the same (no news), then one more.
    fake_dex.snapshots[BOOSTS] = [snapshot(boost("NEW1", 5))]
    with trio.fail_after(20):
        _, shutdown = await start(nursery, rules)
        await fake_dex.wait_connections(BOOSTS, 2)
        await fake_dex.push(BOOSTS, snapshot(boost("NEXT1", 5), boost("NEW1", 5)))
        messages = await sink.wait_for(2)
        shutdown.set()
    assert ["NEW1" in str(m["message"]) for m in messages] == [True, False]
    assert "NEXT1" in str(messages[1]["message"])


def test_a_replay_and_a_rule_test_alert_the_first_item_after_an_empty_snapshot(
        tmp_path: Path) -> None:
    rules = write_rules(tmp_path, """\
        version: 1
        state: {path: ":memory:"}
        sources: {dexscreener: {streams: [community-takeovers/latest]}}
        notifiers: {c: stdout}
        rules: [{name: claims, on: takeover, notify: [c]}]
        """)
    claim = ('{"limit": 30, "data": [{"chainId": "solana", "tokenAddress": "Claim1", '
             '"claimDate": "2025-11-21T10:10:00.000Z", "url": "https://dexscreener.com/'
             'solana/Claim1"}]}')
    stream = "community-takeovers/latest/v1"
    recording = tmp_path / "capture.jsonl"
    recording.write_text("\n".join(capture.Frame(t, "dexscreener", stream, text).to_json()
                                   for t, text in ((T0, None), (T0 + 1, EMPTY),
                                                   (T0 + 600, claim))) + "\n")
    out = io.StringIO()
    assert replay_file(loader.load(rules, env={}), str(recording), None, None, "text",
                       out) == 0
    assert re.findall(r"→ c: (.*)$", out.getvalue(), re.M) == \
        ["Community takeover: Claim1 on solana"]
    test = tmp_path / "t.yaml"
    test.write_text(orjson.dumps({"rules": "rules.yaml", "cases": [{
        "name": "an empty first list, then a claim", "input": [
            {"at": "0s", "frame": {"source": "dexscreener", "stream": stream,
                                   "event": "connected"}},
            {"at": "1s", "frame": {"source": "dexscreener", "stream": stream,
                                   "text": EMPTY}},
            {"at": "10m", "frame": {"source": "dexscreener", "stream": stream,
                                    "text": claim}}],
        "expect": [{"rule": "claims", "key": "solana:Claim1", "at": "10m"}]}]}).decode())
    said = io.StringIO()
    assert run_files([str(test)], said) == 0, said.getvalue()


def test_the_engine_sees_no_event_for_an_empty_snapshot() -> None:
    engine = Engine(loader.loads("""\
version: 1
sources: {dexscreener: {}}
notifiers: {c: stdout}
rules: [{name: boosts, on: boost, notify: [c]}]
""", "r.yaml", {}).rules, StateStore())
    (empty,) = frames("token-boosts/latest", EMPTY)
    assert engine.process(empty, T0) == []
    assert engine.runtime.counts["boosts"].evaluated == 0
