"""``aicarbon devices`` for a person: one line per domain or sensor, in 80 columns, and under
each one that does not work its reason and fix."""

from __future__ import annotations

import textwrap

from ..records.devices import DeviceRecord, DevicesRecord
from .escape import escaped_copy
from .terminal import shorten
from .units import fmt_power

WIDTH = 80
NAME_W, STATUS_W, POWER_W = 30, 12, 10


def _status(d: DeviceRecord) -> str:
    if not d.available:
        return "not needed" if d.reason and d.reason.startswith("not needed") else "unavailable"
    return d.method or "available"


def _how(d: DeviceRecord) -> str:
    if d.kind == "gpu":
        return "energy counter" if d.energy_counter else "power only, integrated"
    if d.method == "estimated":
        return "model"
    return (d.source or d.sensor).split(" ")[0]


def _wrapped(prefix: str, text: str) -> list[str]:
    return textwrap.wrap(text, WIDTH, initial_indent=prefix, subsequent_indent=" " * len(prefix)) or [prefix]


def render(record: DevicesRecord) -> str:
    record = escaped_copy(record)
    host = record.host
    lines = _wrapped(
        "", f"aicarbon devices · {host.hostname} · {host.cpu_model} · {host.logical_cpus} logical CPUs"
    )
    lines.append(f"{'Device':<{NAME_W}}{'Status':<{STATUS_W}}{'Power now':>{POWER_W}}  How")
    for d in record.devices:
        name = d.label or d.sensor
        if not d.in_total:
            name += " *"
        name = shorten(name, NAME_W - 1)  # in terminal cells: wide characters count twice
        power = fmt_power(d.power_w) if d.power_w is not None else ""
        if d.method == "estimated" and power:
            power = "~" + power
        how = _how(d) if d.available else ""
        lines.append(f"{name:<{NAME_W}}{_status(d):<{STATUS_W}}{power:>{POWER_W}}  {how}".rstrip())
        if d.available and d.method == "estimated" and d.model:
            lines += _wrapped("    model: ", d.model)
        if d.reason and not d.reason.startswith("not needed"):
            lines += _wrapped("    why: ", d.reason)
        if d.fix:
            lines += _wrapped("    fix: ", d.fix)
    if any(not d.in_total for d in record.devices):
        lines.append("* overlaps other domains: shown, never added to a run's total.")
    measured = [d.label or d.sensor for d in record.devices if d.available and d.method == "measured"]
    if measured:
        lines += _wrapped("", f"Measured here: {', '.join(measured)}.")
    else:
        lines += _wrapped(
            "",
            "Nothing here is measured: 'aicarbon run' reports estimates, clearly marked (the "
            "'why' and 'fix' lines above say what is missing).",
        )
    lines.append(f"Power is the average over {record.window_s:.2f} s.")
    for i, line in enumerate(record.embodied):
        lines += _wrapped("Embodied: " if i == 0 else "          ", line)
    for note in record.notes:
        lines += _wrapped("Note: ", note)
    return "\n".join(lines) + "\n"
