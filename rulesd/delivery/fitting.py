"""Messages that fit their platform: length limits, safe truncation, digests."""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Sequence
from typing import Final

from rulesd.delivery.platforms import Traits
from rulesd.delivery.templates import Rendered
from rulesd.state.outbox import Delivery

TRUNCATED: Final = "… (truncated)"
# The last link of a message (what a digest line keeps of each alert).
_LINK: Final = re.compile(r"https?://\S+")


def _cut(text: str, size: int) -> str:
    """`text` in at most `size` characters, never ending in an escaping backslash."""
    if len(text) <= size:
        return text
    cut = text[: max(0, size - 1)]
    while cut.endswith("\\"):  # a cut right after a backslash would escape the mark
        cut = cut[:-1]
    return cut + "…"


def shown_length(title: str, body: str, traits: Traits) -> int:
    """Characters the platform counts: title, separator, body (line breaks as sent)."""
    return len(title) + traits.separator + len(body) + (traits.newline - 1) * body.count("\n")


def fit(message: Rendered, traits: Traits) -> Rendered:
    """`message` as the platform takes it: the title within its limit, then title,
    separator and body within the platform's limit — cut in the middle of the body,
    so the footer (`message.tail`: token, chain, link, rule) stays."""
    title = message.title
    if traits.title_limit is not None:
        title = _cut(title, traits.title_limit)
    limit = traits.limit
    if limit is None or shown_length(title, message.body, traits) <= limit:
        return Rendered(title, message.body, message.tail, alert_id=message.alert_id)
    title = _cut(title, limit // 4)
    room = limit - shown_length(title, "", traits)
    body = message.body
    tail = body[len(body) - message.tail:] if 0 < message.tail <= room // 2 else ""
    end = TRUNCATED + ("\n" + tail if tail else "")
    head = body[: len(body) - len(tail)].rstrip("\n")
    head = head[: max(0, room - len(end))]
    while head and (over := shown_length("", head + end, traits) - traits.separator - room) > 0:
        head = head[: -max(1, over // traits.newline)]  # line breaks counted twice
    while head.endswith("\\"):
        head = head[:-1]
    return Rendered(title, head + end, len(tail), alert_id=message.alert_id)


def digest(items: Sequence[Delivery], window_s: float, traits: Traits
           ) -> tuple[Rendered, int]:
    """One message for as many of `items` as fit, each alert a line with its title and
    link; how many it holds (at least one)."""
    kinds = Counter(d.kind for d in items)
    lines: list[str] = []
    used = 0
    budget = (traits.limit or 1_000_000) - 120  # room for the title and the "more" line
    for item in items:
        links = _LINK.findall(item.body)
        line = f"• {item.title}" + (f" {links[-1]}" if links else "")
        if lines and used + len(line) + 1 > budget:
            break
        lines.append(line[:budget])
        used += len(line) + 1
    taken = len(lines)
    rest = len(items) - taken
    what = ", ".join(f"{n} {kind}" for kind, n in kinds.most_common())
    title = f"{len(items)} alerts in the last {window_s:.0f}s ({what})" if taken == len(items) \
        else f"{taken} of {len(items)} alerts in the last {window_s:.0f}s"
    body = "\n".join(lines) + (f"\n… {rest} more follow" if rest else "")
    return fit(Rendered(title, body), traits), taken


def group_message(items: Sequence[Delivery], traits: Traits) -> tuple[Rendered, int]:
    """One message for a rule's group: the first alert's title, every alert's body."""
    head = items[0]
    parts: list[str] = []
    used = 0
    budget = (traits.limit or 1_000_000) - len(head.title) - 60
    for item in items:
        if parts and used + len(item.body) + 2 > budget:
            break
        parts.append(item.body)
        used += len(item.body) + 2
    taken = len(parts)
    title = head.title if len(items) == 1 else f"{head.title} (+{len(items) - 1} more)"
    body = "\n\n".join(parts) + (f"\n\n… {len(items) - taken} more follow"
                                 if taken < len(items) else "")
    return fit(Rendered(title, body), traits), taken
