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
        weighted = sum(v * x for v, x in zip(values[lo:hi], weights[lo:hi], strict=True))
        out.append(weighted / w if w > 0 else 0.0)
    return out


def sparkline(values: list[float], *, unicode: bool = True) -> str:
    if not values:
        return ""
    chars = BLOCKS if unicode else ASCII
    # Scaled from zero, not from the minimum: a steady 2 W must not look like a cliff.
    high = max(values)
    if high <= 0:
        return chars[0] * len(values)
    scale = (len(chars) - 1) / high
    return "".join(chars[int(round(max(v, 0.0) * scale))] for v in values)
