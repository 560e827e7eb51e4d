"""The Telegram control bot: long-polls `getUpdates`, answers admins' commands in the
configured chats, ignores every other chat, refuses everyone else.

Only one consumer may poll a bot (Telegram answers others 409 Conflict): the bot
runs in the leader's term, and the next leader goes on from the stored update
offset. An update's command is applied, then the offset past it is written to the
state database, then the next poll tells Telegram it was handled — a crash between
the first two applies that one command again, never loses one. A 409 is someone
else's consumer: said once, retried with back-off. Each user may send `BURST`
commands, then one every `REFILL_S`.
"""

from __future__ import annotations

import contextlib
import logging
import time
from collections.abc import Awaitable, Callable
from typing import Any, Final

import trio

from rulesd.control.api import CONFLICT, BotApi, BotApiError
from rulesd.control.commands import Operations, answer
from rulesd.delivery.telegram_bot import read_button

log = logging.getLogger("rulesd.control")

POLL_S: Final = 25.0  # getUpdates' long-poll timeout
FIRST_BACKOFF_S: Final = 5.0
MAX_BACKOFF_S: Final = 300.0
BURST: Final = 5
REFILL_S: Final = 6.0


class ControlBot:
    def __init__(self, api: BotApi, ops: Operations, admins: frozenset[int],
                 chats: frozenset[int], load_offset: Callable[[], Awaitable[int]],
                 save_offset: Callable[[int], Awaitable[None]], token: str = "") -> None:
        self.api = api
        self._token = token  # checks the buttons under alerts were this bot's
        self._ops = ops
        self._admins = admins
        self._chats = chats
        self._load = load_offset
        self._save = save_offset
        self._tokens: dict[int, tuple[float, float]] = {}  # user → (tokens, at)
        self.handled = 0
        self.refused = 0
        self.state = "starting"
        self.last_error: str | None = None

    async def run(self) -> None:
        offset = await self._load()
        backoff = FIRST_BACKOFF_S
        while True:
            try:
                updates = await self.api.call(
                    "getUpdates", {"offset": offset, "timeout": int(POLL_S),
                                   "allowed_updates": ["message", "callback_query"]},
                    wait_s=POLL_S)
            except BotApiError as exc:
                await self._failed(exc, backoff)
                backoff = min(backoff * 2, MAX_BACKOFF_S)
                continue
            if self.state != "up":
                log.info("control: the Telegram bot is polling")
            self.state, self.last_error, backoff = "up", None, FIRST_BACKOFF_S
            for update in updates if isinstance(updates, list) else []:
                if not isinstance(update, dict) or not isinstance(update.get("update_id"),
                                                                  int):
                    continue
                await self._handle(update)
                offset = max(offset, update["update_id"] + 1)
                await self._save(offset)

    async def _failed(self, exc: BotApiError, backoff: float) -> None:
        if exc.status == CONFLICT:
            said = ("another consumer polls this bot (409 Conflict): only one may; "
                    "retrying")
        elif exc.status in (401, 404):
            said = f"Telegram refuses the bot token ({exc}); retrying"
        else:
            said = f"cannot poll Telegram ({exc}); retrying"
        if said != self.last_error:
            log.warning("control: %s", said)
        self.state, self.last_error = "down", said
        await trio.sleep(exc.retry_after if exc.retry_after else backoff)

    async def _handle(self, update: dict[str, Any]) -> None:
        query = update.get("callback_query")
        if isinstance(query, dict):
            await self._button(query)
            return
        message = update.get("message")
        if not isinstance(message, dict):
            return
        chat = message.get("chat", {}).get("id") if isinstance(message.get("chat"),
                                                                 dict) else None
        user = message.get("from", {}).get("id") if isinstance(message.get("from"),
                                                                 dict) else None
        text = message.get("text")
        if chat not in self._chats or not isinstance(text, str) or not text.startswith("/"):
            return  # other chats, and talk that is not a command, are not ours
        if user not in self._admins:
            self.refused += 1
            log.info("control: user %s is not an admin: %s refused", user,
                     text.split()[0][:40])
            await self._reply(chat, "Only the bot's admins may do that.")
            return
        if not self._allowed(user, trio.current_time()):
            self.refused += 1
            await self._reply(chat, "Too many commands: wait a few seconds.")
            return
        self.handled += 1
        log.info("control: user %s: %s", user, " ".join(text.split())[:200],
                 extra={"event": "control", "user": user})
        await self._reply(chat, await answer(self._ops, text, str(user)))

    async def _button(self, query: dict[str, Any]) -> None:
        """[Mute token 1h] / [Mute rule 1h] under an alert: the silence, an answer, and
        the buttons replaced by who muted it until when."""
        user = query.get("from", {}).get("id") if isinstance(query.get("from"), dict) \
            else None
        found = query.get("message")
        message: dict[str, Any] = found if isinstance(found, dict) else {}
        chat = message.get("chat", {}).get("id") if isinstance(message.get("chat"),
                                                                dict) else None
        data = query.get("data")
        said = await self._pressed(user, chat, data if isinstance(data, str) else "",
                                   message.get("message_id"))
        try:
            await self.api.call("answerCallbackQuery",
                                {"callback_query_id": query.get("id"), "text": said})
        except BotApiError as exc:
            log.warning("control: cannot answer a button: %s", exc)

    async def _pressed(self, user: Any, chat: Any, data: str, message_id: Any) -> str:
        if chat not in self._chats:
            return "This chat is not one of the bot's."
        if user not in self._admins:
            self.refused += 1
            return "Only the bot's admins may do that."
        pressed = read_button(self._token, data)
        if pressed is None:
            self.refused += 1
            return "That button is not one of this bot's."
        action, ref = pressed
        found = await self._ops.alert(ref)
        if found is None:
            return "That alert is no longer known."
        rule, key = found
        seconds = 3600.0
        if action == "t":
            await self._ops.mute(self._ops.rules(), key, seconds, f"button by {user}")
        else:
            await self._ops.mute([rule], None, seconds, f"button by {user}")
        self.handled += 1
        until = time.strftime("%H:%M UTC", time.gmtime(self._ops.now() + seconds))
        what = f"token {key}" if action == "t" else f"rule {rule}"
        log.info("control: user %s muted %s for 1h (button)", user, what,
                 extra={"event": "control", "user": user})
        with contextlib.suppress(BotApiError):
            await self.api.call("editMessageReplyMarkup", {
                "chat_id": chat, "message_id": message_id, "reply_markup": {
                    "inline_keyboard": [[{"text": f"Muted {what} by {user} until {until}",
                                          "callback_data": "done"}]]}})
        return f"Muted {what} until {until}"

    def _allowed(self, user: int, now: float) -> bool:
        tokens, at = self._tokens.get(user, (float(BURST), now))
        tokens = min(float(BURST), tokens + (now - at) / REFILL_S)
        if tokens < 1:
            self._tokens[user] = (tokens, now)
            return False
        self._tokens[user] = (tokens - 1, now)
        return True

    async def _reply(self, chat: int, text: str) -> None:
        try:
            await self.api.call("sendMessage", {"chat_id": chat, "text": text,
                                                "disable_web_page_preview": True})
        except BotApiError as exc:
            log.warning("control: cannot answer in chat %s: %s", chat, exc)
