"""DEX Screener frames → events: framings, field normalization, faults."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from rulesd.sources.dexscreener.parse import DexParser, DexStreamParser, item_event, parse_frame
from rulesd.sources.health import Malformed, SourceHealth

DATA = Path(__file__).parent / "data" / "dexscreener"
RECEIVED = 1_795_219_200.0  # 2026-11-21T00:00:00Z, after the frames' own dates


def recorded(name: str) -> str:
    return (DATA / name).read_text()


def reader(stream: str, health: SourceHealth) -> DexStreamParser:
    return DexParser().stream(stream, health)


@pytest.mark.parametrize(("stream", "file", "kind"), [
    ("token-boosts/latest", "boosts_latest.json", "boost"),
    ("token-boosts/top", "boosts_top.json", "top_boost"),
    ("community-takeovers/latest", "takeovers_latest.json", "takeover"),
    ("token-profiles/latest", "profiles_latest.json", "profile"),
    ("token-profiles/recent-updates", "profiles_updates.json", "profile_update"),
    ("ads/latest", "ads_latest.json", "ad"),
])
def test_recorded_snapshots_parse(stream: str, file: str, kind: str) -> None:
    health = SourceHealth("t")
    events = reader(stream, health).feed(recorded(file), RECEIVED)
    assert events and not health.faults
    assert {e.kind for e in events} == {kind}
    assert all(e.token and e.token.key == f"{e.context()['chain']}:{e.context()['address']}"
               for e in events)


def test_boost_fields_are_snake_case_and_versioned_by_total() -> None:
    item = json.loads(recorded("boosts_latest.json"))["data"][0]
    event = item_event("token-boosts/latest", item, 1000.0, "b")
    assert event.fields["total_amount"] == item["totalAmount"]
    assert event.fields["amount"] == item["amount"]
    assert event.occurrence and event.occurrence.version == float(item["totalAmount"])


def test_solana_addresses_keep_their_case_and_evm_ones_are_lowered() -> None:
    sol_address = "7GCihgDB8fe6KNjn2MYtkzZcRjQy3t9GHdC8uHYmW2hr"
    evm_address = "0xAbCdEf0123456789abcdef0123456789ABCDEF01"
    sol = item_event("token-profiles/latest",
                     {"chainId": "solana", "tokenAddress": sol_address}, 0, None)
    evm = item_event("token-profiles/latest",
                     {"chainId": "base", "tokenAddress": evm_address}, 0, None)
    assert sol.token and sol.token.key == "solana:7GCihgDB8fe6KNjn2MYtkzZcRjQy3t9GHdC8uHYmW2hr"
    assert evm.token and evm.token.key == "base:0xabcdef0123456789abcdef0123456789abcdef01"


def test_takeover_time_is_the_claim_date() -> None:
    claim = {"chainId": "solana", "tokenAddress": "X", "claimDate": "2026-11-20T10:00:00Z"}
    event = item_event("community-takeovers/latest", claim, 5.0, None)
    assert event.ts == 1795168800.0  # 2026-11-20T10:00:00Z
    assert event.occurrence and event.occurrence.version == "2026-11-20T10:00:00Z"


def test_ads_are_identified_by_date_and_type() -> None:
    base = {"chainId": "solana", "tokenAddress": "X", "date": "2026-11-20T10:00:00Z"}
    a = item_event("ads/latest", {**base, "type": "banner"}, 0, None)
    b = item_event("ads/latest", {**base, "type": "tokenAd"}, 0, None)
    assert a.occurrence and b.occurrence and a.occurrence.id != b.occurrence.id


def test_profile_updates_are_news_when_content_changes() -> None:
    base = {"chainId": "solana", "tokenAddress": "X", "description": "v1"}
    one = item_event("token-profiles/recent-updates", base, 0, None)
    same = item_event("token-profiles/recent-updates", dict(base), 0, None)
    two = item_event("token-profiles/recent-updates", {**base, "description": "v2"}, 0, None)
    assert one.occurrence and same.occurrence and two.occurrence
    assert one.occurrence.version == same.occurrence.version != two.occurrence.version


@pytest.mark.parametrize(("frame", "framing"), [
    ('{"limit": 30, "data": []}', "snapshot"),
    ('[{"chainId": "solana", "tokenAddress": "X"}]', "snapshot"),
    ('{"chainId": "solana", "tokenAddress": "X"}', "single"),
    ('{"type": "heartbeat"}', "heartbeat"),
])
def test_three_framings(frame: str, framing: str) -> None:
    parsed = parse_frame(frame)
    assert ("heartbeat" if parsed.heartbeat else "snapshot" if parsed.snapshot
            else "single") == framing


def test_top_boost_snapshots_carry_the_membership() -> None:
    events = reader("token-boosts/top", SourceHealth("t")).feed(recorded("boosts_top.json"), 0)
    members = {e.token.key for e in events if e.token}
    assert all(e.occurrence and e.occurrence.members == members for e in events)


json_values = st.recursive(
    st.one_of(st.none(), st.booleans(), st.integers(), st.floats(allow_nan=False),
              st.text(max_size=10)),
    lambda inner: st.one_of(st.lists(inner, max_size=4),
                            st.dictionaries(st.sampled_from(
                                ["chainId", "tokenAddress", "totalAmount", "amount", "data",
                                 "type", "links", "url", "claimDate", "date", "x"]),
                                inner, max_size=6)),
    max_leaves=12)


@pytest.mark.parametrize("stream", ["token-boosts/latest", "token-boosts/top",
                                    "community-takeovers/latest", "ads/latest",
                                    "token-profiles/recent-updates"])
@given(payload=json_values)
def test_any_json_is_events_or_counted_faults(stream: str, payload: Any) -> None:
    health = SourceHealth("t")
    events = reader(stream, health).feed(json.dumps(payload), 0.0)
    for event in events:
        if event.occurrence is not None and event.occurrence.empty:
            assert events == [event]  # an empty snapshot: its baseline, and nothing else
            continue
        assert event.token is not None and isinstance(event.token.address, str)
        assert all(not isinstance(v, float) or v == v for v in event.fields.values())


@given(st.binary(max_size=64) | st.text(max_size=64))
def test_garbage_never_raises_past_the_reader(message: bytes | str) -> None:
    health = SourceHealth("t")
    reader("token-boosts/latest", health).feed(message, 0.0)
    assert health.frames == 1


def test_malformed_reports_a_kind() -> None:
    with pytest.raises(Malformed) as info:
        parse_frame('{"data": {}}')
    assert info.value.kind == "data_not_list"


@pytest.mark.parametrize(("stream", "file"), [
    ("token-profiles/latest", "profiles_with_extra_fields.json"),
    ("community-takeovers/latest", "takeovers_with_extra_fields.json"),
])
def test_fields_the_document_does_not_show_are_kept_not_faults(
        stream: str, file: str, caplog: pytest.LogCaptureFixture) -> None:
    """Real items carry `openGraph` and `cto`: nothing is skipped, nothing is a fault."""
    caplog.set_level("DEBUG", "rulesd")
    health = SourceHealth("t")
    parser = DexParser()
    items = json.loads(recorded(file))["data"]
    events = parser.stream(stream, health).feed(recorded(file), RECEIVED)
    events += parser.stream(stream, health).feed(recorded(file), RECEIVED + 1)  # noted once
    assert len(events) == 2 * len(items) and not health.faults
    assert events[0].fields["extra"]["openGraph"] == items[0]["openGraph"]
    assert "openGraph" not in events[0].fields
    notes = [r for r in caplog.records if "document does not show" in r.getMessage()]
    assert len(notes) == 1 and notes[0].levelname == "DEBUG"
    assert not [r for r in caplog.records if r.levelno >= 30]  # no warning of any kind


def test_an_icon_may_be_a_bare_image_id_and_top_boosts_have_no_amount() -> None:
    health = SourceHealth("t")
    (boost,) = reader("token-boosts/latest", health).feed(recorded("boosts_icon_id.json"), 0.0)
    assert boost.fields["icon"] == "8c3b1e2f9a7d4c6b" and not health.faults
    tops = reader("token-boosts/top", health).feed(recorded("boosts_top.json"), 0.0)
    assert tops and all("amount" not in e.fields and e.fields["total_amount"] for e in tops)


def test_a_lone_surrogate_costs_a_replacement_character_not_the_snapshot() -> None:
    """`"gm \\ud83d"` is what JavaScript writes for text cut mid-emoji; orjson refuses
    it, and once the whole snapshot was dropped with it."""
    items = json.loads(recorded("boosts_latest.json"))["data"]
    items[1]["description"] = "MARK"
    text = json.dumps({"limit": 30, "data": items}).replace('"MARK"', '"gm \\ud83d"')
    health = SourceHealth("t")
    events = reader("token-boosts/latest", health).feed(text, 0.0)
    assert len(events) == len(items) and not health.faults
    assert events[1].fields["description"] == "gm \ufffd"


def test_a_partial_top_list_is_not_everyone_else_leaving() -> None:
    """A one-item top frame followed by the full list once gave 29 "entered the top
    boosts" alerts for tokens that never left."""
    from rulesd.state import StateStore

    store = StateStore()
    top = reader("token-boosts/top", SourceHealth("t"))
    full = json.loads(recorded("boosts_top.json"))
    one = {"limit": 30, "data": full["data"][:1]}
    news = []
    for t, frame in enumerate([full, one, full]):
        news += [e for e in top.feed(json.dumps(frame), RECEIVED + t)
                 if store.apply(e, RECEIVED + t)]
    assert news == []


