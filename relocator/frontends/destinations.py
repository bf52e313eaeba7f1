"""Where each image goes: kbld's ``--repository`` (one repository, by digest) or mirror mode under
``--prefix`` (each source path and tag kept under the prefix)."""

from __future__ import annotations

from collections.abc import Callable

from relocator.errors import InputError
from relocator.oci import Reference, Repository

__all__ = ["Mapper", "destination_mapper", "destination_registry", "gc_tag"]

Mapper = Callable[[Reference], Reference]

_TAG_MAX = 128


def gc_tag(ref: Reference) -> str:
    """``sha256-<hex>.relocated``: a tag that keeps an image alive where untagged ones are collected."""
    assert ref.digest is not None
    suffix = ".relocated"
    return f"{ref.digest.algorithm}-{ref.digest.hex}"[: _TAG_MAX - len(suffix)] + suffix


def destination_mapper(repository: str | None, prefix: str | None, *, tag_for_gc: bool = False) -> Mapper:
    """A function from a pinned source reference to its destination reference.

    Raises InputError (before any transfer) for a malformed flag or a bad combination.
    """
    if (repository is None) == (prefix is None):
        raise InputError("give exactly one of --repository HOST/REPO and --prefix HOST[/PATH]")
    if repository is not None:
        repo = _repository(repository)
        if tag_for_gc:
            return lambda ref: Reference(repo, tag=gc_tag(ref), digest=ref.digest)
        return lambda ref: Reference(repo, digest=ref.digest)
    if tag_for_gc:
        raise InputError("--tag-for-gc goes with --repository; --prefix keeps the source tags")
    assert prefix is not None
    host, path = _prefix(prefix)

    def mirror(ref: Reference) -> Reference:
        new_path = f"{path}/{ref.repository.path}" if path else ref.repository.path
        return Reference(Repository(host, new_path), ref.tag, ref.digest)

    return mirror


def destination_registry(repository: str | None, prefix: str | None) -> str | None:
    """The registry host ``--repository`` or ``--prefix`` writes to, read as ``destination_mapper``
    reads it; None when neither is given or the flag is malformed (``destination_mapper`` then
    refuses it with its own message)."""
    try:
        if repository is not None:
            return _repository(repository).registry
        if prefix is not None:
            return _prefix(prefix)[0]
    except InputError:
        return None
    return None


def _repository(text: str) -> Repository:
    try:
        return Repository.parse_arg(text)
    except InputError as exc:
        raise InputError(f"--repository: {exc}") from None


def _prefix(text: str) -> tuple[str, str]:
    """``HOST[/PATH]`` as (host, path): the first component is the host, whatever it looks like."""
    host, _, path = text.strip("/").partition("/")
    try:
        Repository.parse(f"{host}/{path}/x" if path else f"{host}/x")
    except InputError:
        raise InputError(f"--prefix {text!r}: not HOST[/PATH]") from None
    return host, path
