"""What a reload applies and what it cannot: a changed `state` or `http` needs a restart
(the rest of the file applies, and the answer names the part refused)."""

from __future__ import annotations

import logging

import attrs
import trio

from rulesd import loader
from rulesd.loader import LoadedConfig
from rulesd.state.backends import describe as describe_state
from rulesd.yaml_loader import ConfigError

log = logging.getLogger("rulesd.daemon")


@attrs.frozen
class ReloadResult:
    applied: bool
    problems: list[str]  # file:line:col lines, when the file was refused
    refused: list[str] = attrs.field(factory=list)  # parts that need a restart

    def __bool__(self) -> bool:
        return self.applied


async def read(path: str) -> LoadedConfig | ReloadResult:
    """The rules file read again (in a thread), or why it is refused."""
    try:
        return await trio.to_thread.run_sync(loader.load, path)
    except ConfigError as exc:
        return ReloadResult(False, [str(p) for p in exc.problems])


def applicable(running: LoadedConfig, new: LoadedConfig) -> tuple[LoadedConfig, list[str]]:
    """`new` as it can apply to a running daemon (its `state` and `http` kept as they
    run), and the parts that need a restart, each said in the log."""
    old, config = running.config, new.config
    refused = []
    if old.state != config.state:
        refused.append(f"state: a change needs a restart (still {describe_state(old.state)})")
    if old.http != config.http:
        refused.append(f"http: a change needs a restart (still {old.http.listen})")
    for reason in refused:
        log.warning("reload: %s", reason)
    if refused:
        new = attrs.evolve(new, config=attrs.evolve(config, state=old.state, http=old.http))
    return new, refused
