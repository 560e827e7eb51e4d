"""The Telegram control bot against a local HTTPS Bot API stand-in: commands from a
scripted chat, answered there; admins only; the token nowhere."""

from __future__ import annotations

import logging
import ssl
from pathlib import Path

import pytest
import trio
import trio.testing

from rulesd import loader
from rulesd.clock import TrioClock
from rulesd.daemon import Daemon
from rulesd.state.outbox import SILENCED
from tests.fake_rest import JSON, FakeBotApi
from tests.fakes import FakeDexScreener
from tests.helpers import BOOSTS, boost, boosts_file, free_port, snapshot, write_rules
from tests.test_e2e_market import Recorder
from tests.test_safety import ca, tls  # noqa: F401 - fixtures

TOKEN = "123456789:AAHdqTcvCH1vGWJxfSeofSAs0K5PALDsaw"
ADMIN, STRANGER, CHAT, OTHER_CHAT = 1001, 2002, -100123, -100999


def bot_file(tmp_path: Path, fake_dex: FakeDexScreener, api: FakeBotApi, notifiers: str,
             rules: str, admins: list[int] | None = None) -> Path:
    """DEX Screener's latest boosts, in-memory state, `notifiers` (a flow mapping), the
    control bot on `api` for `admins` (ADMIN) in CHAT, and `rules` (the list's lines)."""
    return boosts_file(tmp_path, fake_dex.url, f"""\
notifiers: {notifiers}
control:
  telegram: {{bot: "{TOKEN}", admins: {admins or [ADMIN]}, chats: [{CHAT}], api: "{api.url}"}}
rules:
{rules}""")


async def control_daemon(nursery: trio.Nursery, fake_dex: FakeDexScreener, api: FakeBotApi,
                         tmp_path: Path, recorder: Recorder) -> tuple[Daemon, trio.Event]:
    path = bot_file(tmp_path, fake_dex, api, "{rec: stdout}", """\
  - {name: boosts, on: boost, notify: [rec], title: "Boost {{ address }}"}
  - {name: takeovers, on: takeover, notify: [rec]}
""")
    daemon = Daemon.create(loader.load(path, env={}), TrioClock(1_700_000_000.0),
                           {"rec": recorder})  # type: ignore[dict-item]
    shutdown = trio.Event()
    await nursery.start(daemon.run, shutdown)
    return daemon, shutdown


