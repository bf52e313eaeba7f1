"""What `relocator bench` is asked to measure, and the checks that refuse absurd input before any
traffic: light to import, so a refused bench loads no registry client (commands.measure does)."""

from __future__ import annotations

from dataclasses import dataclass

from relocator.auth import CredentialStore
from relocator.errors import InputError
from relocator.oci import Repository

__all__ = ["MAX_COUNT", "BenchOptions", "validate"]

MiB = 1024 * 1024
_MAX_BLOB = 16 * 1024 * MiB
MAX_COUNT = 100_000  # blobs per measurement, at most
_MAX_CONCURRENCY = 1024


@dataclass(frozen=True, slots=True, kw_only=True)
class BenchOptions:
    """What to measure."""

    repository: str
    blob_sizes: tuple[int, ...] = (16 * MiB,)
    count: int = 16
    duration: float | None = None
    concurrency: tuple[int, ...] = (8,)
    upload: str = "monolithic"
    chunk_size: int = 5 * MiB
    warmup: int = 2
    keep: bool = False
    credentials: CredentialStore | None = None  # from the command line's credential flags


def validate(options: BenchOptions) -> Repository:
    """Refuse absurd input before any traffic."""
    try:
        repo = Repository.parse_arg(options.repository)
    except InputError as exc:
        raise InputError(f"bench: {exc}") from None
    for size in options.blob_sizes:
        if not 0 < size <= _MAX_BLOB:
            raise InputError(f"--blob-size {size}: must be more than 0 and at most 16 GiB")
    if not 0 < options.count <= MAX_COUNT:
        raise InputError(f"--count {options.count}: must be between 1 and {MAX_COUNT}")
    if options.duration is not None and not 0 < options.duration <= 86400:
        raise InputError(f"--duration {options.duration}: must be more than 0 s and at most a day")
    for c in options.concurrency:
        if not 0 < c <= _MAX_CONCURRENCY:
            raise InputError(f"--concurrency {c}: must be between 1 and {_MAX_CONCURRENCY}")
    if options.upload not in ("monolithic", "chunked"):
        raise InputError(f"--upload {options.upload!r}: monolithic or chunked")
    if options.upload == "chunked" and not 0 < options.chunk_size <= _MAX_BLOB:
        raise InputError(f"--chunk-size {options.chunk_size}: must be more than 0")
    if options.warmup < 0:
        raise InputError("--warmup must not be negative")
    return repo
