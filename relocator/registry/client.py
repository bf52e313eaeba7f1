"""RegistryClient: manifests, blobs, mounts and tags as typed values."""

from __future__ import annotations

from collections import Counter
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass

from relocator.auth import repository_scope
from relocator.errors import DigestMismatch, InputError, NotFound, RegistryError
from relocator.oci import mediatypes as mt
from relocator.oci.digest import Digest
from relocator.oci.manifest import Descriptor, Manifest
from relocator.oci.reference import Reference, Repository
from relocator.registry.bodies import read_body, size_text
from relocator.registry.download import blob_chunks
from relocator.registry.errormap import translate_errors
from relocator.registry.foreign import url_chunks
from relocator.registry.listing import list_names, list_referrers
from relocator.registry.sessions import SessionBook
from relocator.registry.stalls import SpeedFloor
from relocator.registry.transport import Transport
from relocator.registry.upload import ChunkOpener, Uploader

__all__ = ["MountResult", "RegistryClient"]

# The distribution spec lets registries refuse manifests over 4 MiB; we read at most this.
_MAX_MANIFEST = 16 * 1024 * 1024


@dataclass(frozen=True, slots=True)
class MountResult:
    """A mount's answer: done, or the upload session a 202 opened (to reuse)."""

    mounted: bool
    location: str | None = None


def _pull(repo: Repository) -> tuple[str, ...]:
    return (repository_scope(repo.path, ("pull",)),)


def _push(repo: Repository) -> tuple[str, ...]:
    return (repository_scope(repo.path, ("pull", "push")),)


def _delete(repo: Repository) -> tuple[str, ...]:
    # distribution checks a DELETE against the ``delete`` action, not ``push`` (its access
    # records per HTTP method; Docker Hub's token service grants it the same way).
    return (repository_scope(repo.path, ("delete",)),)