@pytest.mark.parametrize(("stream", "file"), [
    ("token-boosts/latest", "boosts_latest.json"),
    ("community-takeovers/latest", "takeovers_latest.json"),
    ("token-profiles/recent-updates", "profiles_updates.json"),
    ("ads/latest", "ads_latest.json"),
])
def test_a_repeated_snapshot_gives_the_events_a_fresh_parse_would(stream: str, file: str) -> None:
    """Items a snapshot repeats unchanged are taken from the last parse (not parsed
    again): the events are exactly those of a fresh parse at the new time, in the new
    batch; a changed item is parsed anew."""
    text = recorded(file)
    stream_reader = reader(stream, SourceHealth("t"))
    stream_reader.feed(text, RECEIVED)
    again = stream_reader.feed(text, RECEIVED + 60)
    fresh = reader(stream, SourceHealth("t"))
    fresh.feed('{"data": []}', RECEIVED)  # the same frame count: the same batch name
    assert again == fresh.feed(text, RECEIVED + 60)
    changed = json.loads(text)
    changed["data"][0]["url"] = "https://dexscreener.com/solana/changed"
    after = stream_reader.feed(json.dumps(changed), RECEIVED + 120)
    assert after == fresh.feed(json.dumps(changed), RECEIVED + 120)
    assert after[0].fields["url"] == "https://dexscreener.com/solana/changed"
