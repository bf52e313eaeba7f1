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
    """What to measure: sizes in bytes, ``chunk_size`` None for one PATCH per blob (zb's chunked
    push), ``copy_to`` a ``HOST/REPO`` to copy into (default: a repository named from ours)."""

    repository: str
    blob_sizes: tuple[int, ...] = (10 * MiB,)
    count: int = 16
    duration: float | None = None
    concurrency: tuple[int, ...] = (8,)
    upload: str = "monolithic"
    chunk_size: int | None = None
    warmup: int = 2
    keep: bool = False
    mixed: bool = False
    copy_to: str | None = None
    credentials: CredentialStore | None = None  # from the command line's credential flags


def validate(options: BenchOptions) -> tuple[Repository, Repository | None]:
    """Refuse absurd input before any traffic; the repository and the ``--copy-to`` one."""
    repos: list[Repository] = []
    for flag, text in (("bench", options.repository), ("--copy-to", options.copy_to)):
        try:
            repos += [Repository.parse_arg(text)] if text is not None else []
        except InputError as exc:
            raise InputError(f"{flag}: {exc}") from None
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
    if options.chunk_size is not None and not 0 < options.chunk_size <= _MAX_BLOB:
        raise InputError(f"--chunk-size {options.chunk_size}: must be more than 0 and at most 16 GiB")
    if options.warmup < 0:
        raise InputError("--warmup must not be negative")
    if len(repos) == 2 and repos[1] == repos[0]:
        raise InputError(f"--copy-to {options.copy_to}: the repository measured; name another")
    return repos[0], repos[1] if len(repos) == 2 else None
