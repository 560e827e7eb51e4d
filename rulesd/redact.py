"""Secrets (API keys, Apprise URLs with bot tokens) masked in everything rulesd writes."""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import Final

MASK: Final = "***"
# A key's pieces are secret too: a key pasted into a template comes back from Jinja
# as `unknown variable 'c0ffee00'`, the first piece of `c0ffee00-1111-…`.
_PIECE: Final = re.compile(r"[A-Za-z0-9_]{8,}")


def _pieces(secret: str) -> set[str]:
    """The long alphanumeric runs of an opaque secret (not of a URL: its host and
    scheme are no secret, and the URL is masked whole)."""
    if "://" in secret:
        return set()
    pieces = set(_PIECE.findall(secret))
    pieces.discard(secret)
    return pieces


class Redactor:
    """Replaces every known secret in a text with `***`."""

    def __init__(self, secrets: Iterable[str]) -> None:
        self._secrets: list[str] = []
        self.learn(secrets)

    def learn(self, secrets: Iterable[str]) -> None:
        """Mask these too (a reload's new keys; the old ones stay masked)."""
        whole = {s for s in secrets if len(s) >= 4}
        pieces = {p for s in whole for p in _pieces(s)}
        # Longest first, so a URL is masked whole before a token inside it.
        self._secrets = sorted(set(self._secrets) | whole | pieces, key=len, reverse=True)

    def __call__(self, text: str) -> str:
        for secret in self._secrets:
            if secret in text:
                text = text.replace(secret, MASK)
        return text
