"""A bounded set of recently seen keys, for dropping a push the vendor sends twice."""

from __future__ import annotations

from collections import OrderedDict


class RecentKeys:
    """A bounded set of recently seen keys (oldest forgotten first)."""

    def __init__(self, size: int) -> None:
        self._keys: OrderedDict[str, None] = OrderedDict()
        self._size = size

    def add(self, key: str) -> bool:
        """Add `key`; whether it was new."""
        if key in self._keys:
            return False
        self._keys[key] = None
        if len(self._keys) > self._size:
            self._keys.popitem(last=False)
        return True
