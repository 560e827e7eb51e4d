"""Notifier-level quiet hours: a notifier with `mute_during` / `active_during` records
what it would have sent as `muted` outbox rows, and when the mute ends sends one
digest of them to each of its URLs (`on_unmute: digest`, the default) or nothing
(`drop`). Rules have their own (`rulesd.rules.engine`); a notifier's applies to every
rule that sends to it."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Final

import attrs
import trio

from rulesd.config import Config
from rulesd.rules.intervals import TimeInterval, compile_intervals, quiet
from rulesd.state.outbox import Delivery

# A digest names this many of the alerts it stands for (and counts the rest).
DIGEST_LINES: Final = 20


@attrs.define
class _Held:
    why: str
    titles: list[str] = attrs.field(factory=list)
    count: int = 0


@attrs.frozen
class _Quiet:
    mute: tuple[TimeInterval, ...]
    active: tuple[TimeInterval, ...]
    digest: bool

    def why(self, now: float) -> str | None:
        return quiet(self.mute, self.active, now)


class NotifierMutes:
    def __init__(self) -> None:
        self._quiet: dict[str, _Quiet] = {}  # notifier name → its intervals
        self._held: dict[str, _Held] = {}  # target name → what its mute held
        self._holding = trio.Event()  # set while something is held

    def configure(self, config: Config) -> None:
        """The notifiers' intervals (a reload keeps what is held)."""
        intervals = compile_intervals(config.time_intervals, lambda *_, **__: None)
        self._quiet = {
            name: _Quiet(tuple(intervals[n] for n in spec.mute_during if n in intervals),
                         tuple(intervals[n] for n in spec.active_during if n in intervals),
                         spec.on_unmute == "digest")
            for name, spec in config.notifiers.items()
            if spec.mute_during or spec.active_during}

    def muted(self, notifier: str, target: str, title: str, now: float) -> str | None:
        """Why the notifier is quiet now (the delivery is recorded, not sent), if it is."""
        quiet = self._quiet.get(notifier)
        why = quiet.why(now) if quiet is not None else None
        if why is not None and quiet is not None and quiet.digest:
            self._holding.set()
            held = self._held.setdefault(target, _Held(why))
            held.count += 1
            if len(held.titles) < DIGEST_LINES:
                held.titles.append(title)
        return why

    @property
    def holding(self) -> bool:
        return bool(self._held)

    async def wait_holding(self) -> None:
        """Until a mute holds something (then its end is looked for each second)."""
        if not self._held:
            self._holding = trio.Event()
            await self._holding.wait()

    def ended(self, notifiers: Mapping[str, str], now: float) -> list[Delivery]:
        """A digest for each target whose notifier's mute ended (`notifiers`: target →
        its notifier's name)."""
        out = []
        for target, held in list(self._held.items()):
            quiet = self._quiet.get(notifiers.get(target, ""))
            if quiet is not None and quiet.why(now) is not None:
                continue
            del self._held[target]
            more = held.count - len(held.titles)
            body = "\n".join(held.titles) + (f"\n… and {more} more" if more > 0 else "")
            out.append(Delivery(f"digest|{target}|{now:.0f}", target, now, "(muted)",
                                "digest", None,
                                f"{held.count} alert(s) held {held.why}", body))
        return out
