"""kbld lock files (``Config`` with ``overrides``) and imgpkg ``ImagesLock``, via ruamel.yaml."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from io import StringIO
from typing import Any

from ruamel.yaml import YAML

__all__ = ["render_imgpkg_lock", "render_lock"]


def _dump(doc: dict[str, Any]) -> bytes:
    out = StringIO()
    yaml = YAML()
    yaml.default_flow_style = False
    yaml.width = 4096  # one reference per line, however long
    yaml.dump(doc, out)
    return out.getvalue().encode()


def render_lock(pairs: Iterable[tuple[str, str]],
                origins: Mapping[str, list[dict[str, Any]]] | None = None) -> bytes:
    """A kbld lock file mapping each original reference to its new ``repo@digest``; ``origins``
    (by original reference) become the override's ``origins:``, kbld's list of where an image
    came from (carvel-dev/kbld pkg/kbld/config: ImageOverride.ImageOrigins, Origin), which kbld
    reads and passes over when it does not know a kind."""
    origins = origins or {}
    return _dump({
        "apiVersion": "kbld.k14s.io/v1alpha1",
        "kind": "Config",
        "minimumRequiredVersion": "0.31.0",
        "overrides": [{"image": image, "newImage": new, "preresolved": True,
                       **({"origins": origins[image]} if image in origins else {})} for image, new in pairs],
    })


def render_imgpkg_lock(pairs: Iterable[tuple[str, str]]) -> bytes:
    """An imgpkg ImagesLock listing each resolved image, annotated with its original reference."""
    return _dump({
        "apiVersion": "imgpkg.carvel.dev/v1alpha1",
        "kind": "ImagesLock",
        "images": [{"image": new, "annotations": {"kbld.carvel.dev/id": image}} for image, new in pairs],
    })
