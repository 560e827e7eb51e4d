"""Delivery through Apprise's real Telegram, Discord and Slack plugins, checked on what
each platform receives (tests/platforms.py answers as each does, behind TLS)."""

from __future__ import annotations

import html
import re
import signal
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import trio
import trustme

from rulesd import loader
from rulesd.cli import main
from rulesd.clock import TrioClock
from rulesd.daemon import Daemon
from tests.fakes import FakeDexScreener
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
from tests.platforms import (
    Answer,
    Platforms,
    Request,
    discord_rate_limited,
    slack_error,
    telegram_error,
)

PROFILES = "/token-profiles/latest/v1"
TG = "tgram://123456789:AAbbCCddEEff/-100777"
DISCORD = "discord://111222333/webhooktoken"
DISCORD_EMBEDS = "discord://111222333/webhooktoken?format=markdown"
SLACK = "slack://T0AAA/B0BBB/C0CCCCC"
SLACK_BLOCKS = "slack://T0AAA/B0BBB/C0CCCCC?blocks=yes"
HOSTILE = ("gm <!channel> <!here> <!everyone> <@U0123> <!subteam^S0123> "
           "<http://evil.invalid|Click here> @everyone @here <@123> <@&456> @1000x @vitalik "
           "*bold* `code` _it_ \u202egnp.exe [win](http://e.vil) <b>hi</b> & done")


@pytest.fixture
def platforms(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Platforms]:
    ca = trustme.CA()
    ca_file = tmp_path / "ca.pem"
    ca.cert_pem.write_to_path(str(ca_file))
    stand_in = Platforms(ca, str(ca_file))
    with stand_in.running():
        for name, value in stand_in.env().items():  # this process and its children
            monkeypatch.setenv(name, value)
        yield stand_in


def profile(address: str, description: str) -> dict[str, Any]:
    return {"url": f"https://dexscreener.com/solana/{address}", "chainId": "solana",
            "tokenAddress": address, "icon": None, "description": description,
            "links": []}


async def wait_requests(platforms: Platforms, host: str, count: int) -> list[Request]:
    while len(platforms.received(host)) < count:  # noqa: ASYNC110 - the proxy's threads
        await trio.sleep(0.02)
    return platforms.received(host)


# What each platform shows, and whether any of it pings or links.

def telegram_text(request: Request) -> str:
    """Telegram's text as shown: HTML tags gone, entities decoded."""
    assert request.body["parse_mode"] == "HTML"
    return html.unescape(re.sub(r"</?b>", "", request.body["text"]))


def telegram_live(request: Request) -> list[str]:
    text = request.body["text"]
    return re.findall(r"<a\b|@[A-Za-z0-9_]", text) + re.findall(r"<(?!/?b>)", text)


def discord_texts(request: Request) -> list[str]:
    body = request.body
    texts = [body.get("content", "")]
    for embed in body.get("embeds", []):
        texts += [embed.get("title", ""), embed.get("description", "")]
    return texts


def discord_live(request: Request) -> list[str]:
    found = ["allow_mentions"] if "allow_mentions" in request.body else []
    for text in discord_texts(request):
        found += re.findall(r"@(?:everyone|here)\b|<@&?\d+>|<#\d+>|@[A-Za-z0-9]", text)
        found += re.findall(r"\[[^\]]*\]\(", text)  # a masked link
    return found


def slack_texts(request: Request) -> list[tuple[str, bool]]:
    """Each text Slack shows, and whether Slack formats it (mrkdwn)."""
    body = request.body
    out = []
    for attachment in body.get("attachments", []):
        if "text" in attachment:
            out.append((attachment["text"], bool(body.get("mrkdwn"))
                        or "text" in attachment.get("mrkdwn_in", [])))
            out.append((attachment.get("title", ""), False))
        for block in attachment.get("blocks", []):
            text = block.get("text")
            if isinstance(text, dict):
                out.append((text["text"], text["type"] == "mrkdwn"))
    return out


def slack_live(request: Request) -> list[str]:
    found = []
    for text, formatted in slack_texts(request):
        found += re.findall(r"<[!@#]|<https?:", text)
        if formatted:
            found.append("formatted: " + text[:40])
    return found


ZWSP = "\u200b"
BIDI = re.compile("[\u202a-\u202e\u2066-\u2069]")


