"""The daemon's HTTP endpoint as an operator uses it: /-/ready, /metrics, the status
API, recent alerts and POST /-/reload, served by hypercorn on the daemon's loop."""

from __future__ import annotations

import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

import orjson
import pytest
import trio
from prometheus_client.parser import text_string_to_metric_families

from rulesd import loader
from rulesd.clock import TrioClock
from rulesd.config import HttpConfig
from rulesd.daemon import Daemon
from rulesd.http.app import WebApp
from rulesd.http.server import serve
from tests.fake_vendors import FakeMobula
from tests.fakes import FakeDexScreener, HttpSink
from tests.helpers import BOOSTS, boost, free_port, snapshot, write_rules


def _fetch(url: str, method: str = "GET") -> tuple[int, bytes]:
    request = urllib.request.Request(url, method=method, data=b"" if method == "POST" else None)
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status, response.read()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read()


async def fetch(url: str, method: str = "GET") -> tuple[int, bytes]:
    return await trio.to_thread.run_sync(_fetch, url, method)


def metric(text: bytes, name: str, **labels: str) -> float:
    for family in text_string_to_metric_families(text.decode()):
        for sample in family.samples:
            if sample.name == name and all(sample.labels.get(k) == v
                                           for k, v in labels.items()):
                return float(sample.value)
    raise AssertionError(f"no sample {name} {labels}")


def rules_text(tmp_path: Path, dex: str, mobula: str, sink: str, rule: str = "boosts") -> str:
    return f"""\
        version: 1
        state: {{path: {tmp_path / 'state.db'}}}
        sources:
          dexscreener: {{url: "{dex}", streams: [token-boosts/latest]}}
          mobula: {{url: "{mobula}", api_key: wrong-key}}
        notifiers:
          sink: {sink}
        rules:
          - name: {rule}
            on: boost
            notify: [sink]
        """


async def test_ready_metrics_status_recent_and_reload(
    nursery: trio.Nursery, fake_dex: FakeDexScreener, sink: HttpSink, tmp_path: Path,
) -> None:
    mobula = FakeMobula(keys={"right-key"})
    await nursery.start(mobula.serve)
    fake_dex.snapshots[BOOSTS] = [snapshot(boost("OLD1", 1))]
    path = write_rules(tmp_path, rules_text(tmp_path, fake_dex.url, mobula.url, sink.url()))
    daemon = Daemon.create(loader.load(path, env={}), TrioClock())
    shutdown = trio.Event()
    with trio.fail_after(30):
        base = await nursery.start(serve, daemon, HttpConfig(listen="127.0.0.1:0"), shutdown)
        assert base.startswith("http://127.0.0.1:")
        assert (await fetch(f"{base}/-/healthy"))[0] == 200
        assert (await fetch(f"{base}/-/ready"))[0] == 503  # nothing has started
        await nursery.start(daemon.run, shutdown)
        await fake_dex.wait_connections(BOOSTS, 1)
        while (await fetch(f"{base}/-/ready"))[0] != 200:  # noqa: ASYNC110 - over HTTP
            await trio.sleep(0.05)
        _, before = await fetch(f"{base}/metrics")
        await fake_dex.push(BOOSTS, snapshot(boost("AAA1", 1), boost("OLD1", 1)))
        await sink.wait_for(1)
        while daemon.delivery.stats.sent < 1:  # noqa: ASYNC110 - its delivered mark
            await trio.sleep(0.02)
        _, after = await fetch(f"{base}/metrics")

        dex = {"source": "dexscreener", "connection": "dexscreener token-boosts/latest"}
        frames = "rulesd_source_frames_total"
        assert metric(after, frames, **dex) == metric(before, frames, **dex) + 1
        assert metric(before, "rulesd_notifier_sent_total", notifier="sink") == 0
        assert metric(after, "rulesd_notifier_sent_total", notifier="sink") == 1
        assert metric(after, "rulesd_rule_fires_total", rule="boosts") == 1
        assert metric(after, "rulesd_events_total", kind="boost") >= 1
        assert metric(after, "rulesd_source_up", **dex) == 1
        assert metric(after, "rulesd_alert_to_send_seconds_count") == 1
        assert metric(after, "rulesd_ready") == 1

        code, body = await fetch(f"{base}/api/v1/status")
        status: dict[str, Any] = orjson.loads(body)
        assert code == 200 and status["ready"] and status["rules"] == 1
        (mob,) = [s for s in status["sources"] if s["source"] == "mobula"]
        assert mob["state"] == "fatal", mob
        assert mob["reason"] == "Mobula refused the subscription: Invalid API key", mob
        assert b"wrong-key" not in body
        assert status["config"]["file"] == str(path) and len(status["config"]["sha256"]) == 16

        code, body = await fetch(f"{base}/api/v1/alerts/recent?limit=5")
        (recent,) = orjson.loads(body)
        assert recent["title"] == "Boost: AAA1 on solana" and recent["state"] == "delivered"

        path.write_text(path.read_text().replace("on: boost", "on: boots"))
        code, body = await fetch(f"{base}/-/reload", "POST")
        answer = orjson.loads(body)
        assert code == 422 and not answer["applied"]
        assert answer["problems"] == [f"{path}:10:9: unknown kind 'boots' (did you mean "
                                      "'boost'?)"], answer
        path.write_text(path.read_text().replace("on: boots", "on: boost")
                        .replace("name: boosts", "name: boosts-again"))
        code, body = await fetch(f"{base}/-/reload", "POST")
        assert (code, orjson.loads(body)) == (200, {"applied": True, "problems": [],
                                                    "needs_restart": []})
        _, text = await fetch(f"{base}/metrics")
        assert metric(text, "rulesd_reloads_total", result="applied") == 1
        assert metric(text, "rulesd_reloads_total", result="refused") == 1
        shutdown.set()


