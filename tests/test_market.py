"""Market context: DEX Screener's REST answers parsed, batched, cached and paced."""

from __future__ import annotations

import itertools

import pytest
import trio
import trio.testing

from rulesd.clock import TrioClock
from rulesd.enrich.budget import Budget
from rulesd.enrich.client import MarketClient
from rulesd.enrich.lookup import Lookup
from rulesd.enrich.rest import LookupFailed
from rulesd.sources.dexscreener.market import aged, markets
from rulesd.sources.health import SourceHealth
from tests.fake_rest import SOL, FakeDexRest, pair

TOKEN = "7GCihgDB8fe6KNjn2MYtkzZcRjQy3t9GHdC8uHYmW2hr"


def test_the_tokens_pair_is_its_most_liquid_as_base_token_and_strings_are_numbers() -> None:
    answer = [
        pair(TOKEN, liquidity=1000.0, dex="orca", address="small"),
        pair(TOKEN, liquidity=50000.0, dex="raydium", address="big", price="0.5"),
        # More liquid, but the token is the quote there: its price is another token's.
        pair(TOKEN, liquidity=900000.0, dex="meteora", address="quoted", base=False),
    ]
    market = markets(answer, [TOKEN])[TOKEN]
    assert market["pair"] == "big" and market["dex"] == "raydium"
    assert market["price"] == 0.5 and market["liquidity"] == 50000.0
    assert market["pairs"] == 3
    assert market["quote"] == "SOL" and market["change_24h"] == 48.1
    assert market["buys_5m"] == 12.0 and market["sells_24h"] == 2800.0
    assert market["pair_created"] == 1733400000.0
    assert aged(market, 1733400000.0 + 7200)["pair_age"] == 7200.0


def test_what_the_vendor_did_not_give_is_unknown_never_zero() -> None:
    bare = pair(TOKEN, price=None, liquidity=None, created_ms=None,
                extra={"priceChange": {}, "fdv": None, "txns": {"h1": {"buys": 3}}})
    del bare["marketCap"]
    market = aged(markets([bare], [TOKEN])[TOKEN], 1e9)
    for field in ("price", "liquidity", "fdv", "market_cap", "change_5m", "change_24h",
                  "pair_created", "pair_age", "buys_5m", "sells_1h"):
        assert market[field] is None, field
    assert market["buys_1h"] == 3.0 and market["pairs"] == 1


def test_a_token_absent_from_the_answer_is_not_in_the_result() -> None:
    other = "EPjFWdd5AufqSSqeM2qN1xzybapC8G4wEGGkZwyTDt1v"
    found = markets([pair(TOKEN)], [TOKEN, other])
    assert set(found) == {TOKEN}


def test_evm_addresses_match_whatever_their_case() -> None:
    address = "0xAbCdEf0000000000000000000000000000000001"
    found = markets([pair(address, chain="base", quote=("0x42", "WETH"))],
                    [address.lower()])
    assert found[address.lower()]["quote"] == "WETH"


async def test_the_budget_is_never_exceeded_in_any_window(autojump_clock: object) -> None:
    budget = Budget(5, 60.0)
    times: list[float] = []

    async def ask() -> None:
        await budget.turn()
        times.append(trio.current_time())

    async with trio.open_nursery() as nursery:
        for _ in range(23):
            nursery.start_soon(ask)
    times.sort()
    assert len(times) == 23
    for i, start in enumerate(times):
        assert sum(1 for t in times[i:] if t < start + 60.0) <= 5
    # Spread out, not burst: 12 s apart at 5 a minute.
    assert min(b - a for a, b in itertools.pairwise(times)) == pytest.approx(12.0)


async def test_a_429_pauses_every_request_for_as_long_as_it_asks(autojump_clock: object
                                                                ) -> None:
    budget = Budget(300, 60.0)
    await budget.turn()
    start = trio.current_time()
    assert budget.throttled(7.0) == 7.0
    await budget.turn()
    assert trio.current_time() - start == pytest.approx(7.0)


async def _with_lookup(rest: FakeDexRest, test: object, ttl: float = 30.0) -> None:
    health = SourceHealth("dexscreener market")
    async with trio.open_nursery() as nursery:
        await nursery.start(rest.serve)
        client = MarketClient("dexscreener", "market", rest.url, Budget(300, 60.0), 5.0,
                              TrioClock(), health)
        lookup = Lookup(client.tokens, ttl)
        await nursery.start(lookup.run)
        await test(lookup, client, health)  # type: ignore[operator]
        await client.aclose()
        nursery.cancel_scope.cancel()