async def test_vendor_text_never_pings_links_or_formats_on_any_platform(
    platforms: Platforms, fake_dex: FakeDexScreener, tmp_path: Path,
) -> None:
    """A token description full of mentions, links, markup and a bidi override,
    through the real daemon process and the real plugins, in each plugin's default
    and markdown/blocks mode: every platform shows it as literal text."""
    fake_dex.snapshots[BOOSTS] = [snapshot(boost("OLD1", 1))]
    path = delivery_rules(tmp_path, fake_dex.url,
                 f"{{tg: '{TG}', dc: '{DISCORD}', dce: '{DISCORD_EMBEDS}', sl: '{SLACK}', "
                 f"slb: '{SLACK_BLOCKS}'}}", "tg, dc, dce, sl, slb",
                 rule='\n    message: "{{ description }} {{ url }}"'
                      '\n    title: "{{ description }}"')
    async with rulesd_process("run", str(path), stderr=subprocess.PIPE) as process:
        with trio.fail_after(30):
            await fake_dex.wait_connections(BOOSTS, 1)
            await fake_dex.push(BOOSTS, snapshot(
                boost("AAA1", 1, description=HOSTILE), boost("OLD1", 1)))
            (tg,) = await wait_requests(platforms, "api.telegram.org", 1)
            # Each URL is sent to on its own: in any order.
            dc, dce = sorted(await wait_requests(platforms, "discord.com", 2),
                             key=lambda r: "embeds" in r.body)
            sl, slb = sorted(await wait_requests(platforms, "hooks.slack.com", 2),
                             key=lambda r: "blocks" in r.body["attachments"][0])
        assert await stop(process, signal.SIGTERM) == 0
    assert telegram_live(tg) == [] and not BIDI.search(tg.body["text"])
    shown = telegram_text(tg).replace(ZWSP, "")  # what a reader sees
    for words in ("gnp.exe", "<http://evil.invalid|Click here>", "<b>hi</b>", "*bold*",
                  "@everyone", "[win](http://e.vil)"):
        assert words in shown, shown
    for request in (dc, dce):
        assert discord_live(request) == [], request.body
        assert not any(BIDI.search(t) for t in discord_texts(request))
        assert "gnp.exe" in " ".join(discord_texts(request))
    assert "embeds" in dce.body and "embeds" not in dc.body  # both modes were used
    for request in (sl, slb):
        assert slack_live(request) == [], request.body
        texts = " ".join(t for t, _ in slack_texts(request))
        assert not BIDI.search(texts) and "gnp.exe" in texts
        # Shown literally (Slack decodes &lt; &gt;), not as a link.
        assert "&lt;http://evil.invalid|Click here&gt;" in texts.replace(ZWSP, "")
    assert "blocks" in slb.body["attachments"][0]


async def test_one_platform_failing_never_sends_twice_to_another(
    platforms: Platforms, fake_dex: FakeDexScreener, tmp_path: Path, nursery: trio.Nursery,
) -> None:
    """`team: [telegram, discord]`: while Discord answers 429 twice, Telegram gets each
    alert once; Discord gets it once it lets rulesd in."""
    fake_dex.snapshots[BOOSTS] = [snapshot(boost("OLD1", 1))]
    platforms.answer("discord.com", discord_rate_limited(0.3), discord_rate_limited(0.3),
                     discord_rate_limited(0.3), discord_rate_limited(0.3))
    path = delivery_rules(tmp_path, fake_dex.url, f"{{team: ['{TG}', '{DISCORD}']}}", "team")
    with trio.fail_after(30):
        daemon, shutdown = await start(nursery, path)
        await fake_dex.wait_connections(BOOSTS, 1)
        await fake_dex.push(BOOSTS, snapshot(boost("AAA1", 1), boost("OLD1", 1)))
        while not any(r.status == 204  # noqa: ASYNC110 - the proxy's threads
                      for r in platforms.received("discord.com")):
            await trio.sleep(0.05)
        await trio.sleep(0.5)  # anything doubled would have arrived by now
        shutdown.set()
    telegram = platforms.received("api.telegram.org")
    assert len(telegram) == 1 and "AAA1" in telegram[0].body["text"]
    assert [r.status for r in platforms.received("discord.com")] == [429, 429, 429, 429, 204]
    assert set(daemon.delivery.workers) == {"team#1", "team#2"}


