"""Numbers as vendors send them: JSON numbers, or decimal text (`"0.002391"`)."""

from __future__ import annotations

import math
from typing import Any


def finite(value: Any) -> float | None:
    """A JSON number or a decimal string as a finite float; anything else (a bool, NaN,
    text that is no number) None."""
    if isinstance(value, bool):
        return None
    if isinstance(value, str):
        try:
            value = float(value)
        except ValueError:
            return None
    if isinstance(value, int | float) and math.isfinite(value):
        return float(value)
    return None
