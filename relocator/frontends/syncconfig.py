"""Sync configuration files: ours, skopeo sync's and regsync's, detected by content.

Every format becomes the same ``SyncConfig`` (frontends.syncmodel): a list of ``SyncEntry`` (one
source repository or image, one target, the tag rules of frontends.tagfilter) plus run-wide
settings. Each format is checked against a JSON Schema shipped with the package
(``sync.schema.json``, ``skopeo-sync.schema.json``, ``regsync.schema.json``) after the YAML is
read with every scalar kept as written (frontends.syncyaml: the tag ``1.10`` stays "1.10"). An
unknown key is an error; fields of the other tools that relocator does not do are named in one
warning, never dropped silently. Errors are one InputError line naming the file, the line and the
key.

- **Ours** (top-level ``mirrors:``): see the README for the fields. A ``source`` that is a
  registry alone (``HOST[:PORT]``) mirrors every repository of its catalog under ``target``
  (``HOST[/PATH]``), as ``relocator sync HOST[:PORT] HOST[/PATH]`` does.
- **skopeo sync** (frontends.sync_skopeo) and **regsync** (frontends.sync_regsync).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from relocator.engine.platforms import PlatformSelection
from relocator.engine.referrers import ReferrerPolicy
from relocator.errors import BadReference, InputError
from relocator.frontends.sync_regsync import regsync_config
from relocator.frontends.sync_skopeo import skopeo_config
from relocator.frontends.syncmodel import SyncConfig, SyncEntry, endpoints, tag_rules
from relocator.frontends.syncyaml import check, core, line, load_text
from relocator.frontends.tagfilter import TagRules
from relocator.oci.reference import without_transport

__all__ = ["SyncConfig", "SyncEntry", "load_sync_config", "single_entry"]


def load_sync_config(path: Path, *, dest: str | None = None, scoped: bool = False) -> SyncConfig:
    """Read and check a sync config. ``dest`` (``HOST[/PATH]``) and ``scoped`` are for skopeo's
    format, which names no destination. Raises InputError naming the file, line and key."""
    name = str(path)
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        reason = exc.strerror if isinstance(exc, OSError) else "not UTF-8 text"
        raise InputError(f"{name}: cannot read the sync config ({reason})") from None
    doc = load_text(text, name)
    if not isinstance(doc, Mapping) or not doc:
        raise InputError(f"{name}: not a sync config (expected a mapping with mirrors:, sync: or registries)")
    if "mirrors" in doc:
        if dest is not None:
            raise InputError(f"{name}: --dest is for skopeo sync files; this config names its targets")
        return _ours(name, doc)
    if "sync" in doc:
        if dest is not None:
            raise InputError(f"{name}: --dest is for skopeo sync files; this regsync config names targets")
        return regsync_config(name, doc)
    return skopeo_config(name, doc, dest, scoped)


def single_entry(source: str, target: str, rules: TagRules, *, skip_existing: bool = False,
                 immutable: Sequence[str] = ()) -> SyncEntry:
    """The entry of ``relocator sync SRC DST`` (flags for the filters); either may be spelled
    ``docker://...`` as on every command line. SRC and DST mean what a config's ``source`` and
    ``target`` mean (syncmodel.endpoints): ``HOST[:PORT] HOST[/PATH]`` mirrors a whole registry."""
    try:
        bare_source, bare_target = without_transport(source), without_transport(target)
    except BadReference as exc:
        raise InputError(f"command line: {exc}") from None
    src, dst, tag, whole = endpoints(bare_source, bare_target, "command line", src_key="SRC_REPO",
                                     dst_key="DST_REPO")
    return SyncEntry("command line", src, dst, tag, rules, skip_existing,
                     TagRules.compile_patterns(immutable, "--immutable-tags"), whole_registry=whole)


def _ours(name: str, doc: Mapping[str, Any]) -> SyncConfig:
    check(name, doc, "sync.schema.json")
    defaults = doc.get("defaults") or {}
    entries = []
    for i, item in enumerate(doc["mirrors"]):
        where = f"{name}:{line(doc, ['mirrors', i])}"
        at = ["mirrors", i]

        def chosen(key: str, at: list[Any] = at, item: Mapping[str, Any] = item) -> tuple[list[Any], Any]:
            """Where ``key`` is set (the entry wins over the defaults) and its value as written."""
            if key in item:
                return [*at, key], item[key]
            return ["defaults", key], defaults.get(key)

        def tag(key: str, at: list[Any] = at, item: Mapping[str, Any] = item) -> tuple[list[Any], Any]:
            if key in (item.get("tags") or {}):
                return [*at, "tags", key], item["tags"][key]
            return ["defaults", "tags", key], (defaults.get("tags") or {}).get(key)

        def named(key: str, tag: Any = tag) -> str:
            return f"{name}:{line(doc, tag(key)[0])}: tags.{key}"

        latest = core(tag("latest")[1])
        rules = tag_rules(tag("allow")[1] or [], tag("deny")[1] or [], tag("semver")[1], latest, named)
        skip = core(chosen("skipExisting")[1]) is True
        where_immutable, immutable = chosen("immutableTags")
        immutables = TagRules.compile_patterns(immutable or [],
                                               f"{name}:{line(doc, where_immutable)}: immutableTags")
        where_referrers, referrers = chosen("referrers")
        policy = _referrers(referrers, f"{name}:{line(doc, where_referrers)}")
        where_platforms, platforms = chosen("platforms")
        where_mode, mode = chosen("platformMode")
        selection = _platforms(platforms, core(mode), f"{name}:{line(doc, where_platforms)}",
                               f"{name}:{line(doc, where_mode)}")
        src, dst, tag_name, whole = endpoints(item["source"], item["target"], where)
        entries.append(SyncEntry(where, src, dst, tag_name, rules, skip, immutables, whole, policy,
                                 selection))
    concurrency = core(defaults.get("concurrency"))
    return SyncConfig(name, "relocator", tuple(entries), concurrency, (), ())


def _platforms(value: Any, mode: Any, where: str, where_mode: str) -> PlatformSelection | None:
    """``platforms: [os/arch[/variant][:osversion] | all, ...]`` and ``platformMode:`` (the schema
    checked the shapes), None when neither is set."""
    if value is None and mode is None:
        return None
    try:
        return PlatformSelection.parse([str(core(v)) for v in value or []], mode, flag="platforms")
    except InputError as exc:
        at = where if value is not None else where_mode
        raise InputError(f"{at}: {str(exc).replace('--platform-mode', 'platformMode')}") from None


def _referrers(value: Any, where: str) -> ReferrerPolicy | None:
    """``referrers: all | none | [TYPE, ...]`` (the schema checked the shape), None when absent."""
    if value is None:
        return None
    text = value if isinstance(value, str) else ",".join(value)
    try:
        return ReferrerPolicy.parse(text)
    except InputError as exc:
        raise InputError(f"{where}: referrers: {str(exc).removeprefix('--referrers ')}") from None
