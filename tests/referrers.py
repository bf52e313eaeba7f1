"""Referrers for tests: a Referrers-API front for distribution 2.8.2 (which has none), the attached
fixture (an index, its cosign .sig, SBOMs and provenance on each child, a signature on one SBOM),
and the ways a verifier finds referrers (API, fallback tag, legacy tag), all with plain urllib.

The front runs its own event loop in a thread, so blocking seeders, skopeo and CLI subprocesses
can talk to it from any test.
"""

from __future__ import annotations

import asyncio
import dataclasses
import json
import random
import threading
import urllib.error
import urllib.request
from collections import Counter
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlencode

import aiohttp
from aiohttp import web

from tests.faults import serve
from tests.images import OCI_INDEX, OCI_MANIFEST, Image, _request, random_index, seed, sha256, valid_image
from tests.registries import Registry

EMPTY = b"{}"
EMPTY_TYPE = "application/vnd.oci.empty.v1+json"
SPDX = "application/spdx+json"
PROVENANCE = "application/vnd.in-toto+json"
SIGNATURE = "application/vnd.dev.cosign.artifact.sig.v1+json"
SIMPLESIGNING = "application/vnd.dev.cosign.simplesigning.v1+json"
_HOP = {"host", "content-length", "transfer-encoding", "connection"}


@dataclass
class ReferrersFront:
    """Forwards everything to ``upstream``, except: a manifest PUT whose body has a ``subject`` is
    remembered and answered with ``OCI-Subject``; ``GET /v2/<name>/referrers/<digest>`` lists what
    was remembered, ``page_size`` entries a page with ``Link``, filtered by ``artifactType``.
    ``conditional`` makes tag PUTs honour ``If-Match``/``If-None-Match`` (412), as some registries
    do; ``race`` maps a tag to a body another writer puts there just before our first PUT of it
    (``race_after``: just after), to show the merge keeps both. With ``api`` False it serves no
    Referrers API (a plain registry with those quirks)."""

    upstream: Registry
    api: bool = True
    page_size: int = 2
    conditional: bool = False
    race: dict[str, bytes] = field(default_factory=dict)
    race_after: bool = False
    listed: dict[tuple[str, str], dict[str, dict[str, Any]]] = field(default_factory=dict)
    referrer_gets: int = 0
    refused: int = 0  # 412 answers
    tag_puts: Counter[str] = field(default_factory=Counter)
    port: int = 0
    _loop: asyncio.AbstractEventLoop | None = None
    _thread: threading.Thread | None = None
    _runner: web.AppRunner | None = None
    _session: aiohttp.ClientSession | None = None

    @property
    def host(self) -> str:
        return f"127.0.0.1:{self.port}"

    def registry(self) -> Registry:
        """The upstream as seen through this front (for seed, skopeo and URLs)."""
        return dataclasses.replace(self.upstream, host=self.host)

    def start(self) -> ReferrersFront:
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, daemon=True)
        self._thread.start()
        asyncio.run_coroutine_threadsafe(self._start(), self._loop).result(10)
        return self

    def stop(self) -> None:
        assert self._loop is not None and self._thread is not None
        asyncio.run_coroutine_threadsafe(self._stop(), self._loop).result(10)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(10)
        self._loop.close()

    async def _start(self) -> None:
        self._session = aiohttp.ClientSession(auto_decompress=False)
        app = web.Application(client_max_size=0)
        app.router.add_route("*", "/{tail:.*}", self._handle)
        self._runner, self.port = await serve(app)

    async def _stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()
        if self._session is not None:
            await self._session.close()

    async def _handle(self, request: web.Request) -> web.StreamResponse:
        path = request.path
        if request.method == "GET" and "/referrers/" in path and self.api:
            name, _, digest = path.removeprefix("/v2/").partition("/referrers/")
            return self._referrers(request, name, digest)
        body = await request.read() if request.body_exists else None
        if request.method == "PUT" and "/manifests/" in path:
            name, _, ref = path.removeprefix("/v2/").partition("/manifests/")
            self.tag_puts[ref] += 1
            refused = await self._conditions(request, name, ref, body or b"")
            if refused is not None:
                self.refused += 1
                return refused
            resp = await self._forward(request, body)
            if resp.status == 201 and body and self.api:
                self._remember(name, body, resp)
            if self.race_after and ref in self.race:
                await self._put_upstream(name, ref, self.race.pop(ref))
            return resp
        return await self._forward(request, body)

    async def _conditions(self, request: web.Request, name: str, ref: str,
                          body: bytes) -> web.Response | None:
        if not self.race_after and ref in self.race:
            await self._put_upstream(name, ref, self.race.pop(ref))  # the other writer gets there first
        if not self.conditional or ref.startswith("sha256:"):
            return None
        current = await self._current_digest(name, ref)
        match, none_match = request.headers.get("If-Match"), request.headers.get("If-None-Match")
        if (match is not None and match.strip('"') != current) or (none_match == "*" and current):
            return web.json_response({"errors": [{"code": "PRECONDITION_FAILED", "message": "changed"}]},
                                     status=412)
        return None

    async def _current_digest(self, name: str, ref: str) -> str | None:
        assert self._session is not None
        async with self._session.head(f"{self.upstream.url}/v2/{name}/manifests/{ref}",
                                      headers={"Accept": f"{OCI_INDEX}, {OCI_MANIFEST}"}) as up:
            return up.headers.get("Docker-Content-Digest") if up.status == 200 else None

    async def _put_upstream(self, name: str, ref: str, body: bytes) -> None:
        assert self._session is not None
        media_type = json.loads(body).get("mediaType", OCI_INDEX)
        async with self._session.put(f"{self.upstream.url}/v2/{name}/manifests/{ref}", data=body,
                                     headers={"Content-Type": media_type}) as up:
            assert up.status == 201, await up.text()

    def _remember(self, name: str, body: bytes, resp: web.Response) -> None:
        doc = json.loads(body)
        subject = doc.get("subject")
        if not isinstance(subject, dict):
            return
        kind = doc.get("artifactType") or (doc.get("config") or {}).get("mediaType")
        entry: dict[str, Any] = {"mediaType": doc.get("mediaType", OCI_MANIFEST), "digest": sha256(body),
                                 "size": len(body)}
        if kind:
            entry["artifactType"] = kind
        if doc.get("annotations"):
            entry["annotations"] = doc["annotations"]
        self.listed.setdefault((name, subject["digest"]), {})[entry["digest"]] = entry
        resp.headers["OCI-Subject"] = subject["digest"]

    def _referrers(self, request: web.Request, name: str, digest: str) -> web.Response:
        self.referrer_gets += 1
        entries = list(self.listed.get((name, digest), {}).values())
        wanted = request.query.get("artifactType")
        headers = {"Content-Type": OCI_INDEX}
        if wanted:
            entries = [e for e in entries if e.get("artifactType") == wanted]
            headers["OCI-Filters-Applied"] = "artifactType"
        start = int(request.query.get("page", "0"))
        page = entries[start:start + self.page_size]
        if start + self.page_size < len(entries):
            query = {k: v for k, v in request.query.items() if k != "page"} | {"page": start + self.page_size}
            headers["Link"] = f'<{request.path}?{urlencode(query)}>; rel="next"'
        doc = {"schemaVersion": 2, "mediaType": OCI_INDEX, "manifests": page}
        return web.Response(body=json.dumps(doc).encode(), headers=headers)

    async def _forward(self, request: web.Request, body: bytes | None) -> web.Response:
        assert self._session is not None
        headers = {k: v for k, v in request.headers.items() if k.lower() not in _HOP}
        async with self._session.request(request.method, f"{self.upstream.url}{request.path_qs}",
                                         headers=headers, data=body, allow_redirects=False) as up:
            out = {k: v for k, v in up.headers.items() if k.lower() not in _HOP}
            if "Location" in out:
                out["Location"] = out["Location"].replace(self.upstream.host, self.host)
            data = await up.read()
        resp = web.Response(status=up.status, headers=out, body=data if request.method != "HEAD" else None)
        if request.method == "HEAD" and "Content-Length" in up.headers:
            resp.headers["Content-Length"] = up.headers["Content-Length"]
        return resp


