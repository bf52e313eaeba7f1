"""Throughput and latency statistics for bench: pure functions over samples."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

__all__ = ["PhaseResult", "percentile"]


def percentile(values: Sequence[float], p: float) -> float:
    """The p-th percentile (0-100) by linear interpolation between closest ranks."""
    if not values:
        return math.nan
    ordered = sorted(values)
    rank = (len(ordered) - 1) * p / 100
    low, high = math.floor(rank), math.ceil(rank)
    return ordered[low] + (ordered[high] - ordered[low]) * (rank - low)


@dataclass(frozen=True, slots=True)
class PhaseResult:
    """One phase at one blob size (0 for a mix of sizes) and concurrency. ``scenario`` names it
    as zot's ``zb`` does where the two overlap (commands.scenarios); ``counts_bytes`` is False for a
    phase whose work is requests, not bytes (HEAD, mount, manifests): it has no MB/s."""

    phase: str
    blob_size: int
    concurrency: int
    samples: int
    errors: int
    bytes: int
    seconds: float
    latencies: tuple[float, ...]
    pool_wait: tuple[float, ...] = ()
    first_error: str = ""
    scenario: str = ""
    counts_bytes: bool = True

    @property
    def mb_per_s(self) -> float:
        """Bytes moved per second, in MB (10^6); 0.0 for a phase that does not count bytes."""
        return self.bytes / 1e6 / self.seconds if self.seconds > 0 and self.counts_bytes else 0.0

    @property
    def requests_per_s(self) -> float:
        """Operations per second."""
        return self.samples / self.seconds if self.seconds > 0 else 0.0

    def latency(self, p: float) -> float:
        """Latency percentile in seconds."""
        return percentile(self.latencies, p)

    def to_json(self) -> dict[str, Any]:
        """A flat record for JSON and CSV: seconds, ``*_ms`` latencies in milliseconds (p50, p90,
        p99, max; None without samples); ``mb_per_s`` is None for a phase that does not count bytes."""
        def ms(x: float) -> float | None:
            return None if math.isnan(x) else round(x * 1000, 3)

        return {
            "phase": self.phase, "blob_size": self.blob_size, "concurrency": self.concurrency,
            "samples": self.samples, "errors": self.errors, "bytes": self.bytes,
            "seconds": round(self.seconds, 4),
            "mb_per_s": round(self.mb_per_s, 2) if self.counts_bytes else None,
            "requests_per_s": round(self.requests_per_s, 2),
            "p50_ms": ms(self.latency(50)), "p90_ms": ms(self.latency(90)),
            "p99_ms": ms(self.latency(99)), "max_ms": ms(self.latency(100)),
            "pool_wait_p50_ms": ms(percentile(self.pool_wait, 50)),
            "pool_wait_p99_ms": ms(percentile(self.pool_wait, 99)),
            "first_error": self.first_error, "scenario": self.scenario or self.phase,
        }
