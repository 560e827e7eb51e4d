"""The status page in a real headless Chromium (Debian's chromium and chromium-driver,
driven by selenium): it loads without JavaScript, shows each source's state and the
alerts with their delivery, and vendor text on it is text, never markup."""

from __future__ import annotations

import json
import os
import ssl
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest
import trio
from selenium import webdriver
from selenium.common.exceptions import StaleElementReferenceException, WebDriverException
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.by import By
from selenium.webdriver.support.expected_conditions import staleness_of
from selenium.webdriver.support.wait import WebDriverWait

from rulesd import loader
from rulesd.clock import TrioClock
from rulesd.config import HttpConfig
from rulesd.daemon import Daemon
from rulesd.http.server import serve
from rulesd.silences import Silence
from tests.fakes import FakeDexScreener, HttpSink
from tests.helpers import BOOSTS, boost, sink_rules, snapshot, write_rules
from tests.test_safety import ca, tls  # noqa: F401 - fixtures

CHROMIUM = os.environ.get("RULESD_TEST_CHROMIUM", "/usr/bin/chromium")
CHROMEDRIVER = os.environ.get("RULESD_TEST_CHROMEDRIVER", "/usr/bin/chromedriver")
HOSTILE = '<script>document.title="owned"</script><b>bold</b> <img src=x onerror=alert(1)>'


@pytest.fixture
def browser() -> Iterator[webdriver.Chrome]:
    missing = [path for path in (CHROMIUM, CHROMEDRIVER) if not os.access(path, os.X_OK)]
    if missing:  # one line, not selenium's stack of driver errors
        pytest.fail(f"no {' or '.join(missing)}: install Debian's chromium and chromium-driver "
                    "(`bash scripts/test` does, as root)", pytrace=False)
    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for arg in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage",
                "--disable-gpu"):
        options.add_argument(arg)
    options.add_experimental_option("prefs", {"profile.managed_default_content_settings"
                                              ".javascript": 2})  # readable without JS
    driver = webdriver.Chrome(service=Service(CHROMEDRIVER), options=options)
    try:
        yield driver
    finally:
        driver.quit()


def _read_page(driver: webdriver.Chrome, url: str) -> dict[str, object]:
    driver.get(url)
    rows = {table: [[cell.text for cell in row.find_elements(By.TAG_NAME, "td")]
                    for row in driver.find_elements(By.CSS_SELECTOR, f"#{table} tr")[1:]]
            for table in ("sources", "recent", "notifiers")}
    return {"title": driver.title, "summary": driver.find_element(By.ID, "summary").text,
            "scripts": len(driver.find_elements(By.TAG_NAME, "script")),
            "images": len(driver.find_elements(By.TAG_NAME, "img")), **rows}


async def serve_daemon(nursery: trio.Nursery, fake_dex: FakeDexScreener, sink: HttpSink,
                       tmp_path: Path, rule: str) -> tuple[Daemon, str, trio.Event]:
    """A daemon on boosts to `sink` with its HTTP endpoint: (daemon, base URL, shutdown)."""
    fake_dex.snapshots[BOOSTS] = [snapshot(boost("OLD1", 1))]
    path = sink_rules(tmp_path, fake_dex.url, sink.url(), rule)
    daemon = Daemon.create(loader.load(path, env={}), TrioClock())
    shutdown = trio.Event()
    base = await nursery.start(serve, daemon, HttpConfig(listen="127.0.0.1:0"), shutdown)
    await nursery.start(daemon.run, shutdown)
    await fake_dex.wait_connections(BOOSTS, 1)
    return daemon, base, shutdown


async def delivered(daemon: Daemon, sink: HttpSink, count: int) -> None:
    await sink.wait_for(count)
    while daemon.delivery.stats.sent < count:  # noqa: ASYNC110 - its delivered mark
        await trio.sleep(0.02)


