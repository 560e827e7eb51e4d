"""Secrets (API keys, Apprise URLs with bot tokens) masked in everything rulesd writes."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Final

MASK: Final = "***"


class Redactor:
    """Replaces every known secret in a text with `***`."""

    def __init__(self, secrets: Iterable[str]) -> None:
        # Longest first, so a URL is masked whole before a token inside it.
        self._secrets = sorted({s for s in secrets if len(s) >= 4}, key=len, reverse=True)

    def __call__(self, text: str) -> str:
        for secret in self._secrets:
            if secret in text:
                text = text.replace(secret, MASK)
        return text