async def test_admins_mute_list_and_unmute_from_the_chat_and_nobody_else_can(
        nursery: trio.Nursery, fake_dex: FakeDexScreener, tls: ssl.SSLContext,  # noqa: F811
        tmp_path: Path, autojump_clock: trio.testing.MockClock,
        caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    api = FakeBotApi(tls, TOKEN)
    await nursery.start(api.serve)
    recorder = Recorder()
    fake_dex.snapshots[BOOSTS] = [snapshot(boost("OLD1", 1))]
    daemon, shutdown = await control_daemon(nursery, fake_dex, api, tmp_path, recorder)
    await fake_dex.wait_connections(BOOSTS, 1)
    api.say(1, STRANGER, CHAT, "/mute solana:NEW1 1h")
    api.say(2, ADMIN, OTHER_CHAT, "/status")  # not a chat of ours: no answer
    api.say(3, ADMIN, CHAT, "/mute solana:NEW1")
    api.say(4, ADMIN, CHAT, "/mute solana:NEW1 1h spam wave")
    await api.wait_sent(3)
    refused, usage, muted = (m["text"] for m in api.sent)
    assert refused == "Only the bot's admins may do that."
    assert usage.startswith("/mute needs what and for how long")
    assert muted.startswith("muted token solana:NEW1 on every rule for 1h")
    assert {m["chat_id"] for m in api.sent} == {CHAT}
    # The next alerts for the token are recorded as silenced, not sent.
    await fake_dex.push(BOOSTS, snapshot(boost("NEW1", 5), boost("LOUD1", 5),
                                         boost("OLD1", 1)))
    await trio.sleep(5)
    assert [title for _, title, _ in recorder.sent] == ["Boost LOUD1"]
    held = await daemon.delivery.call(daemon.db.outbox, SILENCED)
    assert [row.delivery.title for row in held] == ["Boost NEW1"]
    # /silences lists both rules' silences; /unmute ends one.
    api.say(5, ADMIN, CHAT, "/silences")
    await api.wait_sent(4)
    listed = api.sent[3]["text"].splitlines()
    assert len(listed) == 2 and all("token=solana:NEW1" in line and "spam wave" in line
                                    for line in listed)
    first = listed[0].split(" ")[0]
    api.say(6, ADMIN, CHAT, f"/unmute {first}")
    api.say(7, ADMIN, CHAT, "/unmute nosuchid")
    await api.wait_sent(6)
    assert api.sent[4]["text"] == f"silence {first} ended"
    assert api.sent[5]["text"].startswith("no silence 'nosuchid'")
    assert len([s for s in await daemon.silences.all()
                if s.ends > daemon.clock.now()]) == 1
    # Every update was handled once: the stored offset is past the last one, and the
    # next poll asks from there.
    await trio.sleep(2)
    stored = await daemon.delivery.call(daemon.db.load)
    assert stored.control.get(("telegram", "offset")) == 8
    assert api.offsets[-1] == 8
    shutdown.set()
    # The bot's token is nowhere in what rulesd says (httpx's own request lines are
    # below the level rulesd lets libraries speak at: `logs.setup`).
    said = [r.getMessage() for r in caplog.records
            if r.name.startswith("rulesd") or r.levelno >= logging.WARNING]
    assert said and all(TOKEN.split(":")[1] not in line for line in said)


async def test_a_flood_of_commands_gets_five_answers_and_one_warning_per_user(
        nursery: trio.Nursery, fake_dex: FakeDexScreener, tls: ssl.SSLContext,  # noqa: F811
        tmp_path: Path, autojump_clock: trio.testing.MockClock) -> None:
    api = FakeBotApi(tls, TOKEN)
    await nursery.start(api.serve)
    fake_dex.snapshots[BOOSTS] = [snapshot(boost("OLD1", 1))]
    daemon, shutdown = await control_daemon(nursery, fake_dex, api, tmp_path, Recorder())
    for n in range(12):  # someone floods the chat
        api.say(n + 1, STRANGER, CHAT, f"/mute boosts {n + 1}h")
    api.say(13, ADMIN, CHAT, "/silences")  # an admin is not held up by it
    await api.wait_sent(7)
    await trio.sleep(5)
    shutdown.set()
    texts = [m["text"] for m in api.sent]
    assert texts == ["Only the bot's admins may do that."] * 5 + [
        "Too many commands: wait a few seconds.", "no silence"]
    assert await daemon.silences.all() == []
    assert daemon.control.refused == 12 and daemon.control.handled == 1


@pytest.mark.parametrize("backend", ["sqlite", "postgresql"])
async def test_status_firing_and_recent_read_the_state_database_as_it_is(
        backend: str, nursery: trio.Nursery, fake_dex: FakeDexScreener,
        tls: ssl.SSLContext, tmp_path: Path,  # noqa: F811
        request: pytest.FixtureRequest) -> None:
    """On a state file or PostgreSQL (read in the database's thread, as every read of it;
    real time: the thread and the database are real). The alert's notifier is down, so
    it waits in the outbox: /status counts it."""
    api = FakeBotApi(tls, TOKEN)
    await nursery.start(api.serve)
    state = (f"{{path: {tmp_path / 'state.db'}}}" if backend == "sqlite"
             else f'{{url: "{request.getfixturevalue("postgres_url")}"}}')
    path = bot_file(tmp_path, fake_dex, api,
                    f'{{down: "json://127.0.0.1:{free_port()}/nobody"}}', """\
  - {name: boosts, on: boost, notify: [down], title: "Boost {{ address }}"}
""")
    path.write_text(path.read_text().replace('state: {path: ":memory:"}', f"state: {state}"))
    fake_dex.snapshots[BOOSTS] = [snapshot(boost("OLD1", 1))]
    with trio.fail_after(30):
        daemon = Daemon.create(loader.load(path, env={}), TrioClock())
        shutdown = trio.Event()
        await nursery.start(daemon.run, shutdown)
        await fake_dex.wait_connections(BOOSTS, 1)
        await fake_dex.push(BOOSTS, snapshot(boost("NEW1", 5), boost("OLD1", 1)))
        while daemon.delivery.stats.failed < 1:  # noqa: ASYNC110 - Apprise's thread
            await trio.sleep(0.02)
        api.say(1, ADMIN, CHAT, "/status")
        api.say(2, ADMIN, CHAT, "/firing")
        api.say(3, ADMIN, CHAT, "/recent 5")
        await api.wait_sent(3)
        shutdown.set()
    status, firing, recent = (m["text"] for m in api.sent)
    assert status.splitlines() == ["leader · ready", "0 firing · outbox 1 pending, 0 dead",
                                   "dexscreener token-boosts/latest: up"]
    assert firing == "nothing is firing"
    assert recent.endswith(" boosts → pending: Boost NEW1")


async def test_a_command_that_needs_an_unreachable_database_says_so() -> None:
    from rulesd.control.commands import Unavailable, answer

    class Away:
        def rules(self) -> list[str]:
            return ["boosts"]

        async def recent(self, count: int) -> list[tuple[float, str, str, str]]:
            raise Unavailable("cannot read the state database: connection refused")

    reply = await answer(Away(), "/recent 3", "1001")  # type: ignore[arg-type]
    assert reply == ("Cannot do that now: cannot read the state database: connection "
                     "refused. Nothing changed.")


async def test_a_409_from_another_consumer_is_said_once_and_retried(
        nursery: trio.Nursery, fake_dex: FakeDexScreener, tls: ssl.SSLContext,  # noqa: F811
        tmp_path: Path, autojump_clock: trio.testing.MockClock,
        caplog: pytest.LogCaptureFixture) -> None:
    api = FakeBotApi(tls, TOKEN)
    await nursery.start(api.serve)
    api.conflict = 3
    fake_dex.snapshots[BOOSTS] = [snapshot(boost("OLD1", 1))]
    _, shutdown = await control_daemon(nursery, fake_dex, api, tmp_path, Recorder())
    api.say(1, ADMIN, CHAT, "/help")
    await api.wait_sent(1)
    shutdown.set()
    assert api.sent[0]["text"].startswith("/status")
    said = [r.getMessage() for r in caplog.records if "409 Conflict" in r.getMessage()]
    assert len(said) == 1 and "another consumer polls this bot" in said[0]


async def test_answers_that_are_not_the_bot_apis_are_said_and_polling_goes_on(
        nursery: trio.Nursery, fake_dex: FakeDexScreener, tls: ssl.SSLContext,  # noqa: F811
        tmp_path: Path, autojump_clock: trio.testing.MockClock,
        caplog: pytest.LogCaptureFixture) -> None:
    api = FakeBotApi(tls, TOKEN)
    await nursery.start(api.serve)
    api.refusals_for["getUpdates"] = [
        (200, JSON, b"[1, 2]"),  # not an object
        (502, [("content-type", "text/html")], b"<html>Bad Gateway</html>"),
        (200, JSON, b'{"ok": true, "result": {"not": "a list"}}'),
        (200, JSON, b'{"ok": true, "result": [7, {"update_id": "x"}, {"update_id": 1}]}'),
        (429, JSON, b'{"ok": false, "error_code": 429, "parameters": {"retry_after": true},'
                    b' "description": "Too Many Requests\\u001b[31m"}')]
    fake_dex.snapshots[BOOSTS] = [snapshot(boost("OLD1", 1))]
    _, shutdown = await control_daemon(nursery, fake_dex, api, tmp_path, Recorder())
    api.say(2, ADMIN, CHAT, "/help")
    await api.wait_sent(1)
    shutdown.set()
    assert api.sent[0]["text"].startswith("/status")
    said = [r.getMessage() for r in caplog.records if r.name == "rulesd.control"
            and r.levelno >= logging.WARNING]
    assert "not an answer of the Bot API" in said[0]
    assert all("\x1b" not in line for line in said)
    assert not [r for r in caplog.records if r.name == "rulesd.bug"]


def test_check_wants_admins_and_chats_and_masks_the_token() -> None:
    from rulesd.yaml_loader import ConfigError

    text = f"""\
version: 1
sources: {{dexscreener: {{}}}}
notifiers: {{c: stdout}}
control:
  telegram: {{bot: "{TOKEN}", admins: [], chats: [{CHAT}], api: 5}}
rules: [{{name: r, on: boost, notify: [c]}}]
"""
    with pytest.raises(ConfigError) as refused:
        loader.loads(text, "r.yaml", {})
    said = "\n".join(str(p) for p in refused.value.problems)
    assert "r.yaml:5:" in said and TOKEN.split(":")[1] not in said
    fixed = text.replace("admins: []", f"admins: [{ADMIN}]").replace(", api: 5", "")
    assert loader.loads(fixed, "r.yaml", {}).config.control is not None
    with pytest.raises(ConfigError) as refused:
        loader.loads(fixed.replace(f"admins: [{ADMIN}]", "admins: []"), "r.yaml", {})
    assert "`admins` needs at least one id" in refused.value.problems[0].message


async def button_daemon(nursery: trio.Nursery, fake_dex: FakeDexScreener, api: FakeBotApi,
                        tmp_path: Path) -> tuple[Daemon, trio.Event]:
    """Boosts to the control bot's own chat (sent with buttons); NEW1 is pushed."""
    path = bot_file(tmp_path, fake_dex, api, f'{{tg: "tgram://{TOKEN}/{CHAT}"}}', """\
  - {name: boosts, on: boost, notify: [tg], title: "Boost {{ address }}"}
""")
    fake_dex.snapshots[BOOSTS] = [snapshot(boost("OLD1", 1))]
    daemon = Daemon.create(loader.load(path, env={}), TrioClock(1_700_000_000.0))
    shutdown = trio.Event()
    await nursery.start(daemon.run, shutdown)
    await fake_dex.wait_connections(BOOSTS, 1)
    await fake_dex.push(BOOSTS, snapshot(boost("NEW1", 5), boost("OLD1", 1)))
    return daemon, shutdown


async def test_mute_buttons_under_an_alert_silence_its_token_for_admins_only(
        nursery: trio.Nursery, fake_dex: FakeDexScreener, tls: ssl.SSLContext,  # noqa: F811
        tmp_path: Path, autojump_clock: trio.testing.MockClock) -> None:
    api = FakeBotApi(tls, TOKEN)
    await nursery.start(api.serve)
    daemon, shutdown = await button_daemon(nursery, fake_dex, api, tmp_path)
    await api.wait_sent(1)
    (alert,) = api.sent
    assert alert["chat_id"] == str(CHAT) and alert["text"].startswith("Boost NEW1\n")
    buttons = alert["reply_markup"]["inline_keyboard"][0]
    assert [b["text"] for b in buttons] == ["Mute token 1h", "Mute rule 1h"]
    token_button = buttons[0]["callback_data"]
    assert len(token_button.encode()) <= 64
    api.press(1, STRANGER, CHAT, token_button)  # not an admin
    api.press(2, ADMIN, CHAT, "t:" + "0" * 16 + ":forgedsig0")  # not this bot's
    api.press(3, ADMIN, CHAT, token_button)
    await api.wait_calls(4)  # three answers and one edit
    answers = [p["text"] for m, p in api.calls if m == "answerCallbackQuery"]
    assert answers[0] == "Only the bot's admins may do that."
    assert answers[1] == "That button is not one of this bot's."
    assert answers[2].startswith("Muted token solana:NEW1 until ")
    (edit,) = [p for m, p in api.calls if m == "editMessageReplyMarkup"]
    assert edit["message_id"] == 7 and edit["reply_markup"]["inline_keyboard"][0][0][
        "text"].startswith(f"Muted token solana:NEW1 by {ADMIN} until ")
    # The next alert of that token is recorded as silenced, not sent; another is sent.
    await fake_dex.push(BOOSTS, snapshot(boost("NEW1", 9), boost("OTHER1", 3),
                                         boost("OLD1", 1)))
    await api.wait_sent(2)
    await trio.sleep(5)
    shutdown.set()
    assert [m["text"].split("\n")[0] for m in api.sent] == ["Boost NEW1", "Boost OTHER1"]
    held = await daemon.delivery.call(daemon.db.outbox, SILENCED)
    assert [row.delivery.title for row in held] == ["Boost NEW1"]


async def test_an_alert_with_buttons_that_telegram_refuses_429_is_sent_once_after_the_wait(
        nursery: trio.Nursery, fake_dex: FakeDexScreener, tls: ssl.SSLContext,  # noqa: F811
        tmp_path: Path, autojump_clock: trio.testing.MockClock) -> None:
    api = FakeBotApi(tls, TOKEN)
    await nursery.start(api.serve)
    api.too_many("sendMessage", 30)  # the alert's first try: "retry after 30"
    daemon, shutdown = await button_daemon(nursery, fake_dex, api, tmp_path)
    await api.wait_sent(2)  # the refused try, then the one that went through
    await trio.sleep(60)
    shutdown.set()
    tries = [at for at, path in api.requests if path.endswith("/sendMessage")]
    assert len(tries) == 2 and tries[1] - tries[0] >= 30  # Telegram's wait, kept
    assert api.sent[0] == api.sent[1]  # the same message, buttons and all
    assert "inline_keyboard" in api.sent[1]["reply_markup"]
    assert daemon.delivery.stats.sent == 1
    rows = await daemon.delivery.call(daemon.db.recent, 5)
    assert [row.state for row in rows] == ["delivered"]


async def test_a_watch_from_the_chat_polls_the_token_and_its_follow_up_alerts(
        nursery: trio.Nursery, fake_dex: FakeDexScreener, tls: ssl.SSLContext,  # noqa: F811
        tmp_path: Path, autojump_clock: trio.testing.MockClock) -> None:
    from tests.fake_rest import FakeDexRest, pair

    api, rest = FakeBotApi(tls, TOKEN), FakeDexRest()
    await nursery.start(api.serve)
    await nursery.start(rest.serve)
    rest.add("Moon1", pair("Moon1", price="0.001"))
    recorder = Recorder()
    path = bot_file(tmp_path, fake_dex, api, "{rec: stdout}", """\
  - name: chat-watch-doubled
    on: price
    where: {source: dexscreener, watch.rule: /watch, watch.change: {gte: 100}}
    notify: [rec]
    title: "doubled {{ address }}"
""").read_text()
    path = write_rules(tmp_path, path.replace(
        "streams: [token-boosts/latest]}",
        f'streams: [token-boosts/latest], market: {{url: "{rest.url}"}}}}'))
    fake_dex.snapshots[BOOSTS] = [snapshot(boost("OLD1", 1))]
    daemon = Daemon.create(loader.load(path, env={}), TrioClock(1_700_000_000.0),
                           {"rec": recorder})  # type: ignore[dict-item]
    shutdown = trio.Event()
    await nursery.start(daemon.run, shutdown)
    api.say(1, ADMIN, CHAT, "/watch solana:Moon1 2h")
    await api.wait_sent(1)
    assert api.sent[0]["text"] == "watching solana:Moon1 for 2h"
    await trio.sleep(45)  # polled: the first price is the reference
    rest.pairs[("solana", "Moon1")] = [pair("Moon1", price="0.0025")]
    await trio.sleep(45)
    api.say(2, ADMIN, CHAT, "/watching")
    # An EVM address as people paste it: polled as DEX Screener answers it (lower-case).
    api.say(3, ADMIN, CHAT, "/watch base:0x4ED4E862860beD51a9570b96d89aF5E1B0Efefed 1h")
    await api.wait_sent(3)
    stored = await daemon.delivery.call(daemon.db.load)  # written with each command
    shutdown.set()
    watched = {w.address for _, w in daemon.engine.state.watches.items()}
    assert "0x4ed4e862860bed51a9570b96d89af5e1b0efefed" in watched
    assert {w.address for _, w in stored.watches.items()} == watched
    assert [title for _, title, _ in recorder.sent] == ["doubled Moon1"]
    assert api.sent[1]["text"].startswith("solana:Moon1 until ")
    assert "(from 0.001 USD)" in api.sent[1]["text"]


async def test_a_failover_in_a_burst_of_commands_loses_and_repeats_none(
        nursery: trio.Nursery, fake_dex: FakeDexScreener, tls: ssl.SSLContext,  # noqa: F811
        tmp_path: Path, postgres_url: str) -> None:
    """Two instances on one PostgreSQL; twenty commands, and the lease moves to another
    instance at the worst moment: inside the write of the seventh command's silence
    (a trigger in the real database). Real time: the lease and the database are real."""
    import psycopg

    from rulesd.state.postgres import PostgresState

    api = FakeBotApi(tls, TOKEN)
    await nursery.start(api.serve)
    admins = [ADMIN + n for n in range(4)]  # five commands each: within the rate limit
    path = bot_file(tmp_path, fake_dex, api, "{console: stdout}", """\
  - {name: boosts, on: boost, notify: [console]}
""", admins=admins)
    path.write_text(path.read_text().replace('state: {path: ":memory:"}',
                                             f'state: {{url: "{postgres_url}"}}'))
    fake_dex.snapshots[BOOSTS] = [snapshot(boost("OLD1", 1))]
    for n in range(20):
        api.say(n + 1, admins[n % 4], CHAT, f"/mute solana:T{n} 1h burst {n}")

    def sql(*statements: str) -> None:
        with psycopg.connect(postgres_url, autocommit=True) as conn:
            for statement in statements:
                conn.execute(statement)

    db = PostgresState(postgres_url)
    await trio.to_thread.run_sync(db.load)  # the schema, as a first instance makes it
    await trio.to_thread.run_sync(sql, """
        CREATE FUNCTION steal() RETURNS trigger AS $$ BEGIN
          IF (SELECT count(*) FROM silences) = 7 THEN
            UPDATE lease SET holder = 'elsewhere', epoch = epoch + 1,
                             expires = clock_timestamp() + interval '1 hour';
          END IF;
          RETURN NULL;
        END $$ LANGUAGE plpgsql""",
        "CREATE TRIGGER steal AFTER INSERT ON silences "
        "FOR EACH ROW EXECUTE FUNCTION steal()")
    with trio.fail_after(60):
        first = Daemon.create(loader.load(path, env={}), TrioClock())
        stop_first, first_stopped = trio.Event(), trio.Event()

        async def run_first() -> None:
            await first.run(stop_first)
            first_stopped.set()

        nursery.start_soon(run_first)
        while first.role != "leader":  # noqa: ASYNC110 - a real lease in PostgreSQL
            await trio.sleep(0.05)
        second = Daemon.create(loader.load(path, env={}), TrioClock())
        stop_second = trio.Event()
        await nursery.start(second.run, stop_second)
        while first.role == "leader":  # noqa: ASYNC110 - its next write or renewal tells it
            await trio.sleep(0.02)
        stop_first.set()
        await first_stopped.wait()
        # The other instance is gone: the second leads and goes on from the offset.
        await trio.to_thread.run_sync(sql, "UPDATE lease SET expires = '-infinity'")
        await api.wait_sent(20)
        await trio.sleep(1.5)  # a poll or more: nothing is answered twice
        stop_second.set()
    try:
        silences = await trio.to_thread.run_sync(db.silences)
        stored = (await trio.to_thread.run_sync(db.load)).control.get(("telegram", "offset"))
    finally:
        db.close()
    assert sorted(s.comment for s in silences) == sorted(f"burst {n}" for n in range(20))
    replies = [m["text"] for m in api.sent]
    assert len(replies) == 20
    assert all(sum(f"solana:T{n} " in r for r in replies) == 1 for n in range(20)), replies
    assert first.control.handled >= 7 and second.control.handled >= 1
    assert stored == 21