async def test_the_status_page_shows_sources_and_alerts_with_vendor_text_as_text(
    browser: webdriver.Chrome, nursery: trio.Nursery, fake_dex: FakeDexScreener,
    sink: HttpSink, tmp_path: Path,
) -> None:
    with trio.fail_after(60):
        daemon, base, shutdown = await serve_daemon(
            nursery, fake_dex, sink, tmp_path,
            '{name: boosts, on: boost, notify: [sink], title: "Boost {{ description }}"}')
        await fake_dex.push(BOOSTS, snapshot(boost("AAA1", 1, description=HOSTILE),
                                             boost("OLD1", 1)))
        await delivered(daemon, sink, 1)
        page = await trio.to_thread.run_sync(_read_page, browser, f"{base}/")
        shutdown.set()
    assert page["title"] == f"rulesd — {tmp_path / 'rules.yaml'}"
    assert "1 rules" in str(page["summary"]) and "ready" in str(page["summary"])
    (source,) = page["sources"]  # type: ignore[misc]
    assert source[:2] == ["dexscreener token-boosts/latest", "up"]
    assert source[3] == "2"  # frames: the baseline and the new boost
    (alert,) = page["recent"]  # type: ignore[misc]
    assert alert[1:3] == ["boosts", "sink"] and alert[4] == "delivered"
    assert "<script>" in alert[3] and "<img src=x onerror=" in alert[3]  # shown as text
    assert page["scripts"] == 0 and page["images"] == 0  # nothing of it became markup
    assert page["notifiers"] == [["sink", f"json://127.0.0.1:{sink.port}/alerts", "0",
                                  "1", "0"]]


def _add_silence(driver: webdriver.Chrome, url: str, token: str) -> list[list[str]]:
    driver.get(url)
    driver.find_element(By.NAME, "token").send_keys(token)
    driver.find_element(By.NAME, "for").clear()
    driver.find_element(By.NAME, "for").send_keys("1h")
    driver.find_element(By.NAME, "comment").send_keys("known <spam>")
    old = driver.find_element(By.TAG_NAME, "html")
    driver.find_element(By.ID, "add-silence").click()  # a plain form post, then back
    # The post loads a new page: wait until the old one is gone, then read the new one
    # (reading while it is replaced fails in ways that vary with Chromium's version).
    WebDriverWait(driver, 10).until(staleness_of(old))
    def rows(d: webdriver.Chrome) -> list[list[str]] | None:
        found = [[cell.text for cell in row.find_elements(By.TAG_NAME, "td")]
                 for row in d.find_elements(By.CSS_SELECTOR, "#silences tr")[1:]]
        return found if any("rule=" in cell for row in found for cell in row) else None

    # The post answers with a redirect: the document may be replaced once more while it
    # is read (Chromium then says "Node ... does not belong to the document").
    return WebDriverWait(driver, 10, ignored_exceptions=[
        StaleElementReferenceException, WebDriverException]).until(rows)


def _recent(driver: webdriver.Chrome, url: str) -> list[list[str]]:
    driver.get(url)
    return [[cell.text for cell in row.find_elements(By.TAG_NAME, "td")]
            for row in driver.find_elements(By.CSS_SELECTOR, "#recent tr")[1:]]


async def test_a_silence_made_in_the_form_mutes_the_next_alert(
    browser: webdriver.Chrome, nursery: trio.Nursery, fake_dex: FakeDexScreener,
    sink: HttpSink, tmp_path: Path,
) -> None:
    with trio.fail_after(60):
        daemon, base, shutdown = await serve_daemon(
            nursery, fake_dex, sink, tmp_path, "{name: boosts, on: boost, notify: [sink]}")
        silences = await trio.to_thread.run_sync(_add_silence, browser, f"{base}/",
                                                 "solana:MUTE1")
        await fake_dex.push(BOOSTS, snapshot(boost("MUTE1", 1), boost("OLD1", 1)))
        await fake_dex.push(BOOSTS, snapshot(boost("LOUD2", 1), boost("MUTE1", 1),
                                             boost("OLD1", 1)))
        await delivered(daemon, sink, 1)
        recent = await trio.to_thread.run_sync(_recent, browser, f"{base}/")
        shutdown.set()
    ((matchers, _, state, comment, _),) = silences
    assert (matchers, state, comment) == ("rule=boosts token=solana:MUTE1", "active",
                                          "known <spam>")
    assert [m["title"] for m in sink.messages] == ["Boost: LOUD2 on solana"]
    states = {row[3]: row[4] for row in recent}
    assert states["Boost: LOUD2 on solana"] == "delivered"
    assert states["Boost: MUTE1 on solana"].startswith("silenced")


