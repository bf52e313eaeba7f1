"""OCI image layout names: ``oci-layout``, blob paths, ``index.json``, member-name safety.

Layout: OCI image-spec image-layout.md. ``docker save`` from Docker 25 on writes an OCI layout
plus ``manifest.json`` and ``repositories`` (moby image/tarexport/save.go); those two are allowed
next to a layout and never read as part of it.
"""

from __future__ import annotations

import json
from collections.abc import Set
from dataclasses import dataclass, replace
from types import MappingProxyType

from relocator.errors import BadReference, InputError, UnsafeTarMember
from relocator.oci.digest import Digest
from relocator.oci.manifest import Descriptor, Manifest
from relocator.oci.reference import Reference, Repository

__all__ = ["DOCKER_EXTRAS", "INDEX_JSON", "LAYOUT_FILE", "OCI_LAYOUT", "OMITTED", "REF_NAME", "UNNAMED",
           "IndexEntry", "IndexNames", "build_index", "check_layout_version", "clean_member_name",
           "is_layout_dir", "member_digest", "omitted_of", "parse_index", "parse_ref_name", "ref_name"]

LAYOUT_FILE = "oci-layout"
INDEX_JSON = "index.json"
OCI_LAYOUT = b'{"imageLayoutVersion":"1.0.0"}'
REF_NAME = "org.opencontainers.image.ref.name"
DOCKER_EXTRAS = frozenset({"manifest.json", "repositories"})
# On an index.json entry copied with --platform-mode sparse: the digests (comma-separated, sorted)
# of the index entries left out on purpose, in the entry's index or an index under it. An
# annotation, because every layout reader (skopeo, umoci, oras) passes over one it does not know;
# relocator's verify accepts those entries missing, and unpkg and copy plan without them.
OMITTED = "dev.relocator.platforms.omitted"

# The repository of a layout image that names none (an index.json entry with no ref.name, or a
# bare tag such as skopeo's ``oci:DIR:v1``). No reference parses to this host (it has no dot,
# colon or port), so nothing is ever mounted from it or pushed to it.
UNNAMED = Repository("oci-layout", "unnamed")


@dataclass(frozen=True, slots=True)
class IndexEntry:
    """One ``index.json`` descriptor and the reference name it carries (if any); ``position``, for
    an image read from a Docker archive, is its item's place in ``manifest.json`` (0-based: what
    skopeo's ``docker-archive:FILE:@N`` names)."""

    descriptor: Descriptor
    ref_name: str | None
    position: int | None = None


def clean_member_name(name: str) -> str:
    """A tar member's name relative to the archive's root: ``./`` prefixes, empty and ``.``
    components dropped, ``""`` for the root itself (``.`` or ``./``).

    Raises UnsafeTarMember for an absolute name or one with a ``..`` component.
    """
    parts = name.split("/")
    if name.startswith("/") or ".." in parts:
        raise UnsafeTarMember(f"member {name!r} points outside the layout")
    return "/".join(p for p in parts if p not in ("", "."))


def is_layout_dir(clean: str) -> bool:
    """True for the directories an OCI layout tar may hold: the root, ``blobs``, ``blobs/ALG``."""
    parts = clean.split("/")
    return clean in ("", "blobs") or (len(parts) == 2 and parts[0] == "blobs")


def member_digest(name: str) -> Digest | None:
    """The digest a ``blobs/ALG/HEX`` member holds; None for oci-layout, index.json and the
    files ``docker save`` adds (``manifest.json``, ``repositories``).

    Anything else (absolute paths, ``..``, other names) is refused: a layout has no other members.
    """
    clean = clean_member_name(name)
    if clean in (LAYOUT_FILE, INDEX_JSON) or clean in DOCKER_EXTRAS:
        return None
    parts = clean.split("/")
    if len(parts) != 3 or parts[0] != "blobs":
        raise UnsafeTarMember(f"member {name!r} is not part of an OCI image layout")
    try:
        return Digest(parts[1], parts[2])
    except InputError:
        raise UnsafeTarMember(f"member {name!r} is not named by a valid digest") from None


def build_index(entries: list[IndexEntry]) -> bytes:
    """``index.json``: one descriptor per entry, annotated with its reference name."""
    manifests = []
    for entry in entries:
        desc = entry.descriptor.to_json()
        if entry.ref_name is not None:
            desc["annotations"] = {**desc.get("annotations", {}), REF_NAME: entry.ref_name}
        manifests.append(desc)
    doc = {"schemaVersion": 2, "mediaType": "application/vnd.oci.image.index.v1+json",
           "manifests": manifests}
    return json.dumps(doc, indent=2).encode() + b"\n"


def omitted_of(desc: Descriptor, where: str) -> frozenset[Digest]:
    """The digests an entry's ``OMITTED`` annotation lists (empty without one). Raises InputError
    naming ``where`` for a value that is not comma-separated digests."""
    text = desc.annotations.get(OMITTED)
    if not text:
        return frozenset()
    try:
        return frozenset(Digest.parse(d.strip()) for d in text.split(","))
    except InputError as exc:
        raise InputError(f"{where}: annotation {OMITTED}: {exc}") from None


