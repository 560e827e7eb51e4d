"""Building and running a daemon against the fakes, for end-to-end tests."""

from __future__ import annotations

import textwrap
from pathlib import Path
from typing import Any

import orjson
import trio

from rulesd import config as config_mod
from rulesd.clock import TrioClock
from rulesd.daemon import Daemon


class StepClock(TrioClock):
    """Trio-driven epoch time that a test can also step forward by hand."""

    def __init__(self) -> None:
        super().__init__()
        self.offset = 0.0

    def now(self) -> float:
        return super().now() + self.offset


def boost(address: str, total: float, amount: float = 10, chain: str = "solana",
          **extra: Any) -> dict[str, Any]:
    return {
        "url": f"https://dexscreener.com/{chain}/{address}",
        "chainId": chain,
        "tokenAddress": address,
        "amount": amount,
        "totalAmount": total,
        "icon": None,
        "description": extra.pop("description", f"token {address}"),
        "links": [{"type": "twitter", "url": f"https://x.com/{address}"}],
        **extra,
    }


def snapshot(*items: dict[str, Any]) -> str:
    return orjson.dumps({"limit": 30, "data": list(items)}).decode()


def single(item: dict[str, Any]) -> str:
    return orjson.dumps(item).decode()


def write_rules(tmp_path: Path, body: str, name: str = "rules.yaml") -> Path:
    path = tmp_path / name
    path.write_text(textwrap.dedent(body))
    return path


def boost_rules(tmp_path: Path, dex_url: str, sink_url: str, **dex: Any) -> Path:
    options = "".join(f"\n    {k}: {v}" for k, v in dex.items())
    return write_rules(tmp_path, f"""\
        version: 1
        state: {{path: {tmp_path / 'state.db'}}}
        sources:
          dexscreener:
            url: {dex_url}
            streams: [token-boosts/latest]{textwrap.indent(options, ' ' * 8).lstrip(chr(32))}
        notifiers:
          sink: {sink_url}
        rules:
          - name: boosts
            on: boost
            notify: [sink]
        """)


async def start(nursery: trio.Nursery, path: Path, clock: TrioClock | None = None
                ) -> tuple[Daemon, trio.Event]:
    loaded = config_mod.load(path, env={})
    daemon = Daemon.create(loaded, clock or TrioClock())
    shutdown = trio.Event()
    await nursery.start(daemon.run, shutdown)
    return daemon, shutdown
