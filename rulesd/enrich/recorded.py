"""A capture's REST answers, served to a replay in place of the API.

`rulesd record` writes every answer the live lookups and watches got as a line
of the capture (`"stream": "tokens/v1/<chain>/<addresses>"`, the body as text), at
the time it arrived. A replay hands those lines here as it reaches them, and the
replayed lookups ask here: a request takes the first answer to the same path that
arrived after it was asked (or just before: the capture's times are rounded); a
request no answer comes for fails after `wait_s`, as it did live.
"""

from __future__ import annotations

import collections
from typing import Any, Final

import orjson
import trio

from rulesd.enrich.client import LookupFailed, tokens_path

# What "just before" is: the capture keeps microseconds; the virtual clock does not
# run the replay in exactly the live order within one instant.
SLACK_S: Final = 0.01
PREFIX: Final = "tokens/v1/"


def is_answer(source: str, stream: str) -> bool:
    """Whether a capture line is a REST answer rather than a stream's frame."""
    return source == "dexscreener" and stream.startswith(PREFIX)


def _key(path: str) -> str:
    """A request's path with its addresses in a stable order (a live batch's order
    follows the events', which a replay keeps, but matching should not depend on it)."""
    head, _, addresses = path.rpartition("/")
    return f"{head}/{','.join(sorted(addresses.split(',')))}"


class RecordedAnswers:
    def __init__(self, wait_s: float = 60.0) -> None:
        self.wait_s = wait_s
        self._answers: dict[str, collections.deque[tuple[float, Any]]] = \
            collections.defaultdict(collections.deque)
        self._arrived = trio.Event()
        self.used = 0

    def add(self, path: str, text: str | bytes) -> None:
        try:
            data = orjson.loads(text)
        except orjson.JSONDecodeError:
            return  # a broken line answers nothing (the request fails, as it would have)
        self._answers[_key(path)].append((trio.current_time(), data))
        self._arrived.set()
        self._arrived = trio.Event()

    async def tokens(self, chain: str, addresses: list[str]) -> Any:
        path = _key(tokens_path(chain, addresses))
        asked = trio.current_time() - SLACK_S
        with trio.move_on_after(self.wait_s):
            while True:
                queue = self._answers.get(path)
                while queue and queue[0][0] < asked:
                    queue.popleft()  # an answer to an earlier request
                if queue:
                    self.used += 1
                    return queue.popleft()[1]
                await self._arrived.wait()
        raise LookupFailed("no answer in the capture")
