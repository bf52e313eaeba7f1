"""regsync's YAML (top-level ``sync:``, regclient's cmd/regsync config.go) as a SyncConfig.

Entries of ``type`` ``repository`` or ``image`` with ``source``, ``target`` and ``tags: {allow,
deny, semverRange}``, checked against ``regsync.schema.json``; values are read as written
(``allow: [1.10]`` is the expression "1.10"). Expressions match the whole tag (regsync anchors
them); the ranges of ``semverRange`` are alternatives; ``defaults.parallel`` is the concurrency.
regsync's other fields (``creds``, schedules, hooks, rate limits...) are named in one warning.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from relocator.errors import InputError
from relocator.frontends.syncmodel import SyncConfig, SyncEntry, repository, source, tag_rules
from relocator.frontends.syncyaml import check, core, line

__all__ = ["regsync_config"]

_DONE = {"source", "target", "type", "tags"}


def regsync_config(name: str, doc: Mapping[str, Any]) -> SyncConfig:
    """The entries of a regsync file ``doc`` (syncyaml.load_text) read from ``name``. Raises
    InputError naming the file, line and key."""
    check(name, doc, "regsync.schema.json")
    unused = {k for k in doc if k not in ("version", "defaults", "sync") and not k.startswith("x-")}
    defaults = doc.get("defaults") or {}
    unused |= {f"defaults.{k}" for k in defaults if k != "parallel"}
    entries = []
    for i, item in enumerate(doc["sync"]):
        where = f"{name}:{line(doc, ['sync', i])}"
        unused |= {f"sync.{k}" for k in item if k not in _DONE}
        kind = item.get("type", "repository")
        tags = item.get("tags") or {}
        if kind == "image":
            src, tag = source(item["source"], f"{where}: source")
            if tag is None:
                raise InputError(f"{where}: source: type image needs a tag ({item['source']!r})")
            target, target_tag = source(item["target"], f"{where}: target")
            if target_tag not in (None, tag):
                raise InputError(f"{where}: target: a tag other than the source's is not supported")
            entries.append(SyncEntry(where, src, target, tag))
            continue

        def named(key: str, i: int = i) -> str:
            key = "semverRange" if key == "semver" else key
            return f"{name}:{line(doc, ['sync', i, 'tags', key])}: tags.{key}"

        ranges = tags.get("semverRange") or []
        semver = " || ".join(ranges) or None  # regsync: any range may match
        rules = tag_rules(tags.get("allow") or [], tags.get("deny") or [], semver, None, named)
        entries.append(SyncEntry(where, repository(item["source"], f"{where}: source"),
                                 repository(item["target"], f"{where}: target"), None, rules))
    warnings = [f"{name}: not done by relocator sync, ignored: {', '.join(sorted(unused))}"] if unused else []
    return SyncConfig(name, "regsync", tuple(entries), core(defaults.get("parallel")), (), tuple(warnings))
