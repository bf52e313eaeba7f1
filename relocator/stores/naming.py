"""What every layout sink (an OCI layout directory, a tarball file, a tarball stream) does alike
with names: tags, the entries a sparse copy left out, and referrers all go into ``index.json``
through the sink's one ``IndexNames``."""

from __future__ import annotations

from collections.abc import Set

from relocator.oci import Digest, Manifest, Reference
from relocator.oci.layout import IndexNames
from relocator.oci.referrers import Referrer, referrer_entry

__all__ = ["NamesInIndex"]


class NamesInIndex:
    """The naming half of a layout sink (stores.base.BlobSink, RecordsOmitted, KeepsReferrers);
    the sink sets ``names``."""

    names: IndexNames

    async def write_tag(self, ref: Reference, manifest: Manifest) -> None:
        """Record the image's name for ``index.json``."""
        self.names.add(ref, manifest)

    def record_omitted(self, root: Digest, omitted: Set[Digest]) -> None:
        """Note on the image's ``index.json`` entry the index entries it lacks on purpose."""
        self.names.omit(root, omitted)

    async def add_referrer(self, subject: Reference, referrer: Referrer, manifest: Manifest) -> str | None:
        """List the referrer in ``index.json``, unnamed, its subject annotated (oci.referrers)."""
        assert subject.digest is not None
        self.names.add_referrer(referrer_entry(subject.digest, referrer))
        return None
