"""Silences, as Alertmanager users know them: matchers on rule, token, chain and
source, and an end time. A silenced alert is recorded, not sent, and starts no
cooldown; when a silence ends nothing it held is sent after the fact.

Pure data: the engine asks `match(rule, key, values, now)`; the daemon keeps them
in the state database and changes them through the API or the CLI. What a person
may ask for is decided once, here (`new`), for the API, the page and the CLI alike;
so is how a silence is shown (`view`) and how one ends (`ended`).
"""

from __future__ import annotations

import secrets
from collections.abc import Collection, Iterable, Mapping
from typing import Any, Final

import attrs

from rulesd.durations import parse_duration
from rulesd.inert import inert
from rulesd.suggest import did_you_mean

# A comment is for whoever reads the list: longer is cut.
MAX_COMMENT: Final = 500


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


def new(rules: Collection[str], fields: Mapping[str, Any], now: float) -> Silence:
    """A silence from what a person asked for (the API's JSON, the page's form, the
    CLI's options): `rule`, `token`, `chain`, `source`, `for` (a duration) or `ends`
    (epoch seconds), `comment`. ValueError saying what is wrong."""
    rule = str(fields.get("rule") or "").strip()
    if rule not in rules:
        raise ValueError(f"no rule named {rule!r}{did_you_mean(rule, rules)}")
    if fields.get("ends") not in (None, ""):
        try:
            ends = float(fields["ends"])
        except (TypeError, ValueError):
            raise ValueError(f"`ends` is a time in epoch seconds, got {fields['ends']!r}") \
                from None
    else:
        asked = fields.get("for")  # a duration's text, or seconds (0 is a duration too)
        ends = now + parse_duration("" if asked is None else asked)
    if not ends > now:
        raise ValueError("a silence must end in the future")

    def matcher(name: str) -> str | None:
        value = fields.get(name)
        return str(value).strip() or None if value not in (None, "") else None

    return Silence(new_id(), rule, now, ends, matcher("token"), matcher("chain"),
                   matcher("source"), inert(str(fields.get("comment") or ""))[:MAX_COMMENT])


def ended(silence: Silence, now: float) -> Silence:
    """The silence ended at `now` (an ended one stays as it was)."""
    return attrs.evolve(silence, ends=min(silence.ends, now))


def state_of(silence: Silence, now: float) -> str:
    return "active" if silence.active(now) else "expired" if silence.ends <= now \
        else "pending"


def view(silence: Silence, now: float) -> dict[str, Any]:
    """A silence as the API, the page and the CLI show it."""
    return {"id": silence.id, "rule": silence.rule, "token": silence.token,
            "chain": silence.chain, "source": silence.source, "starts": silence.starts,
            "ends": silence.ends, "comment": silence.comment,
            "state": state_of(silence, now), "matchers": silence.describe()}


class Silences:
    """Every silence, indexed by rule: an alert looks only at its rule's silences."""

    def __init__(self, silences: Iterable[Silence] = ()) -> None:
        self._all: dict[str, Silence] = {}
        self._by_rule: dict[str, list[Silence]] = {}
        self.replace(silences)

    def add(self, silence: Silence) -> None:
        """Hold `silence`, in place of the one with its id if there is one."""
        old = self._all.get(silence.id)
        self._all[silence.id] = silence
        if old is not None:
            self._by_rule[old.rule] = [s for s in self._by_rule[old.rule]
                                       if s.id != silence.id]
        self._by_rule.setdefault(silence.rule, []).append(silence)

    def replace(self, silences: Iterable[Silence]) -> None:
        """Hold exactly these (read again from a shared database)."""
        self._all, self._by_rule = {}, {}
        for silence in silences:
            self.add(silence)

    def get(self, silence_id: str) -> Silence | None:
        return self._all.get(silence_id)

    def all(self) -> list[Silence]:
        return sorted(self._all.values(), key=lambda s: (s.starts, s.id))

    def match(self, rule: str, key: str, values: Mapping[str, Any], now: float
              ) -> Silence | None:
        for silence in self._by_rule.get(rule, ()):
            if silence.matches(key, values, now):
                return silence
        return None
