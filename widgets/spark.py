"""Sparklines as block characters."""

from __future__ import annotations

import math
from collections.abc import Sequence

BLOCKS = "▁▂▃▄▅▆▇█"
MISSING = "·"


def spark(values: Sequence[float | None], width: int, *, lo: float | None = None, hi: float | None = None) -> str:
    """The last `width` values as blocks scaled between `lo` and `hi`, left-padded with spaces to `width`.

    `lo`/`hi` default to the min/max of the shown values; a flat series is drawn with the middle block;
    None (or NaN) is drawn as "·"; values outside [lo, hi] are clamped.
    """
    if width <= 0:
        return ""
    shown = [None if v is None or math.isnan(v) else v for v in values[-width:]]
    present = [v for v in shown if v is not None]
    if present:
        lo = min(present) if lo is None else lo
        hi = max(present) if hi is None else hi
    top = len(BLOCKS) - 1
    chars = []
    for v in shown:
        if v is None:
            chars.append(MISSING)
        elif hi <= lo:
            chars.append(BLOCKS[top // 2])
        else:
            level = round((v - lo) / (hi - lo) * top)
            chars.append(BLOCKS[min(max(level, 0), top)])
    return "".join(chars).rjust(width)
