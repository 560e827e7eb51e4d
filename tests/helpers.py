"""Building and running a daemon against the fakes, for end-to-end tests."""

from __future__ import annotations

import signal
import socket
import subprocess
import sys
import textwrap
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import orjson
import trio

from rulesd import loader as config_mod
from rulesd.clock import TrioClock
from rulesd.daemon import Daemon


class StepClock(TrioClock):
    """Trio-driven epoch time that a test can also step forward by hand."""

    def __init__(self) -> None:
        super().__init__()
        self.offset = 0.0

    def now(self) -> float:
        return super().now() + self.offset


# The stream path of DEX Screener's latest boosts, as the fake server serves it.
BOOSTS = "/token-boosts/latest/v1"

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


def free_port() -> int:
    """A loopback port nothing listens on now (for an `http.listen` a test reads)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def write_rules(tmp_path: Path, body: str, name: str = "rules.yaml") -> Path:
    path = tmp_path / name
    path.write_text(textwrap.dedent(body))
    return path


def sink_rules(tmp_path: Path, dex_url: str, sink_url: str,
               rule: str = "{name: boosts, on: boost, notify: [sink]}",
               state: str | None = None) -> Path:
    """Boosts of DEX Screener's latest stream, one rule (flow style), to `sink`; `state`
    is the `state:` mapping (flow style; an SQLite file in `tmp_path` by default)."""
    return write_rules(tmp_path, f"""\
        version: 1
        state: {state or f"{{path: {tmp_path / 'state.db'}}}"}
        sources:
          dexscreener: {{url: "{dex_url}", streams: [token-boosts/latest]}}
        notifiers: {{sink: "{sink_url}"}}
        rules:
          - {rule}
        """)


def boost_rules(tmp_path: Path, dex_url: str, sink_url: str, state: str | None = None,
                **dex: Any) -> Path:
    options = "".join(f"\n    {k}: {v}" for k, v in dex.items())
    return write_rules(tmp_path, f"""\
        version: 1
        state: {state or f"{{path: {tmp_path / 'state.db'}}}"}
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


def delivery_rules(tmp_path: Path, dex: str, notifiers: str, notify: str = "sink",
                   rule: str = "", extra: str = "", kind: str = "boost",
                   stream: str = "token-boosts/latest") -> Path:
    """One rule `boosts` on DEX Screener's `stream` to `notify`, with quick retries;
    `notifiers` is the `notifiers:` mapping (flow style), `extra` more `delivery` keys,
    `rule` more lines of the rule (each `\n    key: value`)."""
    rule = rule.replace("\n", "\n        ")  # the text below is dedented by 8
    return write_rules(tmp_path, f"""\
        version: 1
        state: {{path: {tmp_path / 'state.db'}}}
        sources:
          dexscreener: {{url: "{dex}", streams: [{stream}]}}
        notifiers: {notifiers}
        delivery: {{retry_initial: 100ms, retry_max: 500ms{extra}}}
        rules:
          - name: boosts
            on: {kind}
            notify: [{notify}]{rule}
        """)


async def start(nursery: trio.Nursery, path: Path, clock: TrioClock | None = None
                ) -> tuple[Daemon, trio.Event]:
    loaded = config_mod.load(path, env={})
    daemon = Daemon.create(loaded, clock or TrioClock())
    shutdown = trio.Event()
    await nursery.start(daemon.run, shutdown)
    return daemon, shutdown


async def first_run(rules: Path, dex: Any, sink: Any, path: str) -> None:
    """A daemon's first run: a baseline of what `dex` serves on `path`, then CCC1 is
    news and goes out; it stops once the outbox knows CCC1 went out (stopping between
    the platform's answer and that record would send it again next time)."""
    async with trio.open_nursery() as nursery:
        daemon, shutdown = await start(nursery, rules)
        await dex.wait_connections(path, 1)
        await dex.push(path, snapshot(boost("CCC1", 1)))
        await sink.wait_for(1)
        # The delivered mark is written from the worker after the sink has the message.
        while await daemon.delivery.call(daemon.db.outbox):  # noqa: ASYNC110 - a DB thread
            await trio.sleep(0.01)
        shutdown.set()


@asynccontextmanager
async def rulesd_process(*args: str, stderr: int = subprocess.DEVNULL
                         ) -> AsyncIterator[trio.Process]:
    """`python -m rulesd ARGS` as a real process; killed on exit if still running."""
    process = await trio.lowlevel.open_process(
        [sys.executable, "-m", "rulesd", *args], stdout=subprocess.PIPE, stderr=stderr)
    try:
        yield process
    finally:
        process.kill()
        await process.wait()


