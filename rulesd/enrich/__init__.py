"""Lookups that add fields to events, and watches that poll what was announced.

`budget` paces every request to one host; `client` asks DEX Screener's REST API
through it (httpx on trio) and records each answer into captures; `lookup`
batches and caches per token; `stage` holds back only the events whose rules
need the answer, for a bounded time; `watch` polls the tokens rules asked to
follow and turns each answer into a `price` event. The vendor's answer shapes
are parsed by the vendor's package (`rulesd.sources.dexscreener.market`).
"""
