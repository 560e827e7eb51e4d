"""DEX Screener's streams, the kind each announces, and their typed fields.

Each stream maps the vendor's item keys (camelCase) to our field names. Keys an
item carries beyond these (real items carry `openGraph`, `cto`, ...) are kept
under `extra`.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Final

from rulesd.schema import EXTRA, Field, Kind, listing, number, string, time
from rulesd.sources.dexscreener.market import MARKET_FIELDS, VALUES

_URL: Final = string("the token's page on dexscreener.com")
_ICON: Final = string("the token's icon: an image URL, or a bare image id that some items "
                      "carry instead (an id is not a link)")
_HEADER: Final = string("the header image URL")
_DESCRIPTION: Final = string("the token's description, as its owner wrote it")
_LINKS: Final = listing("the token's links: objects with `type`, `label` and `url`")
_PROFILE: Final[Mapping[str, tuple[str, Field]]] = {
    "url": ("url", _URL), "icon": ("icon", _ICON), "header": ("header", _HEADER),
    "description": ("description", _DESCRIPTION), "links": ("links", _LINKS),
}
_TOTAL: Final = number("the token's total active boosts")

# Per stream: vendor key → (field, schema). chainId and tokenAddress make the token.
ITEM_FIELDS: Final[dict[str, Mapping[str, tuple[str, Field]]]] = {
    "token-boosts/latest": {
        **_PROFILE, "amount": ("amount", number("boosts bought in this order")),
        "totalAmount": ("total_amount", _TOTAL),
    },
    # The top list's items carry the total only, never `amount`.
    "token-boosts/top": {**_PROFILE, "totalAmount": ("total_amount", _TOTAL)},
    "community-takeovers/latest": {
        **_PROFILE,
        "claimDate": ("claim_date", time("when the community claimed the token (ISO 8601)")),
    },
    "token-profiles/latest": _PROFILE,
    "token-profiles/recent-updates": _PROFILE,
    "ads/latest": {
        "url": ("url", _URL),
        "date": ("date", time("when the ad starts (ISO 8601)")),
        "type": ("type", string("the ad's type, as DEX Screener names it")),
        "durationHours": ("duration_hours", number("how long the ad runs", "hours")),
        "impressions": ("impressions", number("impressions bought")),
    },
}



def _kind(stream: str, name: str, meaning: str, label: str, sentence: str) -> Kind:
    fields = {field: schema for field, schema in ITEM_FIELDS[stream].values()}
    return Kind(name, f"{meaning} [DEX Screener {stream}]",
                {**fields, "extra": EXTRA, **MARKET_FIELDS},
                occurrence=True, label=label, sentence=sentence)


STREAMS: Final[dict[str, Kind]] = {
    "token-boosts/latest": _kind(
        "token-boosts/latest", "boost",
        "a boost not seen before (a new token, or its total grew)", "Boost",
        "+{{ amount | number }} boost (total {{ total_amount | number }})"),
    "token-boosts/top": _kind(
        "token-boosts/top", "top_boost", "a token entering the top-boosts list", "Top boosts",
        "entered the top boosts (total {{ total_amount | number }})"),
    "community-takeovers/latest": _kind(
        "community-takeovers/latest", "takeover", "a community takeover claim not seen before",
        "Community takeover", "community takeover claimed {{ claim_date }}"),
    "token-profiles/latest": _kind(
        "token-profiles/latest", "profile", "a new token profile", "New profile",
        "{{ description or 'new token profile' }}"),
    "token-profiles/recent-updates": _kind(
        "token-profiles/recent-updates", "profile_update", "an updated token profile",
        "Profile update", "{{ description or 'token profile updated' }}"),
    "ads/latest": _kind("ads/latest", "ad", "a new ad", "Ad", "{{ type }} ad from {{ date }}"),
}
# What a watched token's poll says (rulesd asks DEX Screener's REST API; `watch:`).
WATCH_FIELDS: Final[dict[str, Field]] = {
    "watch.rule": string("the rule whose alert started the watch"),
    "watch.since": time("when that alert fired", "epoch seconds"),
    "watch.price": number("the price when that alert fired (the first poll's, where the "
                          "alert carried none)", "USD"),
    "watch.change": number("the price change since that alert", "%"),
}
WATCHED: Final = Kind(
    "price", "a watched token's market, polled after a rule with `watch` fired for it "
    "[DEX Screener REST]", {**VALUES, **WATCH_FIELDS}, occurrence=False)
KINDS: Final = (*STREAMS.values(), WATCHED)
