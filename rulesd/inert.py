"""Text from outside (a vendor, a person's comment, a platform's reason) made safe for one
line of a log, a terminal or a page: no line breaks, no terminal control, no bidi
reordering. What a message format needs on top of that is delivery's (`escaping`)."""

from __future__ import annotations

import re
from typing import Final

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
