"""Stored baselines: a reviewable JSON file in the repository, keyed by benchmark name and
environment fingerprint, keeping the last ``keep`` sessions of each.

Schema ``aicarbon.records.baseline/1``::

    {"schema": "aicarbon.records.baseline/1",
     "entries": [{"name": "infer", "environment": "measured by rapl | Intel ... | no GPU",
                  "sessions": [<samples>, ...]}]}

A session is a whole samples record (docs/ci-gate.md), so a baseline can be reviewed, diffed
and re-checked with ``aicarbon compare``.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from pathlib import Path

from .codec import RecordError, decode, dumps, read_json_file
from .output_file import write_text
from .samples import Samples

BASELINE_SCHEMA = "aicarbon.records.baseline/1"
MAX_BASELINE_BYTES = 64 << 20


@dataclass
class Entry:
    name: str
    environment: str  # Fingerprint.key() of its sessions
    sessions: list[Samples] = field(default_factory=list)


@dataclass
class Baseline:
    entries: list[Entry] = field(default_factory=list)
    schema: str = BASELINE_SCHEMA

    @classmethod
    def load(cls, path: Path) -> Baseline | None:
        """The baseline at ``path``; None when there is no file (not a failure)."""
        if not path.exists() and not path.is_symlink():
            return None
        data = read_json_file(path, "baseline file", MAX_BASELINE_BYTES)
        schema = data.get("schema") if isinstance(data, dict) else None
        if schema != BASELINE_SCHEMA:
            raise RecordError(
                f"{path} is not an aicarbon baseline (schema {schema!r}, not {BASELINE_SCHEMA})"
            )
        baseline = decode(cls, data, str(path))
        for i, entry in enumerate(baseline.entries):
            for j, session in enumerate(entry.sessions):
                Samples.from_dict(asdict(session), f"{path}.entries[{i}].sessions[{j}]")  # the same checks
        return baseline

    def save(self, path: Path) -> None:
        write_text(path, dumps(asdict(self)))

    def entries_named(self, name: str) -> list[Entry]:
        return [e for e in self.entries if e.name == name]

    def sessions_for(self, samples: Samples) -> list[Samples]:
        """The stored sessions of the same benchmark in the same environment, oldest first."""
        key = samples.fingerprint.key()
        for entry in self.entries_named(samples.name):
            if entry.environment == key:
                return entry.sessions
        return []

    def add(self, samples: Samples, keep: int = 1) -> None:
        """Store a session, keeping the last ``keep`` of its benchmark and environment."""
        key = samples.fingerprint.key()
        for entry in self.entries_named(samples.name):
            if entry.environment == key:
                entry.sessions = [*entry.sessions, samples][-keep:]
                return
        self.entries.append(Entry(samples.name, key, [samples]))
