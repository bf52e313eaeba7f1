"""What the engine tells a reporter, and the run's Report."""

from __future__ import annotations

import enum
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Protocol

from relocator.engine.target import Target
from relocator.oci import Descriptor, Reference

__all__ = ["Outcome", "Report", "Reporter"]


class Outcome(enum.Enum):
    """How a blob or manifest reached its destination."""

    TRANSFERRED = "transferred"
    MOUNTED = "mounted"
    SKIPPED = "skipped"


class Reporter(Protocol):
    """Receives progress from the engine; exactly one renderer is chosen per run."""

    def plan_ready(self, targets: Sequence[Target], blob_bytes: int, blobs: int) -> None: ...
    def bytes_moved(self, n: int) -> None: ...
    def blob_done(self, desc: Descriptor, outcome: Outcome) -> None: ...
    def image_started(self, target: Target) -> None: ...  # its first blob placement began
    def image_done(self, target: Target, error: str | None) -> None: ...
    def image_held(self, target: Target) -> None: ...  # fetched; done once its file is committed
    def close(self) -> None: ...


@dataclass(slots=True)
class Report:
    """Counts, bytes, time and the result of every image, filled in as the run goes: a caller
    whose run was interrupted still holds what finished (``interrupted``, ``unfinished``)."""

    done: dict[str, Reference] = field(default_factory=dict)
    failed: dict[str, str] = field(default_factory=dict)
    blobs: dict[Outcome, int] = field(default_factory=lambda: dict.fromkeys(Outcome, 0))
    bytes_moved: int = 0
    referrers: int = 0  # referrers placed next to their subjects (written, or found there)
    seconds: float = 0.0
    notes: list[str] = field(default_factory=list)  # what the user should know, e.g. rebuilt manifests
    output: str | None = None  # the tarball or layout a committing sink writes ("-": stdout)
    written: bool = False  # it was committed, holding the ``done`` images and none of the failed
    images: list[str] = field(default_factory=list)  # the label of every image asked for, in order
    targets: dict[str, Target] = field(default_factory=dict)  # what each planned image was, by label
    interrupted: bool = False  # stopped by SIGINT or SIGTERM before every image was through
    # Failed images whose cause is the user's input (InputError: a tarball whose bytes do not
    # match its descriptors), found only when the bytes streamed: bad input all the same.
    bad_input: set[str] = field(default_factory=set)

    @property
    def without(self) -> list[str]:
        """The images a written output lacks (every failed one), sorted."""
        return sorted(self.failed) if self.written else []

    @property
    def unfinished(self) -> list[str]:
        """Images asked for that neither finished nor failed: what an interrupted run left."""
        return [label for label in self.images if label not in self.done and label not in self.failed]

    def count(self, outcome: Outcome, size: int) -> None:
        """Record one blob's outcome and, when transferred, the bytes that moved for it."""
        self.blobs[outcome] += 1
        if outcome is Outcome.TRANSFERRED:
            self.bytes_moved += size

    @property
    def mb_per_s(self) -> float:
        """Throughput of transferred bytes in MB/s (10^6)."""
        return self.bytes_moved / 1e6 / self.seconds if self.seconds > 0 else 0.0
