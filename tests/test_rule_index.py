"""The indexed rule set gives exactly the alerts of evaluating every rule, and an event
meets only the rules that can match it."""

from __future__ import annotations

from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from rulesd import loader
from rulesd.events import Event, TokenRef
from rulesd.rules.engine import Engine
from rulesd.rules.index import RuleIndex
from rulesd.state import StateStore

SYMBOLS = ["BTC", "ETH", "SOL", "DOGE"]
CHAINS = ["solana", "base", "bsc"]

condition = st.one_of(
    st.builds(lambda s: f"symbol: {s}", st.sampled_from(SYMBOLS)),
    st.builds(lambda c: f"chain: {{in: [{', '.join(c)}]}}",
              st.lists(st.sampled_from(CHAINS), min_size=1, max_size=2, unique=True)),
    st.builds(lambda i: f"token.cmc_id: {i}", st.integers(1, 4)),
    st.builds(lambda v: f"price: {{gte: {v}}}", st.integers(0, 200)),
    st.builds(lambda v: f"change: {{of: price, window: 1m, pct: {{gte: {v}}}}}",
              st.integers(-50, 50)),
    st.builds(lambda c, v: f"any: [{{chain: {c}}}, {{price: {{lt: {v}}}}}]",
              st.sampled_from(CHAINS), st.integers(0, 200)),
)
rule = st.tuples(st.sampled_from(["price", "trade", "[price, trade]"]),
                 st.lists(condition, max_size=3, unique_by=lambda c: c.split(":")[0]))


def rules_file(rules: list[tuple[str, list[str]]]) -> str:
    lines = ["version: 1", "sources: {}", "notifiers: {c: stdout}",
             "defaults: {notify: [c]}", "rules:"]
    for i, (on, where) in enumerate(rules):
        lines.append(f"  - name: r{i}\n    on: {on}")
        if where:
            lines.append("    where:\n" + "\n".join(f"      {c}" for c in where))
    return "\n".join(lines) + "\n"


event = st.builds(
    lambda kind, cid, chain, price, t: Event(
        kind, "test", "s", TokenRef(key=f"{chain}:{cid}", chain=chain, address=str(cid),
                                    symbol=SYMBOLS[cid - 1], cmc_id=cid),
        float(t), float(t), {"price": float(price)}),
    st.sampled_from(["price", "trade"]), st.integers(1, 4), st.sampled_from(CHAINS),
    st.integers(0, 200), st.integers(0, 300))


@settings(max_examples=150, deadline=None)
@given(rules=st.lists(rule, min_size=1, max_size=12), events=st.lists(event, max_size=25))
def test_the_index_gives_exactly_the_alerts_of_a_full_scan(
        rules: list[Any], events: list[Event]) -> None:
    loaded = loader.loads(rules_file(rules), "r.yaml", {})
    indexed = Engine(loaded.rules, StateStore())
    scanned = Engine(loaded.rules, StateStore(), indexed=False)
    for e in sorted(events, key=lambda e: e.ts):
        fired = [(x.rule, x.key, x.id) for x in indexed.process(e, e.ts)]
        assert fired == [(x.rule, x.key, x.id) for x in scanned.process(e, e.ts)]


def test_an_event_meets_only_the_rules_that_can_match_it() -> None:
    text = rules_file([("price", [f"token.cmc_id: {i}", "price: {gte: 1}"])
                       for i in range(1, 1001)] + [("price", ["chain: solana"])])
    index = RuleIndex(loader.loads(text, "r.yaml", {}).rules)
    values = {"token": {"cmc_id": 7}, "chain": "solana", "price": 2.0}
    assert [r.name for r in index.candidates("price", values)] == ["r6", "r1000"]
    assert list(index.candidates("price", {"token": {"cmc_id": 5000}})) == []
    assert list(index.candidates("trade", values)) == []
