"""The whole relocator exception tree.

    RelocatorError
    ├── InputError                  bad input from the user; exit 2
    │   ├── BadReference
    │   ├── BadLockFile
    │   ├── UnsafeTarMember
    │   ├── BadArchive              a tarball or layout that contradicts itself
    │   └── UnsupportedMediaType    (Docker schema 1 among others)
    ├── RegistryError               the registry answered with an error status
    │   ├── AuthError               401/403, or a token that could not be had
    │   ├── NotFound                404
    │   └── RateLimited             429, carries retry_after
    ├── TransportError              connection errors, timeouts, TLS; temporary unless said
    │   └── HostDown                a host that stopped answering: its remaining work fails at once
    └── IntegrityError              bytes that do not match their descriptor
        ├── DigestMismatch
        └── SizeMismatch

Messages never contain credentials: URLs are redacted before they get here.
"""

from __future__ import annotations

__all__ = [
    "AuthError",
    "BadArchive",
    "BadLockFile",
    "BadReference",
    "DigestMismatch",
    "HostDown",
    "InputError",
    "IntegrityError",
    "NotFound",
    "RateLimited",
    "RegistryError",
    "RelocatorError",
    "SizeMismatch",
    "TransportError",
    "UnsafeTarMember",
    "UnsupportedMediaType",
]


class RelocatorError(Exception):
    """Base of every error relocator raises on purpose."""

    temporary: bool = False


class InputError(RelocatorError):
    """The user's input cannot be used as given."""


class BadReference(InputError):
    """An image reference that does not follow the reference grammar."""

    def __init__(self, text: str, reason: str) -> None:
        super().__init__(f"invalid image reference {text!r}: {reason}")
        self.text = text
        self.reason = reason


class BadLockFile(InputError):
    """A lock file that cannot be read."""


class UnsafeTarMember(InputError):
    """A tar member that could escape the layout or is not a plain file."""


class BadArchive(InputError):
    """A tarball or layout the user gave whose content contradicts itself: a blob or manifest it
    names but lacks, or a member whose size or bytes do not match its descriptor. The user's file
    is at fault, not the network: exit 2, however far the run got when it showed."""


class UnsupportedMediaType(InputError):
    """A manifest kind relocator refuses to move, such as Docker schema 1."""


class RegistryError(RelocatorError):
    """An error status from a registry, with its OCI error codes. ``eased``: a throttling answer
    (429, 503) the client has already adapted to by sending fewer requests at once to the host
    (registry.throttle), so another try is not the same try again."""

    eased: bool = False

    def __init__(
        self,
        message: str,
        *,
        status: int | None = None,
        codes: tuple[str, ...] = (),
        method: str = "",
        url: str = "",
        temporary: bool = False,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.codes = codes
        self.method = method
        self.url = url
        self.temporary = temporary


class AuthError(RegistryError):
    """Credentials missing, wrong, or without the rights asked for."""


class NotFound(RegistryError):
    """The registry does not have the manifest, blob or repository."""


class RateLimited(RegistryError):
    """The registry asked us to slow down (429)."""

    def __init__(
        self,
        message: str,
        *,
        retry_after: float | None = None,
        codes: tuple[str, ...] = (),
        method: str = "",
        url: str = "",
    ) -> None:
        super().__init__(message, status=429, codes=codes, method=method, url=url, temporary=True)
        self.retry_after = retry_after


class TransportError(RelocatorError):
    """The connection failed: refused, reset, timed out, too slow, or TLS trouble.

    ``host`` is the host whose connection failed (empty if unknown). ``no_answer`` is True when
    the request got no answer at all (refused, reset or timed out before the response head):
    what a host's circuit breaker counts (registry.retry.HostHealth).
    """

    temporary = True
    tls_protocol = False  # the peer does not speak TLS at all (a plain-HTTP server)

    def __init__(self, message: str, *, host: str = "", no_answer: bool = False) -> None:
        super().__init__(message)
        self.host = host
        self.no_answer = no_answer


class HostDown(TransportError):
    """A host that gave no answer to every attempt of a request: the rest of the run's requests to
    it fail at once with this error instead of each waiting out its own retries."""

    temporary = False


class IntegrityError(RelocatorError):
    """Bytes that do not match the descriptor they were read for."""


class DigestMismatch(IntegrityError):
    """The bytes hash to another digest than expected."""


class SizeMismatch(IntegrityError):
    """More or fewer bytes arrived than the descriptor says."""
