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

Format = Literal["text", "markdown"]

ZWSP: Final = "\u200b"
_MARKDOWN_SPECIAL: Final = re.compile(r"([\\*_~`|>#\[\]()])")


# Line breaks, terminal escapes and other controls, and the bidi overrides that
# reorder what a reader sees: vendor text must not forge a line or recolor a console.
_LINE_BREAKS: Final = re.compile(r"[\r\n\u2028\u2029\x85]+")
_CONTROLS: Final = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f\u200e\u200f\u202a-\u202e"
                              "\u2066-\u2069]")


def inert(text: str) -> str:
    """`text` on one line, with controls made visible (`\x1b`) and bidi overrides gone."""
    text = _LINE_BREAKS.sub(" ", text)
    return _CONTROLS.sub(lambda m: "" if ord(m.group()) >= 0x200E
                         else f"\\x{ord(m.group()):02x}", text)


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
