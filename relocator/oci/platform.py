"""Platforms as values, with no I/O: an index entry's ``platform``, the text a user writes for one,
and how one is matched against what an index lists.

Sources:

- image-spec image-index.md, "platform": ``architecture`` and ``os`` (required), ``os.version``,
  ``os.features``, ``variant`` (optional); config.md gives the same fields for an image config.
- The text ``os/arch[/variant][:osversion]`` is crane's ``--platform`` spelling
  (google/go-containerregistry cmd/crane: "os/arch[/variant][:osversion]"); containerd's
  specifiers are ``os/arch[/variant]`` too.
- Matching is go-containerregistry's ``matchesPlatform`` (pkg/v1/remote/index.go): ``os`` and
  ``architecture`` equal; ``variant`` and ``os.version`` equal when asked for; asked-for
  ``os.features`` a subset. One difference: an ``os.version`` asked for matches a listed one it
  is a dot-separated prefix of (``10.0.17763`` matches ``10.0.17763.5576``), because Windows
  indexes list the full build and revision while a user names the release; the spec leaves
  the comparison to the implementation.
- Before comparing, both sides' ``architecture`` and ``variant`` are normalised as containerd's
  ``normalizeArch`` does (containerd/platforms database.go): ``arm64`` is ``arm64/v8`` (``v8``,
  ``8`` and ``v8.0`` are the baseline, written as no variant), ``amd64`` is ``amd64/v1``, ``arm``
  without a variant is ``arm/v7``, and ``x86_64``, ``aarch64``, ``i386``, ``armhf`` and ``armel``
  are the same architectures under other names. go-containerregistry compares the strings as
  they are, so ``crane --platform linux/arm64/v8`` misses an index that lists ``linux/arm64``;
  published indexes use both forms (Docker Hub's official images list ``arm64/v8``, many
  others ``arm64`` alone), and a user naming either means the same machines.
- buildx attestation manifests (docker/buildx docs "attestation storage"): an index entry whose
  annotations say ``vnd.docker.reference.type: attestation-manifest`` and whose
  ``vnd.docker.reference.digest`` is the image entry it attests; its own platform is
  ``unknown/unknown``.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from relocator.errors import InputError
from relocator.oci.digest import Digest

__all__ = ["ATTESTATION_DIGEST", "ATTESTATION_TYPE", "Platform", "attested_digest"]

ATTESTATION_TYPE = "vnd.docker.reference.type"
ATTESTATION_DIGEST = "vnd.docker.reference.digest"

# A component of the text form: what GOOS/GOARCH values and variants are made of.
_PART = re.compile(r"[a-z0-9][a-z0-9_.-]*")
_OS_VERSION = re.compile(r"[0-9A-Za-z][0-9A-Za-z._-]*")


@dataclass(frozen=True, slots=True)
class Platform:
    """The platform an index entry (or an image config) is for: image-spec's fields, in order."""

    os: str
    architecture: str
    variant: str | None = None
    os_version: str | None = None
    os_features: tuple[str, ...] = ()

    def __str__(self) -> str:
        text = "/".join(p for p in (self.os, self.architecture, self.variant) if p)
        return f"{text}:{self.os_version}" if self.os_version else text

    @classmethod
    def parse(cls, text: str) -> Platform:
        """``os/arch[/variant][:osversion]`` (crane's spelling), e.g. ``linux/arm64/v8`` or
        ``windows/amd64:10.0.17763``. Raises InputError naming the text and the expected shape."""
        spec, sep, os_version = text.strip().partition(":")
        parts = spec.lower().split("/")  # containerd's Parse lowercases: Linux/AMD64 is linux/amd64
        if (not 2 <= len(parts) <= 3 or not all(_PART.fullmatch(p) for p in parts)
                or (sep and not _OS_VERSION.fullmatch(os_version))):
            raise InputError(f"--platform {text!r}: want os/arch[/variant][:osversion], "
                             "such as linux/amd64, linux/arm/v7 or windows/amd64:10.0.17763")
        return cls(parts[0], parts[1], parts[2] if len(parts) == 3 else None, os_version or None)

    @classmethod
    def from_json(cls, obj: Mapping[str, Any]) -> Platform:
        """A descriptor's or config's platform fields; what is not a string (or a list of
        strings, for ``os.features``) is left out."""
        def text(key: str) -> str | None:
            value = obj.get(key)
            return value if isinstance(value, str) and value else None

        features = obj.get("os.features")
        return cls(str(obj.get("os", "")), str(obj.get("architecture", "")), text("variant"),
                   text("os.version"),
                   tuple(f for f in features if isinstance(f, str)) if isinstance(features, list) else ())

    def to_json(self) -> dict[str, Any]:
        """The descriptor's ``platform`` object (image-spec image-index.md field names)."""
        out: dict[str, Any] = {"architecture": self.architecture, "os": self.os}
        if self.os_version:
            out["os.version"] = self.os_version
        if self.os_features:
            out["os.features"] = list(self.os_features)
        if self.variant:
            out["variant"] = self.variant
        return out

    def satisfies(self, wanted: Platform) -> bool:
        """True if this (listed) platform is what ``wanted`` (asked for) names (module docstring:
        architectures and variants compared after containerd's normalisation)."""
        arch, variant = _normal(self.architecture, self.variant)
        wanted_arch, wanted_variant = _normal(wanted.architecture, wanted.variant)
        if (self.os, arch) != (wanted.os, wanted_arch):
            return False
        if wanted.variant and variant != wanted_variant:
            return False
        if wanted.os_version and not (self.os_version == wanted.os_version or (
                self.os_version or "").startswith(wanted.os_version + ".")):
            return False
        return set(wanted.os_features) <= set(self.os_features)


# containerd/platforms database.go normalizeArch: other names of an architecture, and the variant
# each architecture means when none is written ("" for arm64's v8 and amd64's v1, arm's v7).
_ARCH_NAMES = {"x86_64": "amd64", "x86-64": "amd64", "aarch64": "arm64", "i386": "386",
               "armhf": "arm", "armel": "arm"}
_IMPLIED_VARIANT = {"armhf": "v7", "armel": "v6"}
_VARIANT_NAMES = {
    "amd64": {"v1": ""},
    "arm64": {"8": "", "v8": "", "v8.0": "", "9": "v9", "9.0": "v9", "v9.0": "v9"},
    "arm": {"": "v7", "5": "v5", "6": "v6", "7": "v7", "8": "v8"},
}


def _normal(architecture: str, variant: str | None) -> tuple[str, str]:
    """``(architecture, variant)`` in containerd's normal form: ``("aarch64", "8")`` and
    ``("arm64", None)`` both give ``("arm64", "")``, ``("arm", None)`` gives ``("arm", "v7")``."""
    arch, var = architecture.lower(), (variant or "").lower()
    implied = _IMPLIED_VARIANT.get(arch)
    arch = _ARCH_NAMES.get(arch, arch)
    if implied is not None or arch == "386":  # these names fix the variant, whatever is written
        return arch, implied or ""
    return arch, _VARIANT_NAMES.get(arch, {}).get(var, var)


def attested_digest(annotations: Mapping[str, str]) -> Digest | None:
    """The image entry a buildx attestation manifest attests (its ``vnd.docker.reference.digest``),
    None for any other entry or an unreadable digest."""
    if annotations.get(ATTESTATION_TYPE) != "attestation-manifest":
        return None
    try:
        return Digest.parse(annotations.get(ATTESTATION_DIGEST, ""))
    except InputError:
        return None
