"""What each platform takes, in one table: how its text is escaped, the length of
the layout Apprise sends it, how fast it may be sent to.

Checked against Apprise 2.2's plugins on the wire (tests/test_platforms.py):

- Telegram (`tgram://`): rulesd sends text; Apprise escapes it into HTML and
  sends `<b>title</b>` + CRLF + body, each line break of the body a CRLF too.
  Telegram counts 4,096 characters after entity parsing: title + 2 + body with
  its line breaks counted twice. 1 message/s per chat and 20/min per
  group: rulesd assumes a group, with a margin (18/min).
- Discord (`discord://`): rulesd sends markdown it escaped itself (Discord draws
  markdown in plain content too). Without `?format=markdown` the content is
  title + CRLF + body, 2,000 characters; with it (also set by `?thread=` and
  `?url=` in some versions) the title is an embed title of at most 256
  characters. Apprise copies anything in the body that looks like `@name`,
  `<@id>` or `<@&id>` into a content that pings: vendor text never keeps an `@`
  followed by a name. 30/min per webhook (with a margin: 25/min).
- Slack (`slack://`): rulesd sends text; Apprise escapes `&`, `<`, `>` so no
  `<!channel>`, `<@U…>` or `<url|label>` survives, and Slack does not format
  it. Apprise's own limit is 35,000 characters. About 1/s per webhook.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Final, Literal
from urllib.parse import parse_qs, urlsplit

import attrs

from rulesd.delivery.escaping import Format

CONSOLE_URL: Final = "stdout"


@attrs.frozen
class Traits:
    """One platform as rulesd writes for it."""

    format: Format  # how vendor text is escaped in what rulesd renders
    body_format: Literal["text", "markdown"]  # what Apprise is told the body is
    limit: int | None  # characters of title + separator + body the platform takes
    title_limit: int | None = None
    separator: int = 2  # characters Apprise puts between title and body (CRLF)
    newline: int = 1  # characters each line break of the body becomes
    rate: float = 5.0  # messages a second (a documented limit, or a polite 5/s)
    structured: bool = False  # the body is the alert as JSON (`webhook+https://`)


CONSOLE: Final = Traits("text", "text", None, separator=1, rate=math.inf)
# Anything else Apprise can send to (json://, e-mail, ...): no documented limit.
OTHER: Final = Traits("text", "text", None)
TRAITS: Final[Mapping[str, Traits]] = {
    "tgram": Traits("text", "text", 4096, newline=2, rate=18 / 60),
    "discord": Traits("markdown", "markdown", 2000, rate=25 / 60),
    "slack": Traits("text", "text", 35_000, rate=1.0),
}
# rulesd's own structured webhook (`rulesd.delivery.webhook`).
WEBHOOK: Final = Traits("text", "text", None, structured=True)
# Discord's embed mode: the title is an embed title.
_DISCORD_EMBED: Final = attrs.evolve(TRAITS["discord"], title_limit=256)


def traits_of(url: str) -> Traits:
    if url == CONSOLE_URL:
        return CONSOLE
    parts = urlsplit(url)
    if parts.scheme in ("webhook+https", "webhook+http"):
        return WEBHOOK
    traits = TRAITS.get(parts.scheme, OTHER)
    if parts.scheme == "discord":
        query = parse_qs(parts.query)
        if query.get("format") == ["markdown"] or "thread" in query or "url" in query:
            return _DISCORD_EMBED
    return traits


@attrs.frozen
class Target:
    """One URL of a notifier: its own outbox rows, pacing, retries and dead letters."""

    name: str  # the notifier's name, or `name#2` for its second URL
    notifier: str
    url: str
    traits: Traits


def targets_of(notifier: str, urls: tuple[str, ...]) -> tuple[Target, ...]:
    """A notifier fans out to one target per URL (`team#1`, `team#2`; a notifier of
    one URL is its one target, named as the notifier)."""
    if len(urls) == 1:
        return (Target(notifier, notifier, urls[0], traits_of(urls[0])),)
    return tuple(Target(f"{notifier}#{i}", notifier, url, traits_of(url))
                 for i, url in enumerate(urls, 1))
