"""Replay: a capture's frames through exactly the parsers the live sources use.

Each source's parser comes from the registry with the rules file's config for
that source, one stream parser per captured stream, so a replay gives the
events the live daemon gave. Time is taken from the capture's `t`.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Mapping, Sequence
from typing import Any

import trio

from rulesd.capture import Frame
from rulesd.enrich.recorded import RecordedAnswers, is_answer
from rulesd.events import Event
from rulesd.sources import SOURCES, Parser, StreamParser
from rulesd.sources.health import SourceHealth

log = logging.getLogger(__name__)


class Replayer:
    """Frames in, events out, through the configured sources' own parsers."""

    def __init__(self, sources: Mapping[str, Any],
                 answers: RecordedAnswers | None = None) -> None:
        self.health = SourceHealth("replay")
        # The REST answers the capture holds, for the replayed lookups and watches.
        self.answers = answers or RecordedAnswers()
        self._parsers: dict[str, Parser] = {
            name: SOURCES[name].parser(config) for name, config in sources.items()}
        self._streams: dict[tuple[str, str], StreamParser] = {}
        self.skipped: dict[str, int] = {}

    def events(self, frame: Frame) -> list[Event]:
        if is_answer(frame.source, frame.stream):
            if frame.data is not None:
                self.answers.add(frame.source, frame.stream, frame.data)
            return []
        parser = self._parsers.get(frame.source)
        if parser is None:  # a source the rules file does not configure
            if frame.source not in self.skipped:
                log.warning("replay: frames of %r are skipped: the rules file does not "
                            "configure that source", frame.source)
            self.skipped[frame.source] = self.skipped.get(frame.source, 0) + 1
            return []
        key = (frame.source, frame.stream)
        stream = self._streams.get(key)
        if stream is None:
            stream = self._streams[key] = parser.stream(frame.stream, self.health)
        if frame.data is None:
            stream.connected()
            return []
        return stream.feed(frame.data, frame.t)


async def replay(frames: Sequence[Frame], sources: Mapping[str, Any],
                 emit: Callable[[Event], Awaitable[None]], done: trio.Event, *,
                 answers: RecordedAnswers | None = None,
                 task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED) -> None:
    """Feed a capture's frames as events, each at its time (`t`, on trio's clock
    relative to the first frame: under MockClock a replay takes no real time); its
    REST answers go to `answers`."""
    replayer = Replayer(sources, answers)
    task_status.started()
    if frames:
        start, first = trio.current_time(), frames[0].t
        for frame in frames:
            await trio.sleep_until(start + (frame.t - first))
            for event in replayer.events(frame):
                await emit(event)
    done.set()
