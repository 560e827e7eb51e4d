"""The events that wait for their lookups' answers, and only those.

The intake hands over an event whose kind some rule waits on (it names `market.`
or `security.` fields) after the other rules saw it. Here it waits for the
answers its rules need — each lookup bounded by its own timeout, all at once —
and then those rules see it with `market` and `security` filled in, or, where a
lookup failed or took too long, with every value of it unknown (null: no
condition on them holds), counted. Each waiting event is a task of its own: one
slow chain or service never holds up another's events.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from typing import Any, Protocol

import attrs
import trio

from rulesd.events import Event, TokenRef
from rulesd.histogram import Histogram


class Answers(Protocol):
    """One lookup as the stage uses it (`market`, `security`)."""

    def ask(self, token: TokenRef) -> Any:
        """Ask now (joining batches in the order events came); what `answer` takes."""

    async def answer(self, asked: Any) -> Mapping[str, Any]:
        """The values, once answered or timed out (every value None then); never raises."""
        ...

    async def run(self, *, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED
                  ) -> None: ...


@attrs.define
class WaitStats:
    waited: int = 0  # events that waited for lookups
    waiting: int = 0  # waiting now
    wait: Histogram = attrs.field(factory=Histogram)


class Enricher:
    def __init__(self, answers: Mapping[str, Answers],
                 needs: Callable[[str], frozenset[str]],
                 evaluate: Callable[[Event], Awaitable[None]]) -> None:
        self.answers = answers
        self.stats = WaitStats()
        self._needs = needs  # the lookups the loaded rules on a kind wait for
        self._evaluate = evaluate  # the waiting rules, on the event with its answers
        self._nursery: trio.Nursery | None = None

    async def run(self, *, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED
                  ) -> None:
        """Serve until cancelled (the term's end): what still waits then is dropped
        with the term, as the stream frames not yet read are."""
        async with trio.open_nursery() as nursery:
            for answers in self.answers.values():
                await nursery.start(answers.run)
            self._nursery = nursery
            task_status.started()

    def submit(self, event: Event) -> None:
        """Let `event` wait for its answers (called in the source's task: returns at
        once)."""
        assert self._nursery is not None, "Enricher.run is not running"
        self.stats.waited += 1
        self.stats.waiting += 1
        token = event.token
        asked = {name: self.answers[name].ask(token) if token is not None else None
                 for name in self._needs(event.kind) if name in self.answers}
        self._nursery.start_soon(self._wait, event, asked)

    async def _wait(self, event: Event, asked: Mapping[str, Any]) -> None:
        started = trio.current_time()
        fields: dict[str, Any] = {}

        async def fill(name: str) -> None:
            fields[name] = await self.answers[name].answer(asked[name])

        async with trio.open_nursery() as nursery:
            for name in asked:
                nursery.start_soon(fill, name)
        self.stats.wait.observe(trio.current_time() - started)
        self.stats.waiting -= 1
        await self._evaluate(attrs.evolve(event, fields={**event.fields, **fields}))
