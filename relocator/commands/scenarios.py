"""The names of `relocator bench`'s scenarios, and the mixed-size batches, as zot's ``zb`` has them.

zb (project-zot/zot, cmd/zb/perf.go, ``testSuite``) names its tests "Push Monolith 1MB", "Push Chunk
Streamed 10MB", "Pull 100MB", "Pull Mixed 20% 1MB, 70% 10MB, 10% 100MB", "Push Monolith Mixed 20%
1MB, 70% 10MB, 10% 100MB" and "Push Chunk Mixed 33% 1MB, 33% 10MB, 33% 100MB"; its "MB" is a MiB
(``smallBlob = 1 * MiB``) and its chunked push is one streamed PATCH then the closing PUT. Where
bench measures the same thing it uses the same name, so its figures can be set beside published zb
ones; at other sizes it names them the same way ("Push Monolith 16MB"). Two differences remain,
and the README says so: zb times an image (blob, config, manifest) per request where bench times
one blob, and zb draws a mixed batch's sizes at random where bench allots them by proportion.

The copy-specific scenarios are bench's own: "Copy Upload" (a blob read from the repository and
streamed into another one, registry to registry with ``--copy-to``), "Copy Mount" (the same blob
mounted instead: the two side by side are mount against upload), "Head Blob", "Manifest Put" and
"Manifest Get".
"""

from __future__ import annotations

import random

__all__ = ["MIB", "MIXED", "mixed_name", "mixed_sizes", "scenario_name", "size_label"]

MIB = 1024 * 1024
# zb's mixed batches: (share, size) in its order. The pull mix is zb's "Pull Mixed" for both modes.
MIXED = {"monolithic": ((0.2, MIB), (0.7, 10 * MIB), (0.1, 100 * MIB)),
         "chunked": ((1 / 3, MIB), (1 / 3, 10 * MIB), (1 / 3, 100 * MIB)),
         "pull": ((0.2, MIB), (0.7, 10 * MIB), (0.1, 100 * MIB))}

_PHASES = {"head": "Head Blob", "mount": "Copy Mount", "copy": "Copy Upload", "pull": "Pull"}


def size_label(n: int) -> str:
    """A size as zb writes it, its MB being a MiB: ``1MB``, ``100MB``, ``256KB``, ``1000B``."""
    for unit, div in (("GB", 1 << 30), ("MB", 1 << 20), ("KB", 1 << 10)):
        if n >= div and n % div == 0:
            return f"{n // div}{unit}"
    return f"{n}B"


def scenario_name(phase: str, size: int, upload: str, chunk_size: int | None) -> str:
    """The scenario a ``phase`` row measures at blob ``size`` bytes: zb's name for push and pull,
    bench's own for the rest. A chunked push in chunks smaller than the blob is not zb's one-PATCH
    push, so it is named with its chunk size."""
    label = size_label(size)
    if phase == "push":
        if upload == "monolithic":
            return f"Push Monolith {label}"
        if chunk_size is None or chunk_size >= size:
            return f"Push Chunk Streamed {label}"
        return f"Push Chunked {label} in {size_label(chunk_size)} chunks"
    if phase in ("manifest put", "manifest get"):
        return phase.title()
    return f"{_PHASES.get(phase, phase.title())} {label}"


def mixed_name(kind: str) -> str:
    """zb's name of a mixed batch: ``kind`` is ``monolithic`` or ``chunked`` (a push) or ``pull``."""
    parts = ", ".join(f"{round(share * 100)}% {size_label(size)}" for share, size in MIXED[kind])
    verb = {"monolithic": "Push Monolith Mixed", "chunked": "Push Chunk Mixed", "pull": "Pull Mixed"}[kind]
    return f"{verb} {parts}"


def mixed_sizes(kind: str, count: int) -> list[int]:
    """``count`` blob sizes in the shares of ``MIXED[kind]``, each share's number rounded by largest
    remainder (ties to zb's order), in a fixed shuffled order so every run sends the same sequence."""
    mix = MIXED[kind]
    exact = [share * count for share, _ in mix]
    numbers = [int(x) for x in exact]
    by_remainder = sorted(range(len(mix)), key=lambda i: -(exact[i] - numbers[i]))
    for i in by_remainder[: count - sum(numbers)]:
        numbers[i] += 1
    sizes = [size for (_, size), n in zip(mix, numbers, strict=True) for _ in range(n)]
    random.Random(0).shuffle(sizes)  # not a secret: the same interleaving every run
    return sizes
