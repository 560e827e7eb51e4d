"""Silences, as Alertmanager users know them: matchers on rule, token, chain and
source, and an end time. A silenced alert is recorded, not sent, and starts no
cooldown; when a silence ends nothing it held is sent after the fact.

Pure data: the engine asks `match(rule, key, values, now)`; the daemon keeps them
in the state database and changes them through the API or the CLI.
"""

from __future__ import annotations

import secrets
from collections.abc import Iterable, Mapping
from typing import Any

import attrs


@attrs.frozen
class Silence:
    id: str
    rule: str
    starts: float
    ends: float
    token: str | None = None  # a token key (`solana:ABC…`) or a symbol (`BTC`, any case)
    chain: str | None = None
    source: str | None = None
    comment: str = ""

    def active(self, now: float) -> bool:
        return self.starts <= now < self.ends

    def matches(self, key: str, values: Mapping[str, Any], now: float) -> bool:
        if not self.active(now):
            return False
        if self.token is not None and self.token != key:
            symbol = values.get("symbol")
            if not isinstance(symbol, str) or symbol.casefold() != self.token.casefold():
                return False
        if self.chain is not None and values.get("chain") != self.chain:
            return False
        return self.source is None or values.get("source") == self.source

    def describe(self) -> str:
        matchers = [f"rule={self.rule}"] + [
            f"{name}={value}" for name, value in
            (("token", self.token), ("chain", self.chain), ("source", self.source))
            if value is not None]
        return " ".join(matchers)


def new_id() -> str:
    return secrets.token_hex(4)


class Silences:
    """Every silence, indexed by rule: an alert looks only at its rule's silences."""

    def __init__(self, silences: Iterable[Silence] = ()) -> None:
        self._all: dict[str, Silence] = {}
        self._by_rule: dict[str, list[Silence]] = {}
        self.replace(silences)

    def add(self, silence: Silence) -> None:
        self._all[silence.id] = silence
        self._by_rule.setdefault(silence.rule, []).append(silence)

    def replace(self, silences: Iterable[Silence]) -> None:
        """Hold exactly these (read again from a shared database)."""
        self._all, self._by_rule = {}, {}
        for silence in silences:
            self.add(silence)

    def expire(self, silence_id: str, now: float) -> Silence | None:
        """End a silence now; the ended silence, or None when there is no such one."""
        old = self._all.get(silence_id)
        if old is None:
            return None
        ended = attrs.evolve(old, ends=min(old.ends, now))
        self._all[silence_id] = ended
        self._by_rule[old.rule] = [ended if s.id == silence_id else s
                                   for s in self._by_rule[old.rule]]
        return ended

    def all(self) -> list[Silence]:
        return sorted(self._all.values(), key=lambda s: (s.starts, s.id))

    def match(self, rule: str, key: str, values: Mapping[str, Any], now: float
              ) -> Silence | None:
        for silence in self._by_rule.get(rule, ()):
            if silence.matches(key, values, now):
                return silence
        return None
