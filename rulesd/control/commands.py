"""What the control bot answers: one command's text in, one reply out.

Commands: `/status`, `/firing`, `/recent [n]`, `/mute <rule|token> <duration>
[comment]`, `/unmute <id>`, `/silences`, `/watch <chain:address> [duration]`,
`/unwatch <chain:address>`, `/watching`, `/help`. A bad argument is answered with
what was expected; nothing here raises. What the daemon does for them is behind
`Operations` (the bot never touches the daemon).
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from typing import Any, Final, Protocol

from rulesd.delivery.escaping import neutralize
from rulesd.durations import format_duration, parse_duration

HELP: Final = """\
/status — sources, firing, outbox, role
/firing — what fires now
/recent [n] — the last n alerts (10)
/mute <rule|token> <duration> [comment] — silence a rule, or a token on every rule
/unmute <id> — end a silence
/silences — the silences
/watch <chain:address> [duration] — poll a token's market (24h)
/unwatch <chain:address> — stop it
/watching — the watched tokens"""
# Replies longer than this are cut (Telegram takes 4,096 characters).
MAX_REPLY: Final = 3500


class Unavailable(Exception):
    """What a command needs cannot be had now (the state database is out of reach)."""


class Operations(Protocol):
    """What the bot may ask of the daemon."""

    def rules(self) -> Sequence[str]: ...
    async def status(self) -> dict[str, Any]: ...
    def firing(self) -> list[tuple[str, str, float]]: ...  # rule, key, since
    async def recent(self, count: int) -> list[tuple[float, str, str, str]]: ...
    async def mute(self, rules: Sequence[str], token: str | None, seconds: float,
                   comment: str) -> list[str]: ...  # silence ids
    async def unmute(self, silence_id: str) -> bool: ...
    async def silences(self) -> list[tuple[str, str, float, str]]: ...  # id, what, ends, why
    def watch(self, chain: str, address: str, seconds: float) -> None: ...
    def unwatch(self, chain: str, address: str) -> bool: ...
    def watching(self) -> list[tuple[str, float, float | None]]: ...  # key, until, price
    async def alert(self, reference: str) -> tuple[str, str] | None: ...  # rule, key
    def now(self) -> float: ...
    # Write what the command changed with the update `offset` past it, then hold it;
    # what went wrong when nothing was written.
    async def commit(self, offset: int) -> str | None: ...


def _when(epoch: float) -> str:
    return time.strftime("%H:%M UTC", time.gmtime(epoch))


def _token(text: str) -> tuple[str, str] | None:
    chain, _, address = text.partition(":")
    return (chain.lower(), address) if chain and address else None


async def answer(ops: Operations, text: str, user: str) -> str:
    """The reply to one command from `user` (already known to be an admin)."""
    words = text.split()
    command = words[0].split("@", 1)[0].lower() if words else ""
    args = words[1:]
    try:
        reply = await _answer(ops, command, args, user)
    except ValueError as exc:
        reply = f"{exc}\n\n{HELP}"
    except Unavailable as exc:
        reply = f"Cannot do that now: {exc}. Nothing changed."
    # Vendor text (symbols, titles) never pings and never controls: line by line.
    reply = "\n".join(neutralize(line, "text") for line in reply.split("\n"))
    return reply if len(reply) <= MAX_REPLY else reply[:MAX_REPLY] + "\n…"


async def _answer(ops: Operations, command: str, args: list[str], user: str) -> str:
    if command in ("/help", "/start"):
        return HELP
    if command == "/status":
        s = await ops.status()
        return (f"{s['role']} · {s['readiness']}\n{s['firing']} firing · outbox "
                f"{s['pending']} pending, {s['dead']} dead\n" + "\n".join(
                    f"{name}: {state}" for name, state in s["sources"]))
    if command == "/firing":
        firing = ops.firing()
        return "\n".join(f"{rule} · {key} since {_when(since)}"
                         for rule, key, since in firing) or "nothing is firing"
    if command == "/recent":
        count = _count(args[0]) if args else 10
        recent = await ops.recent(count)
        return "\n".join(f"{_when(at)} {rule} → {state}: {title}"
                         for at, rule, state, title in recent) or "no alert yet"
    if command == "/mute":
        if len(args) < 2:
            raise ValueError("/mute needs what and for how long: /mute <rule|token> 1h")
        target, seconds = args[0], _duration(args[1])
        comment = " ".join(args[2:]) or f"muted from the chat by {user}"
        rules = ops.rules()
        ids = await ops.mute([target] if target in rules else list(rules),
                             None if target in rules else target, seconds, comment)
        what = f"rule {target}" if target in rules else f"token {target} on every rule"
        return f"muted {what} for {format_duration(seconds)} ({', '.join(ids)})"
    if command == "/unmute":
        if len(args) != 1:
            raise ValueError("/unmute needs a silence id: /unmute 3fa2c9d1 (see /silences)")
        if not await ops.unmute(args[0]):
            raise ValueError(f"no silence {args[0]!r} (see /silences)")
        return f"silence {args[0]} ended"
    if command == "/silences":
        silences = await ops.silences()
        return "\n".join(f"{sid} · {what} until {_when(ends)}{' · ' + why if why else ''}"
                         for sid, what, ends, why in silences) or "no silence"
    if command in ("/watch", "/unwatch"):
        token = _token(args[0]) if args else None
        if token is None:
            raise ValueError(f"{command} needs a token as chain:address, e.g. "
                             f"{command} solana:7GCihgDB8fe6KNjn2MYtkzZcRjQy3t9GHdC8uHYmW2hr")
        if command == "/unwatch":
            if not ops.unwatch(*token):
                raise ValueError(f"{args[0]} is not watched (see /watching)")
            return f"stopped watching {args[0]}"
        seconds = _duration(args[1]) if len(args) > 1 else 86400.0
        ops.watch(*token, seconds)
        return f"watching {args[0]} for {format_duration(seconds)}"
    if command == "/watching":
        watched = ops.watching()
        return "\n".join(f"{key} until {_when(until)}"
                         + (f" (from {price:g} USD)" if price is not None else "")
                         for key, until, price in watched) or "nothing is watched"
    raise ValueError(f"unknown command {command or '(empty)'}")


def _count(text: str) -> int:
    if not text.isdigit() or not 1 <= int(text) <= 50:
        raise ValueError(f"/recent takes a number from 1 to 50, got {text!r}")
    return int(text)


def _duration(text: str) -> float:
    try:
        seconds = parse_duration(text)
    except ValueError:
        raise ValueError(f"expected a duration like 30m, 1h or 2d, got {text!r}") from None
    if seconds <= 0:
        raise ValueError("a duration must be more than nothing")
    return seconds
