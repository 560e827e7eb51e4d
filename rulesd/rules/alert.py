"""An alert: a rule that fired (or cleared), as plain data; rendering it is delivery's."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import attrs


@attrs.frozen
class Alert:
    """A rule that fired (or cleared), with the values that made it so."""

    id: str
    rule: str
    kind: str
    key: str
    fired_at: float
    notify: tuple[str, ...]
    values: Mapping[str, Any]
    title: str | None = None  # the rule's templates (None: the default)
    message: str | None = None
    resolved: bool = False
    group: str | None = None  # alerts sharing it go out in one message
    silenced: str | None = None  # the silence that holds it: recorded, not sent
