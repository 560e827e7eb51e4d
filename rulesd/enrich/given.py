"""The lookups' answers a rule test gives (`rulesd test`), answered in no time.

A case gives them as captures hold them — frames of DEX Screener's
`tokens/v1/<chain>/<addresses>`, of GoPlus and of RugCheck — or as an event's own
`market` / `security` field. An event some rule waits on is evaluated for those
rules at once, with what is known of its token (every other value unknown). Pure.
"""

from __future__ import annotations

import urllib.parse
from collections import defaultdict
from typing import Any

import attrs
import orjson

from rulesd import security
from rulesd.capture import Frame
from rulesd.enrich.recorded import is_answer
from rulesd.events import Event
from rulesd.sources.dexscreener import market
from rulesd.tokens import canonical_address

_CHAINS = {number: name for name, number in security.GOPLUS_CHAINS.items()}
Token = tuple[str | None, str | None]


class GivenAnswers:
    def __init__(self) -> None:
        self.markets: dict[Token, dict[str, Any]] = {}
        self.safety: dict[Token, dict[str, Any]] = defaultdict(dict)  # token → service → values

    def take(self, frame: Frame) -> bool:
        """Remember a REST answer frame; False: the frame is a stream's."""
        if not is_answer(frame.source, frame.stream):
            return False
        try:
            data = orjson.loads(frame.data or b"")
        except orjson.JSONDecodeError:
            return True
        if frame.source == "dexscreener":
            chain, _, addresses = frame.stream.removeprefix("tokens/v1/").partition("/")
            asked = addresses.split(",")
            found = market.markets(data, asked)
            for address in asked:  # absent from its own answer: no pair (a case is exact)
                key = canonical_address(address)
                self.markets[(chain, key)] = found.get(key, market.values(None, 0))
        elif frame.source == "goplus":
            url = urllib.parse.urlsplit(frame.stream)
            listed = urllib.parse.parse_qs(url.query).get("contract_addresses", [""])[0]
            solana = "/solana/" in url.path
            on = security.SOLANA if solana else _CHAINS.get(url.path.rsplit("/", 1)[-1])
            try:
                found = security.goplus_results(data, listed.split(","), solana)
            except ValueError:
                return True
            for address, values in found.items():
                self.safety[(on, canonical_address(address))]["goplus"] = values
        else:  # rugcheck: v1/tokens/<mint>/report
            mint = frame.stream.strip("/").split("/")[2]
            self.safety[(security.SOLANA, mint)]["rugcheck"] = security.rugcheck(data)
        return True

    def looked_up(self, event: Event, now: float) -> Event:
        token = event.token
        key: Token = (token.chain, token.address) if token else (None, None)
        fields = dict(event.fields)
        given = fields.get("market")
        fields["market"] = market.aged(
            {**market.UNKNOWN, **(given if isinstance(given, dict) else
                                  self.markets.get(key, {}))}, now)
        given = fields.get("security")
        fields["security"] = {**security.UNKNOWN, **given} if isinstance(given, dict) \
            else security.combine(self.safety.get(key, {}))
        return attrs.evolve(event, fields=fields)
