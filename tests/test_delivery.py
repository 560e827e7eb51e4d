"""Delivery: nothing lost, nothing doubled — through real Apprise to a sink that fails."""

from __future__ import annotations

import json
import re
import signal
from pathlib import Path
from typing import Any

import attrs
import pytest
import trio

from rulesd import loader as config
from rulesd.cli import main
from rulesd.clock import TrioClock
from rulesd.daemon import Daemon
from rulesd.delivery.fitting import digest, fit
from rulesd.delivery.platforms import TRAITS
from rulesd.delivery.service import DeliveryService
from rulesd.delivery.templates import Rendered
from rulesd.events import Event
from rulesd.rules.alert import Alert
from rulesd.sources.dexscreener.parse import DexParser
from rulesd.sources.health import SourceHealth
from rulesd.state.db import StateDB
from rulesd.state.outbox import Delivery
from tests.fakes import FakeDexScreener, HttpSink
from tests.helpers import (
    BOOSTS,
    boost,
    delivery_rules,
    rulesd_process,
    snapshot,
    start,
    stop,
    write_rules,
)

GUARD_S = 20


def rules_file(tmp_path: Path, dex: str, notifier: str, extra: str = "",
               rule: str = "") -> Path:
    """Boosts to the notifier `sink` at `notifier` (a URL or a long form)."""
    return delivery_rules(tmp_path, dex, f"{{sink: {notifier}}}", extra=extra, rule=rule)


def tokens_in(messages: list[dict[str, Any]]) -> list[str]:
    """Every token address the messages announce, in order (a digest holds many; a
    single alert names its token more than once)."""
    out: list[str] = []
    for message in messages:
        found = re.findall(r"\b([A-Z]{3}\d+)\b", str(message["message"]))
        out.extend(t for t in dict.fromkeys(found) if not t.startswith("OLD"))
    return out


async def test_an_outage_loses_nothing_and_keeps_the_order(
    nursery: trio.Nursery, fake_dex: FakeDexScreener, sink: HttpSink, tmp_path: Path,
) -> None:
    fake_dex.snapshots[BOOSTS] = [snapshot(boost("OLD1", 1))]
    with trio.fail_after(GUARD_S):
        daemon, shutdown = await start(nursery, rules_file(tmp_path, fake_dex.url,
                                                           sink.url()))
        await fake_dex.wait_connections(BOOSTS, 1)
        sink.script = [500, 500, 503, 500]
        for name in ("AAA1", "BBB2", "CCC3"):
            await fake_dex.push(BOOSTS, snapshot(boost(name, 1)))
        messages = await sink.wait_for(3)
        while daemon.delivery.stats.sent < 3:  # noqa: ASYNC110 - the sink answers first
            await trio.sleep(0.01)
        shutdown.set()
    assert tokens_in(messages) == ["AAA1", "BBB2", "CCC3"]
    assert [s for _, s in sink.attempts][:4] == [500, 500, 503, 500]
    assert daemon.delivery.stats.failed == 4 and daemon.delivery.stats.sent == 3


async def test_retry_after_is_honoured(
    nursery: trio.Nursery, fake_dex: FakeDexScreener, sink: HttpSink, tmp_path: Path,
) -> None:
    fake_dex.snapshots[BOOSTS] = [snapshot(boost("OLD1", 1))]
    sink.error_body = json.dumps({"ok": False, "error_code": 429,
                                  "description": "Too Many Requests: retry after 1",
                                  "parameters": {"retry_after": 1}}).encode()
    with trio.fail_after(GUARD_S):
        _, shutdown = await start(nursery, rules_file(tmp_path, fake_dex.url, sink.url()))
        await fake_dex.wait_connections(BOOSTS, 1)
        sink.script = [429]
        await fake_dex.push(BOOSTS, snapshot(boost("AAA1", 1)))
        await sink.wait_for(1)
        shutdown.set()
    (first, status), (second, _) = sink.attempts
    assert status == 429
    assert second - first >= 0.95  # not the 100 ms back-off: the platform's 1 s


