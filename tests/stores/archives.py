"""Archives other tools write, built from tests/images.py images: OCI layout directories (and
``tar -C DIR -cf F.tar .`` of them), Docker 25 ``docker save`` tarballs, Carvel tarballs.

Each writer follows its tool's source, cited in its docstring, field for field.
"""

from __future__ import annotations

import gzip
import hashlib
import io
import json
import subprocess
import tarfile
from pathlib import Path

from relocator.oci import Descriptor, Digest, Repository
from relocator.stores.layout_source import LayoutSource
from tests.images import OCI_INDEX, Image, sha256

REF_NAME = "org.opencontainers.image.ref.name"
CONTAINERD_NAME = "io.containerd.image.name"


def all_blobs(image: Image) -> dict[str, bytes]:
    """Every blob and manifest under ``image``, itself included, by digest."""
    out = {image.digest: image.raw, **image.blobs}
    for child in image.children:
        out.update(all_blobs(child))
    return out


def total_size(image: Image) -> int:
    """What ``relocator ls`` should print as the size: every distinct blob and manifest."""
    return sum(len(b) for b in all_blobs(image).values())


def write_layout(root: Path, images: dict[str, Image],
                 annotations: dict[str, dict[str, str]] | None = None) -> Path:
    """An OCI layout directory: each image under its ref.name annotation (plus ``annotations``)."""
    (root / "blobs/sha256").mkdir(parents=True, exist_ok=True)
    (root / "oci-layout").write_text('{"imageLayoutVersion":"1.0.0"}')
    manifests = []
    for name, image in images.items():
        for digest, data in all_blobs(image).items():
            (root / "blobs/sha256" / digest.split(":")[1]).write_bytes(data)
        extra = (annotations or {}).get(name, {})
        manifests.append({**image.descriptor(), "annotations": {REF_NAME: name, **extra}})
    (root / "index.json").write_text(json.dumps({"schemaVersion": 2, "mediaType": OCI_INDEX,
                                                 "manifests": manifests}))
    return root


def tar_dir(src: Path, out: Path, *, gz: bool = False) -> Path:
    """``tar -C SRC -cf OUT .`` with the real tar: ``./``-prefixed names and directory members."""
    subprocess.run(["tar", "-C", str(src), "-czf" if gz else "-cf", str(out), "."], check=True)
    return out


def untar(archive: Path, into: Path) -> Path:
    """``tar -C INTO -xf ARCHIVE`` with the real tar."""
    into.mkdir(parents=True, exist_ok=True)
    subprocess.run(["tar", "-C", str(into), "-xf", str(archive)], check=True)
    return into


def umoci_layout(layout: Path, tag: str) -> bytes:
    """An empty image made by umoci (``umoci init``, ``umoci new``); its manifest as skopeo reads it."""
    subprocess.run(["umoci", "init", "--layout", str(layout)], check=True)
    subprocess.run(["umoci", "new", "--image", f"{layout}:{tag}"], check=True)
    return subprocess.run(["skopeo", "inspect", "--raw", f"oci:{layout}:{tag}"], capture_output=True,
                          check=True).stdout


def _add(tar: tarfile.TarFile, name: str, data: bytes | None, mode: int = 0o644) -> None:
    info = tarfile.TarInfo(name)
    info.mode = mode
    if data is None:
        info.type = tarfile.DIRTYPE
        info.mode = 0o755
        tar.addfile(info)
    else:
        info.size = len(data)
        tar.addfile(info, io.BytesIO(data))


