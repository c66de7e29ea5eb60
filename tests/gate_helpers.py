"""Samples built from numbers, for testing the gate without measuring anything."""

from __future__ import annotations

from aicarbon.records.samples import Fingerprint, SampleRun, Samples

FINGERPRINT = Fingerprint(
    "estimated", ["estimate"], "AMD EPYC 7763 64-Core Processor", [], "6.1.0", "", "0.1.0"
)


def samples(
    values: list[float],
    name: str = "infer",
    fingerprint: Fingerprint = FINGERPRINT,
    units: float | None = None,
    durations: list[float] | None = None,
) -> Samples:
    """Runs whose command's energy is ``values`` (joules per run)."""
    durations = durations or [1.5] * len(values)
    runs = [
        SampleRun(f"2026-11-25T10:00:{i:02d}.000Z", d, v * 1.1, v, 0, fingerprint.method, v / d)
        for i, (v, d) in enumerate(zip(values, durations, strict=True))
    ]
    return Samples(name, ["python", "infer.py"], fingerprint, runs, 1, 0.1, units)
