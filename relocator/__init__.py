"""relocator: move container images between registries and tarballs, fast."""

from relocator.errors import RelocatorError
from relocator.oci import Descriptor, Digest, Manifest, Reference, Repository

__version__ = "0.1.0"

__all__ = ["Descriptor", "Digest", "Manifest", "Reference", "RelocatorError", "Repository", "__version__"]
