"""Which GPUs ``CUDA_VISIBLE_DEVICES`` names, parsed as CUDA parses it.

Entries, comma separated:

* an integer: the n-th GPU CUDA can open, in PCI bus order when ``CUDA_DEVICE_ORDER=PCI_BUS_ID``
  (also CUDA's order by default when all GPUs are the same model);
* ``GPU-<uuid>`` or a unique prefix of one;
* ``MIG-<uuid>`` (a MIG instance), or the older ``MIG-GPU-<uuid>/<gi>/<ci>`` form.

As CUDA does, parsing stops at the first entry that is none of these (the entry and the reason
are returned), and an empty value names no GPU. Whether an entry names a GPU that exists is
decided by the NVML sensor, which stops there too.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

_LEGACY_MIG = re.compile(r"^MIG-(GPU-[0-9a-fA-F-]+)/(\d+)/(\d+)$")
FULL_UUID_LENGTH = len("GPU-") + 36


@dataclass(frozen=True)
class Entry:
    kind: str  # "index", "gpu" (a GPU UUID or prefix) or "mig"
    text: str  # as written
    index: int = -1  # kind "index"
    uuid: str = ""  # kind "gpu": the UUID or prefix; kind "mig": the MIG UUID, or the parent's
    legacy_mig: bool = False  # MIG-GPU-<uuid>/gi/ci: ``uuid`` is the parent GPU's


def parse_visible(value: str) -> tuple[list[Entry], str | None]:
    """The entries of a ``CUDA_VISIBLE_DEVICES`` value, and why parsing stopped early."""
    entries: list[Entry] = []
    seen: set[str] = set()
    for raw in value.split(","):
        token = raw.strip()
        entry = _entry(token)
        if entry is None:
            if token:
                return entries, f"CUDA_VISIBLE_DEVICES entry {token!r} is not a GPU index or UUID"
            return entries, None
        key = f"{entry.kind}:{entry.index}:{entry.uuid}"
        if key not in seen:
            seen.add(key)
            entries.append(entry)
    return entries, None


def _entry(token: str) -> Entry | None:
    if token.isdigit():
        return Entry("index", token, index=int(token))
    if token.startswith("GPU-") and len(token) > len("GPU-"):
        return Entry("gpu", token, uuid=token)
    legacy = _LEGACY_MIG.match(token)
    if legacy:
        return Entry("mig", token, uuid=legacy.group(1), legacy_mig=True)
    if token.startswith("MIG-") and len(token) > len("MIG-"):
        return Entry("mig", token, uuid=token)
    return None


def is_full_uuid(uuid: str) -> bool:
    return len(uuid) >= FULL_UUID_LENGTH
