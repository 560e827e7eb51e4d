"""Normalized events, token identity and the kinds a rule may listen to."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Final

import attrs

from rulesd.tokens import canonical_address, canonical_chain, token_key


@attrs.frozen
class TokenRef:
    """One token as vendors name it; `key` joins vendors."""

    key: str
    chain: str | None = None
    address: str | None = None
    symbol: str | None = None
    name: str | None = None
    cmc_id: int | None = None
    slug: str | None = None

    @classmethod
    def on_chain(cls, chain: str, address: str, **extra: Any) -> TokenRef:
        return cls(
            key=token_key(chain, address),
            chain=canonical_chain(chain),
            address=canonical_address(address),
            **extra,
        )

    def as_dict(self) -> dict[str, Any]:
        return {"key": self.key, "chain": self.chain, "address": self.address,
                "symbol": self.symbol, "name": self.name, "cmc_id": self.cmc_id,
                "slug": self.slug}


@attrs.frozen
class Occurrence:
    """What makes an occurrence "not seen before", decided against a seen-set.

    `scope` names the seen-set (one per source stream), `id` the item in it,
    `version` what must change for the item to count as new again (None: never;
    a number: when it grows; a string: when it differs). Items sharing a `batch`
    arrived in one snapshot: the first batch into an empty seen-set is a baseline.
    `members` is set on a full snapshot of a membership list (top boosts): ids
    absent from it have left the list and may enter it again.
    """

    scope: str
    id: str
    version: float | str | None = None
    batch: str | None = None
    members: frozenset[str] | None = None
    leave: bool = False  # the item left its list: forget it, so re-entry is news
    # A snapshot that held nothing: no item, but the stream's baseline (of nothing) is
    # taken, so what appears in it next is news.
    empty: bool = False


@attrs.frozen
class Event:
    """One normalized observation from a source (or from the daemon itself)."""

    kind: str
    source: str
    stream: str
    token: TokenRef | None
    ts: float
    received: float
    fields: Mapping[str, Any] = attrs.field(factory=dict)
    occurrence: Occurrence | None = None

    @property
    def key(self) -> str:
        """What cooldowns, counts and `absent` work on: the token, else the stream."""
        if self.token is not None:
            return self.token.key
        return f"{self.source}:{self.stream}"

    def context(self) -> dict[str, Any]:
        """The values rules and templates see: the token's symbol, name, chain and
        address, the fields (which win where they name the same), the metadata."""
        token = self.token
        ctx: dict[str, Any] = {} if token is None else {
            "symbol": token.symbol, "name": token.name, "chain": token.chain,
            "address": token.address}
        ctx.update(self.fields)
        ctx.update(
            kind=self.kind,
            source=self.source,
            stream=self.stream,
            ts=self.ts,
            token=self.token.as_dict() if self.token else None,
        )
        return ctx


SeriesKey = tuple[str, str, str]


def series_key(event: Event) -> SeriesKey:
    """The series an observation belongs to: token, source and venue (exchange).

    Ticks of one token from different exchanges are different series, so
    interleaved venues never look like a price move.
    """
    venue = event.fields.get("venue")
    return (event.key, event.source, venue if isinstance(venue, str) else "")


# Names every event offers besides its fields (see Event.context).
CONTEXT_FIELDS: Final = frozenset({"kind", "source", "stream", "ts", "token"})
TOKENREF_FIELDS: Final = frozenset(attrs.fields_dict(TokenRef))