async def test_tokens_asked_together_share_one_request_and_the_cache_serves_again(
        autojump_clock: object) -> None:
    rest = FakeDexRest()
    tokens = [f"Tok{i:02d}pump" for i in range(35)]
    for token in tokens:
        rest.add(token, pair(token, price="1.5"))

    async def test(lookup: Lookup, client: MarketClient, health: SourceHealth) -> None:
        found: dict[str, object] = {}

        async def ask(token: str) -> None:
            found[token] = await lookup.market("solana", token)

        async with trio.open_nursery() as nursery:
            for token in tokens:
                nursery.start_soon(ask, token)
        assert all(m is not None and m["price"] == 1.5 for m in found.values())  # type: ignore[index]
        sizes = sorted(len(p.rsplit("/", 1)[1].split(",")) for p in rest.asked())
        assert sizes == [5, 30]  # at most 30 addresses a request
        await lookup.market("solana", tokens[0])
        assert len(rest.asked()) == 2 and lookup.stats.cache_hits == 1
        await trio.sleep(31)  # past the ttl: asked again
        await lookup.market("solana", tokens[0])
        assert len(rest.asked()) == 3
        assert health.state == "up"

    await _with_lookup(rest, test)


async def test_a_token_cut_from_a_batch_answer_is_asked_again_alone(autojump_clock: object
                                                                   ) -> None:
    rest = FakeDexRest()
    crowded, quiet, pairless = "Crowdedpump", "Quietpump", "Nopairspump"
    for i in range(30):  # a token with many pools crowds the others out of the answer
        rest.add(crowded, pair(crowded, address=f"pool{i}", liquidity=float(i)))
    rest.add(quiet, pair(quiet, price="0.1"))
    rest.cut = 30

    async def test(lookup: Lookup, client: MarketClient, health: SourceHealth) -> None:
        found: dict[str, object] = {}

        async def ask(token: str) -> None:
            found[token] = await lookup.market("solana", token)

        async with trio.open_nursery() as nursery:
            for token in (crowded, quiet, pairless):  # in this order, into one batch
                nursery.start_soon(ask, token)
                await trio.testing.wait_all_tasks_blocked()
        assert found[crowded]["pairs"] == 30  # type: ignore[index]
        assert found[quiet]["price"] == 0.1  # type: ignore[index]
        # Absent even when asked alone: pairless, every value unknown.
        assert found[pairless]["pairs"] == 0 and found[pairless]["price"] is None  # type: ignore[index]
        assert sorted(rest.asked())[1:] == ["/tokens/v1/solana/Nopairspump",
                                             "/tokens/v1/solana/Quietpump"]

    await _with_lookup(rest, test)


async def test_a_429_is_waited_out_as_told_and_nothing_is_lost(autojump_clock: object
                                                              ) -> None:
    rest = FakeDexRest()
    rest.add(TOKEN, pair(TOKEN))
    rest.refusals = [(429, [("retry-after", "3")], b"{}")]

    async def test(lookup: Lookup, client: MarketClient, health: SourceHealth) -> None:
        start = trio.current_time()
        market = await lookup.market("solana", TOKEN)
        assert market is not None and market["price"] == 0.002391
        times = [t for t, _ in rest.requests]
        assert len(times) == 2 and times[1] - times[0] >= 3.0
        assert trio.current_time() - start >= 3.0
        assert client.budget.stats.throttled == 1

    await _with_lookup(rest, test)


async def test_a_failing_api_leaves_tokens_unknown_and_says_so_once(
        autojump_clock: object, caplog: pytest.LogCaptureFixture) -> None:
    rest = FakeDexRest()
    rest.refusals = [(503, [], b"down for maintenance")] * 3

    async def test(lookup: Lookup, client: MarketClient, health: SourceHealth) -> None:
        assert await lookup.market("solana", TOKEN) is None
        assert health.state == "down" and "HTTP 503" in (health.last_error or "")
        with pytest.raises(LookupFailed):
            rest.refusals = [(500, [], b"")] * 3
            await client.tokens("solana", [TOKEN])
        warnings = [r for r in caplog.records if "dexscreener market" in r.getMessage()]
        assert len(warnings) == 1

    await _with_lookup(rest, test)


def test_the_fake_answers_as_the_reference_says() -> None:
    sample = pair(TOKEN)
    assert isinstance(sample["priceUsd"], str) and isinstance(sample["fdv"], int)
    assert sample["quoteToken"]["address"] == SOL
    assert set(sample["txns"]) == {"m5", "h1", "h6", "h24"}
