"""Which referrers a run copies: ``--referrers all`` (the default), ``none``, or artifact types.

The types select among the referrers of the images asked for, at every level of an index (the
index's own and each child's). What refers to a selected referrer comes along whatever its type:
``--referrers application/spdx+json`` copies each SBOM with its signatures, since an SBOM whose
signature stayed behind fails the verifier that checks it. A referrer's types are its
``artifactType`` (else its config's media type: distribution-spec "Listing Referrers") and, for
a cosign legacy tag, whose config says nothing, the media type of its first layer
(``application/vnd.dev.cosign.simplesigning.v1+json`` for a ``.sig``).
"""

from __future__ import annotations

from dataclasses import dataclass

from relocator.errors import InputError
from relocator.oci import Manifest
from relocator.oci.referrers import Referrer, artifact_type

__all__ = ["ALL", "NONE", "ReferrerPolicy", "kinds_of"]


@dataclass(frozen=True, slots=True)
class ReferrerPolicy:
    """Whether referrers travel (``enabled``) and, when ``types`` is not None, which of them."""

    enabled: bool = True
    types: frozenset[str] | None = None

    @classmethod
    def parse(cls, text: str) -> ReferrerPolicy:
        """``all``, ``none`` or ``TYPE[,TYPE...]`` (media types). Raises InputError naming the text."""
        value = text.strip()
        if value == "all":
            return cls()
        if value == "none":
            return cls(enabled=False)
        types = [t.strip() for t in value.split(",")]
        bad = [t for t in types if not t or "/" not in t or any(c.isspace() for c in t)]
        if bad or not types:
            raise InputError(f"--referrers {text!r}: want all, none, or artifact types such as "
                             "application/spdx+json (comma-separated)")
        return cls(types=frozenset(types))

    def __str__(self) -> str:
        if not self.enabled:
            return "none"
        return "all" if self.types is None else ",".join(sorted(self.types))

    @property
    def api_filter(self) -> str | None:
        """The one type a Referrers API may filter on (it takes one ``artifactType``), else None."""
        return next(iter(self.types)) if self.types is not None and len(self.types) == 1 else None

    def wants(self, kinds: set[str]) -> bool:
        """True if a referrer of these types is copied."""
        return self.enabled and (self.types is None or bool(kinds & self.types))


ALL = ReferrerPolicy()
NONE = ReferrerPolicy(enabled=False)


def kinds_of(referrer: Referrer, manifest: Manifest) -> set[str]:
    """The types a referrer answers to (see the module docstring)."""
    kinds = {k for k in (referrer.descriptor.artifact_type, artifact_type(manifest)) if k}
    if referrer.tag is not None and manifest.layers:
        kinds.add(manifest.layers[0].media_type)
    return kinds
