"""What a sync wrote where it could not keep the source's digest, remembered between runs.

``--platform`` in ``filter`` or ``single`` mode (engine.platforms) writes a manifest whose digest
is not the source's, so the HEAD-only diff (frontends.syncdiff) would see every such tag as
changed, night after night, and copy it again: the GETs of the index and its children are pulls
on rate-limited registries. Each job keeps, beside its run lock, one record per target tag: the
source digest it copied, the digest it wrote and the platform selection. While both HEADs still
give those digests and the selection is the same, the tag is unchanged.

Losing the file costs one copy, never correctness: a missing or unreadable file reads as empty.
Only the run holding the job's lock reads or writes it (stores.runlock).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

from relocator.errors import InputError
from relocator.stores.files import write_atomic

__all__ = ["Written", "load_written", "save_written"]


@dataclass(frozen=True, slots=True)
class Written:
    """One target tag: the source digest copied, the digest written, and the selection (its
    ``str``, e.g. ``linux/amd64 (filter)``)."""

    source: str
    written: str
    selection: str


def load_written(path: Path) -> dict[str, Written]:
    """The records at ``path`` keyed by target ``repo:tag``; empty when the file is missing,
    unreadable or not what this module writes."""
    try:
        data = json.loads(path.read_bytes())
    except (OSError, ValueError):
        return {}
    if not isinstance(data, dict):
        return {}
    out = {}
    for target, record in data.items():
        if isinstance(record, dict) and all(isinstance(record.get(k), str) for k in ("source", "written",
                                                                                       "selection")):
            out[target] = Written(record["source"], record["written"], record["selection"])
    return out


def save_written(path: Path, records: dict[str, Written]) -> bool:
    """Replace ``path`` with ``records`` atomically; False when it cannot be written (the next run
    then copies those tags again: worth a note, not a failure)."""
    data = {t: {"source": r.source, "written": r.written, "selection": r.selection}
            for t, r in sorted(records.items())}
    try:
        write_atomic(path, json.dumps(data, indent=1).encode())
    except InputError:
        return False
    return True