@pytest.mark.parametrize(("url", "host", "refusal", "reason"), [
    (TG, "api.telegram.org", telegram_error(403, "Forbidden: bot was blocked by the user"),
     "HTTP 403: Forbidden: bot was blocked by the user"),
    (TG, "api.telegram.org", telegram_error(400, "Bad Request: chat not found"),
     "HTTP 400: Bad Request: chat not found"),
    (TG, "api.telegram.org", telegram_error(401, "Unauthorized"), "HTTP 401: Unauthorized"),
    (DISCORD, "discord.com", Answer(404, {"message": "Unknown Webhook", "code": 10015}),
     "HTTP 404: Unknown Webhook"),
    (SLACK, "hooks.slack.com", slack_error(404, "no_service"), "HTTP 404: no_service"),
    (SLACK, "hooks.slack.com", slack_error(403, "invalid_token"), "HTTP 403: invalid_token"),
])
async def test_a_permanent_refusal_is_dead_lettered_at_once_with_the_reason(
    url: str, host: str, refusal: Answer, reason: str, platforms: Platforms,
    fake_dex: FakeDexScreener, tmp_path: Path, nursery: trio.Nursery,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """Nothing waits behind it: the next alert goes at once; the log and `rulesd
    outbox` give the platform's own words."""
    fake_dex.snapshots[BOOSTS] = [snapshot(boost("OLD1", 1))]
    platforms.answer(host, refusal)
    # Paced at 10/s, not the platform's default (Telegram's 1 per 3 s to a group): what
    # is tested is that nothing waits behind a refusal; pacing has its own tests.
    path = delivery_rules(tmp_path, fake_dex.url, f"{{chat: {{urls: ['{url}'], rate: 10/s}}}}",
                          "chat", extra=", max_age: 1h")
    with trio.fail_after(30):
        daemon, shutdown = await start(nursery, path)
        await fake_dex.wait_connections(BOOSTS, 1)
        await fake_dex.push(BOOSTS, snapshot(boost("AAA1", 1), boost("OLD1", 1)))
        await wait_requests(platforms, host, 1)
        await fake_dex.push(BOOSTS, snapshot(boost("BBB2", 1), boost("AAA1", 1),
                                             boost("OLD1", 1)))
        first, second = await wait_requests(platforms, host, 2)
        while daemon.delivery.stats.sent < 1:  # noqa: ASYNC110 - its delivered mark
            await trio.sleep(0.02)
        shutdown.set()
    assert second.at - first.at < 5  # not a retry back-off: the next alert
    assert "BBB2" in str(second.body) and second.status < 300
    assert main(["outbox", str(path)]) == 0
    out = capsys.readouterr().out
    assert re.search(rf"^dead .* chat boosts: .*AAA1.*{re.escape(reason)}", out, re.M), out
    assert "0 pending, 1 dead-lettered" in out


async def test_slack_retry_after_header_is_honoured(
    platforms: Platforms, fake_dex: FakeDexScreener, tmp_path: Path, nursery: trio.Nursery,
) -> None:
    """Slack says how long to wait only in a header: rulesd waits that long, once."""
    fake_dex.snapshots[BOOSTS] = [snapshot(boost("OLD1", 1))]
    platforms.answer("hooks.slack.com", slack_error(429, "rate_limited", {"Retry-After": "2"}))
    path = delivery_rules(tmp_path, fake_dex.url, f"{{chat: '{SLACK}'}}", "chat")
    with trio.fail_after(30):
        _, shutdown = await start(nursery, path)
        await fake_dex.wait_connections(BOOSTS, 1)
        await fake_dex.push(BOOSTS, snapshot(boost("AAA1", 1), boost("OLD1", 1)))
        first, second = await wait_requests(platforms, "hooks.slack.com", 2)
        shutdown.set()
    assert (first.status, second.status) == (429, 200)
    assert 1.95 <= second.at - first.at < 4  # the platform's 2 s, not 100 ms back-off


def _shown_lengths(request: Request) -> tuple[int, str]:
    if request.host == "api.telegram.org":
        text = telegram_text(request)
        return len(text), text
    if "embeds" in request.body:
        embed = request.body["embeds"][0]
        return len(embed["title"]), embed["title"] + "\n" + embed["description"]
    return len(request.body["content"]), request.body["content"]


@pytest.mark.parametrize(("url", "host", "limit"), [
    (TG, "api.telegram.org", 4096),
    (DISCORD, "discord.com", 2000),
    (DISCORD_EMBEDS, "discord.com", 256),  # the embed's title
])
async def test_a_long_alert_fits_the_platform_and_keeps_its_footer(
    url: str, host: str, limit: int, platforms: Platforms, fake_dex: FakeDexScreener,
    tmp_path: Path, nursery: trio.Nursery,
) -> None:
    """The default message of a new profile with a 10,000-character description (and
    a title as long): cut in the middle, its footer (token, link, rule) kept."""
    fake_dex.snapshots[PROFILES] = [snapshot(profile("OLD1", "old"))]
    path = delivery_rules(tmp_path, fake_dex.url, f"{{chat: '{url}'}}", "chat",
                 rule='\n    title: "{{ description }}"', kind="profile",
                 stream="token-profiles/latest")
    long = "word & <more> " * 700
    with trio.fail_after(30):
        _, shutdown = await start(nursery, path)
        await fake_dex.wait_connections(PROFILES, 1)
        await fake_dex.push(PROFILES, snapshot(profile("AAA1", long), profile("OLD1", "old")))
        (request,) = await wait_requests(platforms, host, 1)
        shutdown.set()
    length, shown = _shown_lengths(request)
    assert request.status < 300 and length <= limit, (length, limit)
    assert "… (truncated)" in shown
    assert shown.rstrip().endswith("[boosts · dexscreener]"), shown[-200:]
    assert "https://dexscreener.com/solana/AAA1" in shown


async def test_a_malformed_refusal_is_sent_once_more_shorter_then_dead_lettered(
    platforms: Platforms, fake_dex: FakeDexScreener, tmp_path: Path, nursery: trio.Nursery,
) -> None:
    fake_dex.snapshots[BOOSTS] = [snapshot(boost("OLD1", 1))]
    too_long = telegram_error(400, "Bad Request: message is too long")
    platforms.answer("api.telegram.org", too_long, too_long)
    path = delivery_rules(tmp_path, fake_dex.url, f"{{chat: {{urls: ['{TG}'], rate: 10/s}}}}",
                          "chat", rule='\n    message: "{{ description }}"')  # fast: see above
    with trio.fail_after(30):
        daemon, shutdown = await start(nursery, path)
        await fake_dex.wait_connections(BOOSTS, 1)
        await fake_dex.push(BOOSTS, snapshot(boost("AAA1", 1, description="x" * 3900),
                                             boost("OLD1", 1)))
        await wait_requests(platforms, "api.telegram.org", 2)
        await fake_dex.push(BOOSTS, snapshot(boost("BBB2", 1), boost("AAA1", 1),
                                             boost("OLD1", 1)))
        requests = await wait_requests(platforms, "api.telegram.org", 3)
        shutdown.set()
    assert [r.status for r in requests] == [400, 400, 200]
    assert len(requests[1].body["text"]) < len(requests[0].body["text"])
    assert "BBB2" in requests[2].body["text"]
    assert daemon.delivery.stats.dead == 1


async def test_notify_test_says_per_url_ok_or_the_platforms_reason(
    platforms: Platforms, tmp_path: Path, capsys: pytest.CaptureFixture[str],
) -> None:
    platforms.answer("discord.com", discord_rate_limited(7), discord_rate_limited(7))
    platforms.answer("hooks.slack.com", slack_error(404, "no_service"))
    path = write_rules(tmp_path, f"""\
        version: 1
        sources: {{dexscreener: {{}}}}
        notifiers: {{tg: '{TG}', team: ['{DISCORD}', '{SLACK}']}}
        rules: []
        """)
    code = await trio.to_thread.run_sync(main, ["notify-test", str(path)])
    out = capsys.readouterr().out
    assert code == 1
    assert re.search(r"^ok   tg \(tgram://\S+\)$", out, re.M), out
    assert re.search(r"^FAIL team#1 \(discord://\S+\): HTTP 429: You are being rate limited\. "
                     r"\(asks to wait 7s\)$", out, re.M), out
    assert re.search(r"^FAIL team#2 \(slack://\S+\): HTTP 404: no_service$", out, re.M), out
    assert "AAbbCCddEEff" not in out and "webhooktoken" not in out  # no token shown


async def test_a_platform_echoing_the_token_in_its_reason_never_shows_it(
    platforms: Platforms, fake_dex: FakeDexScreener, tmp_path: Path, nursery: trio.Nursery,
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch,
) -> None:
    fake_dex.snapshots[BOOSTS] = [snapshot(boost("OLD1", 1))]
    monkeypatch.setenv("TG_TOKEN", "123456789:Sekr1tT0kenValue")
    platforms.answer("api.telegram.org", telegram_error(
        401, "Unauthorized: token 123456789:Sekr1tT0kenValue is invalid"))
    path = delivery_rules(tmp_path, fake_dex.url, "{chat: 'tgram://${TG_TOKEN}/-100777'}", "chat")
    with trio.fail_after(30):
        daemon = Daemon.create(loader.load(path), TrioClock())  # the token from the env
        shutdown = trio.Event()
        await nursery.start(daemon.run, shutdown)
        await fake_dex.wait_connections(BOOSTS, 1)
        await fake_dex.push(BOOSTS, snapshot(boost("AAA1", 1), boost("OLD1", 1)))
        while daemon.delivery.stats.dead < 1:  # noqa: ASYNC110 - a counter
            await trio.sleep(0.02)
        shutdown.set()
    assert main(["outbox", str(path)]) == 0
    out = capsys.readouterr().out
    assert "HTTP 401: Unauthorized: token *** is invalid" in out, out
    assert "Sekr1tT0kenValue" not in out
