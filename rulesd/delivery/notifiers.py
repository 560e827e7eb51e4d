"""Notifiers: Apprise (in worker threads, with a timeout) and the console."""

from __future__ import annotations

import logging
import re
import sys
import threading
from collections.abc import Mapping
from typing import Final, Protocol, TextIO
from urllib.parse import urlsplit

import apprise
import trio

from rulesd.delivery.escaping import Format
from rulesd.delivery.templates import Rendered

log = logging.getLogger(__name__)

CONSOLE_URL: Final = "stdout"
SEND_TIMEOUT_S: Final = 30.0
# Apprise blocks a thread per send; this many sends may run at once overall.
SEND_THREADS: Final = 8
# Schemes whose targets render markdown: vendor text is backslash-escaped there.
_MARKDOWN_SCHEMES: Final = frozenset({"discord"})


class DeliveryError(Exception):
    """A notifier did not take the message; the platform's status and wish, if known."""

    def __init__(self, message: str, status: int | None = None,
                 retry_after_s: float | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.retry_after_s = retry_after_s


_STATUS: Final = re.compile(r"error=(\d{3})")
_RETRY_AFTER: Final = re.compile(r"retry[-_]after[\"']?\s*[:=]\s*(\d+(?:\.\d+)?)", re.I)


class _ThreadCapture(logging.Handler):
    """Apprise's log lines from one thread: the only place it reports the HTTP status
    and response body (e.g. Telegram's `retry_after`) of a failed send."""

    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.thread = threading.get_ident()
        self.lines: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        if record.thread == self.thread:
            self.lines.append(record.getMessage())

    def status(self) -> tuple[int | None, float | None]:
        text = "\n".join(self.lines)
        status = _STATUS.search(text)
        retry = _RETRY_AFTER.search(text)
        return (int(status.group(1)) if status else None,
                float(retry.group(1)) if retry else None)


class Notifier(Protocol):
    name: str
    format: Format

    def describe(self) -> str:
        """Where it sends, safe to print (no tokens)."""
        ...

    async def send(self, message: Rendered) -> None:
        """Deliver or raise DeliveryError."""
        ...


class ConsoleNotifier:
    """Prints the rendered alert: the built-in `stdout` notifier."""

    format: Format = "text"

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


def privacy_url(url: str) -> str:
    """Apprise's privacy form of a URL (tokens masked), or just its scheme."""
    plugin = apprise.Apprise.instantiate(url, suppress_exceptions=True)
    if plugin is None:
        return f"{urlsplit(url).scheme or '?'}://…"
    shown: str = plugin.url(privacy=True)  # type: ignore[no-untyped-call]
    return shown.split("?", 1)[0]


def url_problem(url: str) -> str | None:
    """Why Apprise cannot use `url` (without repeating the URL), if it cannot."""
    if url == CONSOLE_URL:
        return None
    if apprise.Apprise.instantiate(url, suppress_exceptions=True) is None:
        scheme = urlsplit(url).scheme
        return (f"Apprise cannot use this {scheme + ':// ' if scheme else ''}URL "
                "(unknown scheme or missing parts)")
    return None


_APPRISE_LOG: Final = logging.getLogger("apprise")
# Apprise reports failures' details at DEBUG: let them be created (logs.setup
# keeps them off the console), so a send can read its own.
_APPRISE_LOG.setLevel(logging.DEBUG)


class AppriseNotifier:
    """One notifier name: its Apprise URLs, sent to from worker threads."""

    def __init__(self, name: str, urls: tuple[str, ...], limiter: trio.CapacityLimiter,
                 timeout_s: float = SEND_TIMEOUT_S) -> None:
        self.name = name
        self._apprise = apprise.Apprise()
        for url in urls:
            if not self._apprise.add(url):
                raise ValueError(f"notifier {name}: {url_problem(url)}")
        self._limiter = limiter
        self._timeout_s = timeout_s
        self._shown = ", ".join(privacy_url(u) for u in urls)
        schemes = {urlsplit(u).scheme for u in urls}
        self.format: Format = "markdown" if schemes <= _MARKDOWN_SCHEMES else "text"

    def describe(self) -> str:
        return self._shown

    async def send(self, message: Rendered) -> None:
        body_format = (apprise.NotifyFormat.MARKDOWN if self.format == "markdown"
                       else apprise.NotifyFormat.TEXT)

        def notify() -> tuple[bool, int | None, float | None]:
            capture = _ThreadCapture()
            _APPRISE_LOG.addHandler(capture)
            try:
                ok = self._apprise.notify(title=message.title, body=message.body,
                                          body_format=body_format)
            finally:
                _APPRISE_LOG.removeHandler(capture)
            return (bool(ok), *capture.status())

        with trio.move_on_after(self._timeout_s) as scope:
            ok, status, retry_after = await trio.to_thread.run_sync(
                notify, limiter=self._limiter, abandon_on_cancel=True)
        if scope.cancelled_caught:
            raise DeliveryError(f"{self.name}: no answer within {self._timeout_s:g}s")
        if not ok:
            said = f" (HTTP {status})" if status else ""
            raise DeliveryError(f"{self.name}: {self._shown} did not accept the message{said}",
                                status, retry_after)


def build_notifiers(urls_by_name: Mapping[str, tuple[str, ...]],
                    console: TextIO | None = None) -> dict[str, Notifier]:
    limiter = trio.CapacityLimiter(SEND_THREADS)
    out: dict[str, Notifier] = {}
    for name, urls in urls_by_name.items():
        if urls == (CONSOLE_URL,):
            out[name] = ConsoleNotifier(name, console)
        else:
            out[name] = AppriseNotifier(name, urls, limiter)
    return out