@attrs.define
class Recording:
    """A notifier on the virtual clock: what reached it, and when."""

    name: str = "sink"
    times: list[float] = attrs.field(factory=list)
    messages: list[dict[str, str]] = attrs.field(factory=list)

    def describe(self) -> str:
        return "recording"

    async def send(self, message: Rendered) -> None:
        self.times.append(trio.current_time())
        self.messages.append({"title": message.title, "message": message.body})


async def fed_daemon(rules: str, frames: list[tuple[float, str]], span_s: float
                     ) -> Recording:
    """The daemon on `rules` (DEX Screener boosts to `sink`), fed the snapshots of
    `frames` (after each pause) through the live parser, for `span_s` of virtual time:
    delivery as it runs live, with no socket and no real wait."""
    recording = Recording()
    loaded = config.loads(rules, "r.yaml", {})

    async def feed(send: trio.MemorySendChannel[Event], *,
                   task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED) -> None:
        stream = DexParser().stream("token-boosts/latest/v1", SourceHealth("feed"))
        stream.connected()
        async with send:
            task_status.started()
            for pause, frame in frames:
                await trio.sleep(pause)
                for event in stream.feed(frame, trio.current_time()):
                    await send.send(event)
            await trio.sleep_forever()

    daemon = Daemon.create(loaded, TrioClock(epoch=0.0),
                           {"sink": recording},
                           state_path=":memory:", feed=feed)
    shutdown = trio.Event()
    async with trio.open_nursery() as nursery:
        await nursery.start(daemon.run, shutdown)
        await trio.sleep(span_s)
        shutdown.set()
    return recording


FED_RULES = """\
version: 1
sources: {{dexscreener: {{}}}}
notifiers: {{sink: {notifier}}}
rules:
  - name: boosts
    on: boost
    notify: [sink]{rule}
"""


async def test_a_burst_to_a_slow_notifier_arrives_as_a_few_digests(
    autojump_clock: trio.testing.MockClock,
) -> None:
    """100 new boosts at once to a notifier allowed 20 messages a minute: a few digests,
    every token exactly once, the first at once."""
    burst = [boost(f"TOK{i}", 1) for i in range(100)]
    rules = FED_RULES.format(notifier="{urls: ['json://127.0.0.1/x'], rate: 20/min}", rule="")
    got = await fed_daemon(rules, [(0, snapshot(boost("OLD1", 1))), (1, snapshot(*burst))],
                           span_s=600)
    assert len(got.messages) <= 5
    assert sorted(tokens_in(got.messages)) == sorted(f"TOK{i}" for i in range(100))
    assert len(tokens_in(got.messages)) == 100  # each exactly once
    assert any("alerts in the last" in m["title"] for m in got.messages)
    assert got.times[0] == 1.0  # the first goes out at once


async def test_grouping_by_field_waits_and_sends_one_message_per_group(
    autojump_clock: trio.testing.MockClock,
) -> None:
    group = "\n    group: {by: [chain], wait: 1s, interval: 5m}"
    rules = FED_RULES.format(notifier="json://127.0.0.1/x", rule=group)
    frames = [(0, snapshot(boost("OLD1", 1)))] + [
        (0.1, snapshot(item)) for item in (boost("AAA1", 1), boost("BAS1", 1, chain="base"),
                                           boost("BBB2", 1), boost("CCC3", 1))]
    got = await fed_daemon(rules, frames, span_s=60)
    by_chain = {("base" if "BAS1" in m["message"] else "solana"): (m, t)
                for m, t in zip(got.messages, got.times, strict=True)}
    assert len(got.messages) == 2
    solana, sent_at = by_chain["solana"]
    assert tokens_in([solana]) == ["AAA1", "BBB2", "CCC3"]
    assert tokens_in([by_chain["base"][0]]) == ["BAS1"]
    assert "(+2 more)" in solana["title"]
    assert sent_at == 1.1  # `wait: 1s` after the group's first alert (t=0.1)


