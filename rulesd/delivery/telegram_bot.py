"""Alerts to a chat of the control bot, through the Bot API directly: with buttons.

A `tgram://<token>/<chat>` URL whose token is the control bot's (`control.telegram`)
is sent with `sendMessage` and an inline keyboard under each single alert —
[Mute token 1h] [Mute rule 1h] — which Apprise cannot attach. The outbox, pacing,
retries, 429s (`parameters.retry_after`) and error kinds are the same as every
notifier's; the text is what the `tgram://` path sends (escaped by the templates,
fitted to Telegram's 4,096 characters), as plain text (no parse mode: nothing in
it is markup). A button's callback data names the alert by a hash and is signed
with a key derived from the bot's token, so it cannot be forged into another
action (`rulesd.control` checks it against the alert it names).
"""

from __future__ import annotations

import hashlib
import hmac
from typing import Final

import orjson

from rulesd.delivery.posting import JsonPoster
from rulesd.delivery.templates import Rendered

MUTE_FOR: Final = "1h"
_ACTIONS: Final = {"t": "Mute token 1h", "r": "Mute rule 1h"}


def chat_of(url: str, token: str) -> str | None:
    """The one chat of a `tgram://` URL sent with `token`, else None."""
    if not url.startswith("tgram://"):
        return None
    parts = url[len("tgram://"):].split("?", 1)[0].strip("/").split("/")
    return parts[1] if len(parts) == 2 and parts[0] == token and parts[1] else None


def reference(alert_id: str) -> str:
    return hashlib.sha256(alert_id.encode()).hexdigest()[:16]


def _signature(token: str, text: str) -> str:
    key = hashlib.sha256(f"rulesd buttons {token}".encode()).digest()
    return hmac.new(key, text.encode(), hashlib.sha256).hexdigest()[:10]


def button_data(token: str, action: str, alert_id: str) -> str:
    """`<action>:<alert reference>:<signature>` (Telegram takes 64 bytes)."""
    text = f"{action}:{reference(alert_id)}"
    return f"{text}:{_signature(token, text)}"


def read_button(token: str, data: str) -> tuple[str, str] | None:
    """(action, alert reference) of a button this bot made, else None (forged)."""
    action, _, rest = data.partition(":")
    ref, _, signature = rest.partition(":")
    if action not in _ACTIONS or not ref or not hmac.compare_digest(
            signature, _signature(token, f"{action}:{ref}")):
        return None
    return action, ref


class BotNotifier:
    def __init__(self, name: str, api: str, token: str, chat: str,
                 timeout_s: float = 30.0) -> None:
        self.name = name
        self._token = token
        self._chat = chat
        self._shown = f"{name}: tgram://…/{chat} (with mute buttons)"
        self._poster = JsonPoster(f"{api.rstrip('/')}/bot{token}/sendMessage", self._shown,
                                  timeout_s)

    def describe(self) -> str:
        return self._shown.split(": ", 1)[1]

    async def send(self, message: Rendered) -> None:
        text = f"{message.title}\n{message.body}" if message.title else message.body
        params: dict[str, object] = {"chat_id": self._chat, "text": text,
                                     "disable_web_page_preview": True}
        if message.alert_id is not None:
            params["reply_markup"] = {"inline_keyboard": [[
                {"text": label, "callback_data": button_data(self._token, action,
                                                             message.alert_id)}
                for action, label in _ACTIONS.items()]]}
        await self._poster.post(orjson.dumps(params), {})