async def test_a_daemon_whose_every_source_is_down_is_not_ready_and_names_the_host(
    nursery: trio.Nursery, sink: HttpSink, tmp_path: Path, caplog: pytest.LogCaptureFixture,
) -> None:
    """Offline or firewalled: every connection failed once. The endpoint, the metric and
    the page say "not ready" (not "ready", as when each failed once counted), and the log
    names the host that could not be reached."""
    port = free_port()  # nothing listens there
    dex = f"ws://127.0.0.1:{port}"
    path = write_rules(tmp_path, rules_text(tmp_path, dex, dex, sink.url())
                       .replace("          mobula: {url: \"" + dex + "\", api_key: wrong-key}\n",
                                ""))
    daemon = Daemon.create(loader.load(path, env={}), TrioClock())
    shutdown = trio.Event()
    with trio.fail_after(30):
        base = await nursery.start(serve, daemon, HttpConfig(listen="127.0.0.1:0"), shutdown)
        await nursery.start(daemon.run, shutdown)
        code, body = await fetch(f"{base}/-/ready")
        _, metrics = await fetch(f"{base}/metrics")
        _, page = await fetch(f"{base}/")
        shutdown.set()
    assert (code, body) == (503, b"not ready: no source is connected (1 connection(s) down; "
                                 b"/api/v1/status says why)\n")
    assert metric(metrics, "rulesd_ready") == 0
    assert b"not ready: no source is connected" in page
    warnings = [r.getMessage() for r in caplog.records if r.levelname == "WARNING"]
    assert f"dexscreener token-boosts/latest: network error: cannot connect to 127.0.0.1:{port}:" \
        in warnings[0], warnings


async def call(app: WebApp, method: str, path: str,
               headers: list[tuple[bytes, bytes]] | None = None) -> int:
    sent: list[dict[str, Any]] = []

    async def receive() -> dict[str, Any]:
        return {"type": "http.request", "body": b"", "more_body": False}

    async def send(message: Any) -> None:
        sent.append(message)

    await app({"type": "http", "method": method, "path": path, "query_string": b"",
               "headers": headers or []}, receive, send)  # type: ignore[arg-type]
    return int(sent[0]["status"])


@pytest.mark.parametrize(("host", "token", "header", "status"), [
    ("127.0.0.1", None, None, 422),  # loopback: open
    ("0.0.0.0", None, None, 403),  # elsewhere without a token: closed
    ("0.0.0.0", "s3cret", None, 401),
    ("0.0.0.0", "s3cret", b"Bearer wrong", 401),
    ("0.0.0.0", "s3cret", b"Bearer s3cret", 422),
])
async def test_mutating_endpoints_need_the_token_off_loopback(
    host: str, token: str | None, header: bytes | None, status: int, tmp_path: Path,
) -> None:
    path = write_rules(tmp_path, "version: 1\nsources: {}\nnotifiers: {c: stdout}\n"
                                 "rules: [{name: r, on: boost, notify: [c]}]\n")
    daemon = Daemon.create(loader.load(path, env={}), TrioClock(), state_path=":memory:")
    path.write_text("version: 1\nrules: nope\n")  # a reload that gets through is refused
    app = WebApp(daemon, host, token)
    headers = [(b"authorization", header)] if header else []
    assert await call(app, "POST", "/-/reload", headers) == status
    assert await call(app, "GET", "/-/healthy") == 200  # reading needs no token


async def test_alerts_api_shows_what_is_firing_with_its_why_and_since(tmp_path: Path) -> None:
    from rulesd.events import Event, TokenRef

    path = write_rules(tmp_path, """\
        version: 1
        sources: {}
        notifiers: {c: stdout}
        rules:
          - {name: high, on: price, notify: [c], where: {price: {gt: 100}}}
        """)
    daemon = Daemon.create(loader.load(path, env={}), TrioClock(), state_path=":memory:")
    btc = TokenRef(key="cmc:1", symbol="BTC")
    daemon.engine.process(Event("price", "coinmarketcap", "s", btc, 10.0, 10.0,
                                {"price": 150.0}), 10.0)
    app = WebApp(daemon, "127.0.0.1", None)
    sent: list[dict[str, Any]] = []

    async def receive() -> dict[str, Any]:
        return {"type": "http.request", "body": b"", "more_body": False}

    async def send(message: Any) -> None:
        sent.append(message)

    await app({"type": "http", "method": "GET", "path": "/api/v1/alerts",
               "query_string": b"", "headers": []}, receive, send)  # type: ignore[arg-type]
    (firing,) = orjson.loads(sent[1]["body"])
    assert firing["rule"] == "high" and firing["since"] == 10.0
    assert firing["values"]["price"] == 150.0 and firing["values"]["symbol"] == "BTC"
    assert firing["last_send"] is None  # not committed to the outbox in this test
    daemon.engine.process(Event("price", "coinmarketcap", "s", btc, 20.0, 20.0,
                                {"price": 90.0}), 20.0)
    sent.clear()
    await app({"type": "http", "method": "GET", "path": "/api/v1/alerts",
               "query_string": b"", "headers": []}, receive, send)  # type: ignore[arg-type]
    assert orjson.loads(sent[1]["body"]) == []  # cleared
