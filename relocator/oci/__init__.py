"""OCI concepts as values, with no I/O: digests, references, media types, manifests."""

from relocator.oci.digest import AsyncVerifier, Digest, StreamVerifier, verify_stream
from relocator.oci.manifest import Descriptor, Manifest, Platform
from relocator.oci.reference import Reference, Repository

__all__ = [
    "AsyncVerifier",
    "Descriptor",
    "Digest",
    "Manifest",
    "Platform",
    "Reference",
    "Repository",
    "StreamVerifier",
    "verify_stream",
]
