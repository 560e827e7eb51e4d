"""The capture format: JSONL, one frame a line.

`{"t": <receive epoch s>, "source": "dexscreener", "stream": "token-boosts/latest/v1",
"text": "<frame>"}`, with `"b64"` in place of `"text"` for binary frames and
`"event": "connected"` (no frame) where a connection was (re)established.
"""

from __future__ import annotations

import base64
import binascii
from collections import Counter
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Final, TextIO

import attrs
import orjson

from rulesd.clock import Clock

# Receive times a capture can hold; anything else is a broken line, not a wait of
# centuries for the replay.
EARLIEST_T: Final = 946_684_800.0  # 2000-01-01
LATEST_T: Final = 4_102_444_800.0  # 2100-01-01


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
    if not EARLIEST_T <= t <= LATEST_T:
        raise ValueError(f"`t` {t!r} is not a time rulesd could have received a frame "
                         "(2000 to 2100)")
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
