"""Which platforms of an index a run copies: ``--platform os/arch[/variant][:osversion]``
(repeatable; ``all``, the default, copies every index whole) and ``--platform-mode``.

A subset of an index cannot keep the index's digest, so the mode says what is written instead,
never silently (issue 11):

- ``filter`` (the default once platforms are named): a new index listing only the chosen entries,
  plus each buildx attestation manifest whose ``vnd.docker.reference.digest`` is a chosen entry.
  New bytes, so a new digest; reports and lock files give both.
- ``sparse``: the source index's own bytes (its digest kept) with only the chosen entries copied.
  A registry that checks an index's children (distribution does) refuses it; a layout records
  the entries left out (``oci.layout.OMITTED``) so ``verify`` and ``unpkg`` know.
- ``single``: exactly one platform, whose image manifest is copied alone (its own digest), as
  ``crane copy --platform`` and ``skopeo copy`` without ``--all`` do.

Pure: ``choose`` decides from an index's bytes; engine.plan fetches and walks. Matching is
oci.platform's (image-spec fields, crane's rules, containerd's architecture normalisation); an
entry without a platform is kept only in ``all``. Only the top index of an image is filtered: a
nested index entry is an entry like any other, kept when its own platform matches (``single`` then
chooses again inside it, engine.plan).
"""

from __future__ import annotations

import enum
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from relocator.errors import InputError, RegistryError, RelocatorError
from relocator.oci import Descriptor, Digest, Manifest, Repository
from relocator.oci.platform import Platform, attested_digest

__all__ = ["ALL_PLATFORMS", "Choice", "Mode", "PlatformSelection", "choose", "clashes", "filtered_index",
           "sparse_refused"]


class Mode(enum.Enum):
    """What a subset of an index becomes (module docstring)."""

    FILTER = "filter"
    SPARSE = "sparse"
    SINGLE = "single"


@dataclass(frozen=True, slots=True)
class PlatformSelection:
    """The platforms asked for (empty: all of them) and the mode."""

    platforms: tuple[Platform, ...] = ()
    mode: Mode = Mode.FILTER

    @classmethod
    def parse(cls, texts: Sequence[str], mode: str | None = None, *,
              flag: str = "--platform") -> PlatformSelection:
        """``texts`` as given to ``--platform`` (each may hold several, comma-separated), ``mode``
        as given to ``--platform-mode``. Raises InputError (one line naming the value) for a bad
        platform or an empty one between commas, ``all`` beside a platform, an unknown mode, a mode
        without platforms, or ``single`` with more than one platform."""
        for text in texts:
            if "," in text and not all(t.strip() for t in text.split(",")):
                # Else the error would name '' and not what the user wrote (a comma too many).
                raise InputError(f"{flag} {text!r}: an empty item in the comma-separated list")
        items = [t.strip() for text in texts for t in text.split(",")]
        named = [t for t in items if t != "all"]
        if named and len(named) < len(items):
            raise InputError(f"{flag} all copies every platform: it cannot be given with {named[0]!r}")
        platforms = tuple(dict.fromkeys(Platform.parse(t) for t in named))
        if mode is None:
            return cls(platforms)
        try:
            chosen = Mode(mode)
        except ValueError:
            raise InputError(f"--platform-mode {mode!r}: want filter, sparse or single") from None
        if not platforms:
            raise InputError(f"--platform-mode {mode}: name the platforms to copy with {flag} os/arch")
        if chosen is Mode.SINGLE and len(platforms) > 1:
            raise InputError(f"--platform-mode single copies one platform's image; {flag} names "
                             f"{len(platforms)}: {', '.join(map(str, platforms))}")
        return cls(platforms, chosen)

    @property
    def all(self) -> bool:
        """True when every platform is copied (no ``--platform``, or ``all``)."""
        return not self.platforms

    def wants(self, platform: Platform | None) -> bool:
        """True if an entry of ``platform`` is chosen (an entry without one only in ``all``)."""
        if self.all:
            return True
        return platform is not None and any(platform.satisfies(p) for p in self.platforms)

    def __str__(self) -> str:
        if self.all:
            return "all"
        return ",".join(map(str, self.platforms)) + f" ({self.mode.value})"


ALL_PLATFORMS = PlatformSelection()