def check_layout_version(raw: bytes, where: str) -> None:
    """Refuse an ``oci-layout`` file that is not ``{"imageLayoutVersion": "1.x..."}``: a layout of
    another major version may be laid out otherwise (image-spec image-layout.md, "oci-layout
    file"). Raises InputError naming ``where`` and what the file says."""
    try:
        doc = json.loads(raw)
    except ValueError:
        raise InputError(f"{where}: oci-layout is not JSON") from None
    version = doc.get("imageLayoutVersion") if isinstance(doc, dict) else None
    if not isinstance(version, str):
        raise InputError(f"{where}: oci-layout has no imageLayoutVersion")
    if version.split(".")[0] != "1":
        raise InputError(f"{where}: oci-layout says imageLayoutVersion {version!r}; "
                         "relocator reads 1.x layouts")


def parse_index(raw: bytes, where: str) -> list[IndexEntry]:
    """The entries of an ``index.json``; InputError naming ``where`` if it is not an image index."""
    try:
        doc = json.loads(raw)
        manifests = doc["manifests"]
    except (ValueError, KeyError, TypeError):
        raise InputError(f"{where}: index.json is not an OCI image index") from None
    if not isinstance(manifests, list):
        raise InputError(f"{where}: index.json has no 'manifests' list")
    entries = []
    for i, obj in enumerate(manifests):
        desc = Descriptor.from_json(obj, f"{where}: index.json manifests[{i}]")
        entries.append(IndexEntry(desc, desc.annotations.get(REF_NAME)))
    return entries


def parse_ref_name(name: str) -> Reference:
    """An ``org.opencontainers.image.ref.name`` as every reader here takes it: a name with no
    ``/``, ``:`` or ``@`` is a bare tag (``v1``, skopeo's ``oci:DIR:v1``), returned as that tag in
    ``UNNAMED``; anything else must be a full reference (``docker.io/library/a:1.2``). The
    image-spec (annotations.md) leaves the value's grammar to the writer; these are the two shapes
    skopeo, umoci, oras and Docker write. Raises BadReference (an InputError) for anything else."""
    if not any(c in name for c in "/:@"):
        try:
            return Reference(UNNAMED).with_tag(name)
        except BadReference:
            raise BadReference(name, "neither a tag (letters, digits, '_', '.', '-'; at most 128) "
                                     "nor a full image reference") from None
    return Reference.parse(name)


def ref_name(ref: Reference) -> str | None:
    """The ``org.opencontainers.image.ref.name`` of an image: its full reference with the tag,
    or with the digest when it has no tag (``docker.io/library/nginx:1.25``). An image of
    ``UNNAMED`` keeps what its layout called it: its tag alone (``v1``), or no name."""
    if ref.repository == UNNAMED:
        return ref.tag
    return str(Reference(ref.repository, tag=ref.tag)) if ref.tag is not None else str(ref)


class IndexNames:
    """The named descriptors of a layout's ``index.json``, collected from tag writes.

    ``fixed`` names every image alike (skopeo's ``oci:DIR:NAME``). A name may point at one
    manifest only: a second, different one raises InputError rather than silently replacing it.
    """

    def __init__(self, where: str, fixed: str | None = None) -> None:
        self.where = where
        self.fixed = fixed
        self._named: dict[str, Descriptor] = {}
        self._unnamed: dict[Digest, Descriptor] = {}
        self._referrers: dict[Digest, Descriptor] = {}
        self._omitted: dict[Digest, frozenset[Digest]] = {}

    def add(self, ref: Reference, manifest: Manifest) -> None:
        """Name ``manifest`` by ``ref`` (or by the fixed name); an image with no name is listed
        without one."""
        name = self.fixed if self.fixed is not None else ref_name(ref)
        if name is None:
            self._unnamed[manifest.digest] = manifest.descriptor
            return
        old = self._named.get(name)
        if old is not None and old.digest != manifest.digest:
            raise InputError(f"{self.where}: {name!r} would name both {old.digest} and {manifest.digest}")
        self._named[name] = manifest.descriptor

    def omit(self, root: Digest, omitted: Set[Digest]) -> None:
        """Record that the image ``root`` lacks ``omitted`` on purpose (``OMITTED`` on its entries)."""
        self._omitted[root] = frozenset(omitted)

    def add_referrer(self, entry: Descriptor) -> None:
        """List a referrer, unnamed: ``entry`` is its descriptor annotated with its subject
        (oci.referrers.referrer_entry)."""
        self._referrers.setdefault(entry.digest, entry)

    def index(self, keep: Set[Digest] | None = None) -> bytes:
        """``index.json`` with every name, sorted by name so the same run gives the same bytes;
        unnamed images follow, by digest, unless a name lists them already; then the referrers
        (those in ``keep``, when given: a referrer of an image that did not finish is left out),
        by digest, unless listed already."""
        named = {d.digest for d in self._named.values()}
        unnamed = [IndexEntry(d, None) for k, d in sorted(self._unnamed.items()) if k not in named]
        listed = named | set(self._unnamed)
        referrers = [IndexEntry(d, None) for k, d in sorted(self._referrers.items())
                     if k not in listed and (keep is None or k in keep)]
        entries = [IndexEntry(d, n) for n, d in sorted(self._named.items())] + unnamed + referrers
        return build_index([IndexEntry(self._annotated(e.descriptor), e.ref_name) for e in entries])

    def _annotated(self, desc: Descriptor) -> Descriptor:
        omitted = self._omitted.get(desc.digest)
        if not omitted:
            return desc
        value = ",".join(sorted(map(str, omitted)))
        return replace(desc, annotations=MappingProxyType({**desc.annotations, OMITTED: value}))
