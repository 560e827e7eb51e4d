"""Safety checks: GoPlus's and RugCheck's answers read as they come, made one without
ever calling unknown safe, and gating alerts end to end over HTTPS."""

from __future__ import annotations

import ssl
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import trio
import trio.testing
import trustme

from rulesd import capture, loader, security
from rulesd.http import metrics, view
from rulesd.yaml_loader import ConfigError
from tests.fake_rest import (
    FakeGoPlus,
    FakeRugCheck,
    goplus_evm,
    goplus_solana,
    rugcheck_report,
)
from tests.fakes import FakeDexScreener
from tests.helpers import BOOSTS, boost, snapshot, write_rules
from tests.test_e2e_market import EPOCH, Recorder, recorded_run, replay, run_daemon

EVM = "0x" + "12" * 20


def test_goplus_evm_flags_are_strings_taxes_fractions_and_shares_sums() -> None:
    entry = goplus_evm(honeypot="1", buy_tax="0.05", sell_tax="0.3", top=("0.4", "0.2"),
                       lp_locked="0.9")
    values = security.goplus(entry, solana=False)
    assert values is not None
    assert values["honeypot"] is True and values["mintable"] is False
    assert values["buy_tax"] == 5.0 and values["sell_tax"] == 30.0
    assert values["top10_share"] == 60.0 and values["lp_locked"] == 90.0
    assert values["holders"] == 1234.0 and values["open_source"] is True


def test_goplus_leaves_what_it_did_not_say_unknown() -> None:
    entry = goplus_evm(lp_locked=None, is_honeypot="", buy_tax="")
    del entry["holders"]
    values = security.goplus(entry, solana=False)
    assert values is not None
    assert values["honeypot"] is None and values["buy_tax"] is None
    assert values["top10_share"] is None and values["lp_locked"] is None


def test_goplus_solana_authorities_are_objects_with_a_status() -> None:
    values = security.goplus(goplus_solana(mintable="1", top=("0.3", "0.25")), solana=True)
    assert values is not None
    assert values["mintable"] is True and values["freezable"] is False
    assert values["top10_share"] == 55.0 and values["honeypot"] is None


def test_goplus_answers_are_read_by_the_address_asked_and_errors_fail() -> None:
    answer = {"code": 1, "message": "OK", "result": {EVM: goplus_evm(honeypot="1")}}
    asked = "0x" + "12" * 20
    assert security.goplus_results(answer, [asked, "0xabsent"], False)[asked]["honeypot"]
    assert "0xabsent" not in security.goplus_results(answer, [asked, "0xabsent"], False)
    with pytest.raises(ValueError, match="code 4029"):
        security.goplus_results({"code": 4029, "message": "too many requests"}, [asked], False)


def test_rugcheck_reads_authorities_risks_holders_and_locked_liquidity() -> None:
    report = rugcheck_report("Mint1", mint_authority="Auth1", top=(30.0, 12.5, 7.5),
                             lp_locked=80.0, risks=[{"name": "Freeze Authority still enabled",
                                                     "level": "danger", "score": 7500}])
    report["token"]["freezeAuthority"] = None  # the report's own field disagrees: risks win
    values = security.rugcheck(report)
    assert values is not None
    assert values["mintable"] is True and values["freezable"] is True
    assert values["top10_share"] == 50.0 and values["lp_locked"] == 80.0
    assert values["risks"] == ["Freeze Authority still enabled"]
    assert values["rugged"] is False and values["risk_score"] == 101.0
    assert security.rugcheck(None) is None


def test_combine_never_calls_unknown_safe_and_risk_wins() -> None:
    goplus = {"mintable": False, "freezable": None, "top10_share": 20.0, "lp_locked": 95.0}
    rugcheck = {"mintable": True, "freezable": None, "top10_share": 35.0, "lp_locked": 60.0}
    both = security.combine({"goplus": goplus, "rugcheck": rugcheck})
    assert both["mintable"] is True  # one service says risky: risky
    assert both["freezable"] is None  # nobody knows: unknown, not safe
    assert both["top10_share"] == 35.0 and both["lp_locked"] == 60.0  # the worse of two
    assert both["checked_by"] == ["goplus", "rugcheck"]
    alone = security.combine({"goplus": goplus, "rugcheck": None})
    assert alone["mintable"] is False and alone["checked_by"] == ["goplus"]
    assert security.combine({})["honeypot"] is None


