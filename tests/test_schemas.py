"""The kinds' typed schemas as users meet them: `check`, the README, the example rules."""

from __future__ import annotations

import json
import textwrap
from pathlib import Path

import pytest

from rulesd import loader
from rulesd.rules.engine import Engine
from rulesd.sources import KINDS
from rulesd.sources.coinmarketcap.parse import CmcParser, Naming
from rulesd.sources.docs import field_tables
from rulesd.sources.health import SourceHealth
from rulesd.state import StateStore
from rulesd.yaml_loader import ConfigError

ROOT = Path(__file__).parent.parent
REFERENCE = Path(__file__).parent / "data" / "coinmarketcap" / "reference"

RULES = """\
version: 1
sources:
  dexscreener: {}
  coinmarketcap:
    api_key: k
    subscriptions:
      - channel: market@crypto_latest_price
        params: {crypto_ids: [1]}
notifiers: {c: stdout}
defaults: {notify: [c]}
rules:
  - name: r
    on: ON
    where:
      WHERE
"""


def problems(on: str, where: str) -> list[str]:
    text = RULES.replace("ON", on).replace("WHERE", where)
    try:
        loader.loads(text, "rules.yaml", {})
    except ConfigError as exc:
        return [str(p) for p in exc.problems]
    return []


@pytest.mark.parametrize(("on", "where", "expected"), [
    ("price", "change_1h: {lt: -5}",
     "rules.yaml:15:7: unknown field 'change_1h' for this rule's kinds: this kind carries no "
     "1h change; rulesd computes one over any window: `change: {of: price, window: 1h"),
    ("top_boost", "amount: {gte: 100}",
     "rules.yaml:15:7: unknown field 'amount' for this rule's kinds (did you mean "
     "'total_amount'?)"),
    ("boost", "description: {gt: 3}",
     "rules.yaml:15:21: `gt` compares numbers, but `description` is a string, not a number"),
    ("takeover", "claim_date: {between: [1, 2]}",
     "rules.yaml:15:20: `between` compares numbers, but `claim_date` is a time, not a number"),
    ("price", "change: {of: symbol, window: 5m, pct: {gte: 2}}",
     "rules.yaml:15:20: `change` watches a number, but `symbol` is a string, not a number"),
    ("price", "crosses: {of: channel, above: 1}",
     "rules.yaml:15:21: `crosses` watches a number, but `channel` is a string, not a number"),
])
def test_check_rejects_fields_and_types_the_kinds_do_not_have(
        on: str, where: str, expected: str) -> None:
    found = problems(on, where)
    assert any(p.startswith(expected) for p in found), found


def test_fields_that_exist_and_are_numbers_pass() -> None:
    assert problems("price", "change_24h: {lt: -5}") == []
    assert problems("top_boost", "total_amount: {gte: 100}") == []
    assert problems("boost", "extra.cto: {exists: true}") == []


DESIGN_EXAMPLE = """\
version: 1
state: {path: ":memory:"}
sources:
  coinmarketcap:
    api_key: k
    subscriptions:
      - channel: market@crypto_latest_price
        params: {crypto_ids: [1, 1027]}
notifiers: {c: stdout}
defaults: {notify: [c]}
rules:
  - name: btc-5m-move
    on: price
    where:
      symbol: BTC
      change: {of: price, window: 5m, abs_pct: {gte: 2}}
"""


