"""Messages that fit their platform: length limits, safe truncation, digests."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Sequence
from typing import Final
from urllib.parse import urlsplit

from rulesd.delivery.templates import Rendered
from rulesd.state.outbox import Delivery

# Characters a message (title and body together) may have, by Apprise scheme.
LIMITS: Final[dict[str, int]] = {"tgram": 4096, "discord": 2000, "slack": 40_000}
TRUNCATED: Final = "… (truncated)"


def limit_of(urls: Iterable[str]) -> int | None:
    limits = [LIMITS[s] for u in urls if (s := urlsplit(u).scheme) in LIMITS]
    return min(limits) if limits else None


def fit(message: Rendered, limit: int | None) -> Rendered:
    """`message` cut to `limit` characters in all, never mid-escape; title first."""
    if limit is None or len(message.title) + 1 + len(message.body) <= limit:
        return message
    title = message.title[: limit // 4]
    room = limit - len(title) - 1 - len(TRUNCATED)
    body = message.body[: max(0, room)]
    # A cut right after a backslash would escape our marker; after a zero-width
    # space, nothing breaks. Drop a dangling backslash.
    while body.endswith("\\"):
        body = body[:-1]
    return Rendered(title, body + TRUNCATED)


def digest(items: Sequence[Delivery], window_s: float, limit: int | None
           ) -> tuple[Rendered, int]:
    """One message for as many of `items` as fit; how many it holds (at least one)."""
    kinds = Counter(d.kind for d in items)
    lines: list[str] = []
    used = 0
    budget = (limit or 1_000_000) - 120  # room for the title and the "more" line
    for item in items:
        line = f"• {item.title}"
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
    return Rendered(title, body), taken


def group_message(items: Sequence[Delivery], limit: int | None) -> tuple[Rendered, int]:
    """One message for a rule's group: the first alert's title, every alert's body."""
    head = items[0]
    parts: list[str] = []
    used = 0
    budget = (limit or 1_000_000) - len(head.title) - 60
    for item in items:
        if parts and used + len(item.body) + 2 > budget:
            break
        parts.append(item.body)
        used += len(item.body) + 2
    taken = len(parts)
    title = head.title if len(items) == 1 else f"{head.title} (+{len(items) - 1} more)"
    body = "\n\n".join(parts) + (f"\n\n… {len(items) - taken} more follow"
                                 if taken < len(items) else "")
    return fit(Rendered(title, body), limit), taken
