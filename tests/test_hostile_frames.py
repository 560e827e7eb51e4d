"""Every registered source, fed anything: events or counted faults, never an exception;
and a bad item costs that item only, never its neighbours."""

from __future__ import annotations

import json
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from rulesd.sources import SOURCES
from rulesd.sources.coinmarketcap.config import CoinMarketCapConfig
from rulesd.sources.dexscreener.config import DexScreenerConfig
from rulesd.sources.health import SourceHealth
from rulesd.sources.mobula.config import MobulaConfig
from rulesd.sources.tokenmetrics.config import TokenMetricsConfig
from tests.fake_vendors import pulse_token
from tests.helpers import boost

CONFIGS: dict[str, Any] = {
    "dexscreener": DexScreenerConfig(),
    "coinmarketcap": CoinMarketCapConfig(api_key="k"),
    "tokenmetrics": TokenMetricsConfig(api_key="k", tokens=("bitcoin",)),
    "mobula": MobulaConfig(api_key="k"),
}
KEYS = ["type", "data", "channel", "params", "payload", "id", "cid", "p", "chainId",
        "tokenAddress", "totalAmount", "viewName", "token", "crypto_ids", "address",
        "platform_id", "price", "cg_id", "status", "ts", "epoch", "error", "x"]
LEAVES = st.one_of(st.none(), st.booleans(), st.integers(), st.floats(allow_nan=False),
                   st.text(max_size=8), st.sampled_from(["data", "init", "sync", "ack",
                                                         "update-token", "error",
                                                         "market@crypto_latest_price"]))
JSON = st.recursive(LEAVES, lambda inner: st.one_of(
    st.lists(inner, max_size=4), st.dictionaries(st.sampled_from(KEYS), inner, max_size=6)),
    max_leaves=20)


def test_every_source_is_covered() -> None:
    assert set(CONFIGS) == set(SOURCES)


@settings(max_examples=300, deadline=None)
@given(name=st.sampled_from(sorted(SOURCES)), messages=st.lists(JSON, max_size=5),
       binary=st.booleans())
def test_any_message_is_events_or_counted_faults(
        name: str, messages: list[Any], binary: bool) -> None:
    health = SourceHealth("t")
    stream = SOURCES[name].parser(CONFIGS[name]).stream("token-boosts/latest", health)
    stream.connected()
    for i, message in enumerate(messages):
        text = json.dumps(message)  # huge integers too, which orjson will not read
        events = stream.feed(text.encode() if binary else text, 1_778_663_880.0 + i)
        for event in events:
            assert isinstance(event.kind, str) and event.ts == event.ts
    assert health.frames == len(messages)


junk = st.one_of(JSON, st.dictionaries(st.sampled_from(KEYS), JSON, max_size=4))


@settings(max_examples=150, deadline=None)
@given(junk_items=st.lists(junk, min_size=1, max_size=5), at=st.integers(0, 3))
def test_a_bad_item_costs_itself_never_its_neighbours(junk_items: list[Any], at: int) -> None:
    good = [boost(f"Good{i}", 10 + i) for i in range(3)]
    dex = SOURCES["dexscreener"].parser(CONFIGS["dexscreener"]).stream(
        "token-boosts/latest", SourceHealth("t"))
    items = good[:at] + junk_items + good[at:]
    addresses = {e.token.address for e in dex.feed(json.dumps({"data": items}), 0.0)
                 if e.token is not None}
    assert {f"Good{i}" for i in range(3)} <= addresses

    mobula = SOURCES["mobula"].parser(CONFIGS["mobula"]).stream("pulse-v2", SourceHealth("m"))
    tokens = [pulse_token(f"Good{i}xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx") for i in range(3)]
    view = tokens[:at] + junk_items + tokens[at:]
    events = mobula.feed(json.dumps({"type": "init", "payload": {"new": {"data": view}}}), 0.0)
    entered = {e.token.address for e in events if e.token is not None}
    assert {t["token"]["address"] for t in tokens} <= entered