@dataclass(frozen=True, slots=True)
class Choice:
    """What ``choose`` kept of an index: the entries to copy (chosen images, then their
    attestation manifests, in index order) and the digests of those left out."""

    kept: tuple[Descriptor, ...]
    omitted: frozenset[Digest]


def choose(index: Manifest, selection: PlatformSelection, absent: frozenset[Digest] = frozenset()) -> Choice:
    """The entries of ``index`` ``selection`` keeps (``absent``: entries the source lacks on
    purpose, a sparse layout's, never chosen). ``single`` keeps the first entry that matches,
    as crane does; the others keep every match and the attestation manifests of what they keep.

    Raises InputError naming the platforms the index has when a named platform matches no entry
    (the caller names the image).
    """
    present = [c for c in index.children if c.digest not in absent]
    images = [c for c in present if attested_digest(c.annotations) is None]
    missing = [p for p in selection.platforms
               if not any(c.platform is not None and c.platform.satisfies(p) for c in images)]
    if missing:
        has = sorted({str(c.platform) for c in images if c.platform is not None}) or ["no platforms"]
        raise InputError(f"no {', '.join(map(str, missing))} in the index; it has {', '.join(has)}")
    chosen = [c for c in images if selection.wants(c.platform)]
    if selection.mode is Mode.SINGLE:
        chosen = chosen[:1]
    picked = {c.digest for c in chosen}
    kept = tuple(c for c in present if c.digest in picked or (
        selection.mode is not Mode.SINGLE and attested_digest(c.annotations) in picked))
    return Choice(kept, frozenset(c.digest for c in index.children) - {c.digest for c in kept})


def filtered_index(index: Manifest, kept: Sequence[Descriptor]) -> Manifest:
    """A new index: ``index``'s JSON with only the ``kept`` entries (each exactly as listed), in
    its key order, as compact JSON (how buildx and crane serialise an index they build).

    Its ``subject`` is dropped. ``subject`` says "the producer made this index about that
    manifest", and a registry with the Referrers API lists the pushed index under it (OCI-Subject):
    a filtered copy, made by relocator and covered by no signature of the producer's, would then
    sit in the subject's referrers next to the original, and a verifier walking them would find an
    artifact nobody signed. Without it the filtered index is a plain image of the platforms asked
    for. Every other field (``mediaType``, ``artifactType``, ``annotations``) is kept.
    """
    doc = json.loads(index.raw)
    wanted = {d.digest for d in kept}
    doc["manifests"] = [e for e in doc["manifests"] if Digest.parse(e["digest"]) in wanted]
    doc.pop("subject", None)
    raw = json.dumps(doc, separators=(",", ":"), ensure_ascii=False).encode()
    return Manifest.parse(raw, index.media_type, "filtered index")


def sparse_refused(repo: Repository, digest: Digest, exc: RegistryError) -> RelocatorError:
    """The one line for a registry that will not take an index whose entries it lacks:
    distribution checks that every entry of an index exists (registry/storage/
    manifestlisthandler.go answers MANIFEST_BLOB_UNKNOWN), so ``sparse`` cannot land there."""
    why = ", ".join(dict.fromkeys(exc.codes)) or f"HTTP {exc.status}"
    return RelocatorError(f"{repo.registry} refuses the index {digest} without the platforms left out "
                          f"({why}): --platform-mode sparse needs a registry that takes an index whose "
                          "entries it lacks; use --platform-mode filter (a new index) or single")


def clashes(uses: Mapping[Digest, Mapping[str, str]]) -> dict[str, str]:
    """The images to fail, with why: ``uses`` maps each source index copied as it is to the
    images (labels) doing so and the platforms each asks for (``all``, or a sparse selection's
    text). A plan holds an index's entries once, so one run cannot copy it whole for one image
    and sparse for another, or sparse with two selections: each image involved fails."""
    failed = {}
    for digest, by_label in uses.items():
        if len(set(by_label.values())) > 1:
            asked = ", ".join(f"{label}: {how}" for label, how in sorted(by_label.items()))
            for label in by_label:
                failed[label] = (f"the index {digest} is asked for with different platforms in one run "
                                 f"({asked}): --platform-mode sparse keeps its digest, so copy these in "
                                 "separate runs")
    return failed
