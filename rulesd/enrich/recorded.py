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
import re
from typing import Any, Final

import orjson
import trio

# What "just before" is: the capture keeps microseconds; the virtual clock does not
# run the replay in exactly the live order within one instant.
SLACK_S: Final = 0.01
PREFIX: Final = "tokens/v1/"


# The safety services: every line of theirs is an answer.
SERVICES: Final = ("goplus", "rugcheck")


class NoAnswer(Exception):
    """The capture holds no answer to a request (the request fails, as it did live)."""


def is_answer(source: str, stream: str) -> bool:
    """Whether a capture line is a REST answer rather than a stream's frame."""
    return (source == "dexscreener" and stream.startswith(PREFIX)) or source in SERVICES


_LIST: Final = re.compile(r"[^/?=&]+(?:,[^/?=&]+)+")


def _key(source: str, path: str) -> str:
    """A request with its lists of addresses in a stable order (a live batch's order
    follows the events', which a replay keeps, but matching should not depend on it)."""
    return source + "|" + _LIST.sub(lambda m: ",".join(sorted(m[0].split(","))), path)


class RecordedAnswers:
    def __init__(self, wait_s: float = 60.0) -> None:
        self.wait_s = wait_s
        self._answers: dict[str, collections.deque[tuple[float, Any]]] = \
            collections.defaultdict(collections.deque)
        self._arrived = trio.Event()
        self.used = 0

    def add(self, source: str, path: str, text: str | bytes) -> None:
        try:
            data = orjson.loads(text)
        except orjson.JSONDecodeError:
            return  # a broken line answers nothing (the request fails, as it would have)
        self._answers[_key(source, path)].append((trio.current_time(), data))
        self._arrived.set()
        self._arrived = trio.Event()

    async def get(self, source: str, path: str) -> Any:
        """The recorded answer to `path` of `source`; raise NoAnswer."""
        path = _key(source, path)
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
        raise NoAnswer("no answer in the capture")
