"""What the engine is asked to copy (ImageInput) and what it planned for each (Target)."""

from __future__ import annotations

from dataclasses import dataclass

from relocator.engine.platforms import PlatformSelection
from relocator.engine.referrers import ReferrerPolicy
from relocator.oci import Digest, Reference

__all__ = ["ImageInput", "Target"]


@dataclass(frozen=True, slots=True)
class ImageInput:
    """One image asked for: ``text`` as the user wrote it (the label in reports and locks), the
    parsed reference, and ``origin``, where it was written (a file name, ``-i``, a layout);
    ``referrers``, when set, is this image's own policy (a sync entry's) instead of the run's;
    ``destination``, when set, is where this input goes (its digest added by the plan) instead of
    what the run's mapping gives its pinned reference: one source image can then go to several
    places in one run (a sync fanning out), each blob still read once; ``platforms``, when set, is
    this image's own platform selection (a sync entry's ``platforms:``) instead of the run's."""

    text: str
    ref: Reference
    origin: str
    referrers: ReferrerPolicy | None = None
    destination: Reference | None = None
    platforms: PlatformSelection | None = None


@dataclass(frozen=True, slots=True)
class Target:
    """One planned image: its label, the source pinned to what it names, where it goes, and the
    digest written there (``root``). ``source_root`` is the source's digest when ``root`` is
    another (engine.platforms: a filtered index, or one platform's image), else None."""

    label: str
    source: Reference
    destination: Reference
    root: Digest
    source_root: Digest | None = None