# --- the attached fixture ---------------------------------------------------------------------


def artifact(rng: random.Random, kind: str, subject: Image, **annotations: str) -> Image:
    """An OCI 1.1 artifact manifest: ``artifactType``, the empty config, one layer, ``subject``."""
    payload = json.dumps({"kind": kind, "subject": subject.digest, "n": rng.random()}).encode()
    doc = {"schemaVersion": 2, "mediaType": OCI_MANIFEST, "artifactType": kind,
           "config": {"mediaType": EMPTY_TYPE, "digest": sha256(EMPTY), "size": len(EMPTY)},
           "layers": [{"mediaType": kind, "digest": sha256(payload), "size": len(payload)}],
           "subject": subject.descriptor(), "annotations": annotations or {"org.example.kind": kind}}
    blobs = {sha256(EMPTY): EMPTY, sha256(payload): payload}
    return Image(json.dumps(doc, indent=1).encode(), OCI_MANIFEST, blobs)


def cosign_signature(rng: random.Random, subject: Image) -> Image:
    """What ``cosign sign`` pushed before OCI 1.1: a manifest under ``sha256-<hex>.sig``, no subject."""
    payload = json.dumps({"critical": {"image": {"docker-manifest-digest": subject.digest}},
                          "optional": {"n": rng.random()}}).encode()
    config = json.dumps({"architecture": "", "os": "", "rootfs": {"type": "layers",
                                                               "diff_ids": [sha256(payload)]}}).encode()
    doc = {"schemaVersion": 2, "mediaType": OCI_MANIFEST,
           "config": {"mediaType": "application/vnd.oci.image.config.v1+json", "digest": sha256(config),
                      "size": len(config)},
           "layers": [{"mediaType": SIMPLESIGNING, "digest": sha256(payload), "size": len(payload),
                       "annotations": {"dev.cosignproject.cosign/signature": "MEUCIQ-fake"}}]}
    return Image(json.dumps(doc).encode(), OCI_MANIFEST, {sha256(config): config, sha256(payload): payload})