async def test_a_standby_says_so_on_its_page_and_becomes_leader_when_the_lease_frees(
    browser: webdriver.Chrome, nursery: trio.Nursery, fake_dex: FakeDexScreener,
    sink: HttpSink, tmp_path: Path, postgres_url: str,
) -> None:
    from rulesd.state.postgres import PostgresState

    other = PostgresState(postgres_url)  # another instance, leading
    assert await trio.to_thread.run_sync(other.acquire, 10.0) == 1
    try:
        fake_dex.snapshots[BOOSTS] = [snapshot(boost("OLD1", 1))]
        path = sink_rules(tmp_path, fake_dex.url, sink.url(),
                          state=f'{{url: "{postgres_url}"}}')
        daemon = Daemon.create(loader.load(path, env={}), TrioClock())
        shutdown = trio.Event()
        base = await nursery.start(serve, daemon, HttpConfig(listen="127.0.0.1:0"), shutdown)
        await nursery.start(daemon.run, shutdown)
        with trio.fail_after(60):
            while daemon.leadership is None or not daemon.leadership.reachable:  # noqa: ASYNC110 - PostgreSQL
                await trio.sleep(0.05)
            page = await trio.to_thread.run_sync(_read_page, browser, base + "/")
            role = await trio.to_thread.run_sync(
                lambda: browser.find_element(By.ID, "role").text)
            assert role == "standby" and "ready" in str(page["summary"])
            # Silences are shared: one another instance saved shows in the status here.
            await trio.to_thread.run_sync(other.save_silence, Silence(
                "s1", "boosts", time.time(), time.time() + 3600))
            status = json.loads(await trio.to_thread.run_sync(
                lambda: urllib.request.urlopen(base + "/api/v1/status", timeout=5).read()))
            assert status["role"] == "standby"
            assert [s["id"] for s in status["silences"]] == ["s1"]
            assert page["sources"] == [["no source has started yet"]]
            assert fake_dex.connections[BOOSTS] == 0
            await trio.to_thread.run_sync(other.release)  # the leader stops gracefully
            await fake_dex.wait_connections(BOOSTS, 1)
            await trio.to_thread.run_sync(_read_page, browser, base + "/")
            role = await trio.to_thread.run_sync(
                lambda: browser.find_element(By.ID, "role").text)
            assert role == "leader"
            shutdown.set()
    finally:
        other.close()


async def test_the_page_shows_a_safety_service_the_rules_ask(
    browser: webdriver.Chrome, nursery: trio.Nursery, fake_dex: FakeDexScreener,
    sink: HttpSink, tmp_path: Path,
) -> None:
    from tests.fake_rest import FakeRugCheck, rugcheck_report

    rugcheck = FakeRugCheck()
    await nursery.start(rugcheck.serve)
    rugcheck.reports["Safe1"] = rugcheck_report("Safe1")
    fake_dex.snapshots[BOOSTS] = [snapshot(boost("OLD1", 1))]
    path = write_rules(tmp_path, f"""\
        version: 1
        state: {{path: {tmp_path / 'state.db'}}}
        sources:
          dexscreener: {{url: "{fake_dex.url}", streams: [token-boosts/latest]}}
          rugcheck: {{url: "{rugcheck.url}"}}
        notifiers: {{sink: "{sink.url()}"}}
        rules:
          - {{name: safe, on: boost, notify: [sink], where: {{security.mintable: false}}}}
        """)
    with trio.fail_after(60):
        daemon = Daemon.create(loader.load(path, env={}), TrioClock())
        shutdown = trio.Event()
        base = await nursery.start(serve, daemon, HttpConfig(listen="127.0.0.1:0"), shutdown)
        await nursery.start(daemon.run, shutdown)
        await fake_dex.wait_connections(BOOSTS, 1)
        await fake_dex.push(BOOSTS, snapshot(boost("Safe1", 1), boost("OLD1", 1)))
        await delivered(daemon, sink, 1)
        page = await trio.to_thread.run_sync(_read_page, browser, f"{base}/")
        line = await trio.to_thread.run_sync(
            lambda: browser.find_element(By.ID, "lookup-rugcheck").text)
        shutdown.set()
    assert ["rugcheck", "up"] in [row[:2] for row in page["sources"]]  # type: ignore[union-attr]
    assert line.startswith("rugcheck: 1 requests, 0 answered 429 · 1 lookups, 0 from the "
                           "cache · 0 unknown")
    assert "ready" in str(page["summary"])  # an on-demand service holds nothing back


