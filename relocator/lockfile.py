"""kbld lock files: ``Config`` with ``overrides``, written with ruamel.yaml."""

from __future__ import annotations

from collections.abc import Iterable
from io import StringIO

from ruamel.yaml import YAML

__all__ = ["render_lock"]


def render_lock(pairs: Iterable[tuple[str, str]]) -> bytes:
    """A kbld lock file mapping each original reference to its new ``repo@digest``."""
    doc = {
        "apiVersion": "kbld.k14s.io/v1alpha1",
        "kind": "Config",
        "minimumRequiredVersion": "0.31.0",
        "overrides": [
            {"image": image, "newImage": new, "preresolved": True} for image, new in pairs
        ],
    }
    out = StringIO()
    yaml = YAML()
    yaml.default_flow_style = False
    yaml.width = 4096  # one reference per line, however long
    yaml.dump(doc, out)
    return out.getvalue().encode()