def legacy_tag(subject: Image, suffix: str = "sig") -> str:
    return subject.digest.replace(":", "-") + f".{suffix}"


def fallback_tag(digest: str) -> str:
    return digest.replace(":", "-")


@dataclass
class Attached:
    """A two-platform index with everything a supply chain hangs on it."""

    index: Image
    sig: Image  # cosign legacy .sig on the index
    sboms: list[Image]  # one per child
    provenance: list[Image]  # one per child
    sbom_sig: Image  # a signature on sboms[0]

    @property
    def linked(self) -> list[tuple[str, Image]]:
        """(subject digest, referrer) for every subject-linked referrer."""
        pairs = [(c.digest, s) for c, s in zip(self.index.children, self.sboms, strict=True)]
        pairs += [(c.digest, p) for c, p in zip(self.index.children, self.provenance, strict=True)]
        return pairs + [(self.sboms[0].digest, self.sbom_sig)]

    @property
    def all(self) -> list[Image]:
        return [self.sig, *self.sboms, *self.provenance, self.sbom_sig]


def attached(seed_value: int) -> Attached:
    rng = random.Random(seed_value)
    index = random_index([valid_image(rng, (300,)), valid_image(rng, (400,))])
    sboms = [artifact(rng, SPDX, c, **{"org.example.sbom": "spdx"}) for c in index.children]
    provenance = [artifact(rng, PROVENANCE, c) for c in index.children]
    sbom_sig = artifact(rng, SIGNATURE, sboms[0])
    return Attached(index, cosign_signature(rng, index), sboms, provenance, sbom_sig)


def seed_attached(reg: Registry, repo: str, tag: str, fix: Attached, *, fallback: bool) -> None:
    """Push the fixture; with ``fallback`` also each subject's referrers list under its fallback
    tag, the way a spec-following client pushes where the registry has no Referrers API."""
    seed(reg, repo, tag, fix.index)
    seed(reg, repo, legacy_tag(fix.index), fix.sig)
    lists: dict[str, list[Image]] = {}
    for subject, referrer in fix.linked:
        seed(reg, repo, None, referrer)
        lists.setdefault(subject, []).append(referrer)
    if fallback:
        for subject, referrers in lists.items():
            put_list(reg, repo, subject, [descriptor_of(r) for r in referrers])


def descriptor_of(referrer: Image) -> dict[str, Any]:
    doc = json.loads(referrer.raw)
    out = {"mediaType": referrer.media_type, "digest": referrer.digest, "size": len(referrer.raw),
           "artifactType": doc.get("artifactType") or doc["config"]["mediaType"]}
    if doc.get("annotations"):
        out["annotations"] = doc["annotations"]
    return out


def put_list(reg: Registry, repo: str, subject: str, entries: list[dict[str, Any]]) -> bytes:
    raw = json.dumps({"schemaVersion": 2, "mediaType": OCI_INDEX, "manifests": entries}).encode()
    _request(reg, "PUT", f"/v2/{repo}/manifests/{fallback_tag(subject)}", raw, {"Content-Type": OCI_INDEX})
    return raw


# --- how a verifier finds them ----------------------------------------------------------------


def _get(reg: Registry, path: str, accept: str) -> tuple[bytes, dict[str, str]] | None:
    req = urllib.request.Request(reg.url + path, headers={"Accept": accept})
    try:
        with urllib.request.urlopen(req, timeout=60) as resp:
            return resp.read(), dict(resp.headers)
    except urllib.error.HTTPError as exc:
        if exc.code == 404:
            return None
        raise


def by_api(reg: Registry, repo: str, subject: str) -> dict[str, dict[str, Any]]:
    """Digest -> descriptor, as ``GET /v2/<repo>/referrers/<subject>`` lists them (every page)."""
    found: dict[str, dict[str, Any]] = {}
    path: str | None = f"/v2/{repo}/referrers/{subject}"
    while path:
        got = _get(reg, path, OCI_INDEX)
        assert got is not None, f"{repo}: no referrers API"
        body, headers = got
        found.update({d["digest"]: d for d in json.loads(body)["manifests"]})
        link = headers.get("Link")
        path = link.split(";")[0].strip("<> ") if link else None
    return found


def by_tag(reg: Registry, repo: str, subject: str) -> dict[str, dict[str, Any]]:
    """Digest -> descriptor, as the fallback tag's referrers list gives them ({} if absent)."""
    got = _get(reg, f"/v2/{repo}/manifests/{fallback_tag(subject)}", OCI_INDEX)
    if got is None:
        return {}
    doc = json.loads(got[0])
    assert doc["mediaType"] == OCI_INDEX
    return {d["digest"]: d for d in doc["manifests"]}


def tagged_digest(reg: Registry, repo: str, tag: str) -> str | None:
    """The digest of the manifest under ``tag``, None if there is none."""
    got = _get(reg, f"/v2/{repo}/manifests/{tag}", f"{OCI_INDEX}, {OCI_MANIFEST}")
    return None if got is None else sha256(got[0])