def write_docker25(out: Path, images: dict[str, Image]) -> Path:
    """A tarball as ``docker save`` writes it from Docker 25 on (moby image/tarexport/save.go):
    an OCI layout whose index.json entries carry ``io.containerd.image.name`` (the full name) and
    the OCI ref.name (the tag), plus ``manifest.json`` and ``repositories``, archived in walk order
    with directory members and no ``./`` prefix. ``images`` maps ``familiar-name:tag`` to images
    with a config and layers (not indexes)."""
    blobs: dict[str, bytes] = {}
    descriptors, items, repos = [], [], {}
    for ref, image in images.items():
        name, tag = ref.rsplit(":", 1)
        blobs.update(all_blobs(image))
        doc = json.loads(image.raw)
        full = name if "/" in name and "." in name.split("/")[0] else f"docker.io/library/{name}"
        descriptors.append({"mediaType": image.media_type, "digest": image.digest, "size": len(image.raw),
                            "annotations": {CONTAINERD_NAME: f"{full}:{tag}", REF_NAME: tag},
                            "platform": {"architecture": "amd64", "os": "linux"}})
        layers = [f"blobs/sha256/{layer['digest'].split(':')[1]}" for layer in doc["layers"]]
        items.append({"Config": f"blobs/sha256/{doc['config']['digest'].split(':')[1]}",
                      "RepoTags": [ref], "Layers": layers})
        repos.setdefault(name, {})[tag] = layers[-1].rsplit("/", 1)[1]
    # save.go also writes each layer's legacy v1 JSON as a blob no manifest names.
    legacy = json.dumps({"id": "0" * 64, "created": "1970-01-01T00:00:00Z"}).encode()
    blobs[sha256(legacy)] = legacy
    index = json.dumps({"schemaVersion": 2, "mediaType": OCI_INDEX, "manifests": descriptors}).encode()
    with tarfile.open(out, "w") as tar:
        _add(tar, "blobs", None)
        _add(tar, "blobs/sha256", None)
        for digest in sorted(blobs):
            _add(tar, f"blobs/sha256/{digest.split(':')[1]}", blobs[digest])
        _add(tar, "index.json", index)
        _add(tar, "manifest.json", json.dumps(items).encode() + b"\n")
        _add(tar, "oci-layout", b'{"imageLayoutVersion": "1.0.0"}')
        _add(tar, "repositories", json.dumps(repos).encode() + b"\n")
    return out


def go_json(value: object) -> bytes:
    """``encoding/json.Marshal``: compact, and ``<``, ``>``, ``&``, U+2028, U+2029 escaped."""
    text = json.dumps(value, separators=(",", ":"), ensure_ascii=False)
    for char, escaped in (("<", "\\u003c"), (">", "\\u003e"), ("&", "\\u0026"),
                          ("\u2028", "\\u2028"), ("\u2029", "\\u2029")):
        text = text.replace(char, escaped)
    return text.encode()


def _carvel_image(image: Image, ref: str, tag: str, kbld: bool) -> dict[str, object]:
    doc = json.loads(image.raw)
    config = doc["config"]
    layers = []
    for layer in doc["layers"]:
        data = image.blobs[layer["digest"]]
        diff = data if data[:2] != b"\x1f\x8b" else gzip.decompress(data)
        layers.append({"MediaType": layer["mediaType"], "Digest": layer["digest"],
                       "DiffID": sha256(diff), "Size": layer["size"]})
    out: dict[str, object] = {
        "Refs": [ref], "Layers": layers,
        "Config": {"Digest": config["digest"], "Raw": image.blobs[config["digest"]].decode()},
        "Manifest": {"MediaType": image.media_type, "Digest": image.digest, "Raw": image.raw.decode()},
    }
    if not kbld:
        out.update(Tag=tag, OrigRef=ref, Labels=None)
    return out


def _carvel_index(image: Image, ref: str, tag: str, kbld: bool) -> dict[str, object]:
    repo = ref.split("@")[0]
    images, indexes = [], []
    for child in image.children:
        child_ref = f"{repo}@{child.digest}"
        if child.children:
            indexes.append(_carvel_index(child, child_ref, tag, kbld))
        else:
            images.append(_carvel_image(child, child_ref, tag, kbld))
    out: dict[str, object] = {"Refs": [ref], "Images": images or None, "Indexes": indexes or None,
                              "MediaType": image.media_type, "Digest": image.digest,
                              "Raw": image.raw.decode()}
    if not kbld:
        out.update(Tag=tag, OrigRef=ref, Labels=None)
    return out


