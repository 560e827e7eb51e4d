"""Rendering: vendor text stays data, defaults name the token, errors never drop alerts."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from rulesd.delivery.escaping import neutralize
from rulesd.delivery.templates import RuleTemplates, template_problems

VALUES: dict[str, Any] = {
    "rule": "solana-boost",
    "kind": "boost",
    "source": "dexscreener",
    "stream": "token-boosts/latest",
    "chain": "solana",
    "amount": 100,
    "total_amount": 500,
    "url": "https://dexscreener.com/solana/AbCd",
    "description": "@everyone [free money](https://evil.example) <@&1234> <!channel>",
    "token": {"key": "solana:AbCd", "chain": "solana", "address": "AbCd", "symbol": None},
}


def test_default_message_names_token_chain_kind_and_link() -> None:
    rendered = RuleTemplates(None, None).render("boost", VALUES, "text")
    assert rendered.title == "Boost: AbCd on solana"
    assert "+100 boost (total 500)" in rendered.body
    assert "https://dexscreener.com/solana/AbCd" in rendered.body


def test_default_title_prefers_the_symbol() -> None:
    values = {**VALUES, "token": {**VALUES["token"], "symbol": "BONK"}}
    assert RuleTemplates(None, None).render("boost", values, "text").title == \
        "Boost: BONK on solana"


@pytest.mark.parametrize("fmt", ["text", "markdown"])
def test_vendor_text_cannot_mention_or_link(fmt: Any) -> None:
    rendered = RuleTemplates("{{ description }}", "x {{ description }} y").render(
        "boost", VALUES, fmt)
    for text in (rendered.title, rendered.body):
        for live in ("@everyone", "](", "<@&", "<!channel"):
            assert live not in text
        assert "free money" in text


def test_markdown_targets_escape_formatting() -> None:
    values = {**VALUES, "description": "*bold* _it_ `code`"}
    rendered = RuleTemplates(None, "{{ description }}").render("boost", values, "markdown")
    assert rendered.body == r"\*bold\* \_it\_ \`code\`"


def test_the_users_own_markup_is_kept() -> None:
    rendered = RuleTemplates(None, "**{{ amount }}** <@&42>").render("boost", VALUES, "markdown")
    assert rendered.body == "**100** <@&42>"


def test_runtime_template_error_sends_the_default_message() -> None:
    rendered = RuleTemplates(None, "{{ amount / 0 }}").render("boost", VALUES, "text")
    assert "+100 boost" in rendered.body
    assert "template error" in rendered.body


def test_static_template_problems() -> None:
    assert template_problems("{{ amount }}", ["amount"]) == []
    assert template_problems("{{ amout }}", ["amount"]) == [
        "template uses unknown variable 'amout'"]
    assert "syntax error" in template_problems("{% if %}", [])[0]


def test_the_sandbox_refuses_python_internals() -> None:
    rendered = RuleTemplates(None, "{{ rule.__class__.__mro__ }}").render(
        "boost", VALUES, "text")
    assert "template error" in rendered.body or "object" not in rendered.body


@given(st.text())
def test_neutralized_text_never_holds_a_live_mention_or_link(text: str) -> None:
    for fmt in ("text", "markdown"):
        out = neutralize(text, fmt)  # type: ignore[arg-type]
        lowered = out.lower()
        assert "@everyone" not in lowered and "@here" not in lowered
        assert "](" not in out and "<@" not in out and "<!" not in out and "<#" not in out


@pytest.mark.parametrize("fmt", ["text", "markdown"])
def test_vendor_controls_never_reach_a_message(fmt: str) -> None:
    """Newlines and ANSI escapes let a vendor forge a line or drive a console."""
    forged = "gm\x1b[31m red\n── [console] Boost: FAKE on solana\r\u202eevil\x00"
    rendered = RuleTemplates("{{ description }}", "{{ description }}").render(
        "boost", {**VALUES, "description": forged}, fmt)
    for text in (rendered.title, rendered.body):
        assert not any(c in text for c in "\x1b\n\r\u202e\x00"), repr(text)
        assert "\\x1b" in text  # made visible, not silently eaten


def test_a_log_line_is_one_line_whatever_a_vendor_sent() -> None:
    import logging

    from rulesd.logs import RedactingFormatter

    record = logging.LogRecord("rulesd.sources", logging.WARNING, "x", 1,
                               "%s: %s", ("mobula", "bad\n2026-11-22 INFO rulesd: forged\x1b[2J"),
                               None)
    line = RedactingFormatter(()).format(record)
    assert "\n" not in line and "\x1b" not in line and line.endswith("forged\\x1b[2J")


def test_a_secret_a_vendor_echoes_never_reaches_the_channel() -> None:
    from rulesd import loader
    from rulesd.clock import TrioClock
    from rulesd.delivery.service import DeliveryService
    from rulesd.rules.alert import Alert
    from rulesd.state.db import StateDB

    text = ("version: 1\nsources: {coinmarketcap: {api_key: \"${KEY}\"}}\nnotifiers: {c: stdout}\n"
            "defaults: {notify: [c]}\nrules:\n  - {name: down, on: source_down}\n")
    loaded = loader.loads(text, "r.yaml", {"KEY": "sekrit-cmc-key-123"})
    service = DeliveryService.create(loaded.config, loaded.rules, StateDB(":memory:"),
                                     {"c": _Console()}, TrioClock.__new__(TrioClock),
                                     loaded.secrets)
    reason = "CoinMarketCap error 1001: API key sekrit-cmc-key-123 is invalid"
    alert = Alert("id", "down", "source_down", "coinmarketcap:#1", 0.0, ("c",),
                  {"reason": reason, "rule": "down", "kind": "source_down", "token": None,
                   "source": "coinmarketcap", "stream": "#1"})
    (delivery,) = service.deliveries([alert])
    assert "sekrit" not in delivery.title + delivery.body and "***" in delivery.body


class _Console:
    name, format = "c", "text"

    def describe(self) -> str:
        return "console"

    async def send(self, message: Any) -> None:
        raise AssertionError("not sent here")
