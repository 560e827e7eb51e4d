"""What the control bot may do, done on a running daemon's parts (through the same
narrow model the HTTP endpoint reads), and the bot's start in a term.

A command's changes (silences made or ended, watches started or stopped) are staged,
then written with the update offset past the command in one transaction (`commit`),
and only then held: a crash or a failover anywhere in between leaves the command
either wholly done and past, or undone and asked again of the next leader.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any, Final, TypeVar

import trio

from rulesd.control.api import BotApi
from rulesd.control.bot import ControlBot
from rulesd.control.commands import Unavailable
from rulesd.delivery.telegram_bot import reference as button_reference
from rulesd.http import view
from rulesd.http.model import Served
from rulesd.silences import Silence, new_id
from rulesd.state.backend import NotLeader, StateDBError
from rulesd.state.store import Changes, Watch
from rulesd.tokens import canonical_address, canonical_chain, token_key

# How far back a button's alert is looked for.
RECENT: Final = 2000
# The rule name a watch started from the chat carries (`watch.rule`).
CHAT_WATCH: Final = "/watch"
_OFFSET: Final = ("telegram", "offset")
T = TypeVar("T")


class DaemonOperations:
    def __init__(self, daemon: Served) -> None:
        self._d = daemon
        # The command at hand's changes, until `commit`.
        self._silences: list[Silence] = []
        self._watches: list[tuple[tuple[str, str], Watch | None]] = []

    def rules(self) -> Sequence[str]:
        return [rule.name for rule in self._d.engine.ruleset.rules]

    async def status(self) -> dict[str, Any]:
        try:
            counts = await self._read(self._d.db.outbox_counts)
        except Unavailable:
            counts = {}
        return {"role": self._d.role, "readiness": view.readiness(self._d)[1],
                "firing": len(self._d.engine.state.firing),
                "pending": counts.get("pending", 0), "dead": counts.get("dead", 0),
                "sources": [(name, h.state) for name, h in sorted(self._d.healths.items())]}

    def firing(self) -> list[tuple[str, str, float]]:
        return [(rule, key, firing.since)
                for (rule, key), firing in self._d.engine.state.firing.items()]

    async def _read(self, fn: Callable[..., T], *args: Any) -> T:
        """A read of the state database, in its thread; Unavailable when out of reach."""
        try:
            return await self._d.delivery.call(fn, *args)
        except StateDBError as exc:
            raise Unavailable(str(exc)) from None

    async def recent(self, count: int) -> list[tuple[float, str, str, str]]:
        rows = await self._read(self._d.db.recent, count)
        return [(r.delivery.created, r.delivery.rule, r.state, r.delivery.title)
                for r in rows]

    async def mute(self, rules: Sequence[str], token: str | None, seconds: float,
                   comment: str) -> list[str]:
        now = self._d.clock.now()
        made = [Silence(new_id(), rule, now, now + seconds, token=token,
                        comment=comment[:500]) for rule in rules]
        self._silences += made
        return [silence.id for silence in made]

    async def unmute(self, silence_id: str) -> bool:
        try:
            done = await self._d.silences.ending(silence_id)
        except StateDBError as exc:
            raise Unavailable(str(exc)) from None
        if done is not None:
            self._silences.append(done)
        return done is not None

    async def silences(self) -> list[tuple[str, str, float, str]]:
        now = self._d.clock.now()
        return [(s.id, s.describe(), s.ends, s.comment)
                for s in await self._d.silences.all() if s.ends > now]

    def watch(self, chain: str, address: str, seconds: float) -> None:
        now = self._d.clock.now()
        self._watches.append(((CHAT_WATCH, token_key(chain, address)), Watch(
            now, now + seconds, 30.0, None, canonical_chain(chain),
            canonical_address(address), None)))

    def unwatch(self, chain: str, address: str) -> bool:
        found = [k for k in self._d.engine.state.watches if k[1] == token_key(chain, address)]
        self._watches += [(key, None) for key in found]
        return bool(found)

    async def commit(self, offset: int) -> str | None:
        """Write the staged changes and `offset` in one transaction, then hold them;
        what went wrong, when nothing was written."""
        silences, self._silences = self._silences, []
        watches, self._watches = self._watches, []
        changes = Changes([], [], [("control", _OFFSET, offset)] + [
            ("watches", key, watch) for key, watch in watches if watch is not None],
            [("watches", key) for key, watch in watches if watch is None])
        try:
            await self._d.delivery.call(self._d.db.save_command, changes, silences)
        except NotLeader as exc:  # the term ends: the next leader answers it
            if self._d.leadership is not None:
                self._d.leadership.lose(str(exc))
                await trio.lowlevel.checkpoint()  # cancelled: no reply from here
            return "this instance no longer leads"
        except StateDBError as exc:
            return str(exc)
        for silence in silences:
            self._d.silences.took(silence)
        for key, watch in watches:  # written with the offset: not journaled again
            self._d.engine.state.watches.written(key, watch)
        if watches and self._d.enrichment is not None:
            self._d.enrichment.watcher.poke()
        return None

    async def alert(self, reference: str) -> tuple[str, str] | None:
        """The rule and key of a recent alert a button names (by its reference)."""
        rows = await self._read(self._d.db.recent, RECENT)
        for row in rows:
            if button_reference(row.delivery.alert_id) == reference:
                rule, _, rest = row.delivery.alert_id.partition("|")
                return rule, rest.partition("|")[0]
        return None

    def now(self) -> float:
        return self._d.clock.now()

    def watching(self) -> list[tuple[str, float, float | None]]:
        return [(key, watch.until, watch.price)
                for (_, key), watch in self._d.engine.state.watches.items()]


async def serve(daemon: Served) -> None:
    """The control bot of this term, while the file configures one."""
    config = daemon.loaded.config.control
    if config is None or config.telegram is None:
        return
    telegram = config.telegram
    api = BotApi(telegram.api, telegram.bot)
    daemon.control.mask = daemon.delivery.redact

    bot = ControlBot(api, DaemonOperations(daemon), frozenset(telegram.admins),
                     frozenset(telegram.chats), daemon.control, telegram.bot)
    # The offset the last term wrote (a term starts from the state the last one left).
    stored = daemon.engine.state.control.get(_OFFSET)
    try:
        await bot.run(int(stored) if isinstance(stored, int | float) else 0)
    finally:
        await api.aclose()