async def stop(process: trio.Process, signum: int = signal.SIGTERM) -> int:
    """Signal the process and return its exit code, which must come within 5 s."""
    process.send_signal(signum)
    with trio.fail_after(5):
        return await process.wait()


async def read_until(stream: trio.abc.ReceiveStream | None, needle: bytes) -> bytes:
    """Read a process's output until `needle` appears (or the stream ends)."""
    assert stream is not None
    seen = b""
    while needle not in seen:
        chunk = await stream.receive_some()
        if not chunk:
            break
        seen += chunk
    return seen


async def boost_through(process: trio.Process, dex: Any, said: bytes,
                        address: str = "BBB1") -> tuple[bytes, bytes]:
    """A `rulesd run` process (stderr piped) logs `said`; a new boost pushed once it is
    connected is printed; it stops with exit 0. Its whole log and what it printed."""
    with trio.fail_after(20):
        logged = await read_until(process.stderr, said)
        await dex.wait_connections(BOOSTS, 1)
        await dex.push(BOOSTS, snapshot(boost(address, 1)))
        printed = await read_until(process.stdout, address.encode())
    assert await stop(process) == 0
    return logged + await read_until(process.stderr, b"\0"), printed  # the log to its end


@asynccontextmanager
async def running_source(
    runner: Any, config: Any, clock: TrioClock | None = None, queue: int = 1000,
) -> AsyncIterator[tuple[trio.MemoryReceiveChannel[Any], dict[str, Any], Any]]:
    """Run one source's `run` on its own; yields (events, healths, what it started with)."""
    send, receive = trio.open_memory_channel[Any](queue)
    healths: dict[str, Any] = {}
    async with trio.open_nursery() as nursery:
        handle = await nursery.start(runner, config, send.send, clock or TrioClock(), healths)
        yield receive, healths, handle
        nursery.cancel_scope.cancel()


async def next_of(events: trio.MemoryReceiveChannel[Any], *kinds: str) -> Any:
    """The next event of one of `kinds`, skipping the others (source_up, ...)."""
    async for event in events:
        if event.kind in kinds:
            return event
    raise AssertionError("the source stopped")


# Rules files that once crashed `check` or killed the daemon on SIGHUP (issue 12):
# the part after HOSTILE_BASE, and the located problem rulesd must report instead.
HOSTILE_BASE = "version: 1\nsources: {dexscreener: {}}\nnotifiers: {c: stdout}\n" \
               "defaults: {notify: [c]}\n"
HOSTILE_FILES = [
    ("rules:\n  - {name: r, on: boost, message: '{{ amount | intcomma }}'}\n",
     "6:35: template error: No filter named 'intcomma'"),
    ("rules:\n  - name: r\n    on: price\n    where: {change: {of: price, window: "
     + "1" * 401 + ", pct: {gte: 1}}}\n", "8:41: a duration must be a number of seconds"),
    ("rules:\n  - {name: r, on: takeover, where: {description: {matches: 'a{4294967296}'}}}\n",
     "6:60: `matches`: a repetition over 1000"),
    ("rules:\n  - {name: r, on: boost, cooldown: .nan}\n",
     "6:36: a duration must be a number of seconds up to 10 years, got nan"),
    ("rules:\n  - {name: r, on: boost, group: {by: [chain], wait: .inf}}\n",
     "6:53: a duration must be a number of seconds up to 10 years, got inf"),
    ("rules: []\nx: " + "[" * 2000 + "]" * 2000 + "\n", "nested deeper than 64 levels"),
    ("a: &a [*a]\nrules: []\n", "5:4: nested deeper than 64 levels"),
    ("a: &a [x, x, x, x, x, x, x, x, x, x]\nb: &b [*a, *a, *a, *a, *a, *a, *a, *a, *a, *a]\n"
     "c: &c [*b, *b, *b, *b, *b, *b, *b, *b, *b, *b]\nd: &d [*c, *c, *c, *c, *c, *c, *c, *c,"
     " *c, *c]\ne: &e [*d, *d, *d, *d, *d, *d, *d, *d, *d, *d]\nf: &f [*e, *e, *e, *e, *e, "
     "*e, *e, *e, *e, *e]\ng: [*f, *f, *f, *f, *f, *f, *f, *f, *f, *f]\nrules: []\n",
     "more than 1000000 values"),
]


def boosts_file(tmp_path: Path, dex_url: str, rest: str) -> Path:
    """A rules file of in-memory state and DEX Screener's latest boosts from `dex_url`;
    `rest` is the file's other top-level keys (notifiers, control, rules, ...)."""
    return write_rules(tmp_path, f"""\
version: 1
state: {{path: ":memory:"}}
sources:
  dexscreener: {{url: "{dex_url}", streams: [token-boosts/latest]}}
""" + rest)