def _rules(tmp_path: Path, sources: str, where: str) -> str:
    return f"""\
version: 1
state: {{path: ":memory:"}}
sources:
  dexscreener: {{streams: [token-boosts/latest]}}
{sources}
notifiers: {{c: stdout}}
rules:
  - name: safe
    on: boost
    where: {where}
    notify: [c]
"""


def test_check_refuses_a_safety_field_no_configured_service_gives(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as refused:
        loader.loads(_rules(tmp_path, "", "{security.honeypot: false}"), "r.yaml", {})
    (problem,) = refused.value.problems
    assert "`security.honeypot` comes from GoPlus, and no such service is configured: add " \
           "`goplus: {}` under `sources`" in problem.message
    with pytest.raises(ConfigError) as refused:  # RugCheck gives no honeypot flag
        loader.loads(_rules(tmp_path, "  rugcheck: {}", "{security.honeypot: false}"),
                     "r.yaml", {})
    assert "comes from GoPlus" in refused.value.problems[0].message
    loaded = loader.loads(_rules(tmp_path, "  rugcheck: {}", "{security.mintable: false}"),
                          "r.yaml", {})
    assert set(loaded.lookups) == {"rugcheck"}
    with pytest.raises(ConfigError) as refused:
        loader.loads(_rules(tmp_path, "  goplus: {rate: 5/minute}",
                            "{security.mintable: false}"), "r.yaml", {})
    assert "expected a rate like 1/s or 20/min" in refused.value.problems[0].message


@pytest.fixture(scope="module")
def ca() -> trustme.CA:
    return trustme.CA()


@pytest.fixture
def tls(ca: trustme.CA, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
        ) -> Iterator[ssl.SSLContext]:
    """Server context for 127.0.0.1, and the client trusting the throwaway authority
    (httpx reads SSL_CERT_FILE, as behind a corporate proxy)."""
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ca.issue_cert("127.0.0.1").configure_cert(context)
    ca_file = tmp_path / "ca.pem"
    ca.cert_pem.write_to_path(str(ca_file))
    monkeypatch.setenv("SSL_CERT_FILE", str(ca_file))
    yield context


@pytest.fixture
async def services(nursery: trio.Nursery, tls: ssl.SSLContext
                   ) -> tuple[FakeGoPlus, FakeRugCheck]:
    """GoPlus and RugCheck over HTTPS, serving."""
    goplus, rugcheck = FakeGoPlus(tls), FakeRugCheck(tls)
    await nursery.start(goplus.serve)
    await nursery.start(rugcheck.serve)
    return goplus, rugcheck


SAFE_EVM = """\
  - name: safe-evm
    on: boost
    where:
      chain: base
      security.honeypot: false
      security.sell_tax: {lte: 10}
      security.mintable: false
      security.top10_share: {lt: 30}
    notify: [rec]
    title: "safe {{ address }}"
  - name: safe-solana
    on: boost
    where:
      chain: solana
      security.mintable: false
      security.freezable: false
      security.top10_share: {lt: 30}
      security.rugged: false
    notify: [rec]
    title: "safe {{ address }}"
  - {name: plain, on: boost, notify: [rec], title: "plain {{ address }}"}
"""


def safety_rules(tmp_path: Path, dex: FakeDexScreener, goplus: FakeGoPlus,
                 rugcheck: FakeRugCheck, body: str, goplus_extra: str = "",
                 rugcheck_extra: str = "") -> Path:
    return write_rules(tmp_path, f"""\
version: 1
state: {{path: ":memory:"}}
sources:
  dexscreener: {{url: "{dex.url}", streams: [token-boosts/latest]}}
  goplus: {{url: "{goplus.url}"{goplus_extra}}}
  rugcheck: {{url: "{rugcheck.url}"{rugcheck_extra}}}
notifiers: {{rec: stdout}}
rules:
""" + body)


def serve_reports(goplus: FakeGoPlus, rugcheck: FakeRugCheck) -> list[tuple[str, str]]:
    """The tokens of the scenario: (chain, address) of each, in boost order."""
    evm = {"HONEY": goplus_evm(honeypot="1"), "TAXED": goplus_evm(sell_tax="0.3"),
           "MINTY": goplus_evm(mintable="1"), "WHALE": goplus_evm(top=("0.4", "0.2")),
           "GOOD": goplus_evm(sell_tax="0.02")}
    tokens = []
    for name, entry in evm.items():
        address = f"0x{name.lower().encode().hex():0>40}"
        goplus.entries[("8453", address)] = entry
        tokens.append(("base", address))
    tokens.append(("base", "0x" + "99" * 20))  # GoPlus does not know it
    rugcheck.reports["SolGood1"] = rugcheck_report("SolGood1")
    goplus.entries[("solana", "SolGood1")] = goplus_solana()
    rugcheck.reports["SolMint1"] = rugcheck_report("SolMint1", mint_authority="Auth1")
    goplus.entries[("solana", "SolMint1")] = goplus_solana()  # GoPlus says not mintable
    goplus.entries[("solana", "SolNoReport1")] = goplus_solana()  # RugCheck: 404
    tokens += [("solana", "SolGood1"), ("solana", "SolMint1"), ("solana", "SolNoReport1")]
    return tokens


async def test_only_the_tokens_that_pass_every_check_reach_the_channel(
        nursery: trio.Nursery, fake_dex: FakeDexScreener, tmp_path: Path,
        services: tuple[FakeGoPlus, FakeRugCheck], autojump_clock: trio.testing.MockClock
) -> None:
    goplus, rugcheck = services
    tokens = serve_reports(goplus, rugcheck)
    goplus.delay_s = rugcheck.delay_s = 2.0  # slow services: only safety rules feel them
    recorder = Recorder()
    fake_dex.snapshots[BOOSTS] = [snapshot(boost("BASE1", 1))]
    # GoPlus's budget (30/min) spaces its four requests 2 s apart: give them the time.
    path = safety_rules(tmp_path, fake_dex, goplus, rugcheck, SAFE_EVM, ", timeout: 15s")
    daemon, shutdown = await run_daemon(nursery, path, recorder)
    await fake_dex.wait_connections(BOOSTS, 1)
    await trio.sleep(1)
    pushed = trio.current_time()
    await fake_dex.push(BOOSTS, snapshot(*(boost(a, 5, chain=c) for c, a in tokens),
                                         boost("BASE1", 1)))
    await trio.sleep(20)
    shutdown.set()
    plain = [t for t, title, _ in recorder.sent if title.startswith("plain")]
    assert len(plain) == len(tokens) and all(t - pushed < 0.5 for t in plain)
    safe = {title: (t, body) for t, title, body in recorder.sent if title.startswith("safe")}
    good = f"0x{b'good'.hex():0>40}"
    assert sorted(safe) == [f"safe {good}", "safe SolGood1"]
    t, body = safe[f"safe {good}"]
    assert t - pushed >= 2.0
    assert "safety: honeypot no · sell tax 2% · mintable no · top 10 hold 8% · LP locked " \
           "95% (goplus)" in body
    assert "(goplus, rugcheck)" in safe["safe SolGood1"][1]
    # The whole batch of base tokens was one GoPlus request; Solana mints one each.
    assert len(goplus.asked("/api/v1/token_security/8453")) == 1
    assert len(goplus.asked("/api/v1/solana/")) == 3 and len(rugcheck.asked()) == 3
    assert daemon.enrichment is not None
    assert {h for h in daemon.healths} >= {"goplus", "rugcheck"}
    assert daemon.healths["rugcheck"].state == "up"  # a 404 is an answer: "unknown"


async def test_a_service_that_times_out_or_throttles_is_unknown_then_waited_out(
        nursery: trio.Nursery, fake_dex: FakeDexScreener, tmp_path: Path,
        services: tuple[FakeGoPlus, FakeRugCheck], autojump_clock: trio.testing.MockClock
) -> None:
    goplus, rugcheck = services
    serve_reports(goplus, rugcheck)
    goplus.refusals = [(429, [("retry-after", "30")], b"{}")]  # waited out: past 5s
    recorder = Recorder()
    body = """\
  - name: unknown-honeypot
    on: boost
    where: {security.honeypot: {exists: false}}
    notify: [rec]
    title: "unknown {{ address }}"
    message: "honeypot {{ security.honeypot | yesno }}, by {{ security.checked_by }}"
"""
    fake_dex.snapshots[BOOSTS] = [snapshot(boost("BASE1", 1))]
    path = safety_rules(tmp_path, fake_dex, goplus, rugcheck, body)
    daemon, shutdown = await run_daemon(nursery, path, recorder)
    await fake_dex.wait_connections(BOOSTS, 1)
    await trio.sleep(1)
    honey = f"0x{b'honey'.hex():0>40}"
    await fake_dex.push(BOOSTS, snapshot(boost(honey, 5, chain="base"), boost("BASE1", 1)))
    await trio.sleep(60)
    # GoPlus asked to wait 30 s: past the 5 s timeout, the rule saw unknown and said so.
    assert [b for _, _, b in recorder.sent] == ["honeypot unknown, by []"]
    # The answer came after all, and is cached: the next boost of it knows.
    await fake_dex.push(BOOSTS, snapshot(boost(honey, 9, chain="base"), boost("BASE1", 1)))
    await trio.sleep(10)
    shutdown.set()
    assert len(recorder.sent) == 1
    assert len(goplus.requests) == 2  # the 429 and its retry; then the cache
    assert daemon.enrichment is not None
    assert daemon.enrichment.safety.services["goplus"].timed_out == 1
    assert daemon.enrichment.safety.services["goplus"].budget.stats.throttled == 1


async def test_a_capture_with_safety_answers_replays_the_same_alerts_offline(
        nursery: trio.Nursery, fake_dex: FakeDexScreener, tmp_path: Path,
        services: tuple[FakeGoPlus, FakeRugCheck]) -> None:
    goplus, rugcheck = services
    tokens = serve_reports(goplus, rugcheck)
    path = safety_rules(tmp_path, fake_dex, goplus, rugcheck,
                        SAFE_EVM.split("  - {name: plain")[0], ", rate: 300/min",
                        ", rate: 300/min")
    fake_dex.snapshots[BOOSTS] = [snapshot(boost("BASE1", 1))]
    recorder = Recorder()
    recording = await recorded_run(nursery, path, recorder, [snapshot(
        *(boost(a, 5, chain=c) for c, a in tokens), boost("BASE1", 1))], fake_dex, 2)
    live = sorted(title for _, title, _ in recorder.sent)
    assert len(live) == 2
    frames = capture.read(recording)[0]
    assert {f.source for f in frames} == {"dexscreener", "goplus", "rugcheck"}
    assert any(f.data == "null" for f in frames if f.source == "rugcheck")  # the 404
    asked = len(goplus.requests) + len(rugcheck.requests)
    started = time.monotonic()
    assert sorted((await replay(path, recording))[0]) == live
    assert len(goplus.requests) + len(rugcheck.requests) == asked  # nobody was asked
    assert time.monotonic() - started < 10


async def test_a_burst_of_new_mints_keeps_each_hosts_budget_and_each_is_seen_once(
        nursery: trio.Nursery, fake_dex: FakeDexScreener, tmp_path: Path,
        services: tuple[FakeGoPlus, FakeRugCheck], autojump_clock: trio.testing.MockClock
) -> None:
    goplus, rugcheck = services
    mints = [f"Burst{i:03d}pump" for i in range(40)]
    for mint in mints:
        goplus.entries[("solana", mint)] = goplus_solana()
        rugcheck.reports[mint] = rugcheck_report(mint)
    recorder = Recorder()
    body = """\
  - name: safe
    on: boost
    where: {security.mintable: false, security.rugged: false}
    notify: [rec]
    title: "{{ address }}"
"""
    fake_dex.snapshots[BOOSTS] = [snapshot(boost("BASE1", 1))]
    path = safety_rules(tmp_path, fake_dex, goplus, rugcheck, body,
                        ", rate: 10/min, timeout: 30m", ", rate: 10/min, timeout: 30m")
    _, shutdown = await run_daemon(nursery, path, recorder)
    await fake_dex.wait_connections(BOOSTS, 1)
    await trio.sleep(1)
    await fake_dex.push(BOOSTS, snapshot(*(boost(m, 5) for m in mints)))
    await trio.sleep(600)
    shutdown.set()
    titles = [title for _, title, _ in recorder.sent]
    assert sorted(titles) == sorted(mints)  # every one, once
    for server in (goplus, rugcheck):
        times = sorted(t for t, _ in server.requests)
        assert len(times) == 40
        assert max(sum(1 for t in times[i:] if t < start + 60.0)
                   for i, start in enumerate(times)) <= 10


WATCH_RUG = """\
  - name: sol-boost
    on: boost
    where: {market.liquidity: {gte: 1000}, security.rugged: false}
    watch: {for: 1h, every: 30s}
    notify: [rec]
    title: "boost {{ address }}"
  - name: announced-then-rugged
    on: price
    where: {watch.rule: sol-boost, security.rugged: true}
    notify: [rec]
    title: "rugged {{ address }}"
    message: "{{ security.risks | join(', ') }}"
"""


async def test_a_watched_token_found_rugged_later_is_announced(
        nursery: trio.Nursery, fake_dex: FakeDexScreener, tmp_path: Path,
        services: tuple[FakeGoPlus, FakeRugCheck], autojump_clock: trio.testing.MockClock
) -> None:
    from tests.fake_rest import FakeDexRest, pair

    _, rugcheck = services
    dex = FakeDexRest()
    await nursery.start(dex.serve)
    dex.add("Rug1", pair("Rug1"))
    rugcheck.reports["Rug1"] = rugcheck_report("Rug1")
    recorder = Recorder()
    path = write_rules(tmp_path, f"""\
version: 1
state: {{path: ":memory:"}}
sources:
  dexscreener: {{url: "{fake_dex.url}", streams: [token-boosts/latest],
                market: {{url: "{dex.url}"}}}}
  rugcheck: {{url: "{rugcheck.url}", ttl: 2m}}
notifiers: {{rec: stdout}}
rules:
""" + WATCH_RUG)
    fake_dex.snapshots[BOOSTS] = [snapshot(boost("BASE1", 1))]
    daemon, shutdown = await run_daemon(nursery, path, recorder)
    await fake_dex.wait_connections(BOOSTS, 1)
    await trio.sleep(1)
    await fake_dex.push(BOOSTS, snapshot(boost("Rug1", 5), boost("BASE1", 1)))
    await trio.sleep(200)
    assert [title for _, title, _ in recorder.sent] == ["boost Rug1"]
    rugcheck.reports["Rug1"] = rugcheck_report(
        "Rug1", rugged=True, risks=[{"name": "Large Amount of LP Unlocked", "level": "danger"}])
    await trio.sleep(200)  # the cached report expires (2m); a poll asks again
    shown = view.status(daemon, {}, [])
    shutdown.set()
    assert [title for _, title, _ in recorder.sent] == ["boost Rug1", "rugged Rug1"]
    assert recorder.sent[1][2] == "Large Amount of LP Unlocked"
    # Re-checked at the report's ttl, not at every poll (30 s).
    assert 2 <= len(rugcheck.requests) <= 4
    assert shown["lookups"]["rugcheck"]["requests"] == len(rugcheck.requests)
    assert shown["lookups"]["market"]["watched"] == 1
    text = metrics.exposition(daemon, {}, EPOCH).decode()
    assert f'rulesd_lookup_requests_total{{service="rugcheck"}} {len(rugcheck.requests)}.0' \
        in text