async def test_the_page_lists_what_was_asked_of_the_chat_bot_and_by_whom(
    browser: webdriver.Chrome, nursery: trio.Nursery, fake_dex: FakeDexScreener,
    sink: HttpSink, tmp_path: Path, tls: ssl.SSLContext,  # noqa: F811
) -> None:
    from tests.fake_rest import FakeBotApi
    from tests.test_control import ADMIN, CHAT, STRANGER, TOKEN

    api = FakeBotApi(tls, TOKEN)
    await nursery.start(api.serve)
    fake_dex.snapshots[BOOSTS] = [snapshot(boost("OLD1", 1))]
    path = write_rules(tmp_path, f"""\
        version: 1
        sources:
          dexscreener: {{url: "{fake_dex.url}", streams: [token-boosts/latest]}}
        notifiers: {{sink: "{sink.url()}"}}
        control:
          telegram: {{bot: "{TOKEN}", admins: [{ADMIN}], chats: [{CHAT}], api: "{api.url}"}}
        rules:
          - {{name: boosts, on: boost, notify: [sink]}}
        """)
    api.say(1, STRANGER, CHAT, "/mute solana:X1 1h")
    api.say(2, ADMIN, CHAT, f"/mute solana:X1 1h {HOSTILE}")
    api.say(3, ADMIN, CHAT, f"/mute {TOKEN} 1h pasted by mistake")  # a secret, masked
    with trio.fail_after(60):
        daemon = Daemon.create(loader.load(path, env={}), TrioClock())
        shutdown = trio.Event()
        base = await nursery.start(serve, daemon, HttpConfig(listen="127.0.0.1:0"), shutdown)
        await nursery.start(daemon.run, shutdown)
        await api.wait_sent(3)

        def read(driver: webdriver.Chrome) -> tuple[str, list[list[str]], int]:
            driver.get(f"{base}/")
            rows = [[cell.text for cell in row.find_elements(By.TAG_NAME, "td")]
                    for row in driver.find_elements(By.CSS_SELECTOR, "#control-actions tr")]
            return (driver.find_element(By.ID, "control").text, rows[1:],
                    len(driver.find_elements(By.TAG_NAME, "script"))
                    + len(driver.find_elements(By.TAG_NAME, "img")))

        line, actions, markup = await trio.to_thread.run_sync(read, browser)
        shutdown.set()
    assert line == "Telegram bot: up · 2 handled, 1 refused"
    # Newest first, each with the user who asked; the comment shown as text.
    assert [row[1:3] for row in actions[1:]] == [
        [str(ADMIN), f"/mute solana:X1 1h {HOSTILE}"], [str(STRANGER), "/mute solana:X1 1h"]]
    assert actions[1][3].startswith("muted token solana:X1 on every rule for 1h")
    assert actions[2][3] == "Only the bot's admins may do that."
    assert actions[0][2].startswith("/mute ") and actions[0][2].endswith(" pasted by mistake")
    assert markup == 0
    assert TOKEN.split(":")[1] not in line + str(actions)
