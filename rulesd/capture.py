"""The capture format (JSONL, one frame a line) and the replay of a capture.

`{"t": <receive epoch s>, "source": "dexscreener", "stream": "token-boosts/latest/v1",
"text": "<frame>"}`, with `"b64"` in place of `"text"` for binary frames and
`"event": "connected"` (no frame) where a connection was (re)established.
Replay feeds the frames through the same parsers as the live sources, with
time taken from `t`.
"""

from __future__ import annotations

import base64
import binascii
from collections import Counter
from collections.abc import Awaitable, Callable, Mapping, Sequence
from pathlib import Path
from typing import Any, TextIO

import attrs
import orjson
import trio

from rulesd.clock import Clock
from rulesd.events import Event
from rulesd.source_config import SourcesConfig
from rulesd.sources import coinmarketcap, mobula_views, tokenmetrics
from rulesd.sources.coinmarketcap import RecentKeys, naming_of
from rulesd.sources.dexscreener import StreamReader
from rulesd.sources.health import Malformed, SourceHealth


@attrs.frozen
class Frame:
    t: float
    source: str
    stream: str
    data: str | bytes | None  # None: a connection was established

    def to_json(self) -> str:
        line: dict[str, Any] = {"t": round(self.t, 6), "source": self.source,
                                "stream": self.stream}
        if self.data is None:
            line["event"] = "connected"
        elif isinstance(self.data, bytes):
            line["b64"] = base64.b64encode(self.data).decode()
        else:
            line["text"] = self.data
        return orjson.dumps(line).decode()


def parse_line(line: str) -> Frame:
    """One capture line; raise ValueError saying what is wrong with it."""
    try:
        raw = orjson.loads(line)
    except orjson.JSONDecodeError as exc:
        raise ValueError(f"not JSON: {exc}") from exc
    if not isinstance(raw, dict):
        raise ValueError("not a JSON object")
    return frame_of(raw)


def frame_of(raw: Mapping[str, Any]) -> Frame:
    """A frame from a capture line's (or a rule test's) keys; raise ValueError."""
    t, source, stream = raw.get("t"), raw.get("source"), raw.get("stream")
    if isinstance(t, bool) or not isinstance(t, int | float):
        raise ValueError("`t` must be epoch seconds")
    if not isinstance(source, str) or not isinstance(stream, str):
        raise ValueError("`source` and `stream` must be strings")
    if raw.get("event") == "connected":
        return Frame(float(t), source, stream, None)
    if isinstance(raw.get("text"), str):
        return Frame(float(t), source, stream, raw["text"])
    if isinstance(raw.get("b64"), str):
        try:
            return Frame(float(t), source, stream, base64.b64decode(raw["b64"], validate=True))
        except binascii.Error as exc:
            raise ValueError(f"`b64` is not base64: {exc}") from exc
    raise ValueError("a line needs `text`, `b64` or `event: connected`")


def read(path: str | Path) -> tuple[list[Frame], list[tuple[int, str]]]:
    """The frames of a capture in time order, and (line number, reason) for bad lines."""
    frames: list[Frame] = []
    problems: list[tuple[int, str]] = []
    with open(path, encoding="utf-8") as file:
        for number, line in enumerate(file, start=1):
            if not line.strip():
                continue
            try:
                frames.append(parse_line(line))
            except ValueError as exc:
                problems.append((number, str(exc)))
    frames.sort(key=lambda f: f.t)  # stable: equal times keep the file's order
    return frames, problems


@attrs.define
class Writer:
    """Appends frames to a capture, flushing each line, counting per source."""

    file: TextIO
    clock: Clock
    frames: Counter[str] = attrs.field(factory=Counter)
    sizes: Counter[str] = attrs.field(factory=Counter)

    def tap(self, source: str, stream: str, data: str | bytes | None) -> None:
        if self.file.closed:  # a source still draining after the recording ended
            return
        frame = Frame(self.clock.now(), source, stream, data)
        self.file.write(frame.to_json() + "\n")
        self.file.flush()
        if data is not None:
            self.frames[source] += 1
            self.sizes[source] += len(data)


class Parsers:
    """The live sources' parsers, fed from a capture."""

    def __init__(self, sources: SourcesConfig) -> None:
        self.health = SourceHealth("replay")
        self._dex: dict[str, StreamReader] = {}
        self._recent = RecentKeys(coinmarketcap.DEDUPE_MEMORY)
        self._tm_recent = RecentKeys(tokenmetrics.DEDUPE_MEMORY)
        self._naming = naming_of(sources.coinmarketcap) if sources.coinmarketcap else None
        self._views = mobula_views.Views()
        self._inflate_cap = sources.mobula.max_inflated_size if sources.mobula else 64 << 20

    def events(self, frame: Frame) -> list[Event]:
        if frame.source == "dexscreener":
            stream = frame.stream.removesuffix("/v1")
            reader = self._dex.setdefault(stream, StreamReader(stream, self.health))
            if frame.data is None:
                reader.new_connection()
                return []
            return reader.events(frame.data, frame.t)[0]
        if frame.data is None:
            return []
        try:
            if frame.source == "coinmarketcap" and self._naming is not None:
                message = coinmarketcap.decode(frame.data)
                if message.get("type") != "data":
                    return []
                event = coinmarketcap.data_event(message, frame.t, self._naming, self._recent)
                return [event] if event else []
            if frame.source == "tokenmetrics":
                return tokenmetrics.message_events(frame.data, frame.t, self._tm_recent,
                                                   self.health)
            if frame.source == "mobula":
                message = mobula_views.decode(frame.data, self._inflate_cap)
                if message.get("type") in ("init", "sync", "new-token", "update-token",
                                           "remove-token"):
                    return self._views.apply(message, frame.t)
                return []
        except Malformed as exc:
            self.health.fault(exc.kind, str(exc))
        return []


async def replay(frames: Sequence[Frame], sources: SourcesConfig,
                 emit: Callable[[Event], Awaitable[None]], done: trio.Event, *,
                 task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED) -> None:
    """Feed a capture's frames as events, each at its time (`t`, on trio's clock
    relative to the first frame: under MockClock a replay takes no real time)."""
    parsers = Parsers(sources)
    task_status.started()
    if frames:
        start, first = trio.current_time(), frames[0].t
        for frame in frames:
            await trio.sleep_until(start + (frame.t - first))
            for event in parsers.events(frame):
                await emit(event)
    done.set()
