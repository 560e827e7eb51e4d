"""The Telegram control bot: long-polls `getUpdates`, answers admins' commands in the
configured chats, ignores every other chat, refuses everyone else.

Only one consumer may poll a bot (Telegram answers others 409 Conflict): the bot
runs in the leader's term, and the next leader goes on from the stored update
offset. A command's changes and the offset past it are written in one transaction
(`Operations.commit`), then the reply goes out: across a crash or a failover no
command is lost or applied twice (a crash between the write and the reply loses
only the reply). A 409 is someone else's consumer: said once, retried with
back-off. Each user, admin or not, may send `BURST` commands, then one every
`REFILL_S`; past that a flood gets one "too many" and then no answer, so nobody can
make the bot flood a chat. What it does is kept in a `ControlActivity` (the status
page's "Chat control").
"""

from __future__ import annotations

import contextlib
import logging
import time
from typing import Any, Final

import trio

from rulesd.control.api import CONFLICT, BotApi, BotApiError
from rulesd.control.commands import Operations, Unavailable, answer
from rulesd.delivery.telegram_bot import read_button
from rulesd.monitor import ControlActivity

log = logging.getLogger("rulesd.control")

POLL_S: Final = 25.0  # getUpdates' long-poll timeout
FIRST_BACKOFF_S: Final = 5.0
MAX_BACKOFF_S: Final = 300.0
BURST: Final = 5
REFILL_S: Final = 6.0
# How long a recorded command's reply may hold up the end of a term.
REPLY_GRACE_S: Final = 3.0


