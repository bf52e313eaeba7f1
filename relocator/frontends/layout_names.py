"""The names in an OCI layout's ``index.json``, whichever tool wrote it, and where ``--repository``
or ``--prefix`` puts each image.

What writers put in an entry (``org.opencontainers.image.ref.name`` is image-spec
annotations.md; ``io.containerd.image.name`` is containerd's):

=============================================  ===========================  ==========================
writer                                         ref.name                     io.containerd.image.name
=============================================  ===========================  ==========================
relocator pkg, umoci, oras                     ``docker.io/library/a:1.2``  -
skopeo ``oci:DIR:v1``, ``oci-archive:F:v1``    ``v1`` (a tag only)          -
Docker 25+ ``docker save``, ``ctr export``     ``v2`` (a tag only)          ``docker.io/library/a:v2``
anything, left unnamed                         -                            -
=============================================  ===========================  ==========================

A ref.name with no ``/``, ``:`` or ``@`` is a tag, never a repository. The rules, all pure:

- ``--repository R``: every image goes to R by digest; an entry whose ref.name is a tag keeps it
  (``R:v1``). An entry with no name at all goes by digest.
- ``--prefix P``: the entry's repository path and tag go under P (``P/library/a:v2``), the
  repository read from a full ref.name, else from ``io.containerd.image.name``. An entry that
  names no repository is refused, pointing to ``--repository``.
- A full name without tag or digest means ``:latest``.
- Two entries that would give one destination name (repository and tag) to different digests
  are refused: neither silently wins.

Every refusal is one InputError line naming the layout and the entry, raised before any transfer.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from relocator.engine.target import ImageInput
from relocator.errors import BadReference, InputError
from relocator.frontends.destinations import Mapper, destination_mapper
from relocator.oci import Digest, Reference, Repository
from relocator.oci.dockerarchive import CONTAINERD_NAME
from relocator.oci.layout import UNNAMED, IndexEntry, parse_ref_name

__all__ = ["EntryName", "LayoutImage", "entry_name", "layout_images", "layout_mapper"]

@dataclass(frozen=True, slots=True)
class EntryName:
    """What one ``index.json`` entry says its image is called.

    ``label`` is the fullest name the entry carries, as written (for reports and lock files; the
    digest when it has none); ``ref`` is the image pinned to the entry's digest, in the repository
    it names, else in ``UNNAMED`` (``named_repository`` false); ``tag_only`` is true when the
    entry's ref.name is a bare tag.
    """

    label: str
    ref: Reference
    named_repository: bool
    tag_only: bool


def entry_name(where: str, entry: IndexEntry) -> EntryName:
    """Read one entry's names. Raises InputError for a name that is not a tag or a reference,
    or a reference pinned to another digest than the entry's."""
    digest = entry.descriptor.digest
    name = entry.ref_name
    containerd = entry.descriptor.annotations.get(CONTAINERD_NAME)
    what = f"{where}: index.json entry {name or digest}"
    tag_only = name is not None and not any(c in name for c in "/:@")
    try:
        tag = None
        if name is not None:
            parsed = parse_ref_name(name)  # the rule a destination NAME is checked against too
            if not tag_only:
                return EntryName(name, _pinned(parsed, digest, what), True, False)
            tag = parsed.tag
        if containerd:
            ref = Reference.parse(containerd)
            ref = Reference(ref.repository, tag or ref.tag, ref.digest)
            return EntryName(containerd, _pinned(ref, digest, what), True, tag_only)
    except BadReference as exc:
        raise InputError(f"{what}: {exc}") from None
    return EntryName(name or str(digest), Reference(UNNAMED, tag, digest), False, tag_only)


def _pinned(ref: Reference, digest: Digest, what: str) -> Reference:
    if ref.digest is not None and ref.digest != digest:
        raise InputError(f"{what}: the name says {ref.digest}, the entry is {digest}")
    if ref.tag is None and ref.digest is None:
        ref = ref.with_tag("latest")
    return Reference(ref.repository, ref.tag, digest)


@dataclass(frozen=True, slots=True)
class LayoutImage:
    """One image of a layout: what the engine reads (``input``) and where it goes."""

    input: ImageInput
    destination: Reference


def layout_images(where: str, entries: Iterable[IndexEntry], *, repository: str | None = None,
                  prefix: str | None = None) -> list[LayoutImage]:
    """Every entry of the layout at ``where`` as an input and its destination, in index order;
    the same image named twice the same way is listed once.

    Give exactly one of ``repository`` (``HOST/REPO``) and ``prefix`` (``HOST[/PATH]``). Raises
    InputError for a bad flag, an entry ``--prefix`` cannot place, or two entries that would
    share a destination name.
    """
    mapper = destination_mapper(repository, prefix)
    images: list[LayoutImage] = []
    by_ref: dict[Reference, int] = {}
    by_name: dict[tuple[Repository, str], LayoutImage] = {}
    labels: dict[str, Reference] = {}
    for entry in entries:
        name = entry_name(where, entry)
        if prefix is not None and not name.named_repository:
            raise InputError(_unplaceable(where, entry))
        dest = mapper(name.ref)
        if repository is not None and name.tag_only:
            dest = Reference(dest.repository, name.ref.tag, dest.digest)
        label = name.label
        if labels.setdefault(label, name.ref) != name.ref:
            label = f"{label}@{name.ref.digest}"  # reports and lock files are keyed by label
        image = LayoutImage(ImageInput(label, name.ref, where), dest)
        if dest.tag is not None:
            other = by_name.setdefault((dest.repository, dest.tag), image)
            if other.destination.digest != dest.digest:
                raise InputError(
                    f"{where}: index.json entries {other.input.text!r} ({other.destination.digest}) and "
                    f"{image.input.text!r} ({dest.digest}) would both be "
                    f"{Reference(dest.repository, dest.tag)}: refusing to let one replace the other")
        seen = by_ref.get(name.ref)
        if seen is None:
            by_ref[name.ref] = len(images)
            images.append(image)
        elif images[seen].destination.tag is None:
            # The same image named once by a tag and once by a full name: one copy, tagged.
            images[seen] = LayoutImage(images[seen].input, dest)
    return images


def _unplaceable(where: str, entry: IndexEntry) -> str:
    digest = entry.descriptor.digest
    if entry.ref_name is None:
        what = f"index.json entry {digest} has no name"
    else:
        what = f"index.json entry {entry.ref_name!r} ({digest}) names a tag only, not a repository"
    return f"{where}: {what}, so --prefix cannot place it: use --repository HOST/REPO instead"


def layout_mapper(images: Sequence[LayoutImage]) -> Mapper:
    """The engine's destination function for ``images``: each input's reference to its place."""
    table = {image.input.ref: image.destination for image in images}
    return lambda ref: table[ref]
