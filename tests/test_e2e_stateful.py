"""Each stateful condition end to end: fake vendors → daemon → Apprise json:// → sink."""

from __future__ import annotations

from pathlib import Path

import trio

from rulesd import loader as config
from rulesd.clock import TrioClock
from rulesd.daemon import Daemon
from tests.fake_vendors import FakeCoinMarketCap
from tests.fakes import FakeDexScreener, HttpSink
from tests.helpers import BOOSTS, boost, snapshot

CLAIMS = "/community-takeovers/latest/v1"
SOL = "7GCihgDB8fe6KNjn2MYtkzZcRjQy3t9GHdC8uHYmW2hr"

RULES = """\
version: 1
state: {state}
sources:
  dexscreener:
    url: {dex}
    streams: [token-boosts/latest, community-takeovers/latest]
  coinmarketcap:
    api_key: good-key
    url: {cmc}
    subscriptions:
      - {{channel: market@crypto_latest_price, params: {{crypto_ids: [1]}}}}
      - {{channel: onchain@token_agg_event, params: {{platform_id: 16, address: [{sol}]}}}}
notifiers: {{sink: {sink}}}
defaults: {{notify: [sink]}}
rules:
  - name: btc-move
    on: price
    where: {{token.symbol: BTC, change: {{of: price, window: 5m, pct: {{gte: 2}}}}}}
    message: "{{{{ rule }}}}: {{{{ why_text }}}}"
  - name: btc-crosses
    on: price
    where: {{crosses: {{of: price, above: 101}}}}
    message: "{{{{ rule }}}}: {{{{ why_text }}}}"
  - name: boosted-twice
    on: boost
    where: {{count: {{window: 1h, gte: 2}}}}
    message: "{{{{ rule }}}}: {{{{ why_text }}}}"
  - name: boosted-and-priced
    on: price
    where: {{chain: solana, seen: {{kind: boost, within: 1h}}}}
    message: "{{{{ rule }}}}: {{{{ why_text }}}}"
  - name: fresh-claim
    on: takeover
    where: {{first_seen: {{within: 1h}}}}
    message: "{{{{ rule }}}}: {{{{ why_text }}}}"
  - name: btc-silent
    on: price
    where: {{token.symbol: BTC, absent: {{window: 2s}}}}
    message: "{{{{ rule }}}}: {{{{ why_text }}}}"
"""


def claim(address: str) -> dict[str, object]:
    return {"url": f"https://dexscreener.com/solana/{address}", "chainId": "solana",
            "tokenAddress": address, "claimDate": "2026-11-21T10:00:00Z"}


async def test_every_stateful_condition_fires_end_to_end(
    nursery: trio.Nursery, fake_dex: FakeDexScreener, sink: HttpSink, tmp_path: Path,
    state_spec: str,
) -> None:
    cmc = FakeCoinMarketCap()
    await nursery.start(cmc.serve)
    fake_dex.snapshots[BOOSTS] = [snapshot(boost("OLD1", 5))]
    fake_dex.snapshots[CLAIMS] = [snapshot(claim("OLDCLAIM"))]
    rules = tmp_path / "rules.yaml"
    rules.write_text(RULES.format(state=state_spec, dex=fake_dex.url, cmc=cmc.url,
                                  sol=SOL, sink=sink.url()))
    daemon = Daemon.create(config.load(rules, env={}), TrioClock())
    shutdown = trio.Event()
    with trio.fail_after(20):
        await nursery.start(daemon.run, shutdown)
        await cmc.wait(lambda: len(cmc.live()) == 1 and len(cmc.live()[0].units) == 2)
        # change and crosses: BTC 100 → 103 within five minutes (vendor times).
        btc = ("market@crypto_latest_price", {"crypto_ids": 1})
        await cmc.push(*btc, {"cid": 1, "p": 100.0}, ts=1_000_000)
        await cmc.push(*btc, {"cid": 1, "p": 103.0}, ts=1_060_000)
        # count: the same token boosted twice; seen: then priced on-chain.
        await fake_dex.push(BOOSTS, snapshot(boost(SOL, 10), boost("OLD1", 5)))
        await fake_dex.push(BOOSTS, snapshot(boost(SOL, 20), boost("OLD1", 5)))
        await sink.wait_for(3)
        await cmc.push("onchain@token_agg_event", {"platform_id": 16, "address": SOL},
                       {"p": 0.5, "pid": 16, "a": SOL})
        # first_seen: a claim for a token never seen before.
        await fake_dex.push(CLAIMS, snapshot(claim("NEWCLAIM"), claim("OLDCLAIM")))
        # absent: BTC says nothing more; within a tick or two past 2 s it is silent.
        messages = await sink.wait_for(6)
        shutdown.set()
    by_rule = {str(m["message"]).split(":", 1)[0]: str(m["message"]) for m in messages}
    assert sorted(by_rule) == sorted(["btc-move", "btc-crosses", "boosted-twice",
                                      "boosted-and-priced", "fresh-claim", "btc-silent"])
    assert by_rule["btc-move"] == "btc-move: price +3.00% in 5m: 100 → 103"
    assert by_rule["btc-crosses"] == "btc-crosses: price crossed above 101: 100 → 103"
    assert by_rule["boosted-twice"] == "boosted-twice: 2 boost events in 1h"
    assert by_rule["boosted-and-priced"].startswith("boosted-and-priced: boost seen ")
    assert by_rule["fresh-claim"].startswith("fresh-claim: first seen ")
    assert by_rule["btc-silent"].startswith("btc-silent: nothing for 2s (last ")
