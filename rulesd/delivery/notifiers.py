"""Notifiers: one per target (URL) — Apprise in worker threads, with a timeout, and the
console."""

from __future__ import annotations

import contextvars
import logging
import sys
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any, Final, Protocol, TextIO
from urllib.parse import urlsplit

import apprise
import orjson
import requests
import trio

from rulesd.clock import Clock
from rulesd.config import Config
from rulesd.delivery import telegram_bot, webhook
from rulesd.delivery.answers import Answer, DeliveryError, error_of
from rulesd.delivery.platforms import CONSOLE_URL, Target, targets_of
from rulesd.delivery.templates import Rendered

__all__ = ["CONSOLE_URL", "DeliveryError", "Notifier", "build_notifiers"]

SEND_TIMEOUT_S: Final = 30.0
# Apprise blocks a thread per send; this many sends may run at once overall.
SEND_THREADS: Final = 8


# The answers of one send: set by the thread that calls Apprise, which copies its
# context into the threads its plugins run in.
_ANSWERS: contextvars.ContextVar[list[Answer] | None] = contextvars.ContextVar(
    "rulesd_answers", default=None)
_requests_send = requests.Session.send


def _install_recorder() -> None:
    """Route every `requests` send of the process through `_recording_send`: done when
    the first Apprise notifier is built, not at import (`rulesd check` never sends)."""
    if requests.Session.send is not _recording_send:
        requests.Session.send = _recording_send  # type: ignore[method-assign]


def _recording_send(self: requests.Session, request: requests.PreparedRequest,
                    **kwargs: Any) -> requests.Response:
    """Every Apprise plugin's HTTP request goes through here: a send of rulesd's notes
    each answer (status, Retry-After, body) for answers.error_of."""
    response = _requests_send(self, request, **kwargs)
    seen = _ANSWERS.get()
    if seen is not None:
        seen.append(Answer(response.status_code, response.headers.get("Retry-After"),
                           response.text[:4000]))
    return response


class Notifier(Protocol):
    name: str  # its target's name: the notifier's, or `name#2` for its second URL

    def describe(self) -> str:
        """Where it sends, safe to print (no tokens)."""
        ...

    async def send(self, message: Rendered) -> None:
        """Deliver or raise DeliveryError."""
        ...


class ConsoleNotifier:
    """Prints the rendered alert: the built-in `stdout` notifier."""

    def __init__(self, name: str, stream: TextIO | None = None, label: str = "") -> None:
        self.name = name
        self._stream = stream
        self._label = f"[{label}] " if label else ""

    def describe(self) -> str:
        return CONSOLE_URL

    async def send(self, message: Rendered) -> None:
        stream = self._stream or sys.stdout
        stream.write(f"── {self._label}{message.title}\n{message.body}\n\n")
        stream.flush()


class PrintingNotifier:
    """Prints what would be sent to one target, at its time (`run --dry-run`,
    `dry-run --replay`): the message exactly as rendered, cut and paced for it."""

    def __init__(self, name: str, out: TextIO | None, clock: Clock, output: str = "text",
                 where: str = "", since: float | None = None) -> None:
        self.name = name
        self._out, self._clock, self._output, self._where = out, clock, output, where
        self._since = since  # a replay's `--from`: what goes before it is not printed

    def describe(self) -> str:
        return f"dry-run → {self.name}" + (f" ({self._where})" if self._where else "")

    async def send(self, message: Rendered) -> None:
        out = self._out or sys.stdout
        t = self._clock.now()
        if self._since is not None and t < self._since:
            return
        if self._output == "json":
            line = {"t": round(t, 3), "notifier": self.name, "title": message.title,
                    "body": message.body}
            out.write(orjson.dumps(line).decode() + "\n")
        else:
            when = datetime.fromtimestamp(t, UTC).strftime("%Y-%m-%d %H:%M:%S")
            body = "\n".join(f"    {row}" for row in message.body.splitlines())
            out.write(f"{when} → {self.name}: {message.title}\n{body}\n")
        out.flush()


def printing_notifiers(urls_by_name: Mapping[str, tuple[str, ...]], out: TextIO | None,
                       clock: Clock, output: str = "text", since: float | None = None
                       ) -> dict[str, Notifier]:
    """A printer per target: what live sending would send, where it would go."""
    return {target.name: PrintingNotifier(target.name, out, clock, output,
                                          privacy_url(target.url), since)
            for name, urls in urls_by_name.items() for target in targets_of(name, urls)}


# Apprise logs its own ERROR for a URL it cannot parse ("Unparseable Telegram URL
# tgram://12345678/-...3": part of a token, and before rulesd's located line). While
# rulesd parses a URL, Apprise's lines are dropped: url_problem says it better.
_PARSING: Final = contextvars.ContextVar("rulesd_parsing_url", default=False)


