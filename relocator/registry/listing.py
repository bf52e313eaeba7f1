"""Listings a registry pages through with ``Link``: tags, the catalog, and referrers.

Sources: distribution-spec "Listing Tags" and "Listing Referrers" (RFC 5988 ``Link`` with
``rel="next"``); distribution's catalog API.
"""

from __future__ import annotations

import json

from relocator.errors import AuthError, InputError, NotFound, RegistryError
from relocator.oci import mediatypes as mt
from relocator.oci.digest import Digest
from relocator.oci.manifest import Descriptor, Manifest
from relocator.oci.reference import Repository
from relocator.registry.bodies import read_body, size_text
from relocator.registry.errormap import redact_url, translate_errors
from relocator.registry.stalls import SpeedFloor
from relocator.registry.transport import Transport

__all__ = ["list_names", "list_referrers", "next_link"]

# distribution 2.8.2 ignores ?n= and sends every tag in one page: allow a very large repository.
_MAX_LIST = 32 * 1024 * 1024
# A registry that does not serve the referrers API may answer its path with any of these (404 is
# the spec's; 400/405/501 come from servers that route /referrers/ nowhere). Anything else is an
# error of the request itself, raised.
_NOT_SERVED = (400, 405, 406, 501)


async def list_names(transport: Transport, registry: str, first: str, key: str, what: str,
                     scopes: tuple[str, ...]) -> list[str]:
    """The strings under ``key`` of every page from ``first`` on. Raises RegistryError naming
    ``what`` for a page that is not such a JSON object or is over 32 MiB."""
    names: list[str] = []
    next_url: str | None = first
    while next_url:
        async with transport.stream("GET", registry, next_url, scopes=scopes) as resp:
            with translate_errors("GET", str(resp.url), registry):
                raw = await read_body(resp, _MAX_LIST, SpeedFloor(registry, transport.settings))
            next_url = next_link(resp.headers.get("Link", ""))
        names.extend(_names_of(raw, key, f"{registry}: {what}", str(resp.url)))
    return names


async def list_referrers(transport: Transport, repo: Repository, subject: Digest, scopes: tuple[str, ...],
                         artifact_type: str | None = None) -> list[Descriptor] | None:
    """The descriptors ``GET /v2/<name>/referrers/<digest>`` lists, every page followed; None when
    the registry does not serve the API: a 404 (distribution-spec "Listing Referrers": then the
    client falls back to the referrers tag), another "no such route" status, or a 200 that is not
    an OCI image index. ``artifact_type`` asks the registry to filter (it may not: callers filter
    again). Raises RegistryError (AuthError included) for any other failure."""
    host = repo.registry
    next_url: str | None = f"/v2/{repo.path}/referrers/{subject}"
    params = {"artifactType": artifact_type} if artifact_type else None
    found: list[Descriptor] = []
    while next_url:
        try:
            async with transport.stream("GET", host, next_url, scopes=scopes, params=params,
                                        headers={"Accept": mt.OCI_INDEX}) as resp:
                with translate_errors("GET", str(resp.url), host):
                    raw = await read_body(resp, _MAX_LIST, SpeedFloor(host, transport.settings))
                content_type = resp.headers.get("Content-Type", "").split(";")[0].strip()
                next_url, params = next_link(resp.headers.get("Link", "")), None  # the link keeps the query
        except AuthError:
            raise
        except NotFound:
            return None
        except RegistryError as exc:
            if exc.status in _NOT_SERVED:
                return None
            raise
        page = _index_of(raw, content_type, f"{repo}: referrers of {subject}")
        if page is None:
            return None
        found.extend(page.children)
    return found


def _index_of(raw: bytes | None, content_type: str, where: str) -> Manifest | None:
    """The page as an OCI image index, or None when it is not one (a web page, an error object)."""
    if raw is None or content_type not in ("", mt.OCI_INDEX, "application/json"):
        return None
    try:
        page = Manifest.parse(raw, content_type or None, where)
    except InputError:  # not JSON, or no manifest at all
        return None
    return page if page.media_type == mt.OCI_INDEX else None


def _names_of(raw: bytes | None, key: str, what: str, url: str) -> list[str]:
    problem = f"is larger than the {size_text(_MAX_LIST)} limit" if raw is None else ""
    if raw is not None:
        try:
            doc = json.loads(raw)
            names = doc.get(key) or []
            if isinstance(names, list) and all(isinstance(t, str) for t in names):
                return names
            problem = f"has no list of {key}"
        except (ValueError, AttributeError):
            problem = "is not a JSON object"
    raise RegistryError(f"{what} {problem}", method="GET", url=redact_url(url))


def next_link(header: str) -> str | None:
    """The ``rel="next"`` URL of a ``Link`` header (RFC 5988), None on the last page."""
    for part in header.split(","):
        url, _, rel = part.partition(";")
        if 'rel="next"' in rel.replace(" ", "") or "rel=next" in rel.replace(" ", ""):
            return url.strip().strip("<>")
    return None
