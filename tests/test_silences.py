"""Silences as the engine and the state database keep them: matchers, expiry, no
cooldown started, no replay when they end, kept across a restart."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import orjson
import pytest

from rulesd import loader, silences
from rulesd.events import Event, TokenRef
from rulesd.rules.engine import Engine
from rulesd.silences import Silence, Silences, ended
from rulesd.state import StateStore
from rulesd.state.backend import StateBackend

RULES = """\
version: 1
sources: {dexscreener: {}}
notifiers: {c: stdout}
defaults: {notify: [c]}
rules:
  - {name: boosts, on: boost, cooldown: 10m}
  - {name: pricey, on: price, where: {price: {gt: 100}}}
"""


def engine(*silences: Silence) -> Engine:
    return Engine(loader.loads(RULES, "r.yaml", {}).rules, StateStore(), Silences(silences))


def boost(address: str, total: float, chain: str = "solana", symbol: str = "AAA") -> Event:
    token = TokenRef(key=f"{chain}:{address}", chain=chain, address=address, symbol=symbol)
    return Event("boost", "dexscreener", "token-boosts/latest/v1", token, 0.0, 0.0,
                 {"amount": 1, "total_amount": total})


def price(value: float) -> Event:
    token = TokenRef(key="cmc:1", symbol="BTC")
    return Event("price", "coinmarketcap", "s", token, 0.0, 0.0, {"price": value})


def outcome(e: Engine, event: Event, now: float) -> list[str]:
    return [f"{a.rule}:{'silenced' if a.silenced else 'sent'}" for a in e.process(event, now)]


@pytest.mark.parametrize(("matchers", "silenced"), [
    ({}, True),
    ({"token": "solana:A1"}, True),
    ({"token": "aaa"}, True),  # a symbol, any case
    ({"token": "solana:B2"}, False),
    ({"chain": "solana"}, True),
    ({"chain": "base"}, False),
    ({"source": "dexscreener"}, True),
    ({"source": "mobula"}, False),
    ({"token": "AAA", "chain": "base"}, False),  # every matcher must hold
])
def test_each_matcher(matchers: dict[str, str], silenced: bool) -> None:
    e = engine(Silence("s1", "boosts", 0.0, 3600.0, **matchers))
    assert outcome(e, boost("A1", 1), 10.0) == \
        ["boosts:silenced" if silenced else "boosts:sent"]


def test_a_silence_holds_until_it_ends_and_starts_no_cooldown() -> None:
    e = engine(Silence("s1", "boosts", 0.0, 600.0, token="solana:A1"))
    assert outcome(e, boost("A1", 1), 100.0) == ["boosts:silenced"]
    assert outcome(e, boost("A1", 2), 599.0) == ["boosts:silenced"]
    # Over: the next boost is sent although a 10 min cooldown would still run from
    # the silenced ones; then the cooldown holds the one after.
    assert outcome(e, boost("A1", 3), 600.0) == ["boosts:sent"]
    assert outcome(e, boost("A1", 4), 700.0) == []


def test_an_expired_silence_replays_nothing_it_held() -> None:
    """A level alert that began while silenced is that episode: when the silence is
    expired nothing is sent for it; the next episode is."""
    e = engine(Silence("s1", "pricey", 0.0, 3600.0))
    assert outcome(e, price(150), 10.0) == ["pricey:silenced"]
    e.silences.add(ended(e.silences.get("s1"), 20.0))  # as the daemon ends one
    assert outcome(e, price(160), 30.0) == []  # still the same episode
    assert outcome(e, price(90), 40.0) == []  # it clears
    assert outcome(e, price(150), 50.0) == ["pricey:sent"]  # a new one


def test_silences_are_kept_across_a_restart(
        open_backend: Callable[[], StateBackend]) -> None:
    db = open_backend()
    db.save_silence(Silence("s1", "boosts", 10.0, 7200.0, token="BTC", comment="noisy"))
    db.save_silence(Silence("s2", "pricey", 10.0, 20.0))
    db.close()
    again = open_backend()
    assert [s.id for s in again.silences()] == ["s1", "s2"]
    assert again.silences()[0] == Silence("s1", "boosts", 10.0, 7200.0, token="BTC",
                                          comment="noisy")
    again.close()


# --- one validation: the CLI and the API -------------------------------------------------

ASKED = [  # (what a person asks for, the refusal or None)
    ({"rule": "boosts", "for": "2h", "comment": "listing soon"}, None),
    ({"rule": "boosts", "for": "30m", "token": "solana:A1", "chain": "solana",
      "source": "dexscreener"}, None),
    ({"rule": "boots", "for": "2h"}, "no rule named 'boots' (did you mean 'boosts'?)"),
    ({"rule": "boosts", "for": "0s"}, "a silence must end in the future"),
    ({"rule": "boosts", "for": "2h", "comment": "\x1b[31mred\nline " + "x" * 600}, None),
]


async def _by_api(tmp_path: Path, asked: dict[str, str]) -> tuple[dict[str, Any] | None, str]:
    from rulesd.clock import TrioClock
    from rulesd.daemon import Daemon
    from rulesd.http.app import WebApp

    path = tmp_path / "api.yaml"
    path.write_text(RULES)
    daemon = Daemon.create(loader.load(path, env={}), TrioClock(), state_path=":memory:")
    sent: list[dict[str, Any]] = []

    async def receive() -> dict[str, Any]:
        return {"type": "http.request", "body": orjson.dumps(asked), "more_body": False}

    async def send(message: Any) -> None:
        sent.append(message)

    await WebApp(daemon, "127.0.0.1", None)(
        {"type": "http", "method": "POST", "path": "/api/v1/silences", "query_string": b"",
         "headers": []}, receive, send)  # type: ignore[arg-type]
    answer = orjson.loads(sent[1]["body"])
    return (answer, "") if sent[0]["status"] == 200 else (None, answer["error"])


def _by_cli(tmp_path: Path, asked: dict[str, str], capsys: pytest.CaptureFixture[str]
            ) -> tuple[dict[str, Any] | None, str]:
    from rulesd.cli import main
    from rulesd.state.db import StateDB

    path = tmp_path / "cli.yaml"
    path.write_text(RULES + f"state: {{path: {tmp_path / 'cli.db'}}}\n")
    StateDB(str(tmp_path / "cli.db")).close()  # a daemon ran on it once
    argv = ["silence", "add", str(path)]
    for key, value in asked.items():
        argv += [f"--{key}", value]
    code = main(argv)
    said = capsys.readouterr()
    if code != 0:
        return None, said.err.strip().splitlines()[-1].removeprefix("rulesd silence add: ")
    db = StateDB(str(tmp_path / "cli.db"))
    (made,) = db.silences()
    db.close()
    return silences.view(made, made.starts), ""


@pytest.mark.parametrize(("asked", "refused"), ASKED)
async def test_the_cli_and_the_api_accept_and_refuse_the_same_silences(
        asked: dict[str, str], refused: str | None, tmp_path: Path,
        capsys: pytest.CaptureFixture[str]) -> None:
    api, api_error = await _by_api(tmp_path, asked)
    cli, cli_error = _by_cli(tmp_path, asked, capsys)
    assert api_error == cli_error == (refused or "")
    if refused is None:
        assert api is not None and cli is not None
        same = ("rule", "token", "chain", "source", "comment", "matchers", "state")
        assert {k: api[k] for k in same} == {k: cli[k] for k in same}
        assert api["ends"] - api["starts"] == pytest.approx(cli["ends"] - cli["starts"])
        assert "\x1b" not in cli["comment"] and "\n" not in cli["comment"]
        assert len(cli["comment"]) <= silences.MAX_COMMENT
