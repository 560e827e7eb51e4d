"""Make vendor-provided text inert in a target's message format.

Vendor text is data, never markup: it must not ping a channel (`@everyone`,
`@here`, `<@&role>`, `<!channel>`) nor turn into a link (`[label](url)`).
A zero-width space breaks each of those constructs without hiding the text.
"""

from __future__ import annotations

import re
from typing import Final, Literal

Format = Literal["text", "markdown"]

ZWSP: Final = "\u200b"
_MASS_MENTION: Final = re.compile(r"@(everyone|here|channel)\b", re.IGNORECASE)
_MARKDOWN_SPECIAL: Final = re.compile(r"([\\*_~`|>#\[\]()])")


def neutralize(text: str, fmt: Format = "text") -> str:
    """`text` with mentions and link syntax broken, escaped for `fmt`."""
    text = _MASS_MENTION.sub(lambda m: f"@{ZWSP}{m.group(1)}", text)
    # <@id>, <@&role>, <#channel>, <!here>, <url|label>: Discord and Slack syntax.
    text = text.replace("<", f"<{ZWSP}")
    # [label](url): a markdown link whatever the target does with markdown.
    text = text.replace("](", f"]{ZWSP}(")
    if fmt == "markdown":
        text = _MARKDOWN_SPECIAL.sub(r"\\\1", text)
    return text