class RegistryClient:
    """Typed operations on registries, all through one Transport."""

    def __init__(self, transport: Transport) -> None:
        self.transport = transport
        self.uploader = Uploader(transport)
        # Manifest requests by (host, "GET" or "HEAD"): rate-limited registries count GETs as
        # pulls and HEADs as free, so sync reports both per source host.
        self.manifest_requests: Counter[tuple[str, str]] = Counter()

    def _floor(self, repo: Repository) -> SpeedFloor:
        """The speed floor of a body from ``repo``'s registry, from now on."""
        return SpeedFloor(repo.registry, self.transport.settings)

    async def get_manifest(self, ref: Reference) -> Manifest:
        """Fetch a manifest by tag or digest, verifying its bytes against the digest."""
        return (await self.get_manifest_etag(ref))[0]

    async def get_manifest_etag(self, ref: Reference) -> tuple[Manifest, str | None]:
        """``get_manifest``, and the ``ETag`` the registry sent with it (for an ``If-Match`` write
        of the same tag; RFC 9110 13.1.1), None when it sent none."""
        repo = ref.repository
        path = f"/v2/{repo.path}/manifests/{ref.identifier}"
        headers = {"Accept": mt.MANIFEST_ACCEPT}
        self.manifest_requests[(repo.registry, "GET")] += 1
        async with self.transport.stream(
            "GET", repo.registry, path, scopes=_pull(repo), headers=headers
        ) as resp:
            with translate_errors("GET", str(resp.url), repo.registry):
                raw = await read_body(resp, _MAX_MANIFEST, self._floor(repo))
            if raw is None:
                raise InputError(f"{ref}: manifest is larger than the {size_text(_MAX_MANIFEST)} limit")
            content_type = resp.headers.get("Content-Type")
            header_digest = resp.headers.get("Docker-Content-Digest")
            etag = resp.headers.get("ETag")
        manifest = Manifest.parse(raw, content_type, where=str(ref))
        self._check_manifest_digest(ref, raw, header_digest)
        return manifest, etag

    @staticmethod
    def _check_manifest_digest(ref: Reference, raw: bytes, header: str | None) -> None:
        if ref.digest is not None:
            got = Digest.of(raw, ref.digest.algorithm)
            if got != ref.digest:
                raise DigestMismatch(f"{ref}: manifest bytes hash to {got}")
        if header:
            claimed = Digest.parse(header)
            if Digest.of(raw, claimed.algorithm) != claimed:
                raise DigestMismatch(f"{ref}: registry says {claimed}, bytes hash otherwise")

    async def head_manifest(self, ref: Reference) -> Descriptor | None:
        """The manifest's descriptor from a HEAD (free on rate-limited registries), None if absent."""
        repo = ref.repository
        path = f"/v2/{repo.path}/manifests/{ref.identifier}"
        self.manifest_requests[(repo.registry, "HEAD")] += 1
        try:
            async with self.transport.stream(
                "HEAD", repo.registry, path, scopes=_pull(repo), headers={"Accept": mt.MANIFEST_ACCEPT}
            ) as resp:
                digest = resp.headers.get("Docker-Content-Digest")
                size = int(resp.headers.get("Content-Length", "0"))
                media_type = resp.headers.get("Content-Type", "").split(";")[0]
        except NotFound:
            return None
        if not digest:
            # Some registries leave the digest out of HEAD; GET tells us for sure.
            return (await self.get_manifest(ref)).descriptor
        return Descriptor(media_type, Digest.parse(digest), size)

    async def put_manifest(self, ref: Reference, manifest: Manifest, *, if_match: str | None = None,
                           if_none_match: bool = False) -> Digest:
        """Push the manifest's exact bytes under ``ref``'s tag or digest. ``if_match`` (an ETag)
        or ``if_none_match`` (the tag must not exist) make the write conditional (RFC 9110 13.1);
        a registry that honours them answers 412, raised as RegistryError with that status.

        For a manifest with a ``subject``, the host's capability record keeps whether the answer
        carried ``OCI-Subject`` (distribution-spec "Pushing Manifests with Subject": the registry
        serves the Referrers API and lists the manifest itself).
        """
        repo = ref.repository
        path = f"/v2/{repo.path}/manifests/{ref.identifier}"
        headers = {"Content-Type": manifest.media_type}
        if if_match is not None:
            headers["If-Match"] = if_match
        if if_none_match:
            headers["If-None-Match"] = "*"
        async with self.transport.stream(
            "PUT", repo.registry, path, scopes=_push(repo), headers=headers, body=manifest.raw,
            ok=(201, 200),
        ) as resp:
            header = resp.headers.get("Docker-Content-Digest")
            acknowledged = "OCI-Subject" in resp.headers
        digest = manifest.digest
        if header and Digest.parse(header) != digest:
            raise DigestMismatch(f"{ref}: registry stored {header}, we sent {digest}")
        if manifest.subject is not None:
            self.transport.host(repo.registry).subject_acknowledged = acknowledged
        return digest

    async def head_blob(self, repo: Repository, digest: Digest) -> int | None:
        """The blob's size if the repository has it, else None."""
        try:
            async with self.transport.stream(
                "HEAD", repo.registry, f"/v2/{repo.path}/blobs/{digest}", scopes=_pull(repo)
            ) as resp:
                return int(resp.headers.get("Content-Length", "-1"))
        except NotFound:
            return None

    @asynccontextmanager
    async def open_blob(self, repo: Repository, desc: Descriptor) -> AsyncIterator[AsyncIterator[bytes]]:
        """Yield the blob's verified chunks; a broken or trickling connection resumes with ``Range``.

        The source's own errors are permanent (NotFound, DigestMismatch, SizeMismatch: the blob
        it serves is not this one) and raised at once; so is HostDown."""
        chunks = blob_chunks(self.transport, repo, desc, 0)
        try:
            yield chunks
        finally:
            await chunks.aclose()

    def blob_opener(self, repo: Repository, desc: Descriptor) -> ChunkOpener:
        """A factory of streams from an offset, for uploads that must reopen their source."""

        def opener(offset: int) -> AsyncIterator[bytes]:
            return blob_chunks(self.transport, repo, desc, offset)

        return opener

    def url_blob_opener(self, desc: Descriptor) -> ChunkOpener:
        """Streams of a non-distributable layer from its descriptor's ``urls`` (http and https only),
        verified; never sent a registry's credentials (see registry.foreign)."""
        session, settings = self.transport.session, self.transport.settings
        return lambda offset: url_chunks(session, settings, desc, offset)

    async def push_blob(
        self,
        repo: Repository,
        desc: Descriptor,
        opener: ChunkOpener,
        *,
        chunk_size: int | None = None,
        location: str | None = None,
        sessions: SessionBook | None = None,
    ) -> None:
        """Upload a blob, monolithic or in chunks, into ``location`` (a session opened already,
        from the offset it holds) when given; ``sessions`` keeps its session for a later run to
        resume (registry/sessions.py)."""
        await self.uploader.push(repo, desc, opener, chunk_size=chunk_size, location=location,
                                 sessions=sessions)

    async def mount_blob(self, repo: Repository, digest: Digest, origin: Repository) -> MountResult:
        """Ask for a cross-repository mount; anything but 201 means upload instead."""
        scopes = _push(repo) + _pull(origin)
        params = {"mount": str(digest), "from": origin.path}
        try:
            async with self.transport.stream(
                "POST", repo.registry, f"/v2/{repo.path}/blobs/uploads/", scopes=scopes,
                params=params, ok=(201, 202),
            ) as resp:
                if resp.status == 201:
                    return MountResult(True)
                return MountResult(False, resp.headers.get("Location"))
        except RegistryError:
            # Harbor answers 401 for a missing project, Docker Hub an auth error for a bad
            # `from`: neither means the target is unwritable, so fall back to an upload.
            return MountResult(False)

    async def delete_blob(self, repo: Repository, digest: Digest) -> None:
        """Delete a blob (registries may refuse with 405 or UNSUPPORTED)."""
        async with self.transport.stream(
            "DELETE", repo.registry, f"/v2/{repo.path}/blobs/{digest}", scopes=_delete(repo),
            ok=(202, 200, 204),
        ):
            pass

    async def delete_manifest(self, ref: Reference) -> None:
        """Delete a manifest by digest (distribution-spec "Deleting Manifests": 202; registries may
        refuse with 405 or UNSUPPORTED). Raises RegistryError with the registry's answer."""
        if ref.digest is None:
            raise ValueError(f"{ref}: a manifest is deleted by digest")
        async with self.transport.stream(
            "DELETE", ref.repository.registry, f"/v2/{ref.repository.path}/manifests/{ref.digest}",
            scopes=_delete(ref.repository), ok=(202, 200, 204),
        ):
            pass

    async def list_tags(self, repo: Repository, page_size: int = 1000) -> list[str]:
        """Every tag of the repository, following ``Link`` pagination (distribution-spec
        "Listing Tags")."""
        return await list_names(self.transport, repo.registry, f"/v2/{repo.path}/tags/list?n={page_size}",
                                "tags", f"tag list of {repo.path}", _pull(repo))

    async def list_repositories(self, registry: str, page_size: int = 1000) -> list[str]:
        """Every repository path the registry lists (``GET /v2/_catalog``, distribution's
        catalog API with ``Link`` pagination; not every registry serves it)."""
        return await list_names(self.transport, registry, f"/v2/_catalog?n={page_size}", "repositories",
                                "catalog", ("registry:catalog:*",))

    async def list_referrers(self, repo: Repository, subject: Digest,
                             artifact_type: str | None = None) -> list[Descriptor] | None:
        """The referrers the registry's Referrers API lists for ``subject`` (distribution-spec
        "Listing Referrers"), None where it does not serve the API. What a host answered is kept
        in its capability record: once it is known not to serve it, it is not asked again."""
        state = self.transport.host(repo.registry)
        if state.referrers_api is None:
            # Every manifest's lookup starts at once: the first answer stands for the host, the
            # others wait for it rather than each probing a registry that has no API.
            async with state.referrers_probe:
                if state.referrers_api is None:
                    found = await list_referrers(self.transport, repo, subject, _pull(repo), artifact_type)
                    state.referrers_api = found is not None
                    return found
        if state.referrers_api is False:
            return None
        return await list_referrers(self.transport, repo, subject, _pull(repo), artifact_type)
