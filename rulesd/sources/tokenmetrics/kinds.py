"""Token Metrics' price ticks: vendor keys → typed fields of the `price` kind."""

from __future__ import annotations

from typing import Final

from rulesd.schema import EXTRA, Field, Kind, boolean, number, string

Keys = dict[str, tuple[str, Field]]

TICK: Final[Keys] = {
    "volume": ("volume", number("the exchange's trading volume", "USD")),
    "exchange": ("exchange", string("the exchange the tick is from")),
    "exchange_rank": ("exchange_rank", number("the exchange's rank")),
    "exchange_type": ("exchange_type", string("cex or dex")),
    "instrument": ("instrument", string("the exchange's instrument")),
    "amount": ("amount", number("the traded amount, where the tick is a trade")),
    "amount_in_usd": ("amount_in_usd", number("the traded amount", "USD")),
    "side_amount": ("side_amount", number("the amount on the other side")),
    "transaction_type": ("transaction_type", string("the trade's type, where given")),
    "isBid": ("is_bid", boolean("whether the tick is a bid")),
    "sequence": ("sequence", number("the exchange's sequence number")),
    "token_id": ("token_id", number("Token Metrics' id of the token")),
    "price_against_side_currency": ("price_in_side_currency",
                                    number("the price in the pair's other currency")),
    "maker_address": ("maker_address", string("the maker's address, where given")),
}
# Keys that make the token, the price and the time, not fields of their own.
IDENTITY: Final = frozenset({
    "price", "price_in_usd", "cg_id", "token_symbol", "token_name", "token_address", "epoch",
    "timestamp", "event_timestamp", "arrival_timestamp", "last_5s_messages", "signature",
})
PRICE: Final = Kind(
    "price", "a price tick from one exchange [Token Metrics]",
    {"price": number("the price (price_in_usd, else price)", "USD"),
     **{name: field for name, field in TICK.values()},
     "venue": string("the exchange: each exchange's ticks are a series of their own"),
     "extra": EXTRA},
    occurrence=False, headline=("price", "exchange"))
KINDS: Final = (PRICE,)
