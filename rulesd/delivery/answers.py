"""What a platform answered a send, and what rulesd does about it.

Apprise 2 reports per service whether a send succeeded, but not the HTTP status,
the platform's reason or how long it asked to wait (Slack says that only in a
`Retry-After` header, which no Apprise plugin reads). rulesd records the HTTP
answers of the thread that sends (notifiers.py) and reads them here:

- `rate_limited` (429): wait as asked (Telegram's `parameters.retry_after`,
  Discord's `retry_after`, the `Retry-After` header), then send again;
- `outage` (no answer, 5xx, 408): retry with back-off until `delivery.max_age`;
- `malformed` (400, 413, 422: the platform refuses this message — bad entities,
  too long): sent once more, cut shorter, then dead-lettered;
- `permanent` (401, 403, 404, 410 and other 4xx: bad token, bot blocked, chat or
  webhook gone): dead-lettered at once; nothing waits behind it.
"""

from __future__ import annotations

import email.utils
import time
from typing import Final, Literal

import attrs
import orjson

from rulesd.inert import inert

Kind = Literal["rate_limited", "outage", "malformed", "permanent"]
_REASON_CHARS: Final = 200
# Telegram answers 400 for a chat that does not exist: that is not the message's fault.
_GONE_400: Final = ("chat not found", "user not found", "group chat was upgraded",
                    "not enough rights", "bot was kicked")


@attrs.frozen
class Answer:
    """One HTTP answer to a send: its status, `Retry-After` header and body."""

    status: int
    retry_after: str | None
    body: str


class DeliveryError(Exception):
    """A target did not take the message: what kind of failure, and the platform's
    status, reason and requested wait when it said them."""

    def __init__(self, message: str, kind: Kind = "outage", status: int | None = None,
                 reason: str | None = None, retry_after_s: float | None = None) -> None:
        super().__init__(message)
        self.kind: Kind = kind
        self.status = status
        self.reason = reason
        self.retry_after_s = retry_after_s

    def summary(self) -> str:
        """What the platform said, for a person: `HTTP 403: Forbidden: bot was blocked by
        the user`, and for a 429 how long it asked to wait."""
        if self.status is None:
            return str(self).split(": ", 1)[-1] if ": " in str(self) else str(self)
        said = f"HTTP {self.status}" + (f": {self.reason}" if self.reason else "")
        if self.retry_after_s is not None:
            said += f" (asks to wait {self.retry_after_s:g}s)"
        return said


def _json(body: str) -> object:
    try:
        return orjson.loads(body)
    except orjson.JSONDecodeError:
        return None


def reason_of(answer: Answer) -> str:
    """The platform's own words: Telegram's `description`, Discord's `message` (or its
    field errors), Slack's text (`no_service`, `invalid_token`)."""
    data = _json(answer.body)
    text = ""
    if isinstance(data, dict):
        for key in ("description", "message", "error"):
            if isinstance(data.get(key), str):
                text = data[key]
                break
        else:
            text = answer.body
    else:
        text = answer.body
    text = inert(text.strip())
    return text[:_REASON_CHARS] + ("…" if len(text) > _REASON_CHARS else "")


def wait_of(answer: Answer, now: float | None = None) -> float | None:
    """How long the platform asked to wait: the body's `retry_after` (Telegram puts it
    under `parameters`), else the `Retry-After` header (seconds or an HTTP date)."""
    data = _json(answer.body)
    if isinstance(data, dict):
        params = data.get("parameters")
        for holder in (params if isinstance(params, dict) else {}, data):
            value = holder.get("retry_after")
            if isinstance(value, int | float) and not isinstance(value, bool) \
                    and 0 <= value < 86_400:
                return float(value)
    header = (answer.retry_after or "").strip()
    if not header:
        return None
    try:
        seconds = float(header)
    except ValueError:
        try:
            when = email.utils.parsedate_to_datetime(header).timestamp()
        except (TypeError, ValueError):
            return None
        seconds = when - (time.time() if now is None else now)
    return min(max(seconds, 0.0), 86_400.0) if seconds == seconds else None


def kind_of(answer: Answer | None) -> Kind:
    if answer is None or answer.status >= 500 or answer.status == 408:
        return "outage"
    if answer.status == 429:
        return "rate_limited"
    if answer.status in (400, 413, 422):
        if any(gone in answer.body.lower() for gone in _GONE_400):
            return "permanent"
        return "malformed"
    if 400 <= answer.status < 500:
        return "permanent"
    return "outage"  # a 2xx or 3xx the plugin did not take as success


def error_of(answer: Answer | None, shown: str) -> DeliveryError:
    """The DeliveryError for a send the plugin reported failed, from its last answer."""
    kind = kind_of(answer)
    if answer is None:
        return DeliveryError(f"{shown}: no answer (network error)", kind)
    reason = reason_of(answer)
    said = f"HTTP {answer.status}" + (f": {reason}" if reason else "")
    return DeliveryError(f"{shown} did not accept the message ({said})", kind,
                         answer.status, reason or None,
                         wait_of(answer) if kind == "rate_limited" else None)
