"""The daemon's silences at run time: one service behind the API, the status page and the
daemon. It keeps them in the state database, holds the live set the engine matches
alerts against, and on a shared database follows what other instances and the
command line write there."""

from __future__ import annotations

import contextlib
import logging
import time
from collections.abc import Awaitable, Callable, Iterable
from typing import Any, Final, TypeVar

import trio

from rulesd.clock import Clock
from rulesd.silences import Silence, Silences, ended
from rulesd.state.backend import StateBackend, StateDBError

log = logging.getLogger("rulesd.daemon")

# On a shared database: how often the leader reads silences other instances saved.
FOLLOW_SILENCES_S: Final = 5.0

T = TypeVar("T")
# Runs a state-backend method in the database's worker thread.
Call = Callable[..., Awaitable[Any]]


class SilenceService:
    def __init__(self, db: StateBackend, call: Call, clock: Clock,
                 silences: Iterable[Silence] = ()) -> None:
        self._db = db
        self._call = call
        self._clock = clock
        self.live = Silences(silences)  # what the engine matches alerts against

    def hold(self, silences: Iterable[Silence]) -> None:
        """Hold exactly these (a new term read them from the database)."""
        self.live.replace(silences)

    async def add(self, silence: Silence) -> None:
        """Mute what it matches from now on (kept in the state database; on a shared
        one, the leader reads it within FOLLOW_SILENCES_S wherever it was added)."""
        await self._call(self._db.save_silence, silence)
        self.took(silence)

    def took(self, silence: Silence) -> None:
        """Hold a silence made or ended that is written already (a chat command writes
        it in the transaction that records the command)."""
        self.live.add(silence)
        if silence.ends <= self._clock.now():
            log.info("silence %s expired", silence.id)
            return
        log.info("silence %s added: %s until %s%s", silence.id, silence.describe(),
                 time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime(silence.ends)),
                 f" ({silence.comment})" if silence.comment else "")

    async def ending(self, silence_id: str) -> Silence | None:
        """The silence `silence_id` ended now, not written yet; None when there is no
        such one (on a shared database any instance may have added it)."""
        if self._db.shared:
            self.live.replace(await self._call(self._db.silences))
        old = self.live.get(silence_id)
        return None if old is None else ended(old, self._clock.now())

    async def expire(self, silence_id: str) -> Silence | None:
        """End one now; the ended silence, or None when there is no such one."""
        done = await self.ending(silence_id)
        if done is not None:
            await self._call(self._db.save_silence, done)
            self.took(done)
        return done

    async def all(self) -> list[Silence]:
        """Every silence: on a shared database the table (any instance may have added
        one), else what this daemon holds."""
        if self._db.shared:
            with contextlib.suppress(StateDBError):
                listed: list[Silence] = await self._call(self._db.silences)
                return listed
        return self.live.all()

    async def follow(self) -> None:
        """On a shared database, silences saved by other instances or the command line
        reach the leader within FOLLOW_SILENCES_S."""
        while True:
            await trio.sleep(FOLLOW_SILENCES_S)
            with contextlib.suppress(StateDBError):  # the writes report an outage
                self.live.replace(await self._call(self._db.silences))
