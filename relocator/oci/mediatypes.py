"""Media-type constants and predicates."""

from __future__ import annotations

__all__ = [
    "DOCKER_MANIFEST",
    "DOCKER_MANIFEST_LIST",
    "DOCKER_SCHEMA1",
    "DOCKER_SCHEMA1_SIGNED",
    "MANIFEST_ACCEPT",
    "OCI_INDEX",
    "OCI_MANIFEST",
    "is_index",
    "is_manifest",
    "is_schema1",
]

DOCKER_MANIFEST = "application/vnd.docker.distribution.manifest.v2+json"
DOCKER_MANIFEST_LIST = "application/vnd.docker.distribution.manifest.list.v2+json"
DOCKER_SCHEMA1 = "application/vnd.docker.distribution.manifest.v1+json"
DOCKER_SCHEMA1_SIGNED = "application/vnd.docker.distribution.manifest.v1+prettyjws"
OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
OCI_INDEX = "application/vnd.oci.image.index.v1+json"
OCI_EMPTY = "application/vnd.oci.empty.v1+json"

_INDEXES = frozenset({DOCKER_MANIFEST_LIST, OCI_INDEX})
_MANIFESTS = frozenset({DOCKER_MANIFEST, OCI_MANIFEST})

# Schema 1 is listed last and only so the registry tells us what it has
# instead of answering 404; we refuse it when it arrives.
MANIFEST_ACCEPT = ", ".join(
    [OCI_INDEX, OCI_MANIFEST, DOCKER_MANIFEST_LIST, DOCKER_MANIFEST, DOCKER_SCHEMA1_SIGNED]
)


def is_index(media_type: str) -> bool:
    """True for an OCI image index or a Docker manifest list."""
    return media_type in _INDEXES


def is_manifest(media_type: str) -> bool:
    """True for anything stored under /manifests/ that relocator moves."""
    return media_type in _INDEXES or media_type in _MANIFESTS


def is_schema1(media_type: str) -> bool:
    """True for the Docker schema 1 formats relocator refuses."""
    return media_type in (DOCKER_SCHEMA1, DOCKER_SCHEMA1_SIGNED)