class ControlBot:
    def __init__(self, api: BotApi, ops: Operations, admins: frozenset[int],
                 chats: frozenset[int], activity: ControlActivity, token: str = ""
                 ) -> None:
        self.api = api
        self._token = token  # checks the buttons under alerts were this bot's
        self._ops = ops
        self._admins = admins
        self._chats = chats
        self.activity = activity
        self._tokens: dict[Any, tuple[float, float]] = {}  # user → (tokens, at)
        self._warned: dict[Any, float] = {}  # user → when told "too many"

    async def run(self, offset: int) -> None:
        """Poll from `offset` (the stored one) on, forever."""
        self.activity.state = "starting"
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
            if self.activity.state != "up":
                log.info("control: the Telegram bot is polling")
            self.activity.state, self.activity.last_error = "up", None
            backoff = FIRST_BACKOFF_S
            for update in updates if isinstance(updates, list) else []:
                if not isinstance(update, dict) or not isinstance(update.get("update_id"),
                                                                  int):
                    continue
                offset = max(offset, update["update_id"] + 1)
                await self._handle(update, offset)

    async def _failed(self, exc: BotApiError, backoff: float) -> None:
        if exc.status == CONFLICT:
            said = ("another consumer polls this bot (409 Conflict): only one may; "
                    "retrying")
        elif exc.status in (401, 404):
            said = f"Telegram refuses the bot token ({exc}); retrying"
        else:
            said = f"cannot poll Telegram ({exc}); retrying"
        if said != self.activity.last_error:
            log.warning("control: %s", said)
        self.activity.state, self.activity.last_error = "down", said
        await trio.sleep(exc.retry_after if exc.retry_after else backoff)

    async def _handle(self, update: dict[str, Any], offset: int) -> None:
        """One update: a command or a button press in our chats is answered once it is
        recorded with `offset`; talk, and other chats, are not ours."""
        query = update.get("callback_query")
        if isinstance(query, dict):
            await self._button(query, offset)
            return
        message = update.get("message")
        if not isinstance(message, dict):
            return
        chat = _id(message, "chat")
        user = _id(message, "from")
        text = message.get("text")
        if chat not in self._chats or not isinstance(text, str) or not text.startswith("/"):
            return
        now = trio.current_time()
        if not self._allowed(user, now):  # a flood, from anyone: one warning, then quiet
            self.activity.refused += 1
            if self._warned.get(user, -REFILL_S) > now - REFILL_S:
                return
            self._warned[user] = now
            reply = "Too many commands: wait a few seconds."
        else:
            reply = await self._command(user, text)
        problem = await self._ops.commit(offset)
        if problem is not None:
            reply = f"Nothing changed: {problem}. Send it again."
        self.activity.did(self._ops.now(), user, text, reply)
        # Recorded: answered even when the term ends now (the next leader will not).
        with trio.CancelScope(shield=True), trio.move_on_after(REPLY_GRACE_S):
            await self._reply(chat, reply)

    async def _command(self, user: int | None, text: str) -> str:
        if user not in self._admins:
            self.activity.refused += 1
            log.info("control: user %s is not an admin: %s refused", user,
                     text.split()[0][:40])
            return "Only the bot's admins may do that."
        self.activity.handled += 1
        log.info("control: user %s: %s", user, " ".join(text.split())[:200],
                 extra={"event": "control", "user": user})
        return await answer(self._ops, text, str(user))

    async def _button(self, query: dict[str, Any], offset: int) -> None:
        """[Mute token 1h] / [Mute rule 1h] under an alert: the silence, an answer, and
        the buttons replaced by who muted it until when."""
        user = _id(query, "from")
        found = query.get("message")
        message: dict[str, Any] = found if isinstance(found, dict) else {}
        chat = _id(message, "chat")
        data = query.get("data")
        said, edit = await self._pressed(user, chat, data if isinstance(data, str) else "")
        if chat in self._chats:
            problem = await self._ops.commit(offset)
            if problem is not None:
                said, edit = f"Nothing changed: {problem}. Press it again.", None
            self.activity.did(self._ops.now(), user, "(a button under an alert)", said)
        with trio.CancelScope(shield=True), trio.move_on_after(REPLY_GRACE_S):
            await self._answer_press(query.get("id"), said, chat,
                                     message.get("message_id"), edit)

    async def _answer_press(self, query_id: Any, said: str, chat: Any, message_id: Any,
                            edit: str | None) -> None:
        try:
            await self.api.call("answerCallbackQuery",
                                {"callback_query_id": query_id, "text": said})
        except BotApiError as exc:
            log.warning("control: cannot answer a button: %s", exc)
        if edit is not None:
            with contextlib.suppress(BotApiError):
                await self.api.call("editMessageReplyMarkup", {
                    "chat_id": chat, "message_id": message_id,
                    "reply_markup": {"inline_keyboard": [[{"text": edit,
                                                           "callback_data": "done"}]]}})

    async def _pressed(self, user: Any, chat: Any, data: str) -> tuple[str, str | None]:
        """The answer to a press, and the buttons' new text (None: nothing muted)."""
        if chat not in self._chats:
            return "This chat is not one of the bot's.", None
        if user not in self._admins:
            self.activity.refused += 1
            return "Only the bot's admins may do that.", None
        pressed = read_button(self._token, data)
        if pressed is None:
            self.activity.refused += 1
            return "That button is not one of this bot's.", None
        action, ref = pressed
        try:
            found = await self._ops.alert(ref)
        except Unavailable as exc:
            return f"Cannot do that now: {exc}. Nothing changed.", None
        if found is None:
            return "That alert is no longer known.", None
        rule, key = found
        seconds = 3600.0
        if action == "t":
            await self._ops.mute(self._ops.rules(), key, seconds, f"button by {user}")
        else:
            await self._ops.mute([rule], None, seconds, f"button by {user}")
        self.activity.handled += 1
        until = time.strftime("%H:%M UTC", time.gmtime(self._ops.now() + seconds))
        what = f"token {key}" if action == "t" else f"rule {rule}"
        log.info("control: user %s muted %s for 1h (button)", user, what,
                 extra={"event": "control", "user": user})
        return f"Muted {what} until {until}", f"Muted {what} by {user} until {until}"

    def _allowed(self, user: Any, now: float) -> bool:
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


def _id(parent: dict[str, Any], name: str) -> Any:
    """`parent[name]["id"]` of an update's part, or None."""
    part = parent.get(name)
    return part.get("id") if isinstance(part, dict) else None
