"""Write a small two-platform OCI image layout for the demo: python -m scripts.make_layout DIR."""

from __future__ import annotations

import hashlib
import json
import os
import sys
from pathlib import Path


def _blob(root: Path, data: bytes) -> dict[str, object]:
    digest = hashlib.sha256(data).hexdigest()
    (root / "blobs/sha256" / digest).write_bytes(data)
    return {"digest": f"sha256:{digest}", "size": len(data)}


def main(root: Path) -> None:
    (root / "blobs/sha256").mkdir(parents=True, exist_ok=True)
    (root / "oci-layout").write_text('{"imageLayoutVersion": "1.0.0"}')
    entries = []
    for arch in ("amd64", "arm64"):
        layer = _blob(root, os.urandom(256 * 1024))
        config = _blob(root, json.dumps({"architecture": arch, "os": "linux",
                                         "rootfs": {"type": "layers", "diff_ids": []}}).encode())
        manifest = json.dumps({
            "schemaVersion": 2, "mediaType": "application/vnd.oci.image.manifest.v1+json",
            "config": {"mediaType": "application/vnd.oci.image.config.v1+json", **config},
            "layers": [{"mediaType": "application/vnd.oci.image.layer.v1.tar+gzip", **layer}],
        }).encode()
        entries.append({"mediaType": "application/vnd.oci.image.manifest.v1+json",
                        **_blob(root, manifest), "platform": {"os": "linux", "architecture": arch}})
    index = json.dumps({"schemaVersion": 2, "mediaType": "application/vnd.oci.image.index.v1+json",
                        "manifests": entries}).encode()
    top = {"mediaType": "application/vnd.oci.image.index.v1+json", **_blob(root, index),
           "annotations": {"org.opencontainers.image.ref.name": "demo"}}
    (root / "index.json").write_text(json.dumps({"schemaVersion": 2, "manifests": [top]}))


if __name__ == "__main__":
    main(Path(sys.argv[1]))