def write_carvel(out: Path, images: dict[str, Image], *, kbld: bool = False,
                 leave_out: frozenset[str] = frozenset()) -> Path:
    """A Carvel tarball as ``imgpkg copy --to-tar`` writes it (carvel-dev/imgpkg
    pkg/imgpkg/imagetar/tar_writer.go, imagedesc/image_ref_descriptors.go; ``kbld=True``: kbld
    pkg's descriptors, without Tag, OrigRef and Labels). ``images`` maps ``repo:tag`` to images;
    each is recorded under ``repo@digest`` as imgpkg records resolved images. ``manifest.json``
    first, sorted by SortKey, then each layer once as ``sha256-<hex>.tar.gz``, sorted by digest,
    mode 0644; layers in ``leave_out`` are left out (as non-distributable ones are)."""
    descs = []
    layers: dict[str, bytes] = {}
    for name, image in images.items():
        repo, tag = name.rsplit(":", 1)
        ref = f"{repo}@{image.digest}"
        if image.children:
            descs.append(({"ImageIndex": _carvel_index(image, ref, tag, kbld), "Image": None}, image.digest))
        else:
            config = json.loads(image.raw)["config"]["digest"]
            descs.append(({"ImageIndex": None, "Image": _carvel_image(image, ref, tag, kbld)},
                          f"{image.digest}/{config}"))
        for digest, data in all_blobs(image).items():
            if digest not in leave_out and _is_layer(image, digest):
                layers[digest] = data
    manifest = go_json([d for d, _ in sorted(descs, key=lambda pair: pair[1])])
    with tarfile.open(out, "w", format=tarfile.USTAR_FORMAT) as tar:
        _add(tar, "manifest.json", manifest)
        for digest in sorted(layers):
            _add(tar, digest.replace(":", "-") + ".tar.gz", layers[digest])
    return out


def _is_layer(image: Image, digest: str) -> bool:
    if not image.children:
        return any(layer["digest"] == digest for layer in json.loads(image.raw)["layers"])
    return any(_is_layer(child, digest) for child in image.children)


def rebuilt_docker_manifest(path: Path, item: int = 0) -> bytes:
    """The manifest a Docker archive's item should get, worked out with tarfile and hashlib
    alone: Docker v2 schema 2, compact (go-containerregistry's json.Marshal), each layer typed
    by its gzip magic."""
    with tarfile.open(path) as tar:
        entry = json.load(tar.extractfile("manifest.json"))[item]  # type: ignore[arg-type]
        config = tar.extractfile(entry["Config"]).read()  # type: ignore[union-attr]
        layers = []
        for name in entry["Layers"]:
            data = tar.extractfile(name).read()  # type: ignore[union-attr]  # follows links
            kind = "tar.gzip" if data[:2] == b"\x1f\x8b" else "tar"
            layers.append({"mediaType": f"application/vnd.docker.image.rootfs.diff.{kind}",
                           "size": len(data), "digest": sha256(data)})
    doc = {"schemaVersion": 2, "mediaType": "application/vnd.docker.distribution.manifest.v2+json",
           "config": {"mediaType": "application/vnd.docker.container.image.v1+json", "size": len(config),
                      "digest": sha256(config)},
           "layers": layers}
    return go_json(doc)


def sha256_file_member(path: Path, name: str) -> str:
    """The sha256 of one member's bytes, read with tarfile: an independent check of a digest."""
    with tarfile.open(path) as tar:
        f = tar.extractfile(name)
        assert f is not None
        return "sha256:" + hashlib.sha256(f.read()).hexdigest()


async def read_blob(source: LayoutSource, digest: str, size: int) -> bytes:
    """A blob's bytes as the engine reads them: through ``open_blob``, verified while streaming."""
    desc = Descriptor("", Digest.parse(digest), size)
    async with source.open_blob(Repository("layout", "test"), desc) as chunks:
        return b"".join([c async for c in chunks])
