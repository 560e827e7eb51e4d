"""What the control bot may do, done on a running daemon's parts (through the same
narrow model the HTTP endpoint reads), and the bot's start in a term."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Final

from rulesd.control.api import BotApi
from rulesd.control.bot import ControlBot
from rulesd.delivery.telegram_bot import reference as button_reference
from rulesd.http import view
from rulesd.http.model import Served
from rulesd.silences import Silence, new_id
from rulesd.state.store import Changes, Watch
from rulesd.tokens import canonical_address, canonical_chain, token_key

# How far back a button's alert is looked for.
RECENT: Final = 2000
# The rule name a watch started from the chat carries (`watch.rule`).
CHAT_WATCH: Final = "/watch"
_OFFSET: Final = ("telegram", "offset")


class DaemonOperations:
    def __init__(self, daemon: Served) -> None:
        self._d = daemon

    def rules(self) -> Sequence[str]:
        return [rule.name for rule in self._d.engine.ruleset.rules]

    def status(self) -> dict[str, Any]:
        counts = self._d.db.outbox_counts() if not self._d.db.shared else {}
        return {"role": self._d.role, "readiness": view.readiness(self._d)[1],
                "firing": len(self._d.engine.state.firing),
                "pending": counts.get("pending", 0), "dead": counts.get("dead", 0),
                "sources": [(name, h.state) for name, h in sorted(self._d.healths.items())]}

    def firing(self) -> list[tuple[str, str, float]]:
        return [(rule, key, firing.since)
                for (rule, key), firing in self._d.engine.state.firing.items()]

    async def recent(self, count: int) -> list[tuple[float, str, str, str]]:
        rows = await self._d.delivery.call(self._d.db.recent, count)
        return [(r.delivery.created, r.delivery.rule, r.state, r.delivery.title)
                for r in rows]

    async def mute(self, rules: Sequence[str], token: str | None, seconds: float,
                   comment: str) -> list[str]:
        now = self._d.clock.now()
        ids = []
        for rule in rules:
            silence = Silence(new_id(), rule, now, now + seconds, token=token,
                              comment=comment[:500])
            await self._d.silences.add(silence)
            ids.append(silence.id)
        return ids

    async def unmute(self, silence_id: str) -> bool:
        return await self._d.silences.expire(silence_id) is not None

    async def silences(self) -> list[tuple[str, str, float, str]]:
        now = self._d.clock.now()
        return [(s.id, s.describe(), s.ends, s.comment)
                for s in await self._d.silences.all() if s.ends > now]

    def watch(self, chain: str, address: str, seconds: float) -> None:
        now = self._d.clock.now()
        key = token_key(chain, address)
        self._d.engine.state.watches[(CHAT_WATCH, key)] = Watch(
            now, now + seconds, 30.0, None, canonical_chain(chain),
            canonical_address(address), None)
        if self._d.enrichment is not None:
            self._d.enrichment.watcher.poke()

    def unwatch(self, chain: str, address: str) -> bool:
        watches = self._d.engine.state.watches
        found = [k for k in watches if k[1] == token_key(chain, address)]
        for key in found:
            watches.discard(key)
        return bool(found)

    async def alert(self, reference: str) -> tuple[str, str] | None:
        """The rule and key of a recent alert a button names (by its reference)."""
        rows = await self._d.delivery.call(self._d.db.recent, RECENT)
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

    async def load_offset() -> int:
        store = await daemon.delivery.call(daemon.db.load)
        value = store.control.get(_OFFSET)
        return int(value) if isinstance(value, int | float) else 0

    async def save_offset(offset: int) -> None:
        await daemon.delivery.call(daemon.db.save, Changes(
            [], [], [("control", _OFFSET, offset)], []), [])

    bot = ControlBot(api, DaemonOperations(daemon), frozenset(telegram.admins),
                     frozenset(telegram.chats), load_offset, save_offset, telegram.bot)
    try:
        await bot.run()
    finally:
        await api.aclose()