def test_the_design_example_passes_check_and_fires_on_cmc_pushes() -> None:
    """DESIGN §4's `where: {symbol: BTC, change: {...}}`, exactly as written."""
    loaded = loader.loads(DESIGN_EXAMPLE, "rules.yaml", {})
    engine = Engine(loaded.rules, StateStore())
    stream = CmcParser(Naming()).stream("coinmarketcap #1", SourceHealth("t"))
    push = json.loads((REFERENCE / "market_crypto_latest_price.json").read_text())
    alerts = []
    for t, price, cid in ((0, 80_000.0, 1), (60, 3_000.0, 1027), (300, 81_700.0, 1),
                          (301, 3_200.0, 1027)):
        push["ts"] = 1_778_663_880_000 + t * 1000
        push["data"] = {**push["data"], "cid": cid, "p": price}
        push["params"] = {"crypto_ids": cid}
        for event in stream.feed(json.dumps(push), 1_778_663_880.0 + t):
            alerts += engine.process(event, 1_778_663_880.0 + t)
    assert [(a.rule, a.key) for a in alerts] == [("btc-5m-move", "cmc:1")]  # ETH is not BTC
    assert alerts[0].values["why"]["change"]["pct"] == pytest.approx(2.125)


def test_a_platform_id_no_table_names_is_a_warning() -> None:
    text = DESIGN_EXAMPLE.replace(
        "params: {crypto_ids: [1, 1027]}",
        "params: {crypto_ids: [1, 1027]}\n      - channel: onchain@token_agg_event\n"
        "        params: {platform_id: 1, address: [x]}")
    (warning,) = loader.loads(text, "rules.yaml", {}).warnings
    assert str(warning).startswith("rules.yaml:10:31: warning: platform_id 1 has no chain "
                                   "name, so its tokens get keys like cmc-platform-1:")
    named = text.replace("    api_key: k", '    api_key: k\n    platforms: {"1": ethereum}')
    assert loader.loads(named, "rules.yaml", {}).warnings == ()


def test_the_readme_field_tables_are_the_schemas() -> None:
    readme = (ROOT / "README.md").read_text()
    assert field_tables() in readme, "run: python -m rulesd.sources.docs --write README.md"


def test_every_headline_field_is_a_field_of_its_kind() -> None:
    for kind in KINDS.values():
        assert set(kind.headline) <= set(kind.all_fields()), kind.name


def test_default_messages_format_numbers_by_their_type() -> None:
    """A price from the reference, through the default message: a number, by its type."""
    from rulesd.delivery.templates import render

    loaded = loader.loads(textwrap.dedent(DESIGN_EXAMPLE).replace(
        "      symbol: BTC\n      change: {of: price, window: 5m, abs_pct: {gte: 2}}\n",
        "      symbol: BTC\n"), "rules.yaml", {})
    engine = Engine(loaded.rules, StateStore())
    stream = CmcParser(Naming()).stream("coinmarketcap #1", SourceHealth("t"))
    (event,) = stream.feed((REFERENCE / "market_crypto_latest_price.json").read_text(), 0.0)
    (alert,) = engine.process(event, 0.0)
    body = render(alert, "text").body
    assert "price: 81,187.933 USD" in body and "change_24h: 0.53434744 %" in body


def test_a_price_stamped_years_ahead_never_silences_change_rules() -> None:
    """One CoinMarketCap push dated ten years ahead once made every later push of the
    coin look out of order: `change` went silent until a restart."""
    loaded = loader.loads(DESIGN_EXAMPLE, "rules.yaml", {})
    engine = Engine(loaded.rules, StateStore())
    health = SourceHealth("t")
    stream = CmcParser(Naming()).stream("coinmarketcap #1", health)
    push = json.loads((REFERENCE / "market_crypto_latest_price.json").read_text())
    alerts = []
    now = 1_778_663_880.0
    for ts_ms, t, price in ((1_778_663_880_000 + 10 * 365 * 86_400_000, 0, 80_000.0),
                            (1_778_663_881_000, 1, 80_000.0),
                            (1_778_664_181_000, 301, 82_000.0)):
        push["ts"] = ts_ms
        push["data"] = {**push["data"], "cid": 1, "p": price}
        for event in stream.feed(json.dumps(push), now + t):
            alerts += engine.process(event, now + t)
    assert [a.rule for a in alerts] == ["btc-5m-move"]
    assert health.faults["time_ahead"] == 1
