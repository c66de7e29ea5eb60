"""A one-line picture of power over time."""

from __future__ import annotations

BLOCKS = "▁▂▃▄▅▆▇█"
ASCII = "_.-:=+*#"


def resample(values: list[float], weights: list[float], width: int) -> list[float]:
    """Weighted averages of ``values`` over ``width`` (or fewer) equal groups of points."""
    if len(values) <= width:
        return list(values)
    out: list[float] = []
    for i in range(width):
        lo, hi = i * len(values) // width, (i + 1) * len(values) // width
        w = sum(weights[lo:hi])
        out.append(sum(v * x for v, x in zip(values[lo:hi], weights[lo:hi])) / w if w > 0 else 0.0)
    return out


def sparkline(values: list[float], *, unicode: bool = True) -> str:
    if not values:
        return ""
    chars = BLOCKS if unicode else ASCII
    low, high = min(values), max(values)
    if high - low <= 1e-9 * max(abs(high), 1.0):
        return chars[len(chars) // 2] * len(values)
    scale = (len(chars) - 1) / (high - low)
    return "".join(chars[int(round((v - low) * scale))] for v in values)
