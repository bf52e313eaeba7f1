"""OCI concepts as values, with no I/O: digests, references, media types, manifests."""

from relocator.oci.digest import Digest, StreamVerifier, ThreadedVerifier, verify_stream
from relocator.oci.manifest import Descriptor, Manifest, Platform
from relocator.oci.reference import Reference, Repository

__all__ = [
    "Descriptor",
    "Digest",
    "Manifest",
    "Platform",
    "Reference",
    "Repository",
    "StreamVerifier",
    "ThreadedVerifier",
    "verify_stream",
]
