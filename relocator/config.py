"""Run settings: frozen, keyword-only, built once by the CLI."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

__all__ = ["RESUMABLE_SIZE", "Limits", "RetryPolicy", "Settings", "TLSSettings"]

MiB = 1024 * 1024

# Blobs of this size or more keep their upload session for a later run (registry/sessions.py,
# stores/uploadbook.py): below it a fresh upload costs less than the GET that would find the old
# session's offset. Here, at the bottom of the stack, so stores can ask it without loading aiohttp.
RESUMABLE_SIZE = 8 * MiB


@dataclass(frozen=True, slots=True, kw_only=True)
class Limits:
    """How much the run may do at once."""

    concurrency: int = 16
    bytes_in_flight: int = 512 * MiB
    chunk_size: int | None = None  # None: monolithic uploads unless the registry needs chunks
    read_chunk: int = 256 * 1024
    # Hash downloads in worker threads: measured faster for pkg (download-bound, 2.24 s against
    # 2.45 s per GB), slower for relocate (6.8 s against 6.2 s: the threads take CPU from the
    # registries sharing the machine), so only pkg turns it on.
    hash_in_threads: bool = False
    # The order blob transfers start in (engine.ordering): "size", largest first across the run,
    # or "image", image by image (largest first within each), so images finish steadily rather
    # than all near the end. benchmarks/order.py measures both side by side: "image" brought the
    # first image about a third earlier but the whole run took longer (benchmarks/README.md), so
    # "size" stays the default.
    order: Literal["size", "image"] = "size"


@dataclass(frozen=True, slots=True, kw_only=True)
class RetryPolicy:
    """Exponential backoff with jitter for temporary failures: ``attempts`` tries in all (the
    first and ``attempts - 1`` retries, ``--retries``), delays in seconds."""

    attempts: int = 5
    base_delay: float = 0.5
    max_delay: float = 30.0


@dataclass(frozen=True, slots=True, kw_only=True)
class TLSSettings:
    """TLS trust: system roots plus extra CA files; verification may be turned off."""

    ca_cert_paths: tuple[Path, ...] = ()
    verify: bool = True
    insecure_registries: frozenset[str] = frozenset()  # HOST[:PORT], as --registry-insecure gives them

    def allows_plain_http(self, host: str) -> bool:
        """Whether ``--registry-insecure`` names ``host`` (``name[:port]``): ``name:port`` names
        that port alone, a bare ``name`` every port of it (kbld's flag takes either). Names
        compare without case, as DNS names do."""
        wanted = {h.strip().lower() for h in self.insecure_registries}
        host = host.lower()
        return host in wanted or _without_port(host) in wanted


def _without_port(host: str) -> str:
    """``name`` of ``name:port`` or ``[v6]`` of ``[v6]:port``; ``host`` itself when it has no port."""
    name, sep, port = host.rpartition(":")
    if sep and port.isdigit() and (not name.startswith("[") or name.endswith("]")):
        return name
    return host


@dataclass(frozen=True, slots=True, kw_only=True)
class Settings:
    """Everything a run needs to know that is not an input reference.

    Timeouts, in seconds, are what a registry that stops answering costs each try
    (registry.stalls says how each is enforced): ``connect_timeout`` for TCP and TLS;
    ``read_timeout`` for the response head, for any pause in a body, and for a request body the
    peer stops taking. ``min_speed`` (bytes/s) fails a body slower than that over a whole
    ``read_timeout``: a trickle is not a pause, and 1 byte/s would otherwise never time out.
    """

    limits: Limits = field(default_factory=Limits)
    retry: RetryPolicy = field(default_factory=RetryPolicy)
    tls: TLSSettings = field(default_factory=TLSSettings)
    connect_timeout: float = 10.0
    read_timeout: float = 30.0
    min_speed: int = 1024
    user_agent: str = "relocator"