async def test_dead_letters_after_max_age_are_listed_and_requeued(
    nursery: trio.Nursery, fake_dex: FakeDexScreener, sink: HttpSink, tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    fake_dex.snapshots[BOOSTS] = [snapshot(boost("OLD1", 1))]
    sink.status = 500
    rules = rules_file(tmp_path, fake_dex.url, sink.url(), extra=", max_age: 1s")
    with trio.fail_after(GUARD_S):
        daemon, shutdown = await start(nursery, rules)
        await fake_dex.wait_connections(BOOSTS, 1)
        await fake_dex.push(BOOSTS, snapshot(boost("AAA1", 1)))
        while daemon.delivery.stats.dead == 0:  # noqa: ASYNC110 - a counter, no event
            await trio.sleep(0.05)
        shutdown.set()
    assert main(["outbox", str(rules)]) == 0
    listing = capsys.readouterr().out
    assert re.search(r"^dead .* sink boosts: Boost: AAA1 on solana \(attempts \d+\) — "
                     r"sink: json://127\.0\.0\.1:\d+/alerts did not accept the message "
                     r"\(HTTP 500\)$", listing, re.M), listing
    assert listing.endswith("0 pending, 1 dead-lettered\n")
    assert main(["outbox", str(rules), "--retry"]) == 0
    assert "requeued 1" in capsys.readouterr().out
    assert main(["outbox", str(rules)]) == 0
    assert capsys.readouterr().out.endswith("1 pending, 0 dead-lettered\n")


async def test_a_template_failing_at_run_time_still_delivers(
    nursery: trio.Nursery, fake_dex: FakeDexScreener, sink: HttpSink, tmp_path: Path,
    caplog: pytest.LogCaptureFixture,
) -> None:
    fake_dex.snapshots[BOOSTS] = [snapshot(boost("OLD1", 1))]
    rule = '\n    message: "{{ 100 / amount }} per unit"'  # passes check; amount 0 fails
    with trio.fail_after(GUARD_S):
        daemon, shutdown = await start(nursery, rules_file(tmp_path, fake_dex.url, sink.url(),
                                                           rule=rule))
        await fake_dex.wait_connections(BOOSTS, 1)
        await fake_dex.push(BOOSTS, snapshot(boost("AAA1", 1, amount=0)))
        await fake_dex.push(BOOSTS, snapshot(boost("BBB1", 1, amount=0), boost("AAA1", 1)))
        first, _ = await sink.wait_for(2)
        shutdown.set()
    assert "AAA1" in str(first["message"])
    assert "(template error: float division by zero)" in str(first["message"])
    # Counted with the other delivery counters, for this daemon; logged once per rule.
    assert sum(daemon.delivery.stats.template_failures.values()) == 2
    assert sum("template failed" in r.getMessage() for r in caplog.records) == 1


async def test_kill_9_loses_nothing_and_doubles_nothing(
    fake_dex: FakeDexScreener, sink: HttpSink, tmp_path: Path,
) -> None:
    fake_dex.snapshots[BOOSTS] = [snapshot(boost("OLD1", 1))]
    rules = rules_file(tmp_path, fake_dex.url, sink.url())
    rules.write_text(rules.read_text().replace("retry_initial: 100ms", "retry_initial: 5s"))
    with trio.fail_after(GUARD_S):
        async with rulesd_process("run", str(rules)) as process:
            await fake_dex.wait_connections(BOOSTS, 1)
            await fake_dex.push(BOOSTS, snapshot(boost("AAA1", 1), boost("OLD1", 1)))
            await sink.wait_for(1)
            sink.status = 500  # the platform goes down with two alerts to send
            await fake_dex.push(BOOSTS, snapshot(boost("BBB2", 1), boost("CCC3", 1)))
            while len(sink.attempts) < 2:  # noqa: ASYNC110 - recorded in the sink's thread
                await trio.sleep(0.05)
            process.kill()  # SIGKILL: no clean shutdown
            await process.wait()
        sink.status = 200
        fake_dex.snapshots[BOOSTS] = [snapshot(boost("AAA1", 1), boost("BBB2", 1),
                                               boost("CCC3", 1), boost("OLD1", 1))]
        async with rulesd_process("run", str(rules)) as process:
            await sink.wait_for(3)
            await fake_dex.wait_connections(BOOSTS, 2)
            await fake_dex.push(BOOSTS, snapshot(boost("DDD4", 1)))
            await sink.wait_for(4)
            assert await stop(process, signal.SIGTERM) == 0
    assert tokens_in(sink.messages) == ["AAA1", "BBB2", "CCC3", "DDD4"]


@pytest.mark.parametrize(("scheme_url", "scheme"), [
    ("tgram://123456789:AAbbCCddEEff/12345", "tgram"),
    ("discord://1234567890/AbCdEfGhIjKlMnOp", "discord"),
])
def test_over_long_messages_fit_their_platform(scheme_url: str, scheme: str,
                                               tmp_path: Path) -> None:
    traits = TRAITS[scheme]
    assert traits.limit is not None
    limit = traits.limit
    text = f"""\
version: 1
state: {{path: ":memory:"}}
sources: {{dexscreener: {{}}}}
notifiers: {{chat: "{scheme_url}"}}
rules:
  - {{name: r, on: boost, notify: [chat], message: "{{{{ description }}}}"}}
"""
    loaded = config.loads(text, "rules.yaml", {})
    db = StateDB(":memory:")
    service = DeliveryService.create(loaded.config, loaded.rules, db, _notifiers(loaded),
                                     TrioClock.__new__(TrioClock))
    long = "x\\y*" * 5000
    alert = Alert("id", "r", "boost", "k", 0.0, ("chat",),
                  {"description": long, "rule": "r", "kind": "boost", "source": "s",
                   "token": None, "stream": "s"}, message="{{ description }}")
    (delivery,) = service.deliveries([alert])
    # Apprise puts CRLF between title and body: two characters.
    assert len(delivery.title) + 2 + len(delivery.body) <= limit
    assert delivery.body.endswith("… (truncated)") and not delivery.body.endswith("\\…")
    items = [Delivery(f"a{i}", "chat", 0.0, "r", "boost", None, "T" * 80, "b")
             for i in range(200)]
    message, taken = digest(items, 60, traits)
    assert 0 < taken < 200 and len(message.title) + 2 + len(message.body) <= limit
    assert fit(Rendered("t", "short"), traits) == Rendered("t", "short")


def _notifiers(loaded: Any) -> Any:
    from rulesd.delivery.notifiers import build_notifiers

    return build_notifiers({n: c.urls for n, c in loaded.config.notifiers.items()})


async def test_notify_test_reports_each_notifier(sink: HttpSink, tmp_path: Path) -> None:
    rules = write_rules(tmp_path, f"""\
        version: 1
        sources: {{dexscreener: {{}}}}
        notifiers:
          good: {sink.url()}
          bad: json://127.0.0.1:9/nothing-listens
        rules: []
        """)
    output = await trio.to_thread.run_sync(_capture_main, ["notify-test", str(rules)])
    code, out = output
    assert code == 1
    assert re.search(r"^ok   good \(json://127\.0\.0\.1:\d+/alerts\)$", out, re.M), out
    assert re.search(r"^FAIL bad \(json://127\.0\.0\.1:9/nothing-listens\): ", out, re.M), out
    assert sink.messages[0]["title"] == "rulesd test message"
    code, out = await trio.to_thread.run_sync(
        _capture_main, ["notify-test", str(rules), "--notifier", "good"])
    assert code == 0 and out.startswith("ok   good")


def _capture_main(argv: list[str]) -> tuple[int, str]:
    import contextlib
    import io

    buffer = io.StringIO()
    with contextlib.redirect_stdout(buffer):
        code = main(argv)
    return code, buffer.getvalue()
