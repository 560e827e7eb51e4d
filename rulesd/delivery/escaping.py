"""Make vendor-provided text inert in a target's message format.

Vendor text is data, never markup: it must not ping a channel or a person
(`@everyone`, `@here`, `@name`, `<@id>`, `<@&role>`, `<!channel>`) nor turn into a
link (`[label](url)`, `<url|label>`). A zero-width space after every `@` and `<`
breaks each of those constructs without hiding the text — also where Apprise's
Discord plugin collects `@name` from the body into a content that pings.
"""

from __future__ import annotations

import re
from typing import Final, Literal

from rulesd.inert import inert

Format = Literal["text", "markdown"]

ZWSP: Final = "\u200b"
_MARKDOWN_SPECIAL: Final = re.compile(r"([\\*_~`|>#\[\]()])")


def neutralize(text: str, fmt: Format = "text") -> str:
    """`text` with controls made inert, mentions and link syntax broken, escaped for
    `fmt`."""
    text = inert(text)
    # @everyone, @name: no mention; <@id>, <@&role>, <#channel>, <!here>,
    # <url|label>: Discord and Slack syntax.
    text = text.replace("@", f"@{ZWSP}").replace("<", f"<{ZWSP}")
    # [label](url): a markdown link whatever the target does with markdown.
    text = text.replace("](", f"]{ZWSP}(")
    if fmt == "markdown":
        text = _MARKDOWN_SPECIAL.sub(r"\\\1", text)
    return text
