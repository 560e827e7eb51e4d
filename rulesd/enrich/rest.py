"""A REST API asked through its host's budget, kept like a connection.

`get(path)` asks `<url>/<path>` and returns the JSON answer. A 429 pauses the
host's budget for as long as it asks and the request is asked again; a server
error, a timeout or a refused connection is asked again after the budget's
pacing, `TRIES` times in all. A 404 is "the service knows nothing of it" where
the service says so that way (`not_found=None`). Every answer used is handed to
the tap (captures) as it arrived, so a replay sees exactly it. Health is kept
like a stream's: up after an answer, down with the reason after a failure
(logged once per outage), with `source_down`/`source_up` events.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Mapping
from typing import Any, Final

import httpx
import orjson

from rulesd.clock import Clock
from rulesd.delivery.answers import Answer, reason_of, wait_of
from rulesd.enrich.budget import Budget
from rulesd.enrich.recorded import NoAnswer, RecordedAnswers
from rulesd.events import Event
from rulesd.sources.health import SourceHealth
from rulesd.sources.tap import Tap, no_tap

log = logging.getLogger("rulesd.enrich")

# Attempts per request (a 429 does not count: it waits as asked and asks again).
TRIES: Final = 3
# 429s in a row one request waits through before it gives up.
MAX_THROTTLED: Final = 10


class LookupFailed(Exception):
    """The API did not answer usably: the reason, for the log and the status page."""


class RestClient:
    def __init__(self, source: str, stream: str, url: str, budget: Budget, timeout_s: float,
                 clock: Clock, health: SourceHealth, *, tap: Tap = no_tap,
                 emit: Callable[[Event], Awaitable[None]] | None = None,
                 headers: Mapping[str, str] | None = None, not_found: bool = False,
                 replay: RecordedAnswers | None = None) -> None:
        """`source` and `stream` name it in captures and `source_down` events;
        `not_found`: a 404 answers None (unknown) instead of failing; `replay`: a
        capture's answers instead of the service."""
        self.replay = replay
        self.source, self.stream = source, stream
        self.url = url.rstrip("/")
        self.headers = {"Accept": "application/json", "User-Agent": "rulesd",
                        **(headers or {})}
        self.not_found = not_found
        self.budget = budget
        self.health = health
        self.timeout_s = timeout_s
        self._clock = clock
        self._tap = tap
        self._emit = emit
        self._http: httpx.AsyncClient | None = None

    async def aclose(self) -> None:
        if self._http is not None:
            await self._http.aclose()
            self._http = None

    async def get(self, path: str) -> Any:
        """The JSON answer to `path` (None: a 404 where that means unknown); raise
        LookupFailed."""
        if self.replay is not None:
            try:
                return await self.replay.get(self.source, path)
            except NoAnswer as exc:
                raise LookupFailed(str(exc)) from None
        failure = "no answer"
        tries = throttled = 0
        while tries < TRIES:
            await self.budget.turn()
            try:
                answer = await self._get(path)
            except (httpx.HTTPError, OSError) as exc:
                failure = _said(exc)
                tries += 1
                continue
            if answer.status == 429:
                throttled += 1
                pause = self.budget.throttled(wait_of(answer, self._clock.now()))
                log.info("%s: asks to slow down (429); every request waits %.3gs",
                         self.health.name, pause)
                if throttled >= MAX_THROTTLED:
                    failure = f"HTTP 429 {throttled} times in a row"
                    break
                continue
            self.budget.answered()
            if answer.status == 404 and self.not_found:
                self._tap(self.source, path, "null")
                await self._up()
                return None
            if answer.status != 200:
                failure = f"HTTP {answer.status}: {reason_of(answer)}"
                tries += 1
                if 400 <= answer.status < 500:
                    break  # asking again would get the same answer
                continue
            try:
                data = orjson.loads(answer.body)
            except orjson.JSONDecodeError:
                failure, tries = "the answer is not JSON", tries + 1
                continue
            self._tap(self.source, path, answer.body)
            await self._up()
            return data
        await self._down(failure)
        raise LookupFailed(failure)

    async def _get(self, path: str) -> Answer:
        if self._http is None:
            self._http = httpx.AsyncClient(headers=self.headers)
        response = await self._http.get(f"{self.url}/{path}", timeout=self.timeout_s)
        self.health.saw(response.text, self._clock.now())
        return Answer(response.status_code, response.headers.get("retry-after"),
                      response.text)

    async def _up(self) -> None:
        health = self.health
        if health.state != "up":
            if health.state == "down":
                log.warning("%s: answering again", health.name)
            health.state = "up"
            health.connects += 1
            await self._event("source_up", "answering")

    async def _down(self, reason: str) -> None:
        health = self.health
        health.failures += 1
        health.last_error = reason
        if health.state != "down":
            log.warning("%s: %s (events that wait for its answers get none until it "
                        "answers)", health.name, reason)
            health.state = "down"
            await self._event("source_down", reason)

    async def _event(self, kind: str, reason: str) -> None:
        if self._emit is None:
            return
        now = self._clock.now()
        await self._emit(Event(kind, self.source, self.stream, None, now, now,
                               {"reason": reason}))


def _said(exc: BaseException) -> str:
    """What went wrong, in a line (httpx's timeouts say nothing by themselves)."""
    if isinstance(exc, httpx.TimeoutException):
        return "the request timed out"
    text = str(exc) or type(exc).__name__
    return f"cannot connect: {text}" if isinstance(exc, httpx.ConnectError | OSError) else text
