"""Bounds that a record's writers keep and its readers check: the same numbers on both sides,
so that a record aicarbon writes is always one it reads back, and a file that no aicarbon
wrote cannot cost minutes and gigabytes to read or render."""

from __future__ import annotations

MAX_PHASES = 10_000  # phases kept per run; beyond, they are counted in a note
MAX_OPEN_PHASES = 1_000  # phases open at once; beyond, starts are refused (so depth < this)
MAX_FAILURE_CHARS = 200  # why a phase failed: an exception's type name
MAX_UNITS = 1e15  # units in one run: a quadrillion inferences; anything above is a typo
MAX_TIMELINE_POINTS = 1024  # a writer keeps 256 buckets (measurement.session.TIMELINE_POINTS)
MAX_MAGNITUDE = 1e18  # any number in a record: sums of them stay finite (records.codec)
