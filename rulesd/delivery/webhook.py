"""The structured webhook: `webhook+https://host/path` (or `webhook+http://` for a local
receiver) posts each alert as JSON, for trading bots and automation tools.

The body (one JSON object, documented in the README with its schema):
`alert_id`, `rule`, `kind`, `source`, `stream`, `key`, `resolved`, `token` (key,
symbol, name, chain, address; null for a stream's own alerts), `fields` (the event's
typed fields, units as in the field tables, with `market` and `security` where the
rule asked), `why` (what made it fire), `title`, `message` (the rule's templates as
plain text), `time` (ISO 8601 UTC). Headers: `Idempotency-Key: <alert_id>` — an
outage can make one alert arrive twice, and a receiver drops the second — and, when
the notifier has a `secret`, `X-Rulesd-Signature: sha256=<hex HMAC-SHA256 of the
body>`. It goes through the same outbox, pacing, retries and error kinds as every
notifier (a 429 waits as asked, a 4xx other than 408/429 dead-letters at once).
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any, Final
from urllib.parse import urlsplit

import orjson

from rulesd.delivery.posting import JsonPoster
from rulesd.delivery.templates import Rendered
from rulesd.rules.alert import Alert

SCHEMES: Final = ("webhook+https", "webhook+http")
SIGNATURE: Final = "X-Rulesd-Signature"
TIMEOUT_S: Final = 30.0
# What an alert's values hold beside the event's own fields.
_META: Final = frozenset({"kind", "source", "stream", "ts", "token", "rule", "why",
                          "why_text", "resolved", "key", "symbol", "name", "chain",
                          "address", "kind_label"})
_TOKEN: Final = ("key", "symbol", "name", "chain", "address")


def is_webhook(url: str) -> bool:
    return urlsplit(url).scheme in SCHEMES


def url_problem(url: str) -> str | None:
    parts = urlsplit(url)
    if not parts.hostname:
        return "a webhook URL needs a host: webhook+https://host/path"
    return None


def privacy_url(url: str) -> str:
    """Scheme, host and port only: a path or query may hold a token."""
    parts = urlsplit(url)
    port = f":{parts.port}" if parts.port else ""
    return f"{parts.scheme}://{parts.hostname}{port}/…"


def _plain(value: Any) -> Any:
    return str(value)


def payload(alert: Alert, rendered: Rendered) -> str:
    """The JSON body for `alert` (its title and message rendered as plain text)."""
    values = alert.values
    token = values.get("token")
    token_out = {k: token.get(k) for k in _TOKEN} if isinstance(token, Mapping) else None
    body = {
        "alert_id": alert.id,
        "rule": alert.rule,
        "kind": alert.kind,
        "source": values.get("source"),
        "stream": values.get("stream"),
        "key": alert.key,
        "resolved": alert.resolved,
        "token": token_out,
        "fields": {k: v for k, v in values.items() if k not in _META},
        "why": values.get("why") or {},
        "title": rendered.title,
        "message": rendered.body,
        "time": datetime.fromtimestamp(alert.fired_at, UTC).isoformat().replace("+00:00",
                                                                                  "Z"),
    }
    return orjson.dumps(body, default=_plain, option=orjson.OPT_NON_STR_KEYS).decode()


def signature(secret: str, body: bytes) -> str:
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


class WebhookNotifier:
    """One webhook URL: posts the alert's JSON with its idempotency key (and signature)."""

    def __init__(self, name: str, url: str, secret: str | None = None,
                 timeout_s: float = TIMEOUT_S) -> None:
        self.name = name
        self._secret = secret
        self._shown = f"{name}: {privacy_url(url)}"
        self._poster = JsonPoster(url.partition("+")[2], self._shown, timeout_s)

    def describe(self) -> str:
        return self._shown.split(": ", 1)[1]

    async def send(self, message: Rendered) -> None:
        body = message.body.encode()
        # The alert's id; a body not made here (a test message) is named by its hash.
        alert_id = message.alert_id or hashlib.sha256(body).hexdigest()
        headers = {"Idempotency-Key": alert_id}
        if self._secret:
            headers[SIGNATURE] = signature(self._secret, body)
        await self._poster.post(body, headers)
