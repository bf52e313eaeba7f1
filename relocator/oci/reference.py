"""Image references: parse and normalize per the Docker reference grammar."""

from __future__ import annotations

import re
from dataclasses import dataclass, replace

from relocator.errors import BadReference, InputError
from relocator.oci.digest import Digest

__all__ = ["ARCHIVE_SUFFIXES", "DOCKER_HUB", "DOCKER_TRANSPORT", "LOCAL_TRANSPORTS", "Reference",
           "Repository", "canonical_registry", "hub_api_host", "hub_config_key", "kbld_registry",
           "without_transport"]

# Docker Hub's names, owned here alone: the canonical name references use, the host its API
# answers on, the key `docker login` writes in config.json, and the name kbld prints.
DOCKER_HUB = "docker.io"
_HUB_API = "registry-1.docker.io"
_HUB_CONFIG_KEY = "https://index.docker.io/v1/"
_HUB_KBLD = "index.docker.io"
_HUB_ALIASES = {_HUB_KBLD, _HUB_API, DOCKER_HUB}


def canonical_registry(host: str) -> str:
    """``docker.io`` for any of Docker Hub's names (also ``https://index.docker.io/v1/``, as
    config.json keys it); any other host unchanged."""
    bare = re.sub(r"^[a-z]+://", "", host.strip()).split("/")[0]
    return DOCKER_HUB if bare.lower() in _HUB_ALIASES else bare


def hub_api_host(registry: str) -> str:
    """The host to connect to: Docker Hub's API answers on ``registry-1.docker.io``."""
    return _HUB_API if registry == DOCKER_HUB else registry


def hub_config_key(registry: str) -> str:
    """The server name credential helpers know a registry by (Docker Hub's legacy URL)."""
    return _HUB_CONFIG_KEY if registry == DOCKER_HUB else registry


# skopeo's spelling of a registry location (containers-transports(5)); a reference given on the
# command line may carry it, a reference in YAML or a lock file never does.
DOCKER_TRANSPORT = "docker://"


# The other transports of containers-transports(5) (and containers/image's tarball:): they name
# local files, directories or stores, never a registry. Read as references they would be Docker
# Hub's ``library/oci`` tagged ``DIR``, or a "registry" ``oci:DIR`` with a port that is no number.
LOCAL_TRANSPORTS = frozenset({"oci", "oci-archive", "docker-archive", "containers-storage", "dir",
                              "docker-daemon", "ostree", "sif", "tarball"})
ARCHIVE_SUFFIXES = (".tar", ".tar.gz", ".tgz")  # a name ending so is a file, not a repository


def without_transport(text: str) -> str:
    """A command-line reference without skopeo's ``docker://`` prefix: the one place a single
    registry reference or repository argument (``copy``, ``inspect``, ``-i``, ``bench``,
    ``--repository``, ``sync``) is read in that spelling.

    Raises BadReference for what names a local file instead: another transport's spelling
    (``oci-archive:FILE``) or a bare tarball name (``images.tar``: Docker Hub's
    ``library/images.tar`` only when written ``docker://images.tar``)."""
    if text.startswith(DOCKER_TRANSPORT):
        return text.removeprefix(DOCKER_TRANSPORT)
    scheme, sep, _ = text.partition(":")
    if sep and scheme in LOCAL_TRANSPORTS:
        raise BadReference(text, f"{scheme}: names local storage, not a registry: relocator copy, "
                                 "unpkg, ls and verify read layouts and archives")
    if text.endswith(ARCHIVE_SUFFIXES):
        raise BadReference(text, "a file name, not a registry image: relocator copy, unpkg, ls and "
                                 f"verify read tarballs (write docker://{text} for a repository so named)")
    return text


def kbld_registry(registry: str) -> str:
    """The registry as kbld prints it in pinned references (``index.docker.io`` for Docker Hub)."""
    return _HUB_KBLD if registry == DOCKER_HUB else registry

# From distribution/reference/regexp.go.
_ALNUM = r"[a-z0-9]+"
_SEPARATOR = r"(?:[._]|__|[-]+)"
_PATH_COMPONENT = re.compile(rf"{_ALNUM}(?:{_SEPARATOR}{_ALNUM})*")
_DOMAIN_COMPONENT = r"(?:[a-zA-Z0-9]|[a-zA-Z0-9][a-zA-Z0-9-]*[a-zA-Z0-9])"
_IPV6 = r"\[(?:[a-fA-F0-9:]+)\]"
_HOST = re.compile(rf"(?:{_DOMAIN_COMPONENT}(?:\.{_DOMAIN_COMPONENT})*|{_IPV6})(?::[0-9]+)?")
_TAG = re.compile(r"[\w][\w.-]{0,127}")
_MAX_NAME = 255
# A host that is one by its look (a dot, localhost or an IPv6 address) with a port, and no path.
_HOST_AND_PORT = re.compile(r"(?:localhost|[^/:@]+\.[^/:@]+|\[[0-9a-fA-F:]+\]):[0-9]+")