class _WhileParsing(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        return not _PARSING.get()


logging.getLogger("apprise").addFilter(_WhileParsing())


def _instantiate(url: str) -> Any:
    """Apprise's plugin for `url`, or None; Apprise's own complaints kept quiet."""
    token = _PARSING.set(True)
    try:
        return apprise.Apprise.instantiate(url, suppress_exceptions=True)
    finally:
        _PARSING.reset(token)


def privacy_url(url: str) -> str:
    """Apprise's privacy form of a URL (tokens masked), or just its scheme."""
    if url == CONSOLE_URL:
        return url
    if webhook.is_webhook(url):
        return webhook.privacy_url(url)
    plugin = _instantiate(url)
    if plugin is None:
        return f"{urlsplit(url).scheme or '?'}://…"
    shown: str = plugin.url(privacy=True)
    return shown.split("?", 1)[0]


def url_problem(url: str) -> str | None:
    """Why Apprise cannot use `url` (without repeating the URL), if it cannot."""
    if url == CONSOLE_URL:
        return None
    if webhook.is_webhook(url):
        return webhook.url_problem(url)
    if _instantiate(url) is None:
        scheme = urlsplit(url).scheme
        return (f"Apprise cannot use this {scheme + ':// ' if scheme else ''}URL "
                "(unknown scheme or missing parts)")
    return None


class AppriseNotifier:
    """One URL of a notifier (one target), sent to from a worker thread."""

    def __init__(self, target: Target, limiter: trio.CapacityLimiter,
                 timeout_s: float = SEND_TIMEOUT_S) -> None:
        _install_recorder()
        self.name = target.name
        self._apprise = apprise.Apprise()
        if not self._apprise.add(target.url):
            raise ValueError(f"notifier {target.notifier}: {url_problem(target.url)}")
        self._body_format = target.traits.body_format
        self._limiter = limiter
        self._timeout_s = timeout_s
        self._shown = f"{target.name}: {privacy_url(target.url)}"

    def describe(self) -> str:
        return self._shown.split(": ", 1)[1]

    async def send(self, message: Rendered) -> None:
        def notify() -> tuple[bool, Answer | None]:
            seen: list[Answer] = []
            token = _ANSWERS.set(seen)
            try:
                result = self._apprise.notify(title=message.title, body=message.body,
                                              body_format=self._body_format)
            finally:
                _ANSWERS.reset(token)
            return bool(result), (seen[-1] if seen else None)

        with trio.move_on_after(self._timeout_s) as scope:
            ok, answer = await trio.to_thread.run_sync(
                notify, limiter=self._limiter, abandon_on_cancel=True)
        if scope.cancelled_caught:
            raise DeliveryError(f"{self._shown}: no answer within {self._timeout_s:g}s")
        if not ok:
            raise error_of(answer, self._shown)


def notifiers_for(config: Config, only: str | None = None) -> dict[str, Notifier]:
    """The notifiers of a rules file (or of its notifier `only`), with their secrets;
    a `tgram://` URL of the control bot is sent with mute buttons."""
    out = build_notifiers(
        {n: c.urls for n, c in config.notifiers.items() if only is None or n == only},
        secrets={n: c.secret for n, c in config.notifiers.items() if c.secret})
    telegram = config.control.telegram if config.control is not None else None
    if telegram is not None:
        for name, spec in config.notifiers.items():
            for target in targets_of(name, spec.urls):
                chat = telegram_bot.chat_of(target.url, telegram.bot)
                if chat is not None and target.name in out:
                    out[target.name] = telegram_bot.BotNotifier(target.name, telegram.api,
                                                                telegram.bot, chat)
    return out


def build_notifiers(urls_by_name: Mapping[str, tuple[str, ...]],
                    console: TextIO | None = None,
                    secrets: Mapping[str, str] | None = None) -> dict[str, Notifier]:
    """One notifier per target: a notifier name with several URLs fans out; `secrets`:
    the notifiers' `secret` (a webhook signs its bodies with it)."""
    limiter = trio.CapacityLimiter(SEND_THREADS)
    out: dict[str, Notifier] = {}
    for name, urls in urls_by_name.items():
        for target in targets_of(name, urls):
            if target.url == CONSOLE_URL:
                out[target.name] = ConsoleNotifier(target.name, console)
            elif webhook.is_webhook(target.url):
                out[target.name] = webhook.WebhookNotifier(
                    target.name, target.url, (secrets or {}).get(name))
            else:
                out[target.name] = AppriseNotifier(target, limiter)
    return out