@dataclass(frozen=True, slots=True, order=True)
class Repository:
    """A repository on a registry, e.g. ``docker.io/library/nginx``."""

    registry: str
    path: str

    @classmethod
    def parse(cls, text: str) -> Repository:
        """Parse a repository name with the same defaults as a reference."""
        ref = Reference.parse(text)
        if ref.tag is not None or ref.digest is not None:
            raise BadReference(text, "a repository name takes no tag or digest")
        return ref.repository

    @classmethod
    def parse_arg(cls, text: str) -> Repository:
        """A repository given on the command line: ``HOST/REPO`` or ``docker://HOST/REPO``.
        Raises BadReference naming ``text`` as given."""
        try:
            return cls.parse(without_transport(text))
        except BadReference as exc:
            raise BadReference(text, exc.reason) from None

    def __str__(self) -> str:
        return f"{self.registry}/{self.path}"


@dataclass(frozen=True, slots=True, order=True)
class Reference:
    """An image reference: repository plus tag, digest, or both."""

    repository: Repository
    tag: str | None = None
    digest: Digest | None = None

    @classmethod
    def parse(cls, text: str) -> Reference:
        """Parse and normalize ``[host[:port]/]path[:tag][@digest]``."""
        if not text or text != text.strip():
            raise BadReference(text, "empty or surrounded by whitespace")
        rest, digest = _split_digest(text)
        name, tag = _split_tag(text, rest)
        registry, path = _split_domain(name)
        if not path:
            raise BadReference(text, "missing repository path")
        for component in path.split("/"):
            if not _PATH_COMPONENT.fullmatch(component):
                reason = "repository name must be lowercase" if component.lower() != component else (
                    f"invalid path component {component!r}"
                )
                raise BadReference(text, reason)
        if not _HOST.fullmatch(registry):
            raise BadReference(text, f"invalid registry host {registry!r}")
        port = _port(registry)
        if port is not None and not 0 < port < 65536:
            raise BadReference(text, f"registry host {registry!r}: port {port} is out of range 1-65535")
        if len(name) > _MAX_NAME:
            raise BadReference(text, f"repository name longer than {_MAX_NAME} characters")
        if registry.lower() in _HUB_ALIASES:
            registry = DOCKER_HUB
            if "/" not in path:
                path = f"library/{path}"
        return cls(Repository(registry, path), tag, digest)

    @classmethod
    def parse_arg(cls, text: str) -> Reference:
        """A reference given on the command line: ``REF`` or ``docker://REF`` (skopeo's
        spelling). Raises BadReference naming ``text`` as given."""
        bare = without_transport(text)
        if _HOST_AND_PORT.fullmatch(bare):
            # distribution's grammar reads "localhost:5000" as Docker Hub's library/localhost
            # tagged 5000; on a command line it is always a registry left without a repository.
            raise BadReference(text, "a registry host and port, not an image: write HOST:PORT/REPO[:TAG]")
        try:
            return cls.parse(bare)
        except BadReference as exc:
            raise BadReference(text, exc.reason) from None

    @property
    def identifier(self) -> str:
        """What goes after ``/manifests/``: the digest if known, else the tag."""
        if self.digest is not None:
            return str(self.digest)
        return self.tag or "latest"

    def with_digest(self, digest: Digest) -> Reference:
        """A copy pinned to ``digest``, keeping the tag."""
        return replace(self, digest=digest)

    def with_tag(self, tag: str | None) -> Reference:
        """A copy with another tag (None drops it)."""
        if tag is not None and not _TAG.fullmatch(tag):
            raise BadReference(tag, "invalid tag")
        return replace(self, tag=tag)

    def in_repository(self, repository: Repository) -> Reference:
        """The same tag and digest in another repository."""
        return replace(self, repository=repository)

    def __str__(self) -> str:
        out = str(self.repository)
        if self.tag is not None:
            out += f":{self.tag}"
        if self.digest is not None:
            out += f"@{self.digest}"
        return out


def _split_digest(text: str) -> tuple[str, Digest | None]:
    rest, sep, digest_text = text.partition("@")
    if not sep:
        return text, None
    try:
        return rest, Digest.parse(digest_text)
    except InputError as exc:
        raise BadReference(text, f"invalid digest {digest_text!r}") from exc


def _split_tag(text: str, rest: str) -> tuple[str, str | None]:
    slash = rest.rfind("/")
    colon = rest.rfind(":")
    if colon <= slash:
        return rest, None
    tag = rest[colon + 1 :]
    if not _TAG.fullmatch(tag):
        raise BadReference(text, f"invalid tag {tag!r}")
    return rest[:colon], tag


def _port(host: str) -> int | None:
    """The port of ``host[:port]`` or ``[v6]:port``; None without one."""
    name, sep, port = host.rpartition(":")
    if not sep or (name.startswith("[") and not name.endswith("]")) or not port.isdigit():
        return None  # no colon, or the colons of a bracketed IPv6 address
    return int(port)


def _split_domain(name: str) -> tuple[str, str]:
    first, sep, rest = name.partition("/")
    # distribution's rule: the first component is a host if it has '.' or ':',
    # is 'localhost', or has upper case letters; otherwise the image is on Docker Hub.
    if sep and ("." in first or ":" in first or first == "localhost" or first.lower() != first):
        return first, rest
    return DOCKER_HUB, name
