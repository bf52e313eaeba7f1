"""Sync configuration files: ours, skopeo sync's and regsync's, detected by content.

Every format becomes the same ``SyncConfig``: a list of ``SyncEntry`` (one source repository or
image, one target, the tag rules of frontends.tagfilter) plus run-wide settings. Fields relocator
does not act on are named in one warning, never dropped silently. Errors are one InputError line
naming the file, the line and the key.

- **Ours** (top-level ``mirrors:``): checked against ``sync.schema.json`` (shipped with the
  package) by jsonschema; see the README for the fields. A ``source`` that is a registry alone
  (``HOST[:PORT]``) mirrors every repository of its catalog under ``target`` (``HOST[/PATH]``).
- **skopeo sync** (``skopeo sync --src yaml``, skopeo-sync(1)): top-level keys are registries,
  each with ``images`` (repository: list of tags, empty for all), ``images-by-tag-regex``
  (repository: expression, searched as Go's ``MatchString`` does), ``images-by-semver``
  (repository: range) and ``tls-verify``. The destination comes from the command line: an image
  lands at ``DEST/<last path component>:TAG``, or ``DEST/<registry>/<path>:TAG`` with
  ``scoped``, where ``skopeo sync --scoped`` puts it.
- **regsync** (top-level ``sync:``, regclient's cmd/regsync config.go): entries of ``type``
  ``repository`` or ``image`` with ``source``, ``target`` and ``tags: {allow, deny,
  semverRange}``; expressions match the whole tag (regsync anchors them); the ranges of
  ``semverRange`` are alternatives; ``defaults.parallel`` is the concurrency.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from functools import cache
from importlib import resources
from pathlib import Path
from typing import Any, Literal

from ruamel.yaml import YAML
from ruamel.yaml.comments import CommentedBase
from ruamel.yaml.error import YAMLError

from relocator.engine.referrers import ReferrerPolicy
from relocator.errors import BadReference, InputError
from relocator.frontends.tagfilter import TagRules, parse_range
from relocator.oci import Reference, Repository
from relocator.oci.reference import without_transport

__all__ = ["SyncConfig", "SyncEntry", "load_sync_config", "single_entry"]

Format = Literal["relocator", "skopeo", "regsync"]


@dataclass(frozen=True, slots=True)
class SyncEntry:
    """One source repository (every tag ``rules`` keep) or one image (``tag`` set), and where it
    goes: ``target`` is the destination repository; the tag keeps its name there.

    ``where`` is ``FILE:LINE`` for messages; ``immutable`` tags (and every tag when
    ``skip_existing``) are never overwritten once present at the target; ``referrers`` is the
    entry's ``referrers:`` (engine.referrers), None for the run's ``--referrers``.
    """

    where: str
    source: Repository
    target: Repository
    tag: str | None = None
    rules: TagRules = field(default_factory=TagRules)
    skip_existing: bool = False
    immutable: tuple[re.Pattern[str], ...] = ()
    whole_registry: bool = False  # source and target are HOST and HOST[/PREFIX] (path "" or PREFIX)
    referrers: ReferrerPolicy | None = None

    def for_repository(self, path: str) -> SyncEntry:
        """A whole-registry entry narrowed to one repository of its source's catalog."""
        target = f"{self.target.path}/{path}" if self.target.path else path
        return replace(self, source=Repository(self.source.registry, path),
                       target=Repository(self.target.registry, target), whole_registry=False)

    def is_immutable(self, tag: str) -> bool:
        """True when an existing ``tag`` at the target must be left as it is."""
        return self.skip_existing or any(p.fullmatch(tag) for p in self.immutable)


@dataclass(frozen=True, slots=True)
class SyncConfig:
    """A whole sync: its entries, the concurrency it asks for, hosts to reach without TLS
    verification (skopeo's ``tls-verify: false``), and warnings for fields left unused."""

    path: str
    format: Format
    entries: tuple[SyncEntry, ...]
    concurrency: int | None = None
    insecure_hosts: tuple[str, ...] = ()
    warnings: tuple[str, ...] = field(default_factory=tuple)


def load_sync_config(path: Path, *, dest: str | None = None, scoped: bool = False) -> SyncConfig:
    """Read and check a sync config. ``dest`` (``HOST[/PATH]``) and ``scoped`` are for skopeo's
    format, which names no destination. Raises InputError naming the file, line and key."""
    name = str(path)
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        reason = exc.strerror if isinstance(exc, OSError) else "not UTF-8 text"
        raise InputError(f"{name}: cannot read the sync config ({reason})") from None
    try:
        doc = YAML(typ="rt").load(text)
    except YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        at = f" at line {mark.line + 1}" if mark is not None else ""
        raise InputError(f"{name}: invalid YAML{at}: {getattr(exc, 'problem', exc)}") from None
    if not isinstance(doc, Mapping) or not doc:
        raise InputError(f"{name}: not a sync config (expected a mapping with mirrors:, sync: or registries)")
    if "mirrors" in doc:
        if dest is not None:
            raise InputError(f"{name}: --dest is for skopeo sync files; this config names its targets")
        return _ours(name, doc)
    if "sync" in doc:
        if dest is not None:
            raise InputError(f"{name}: --dest is for skopeo sync files; this regsync config names targets")
        return _regsync(name, doc)
    return _skopeo(name, doc, dest, scoped)


def single_entry(source: str, target: str, rules: TagRules, *, skip_existing: bool = False,
                 immutable: Sequence[str] = ()) -> SyncEntry:
    """The entry of ``relocator sync SRC_REPO DST_REPO`` (flags for the filters); either may be
    spelled ``docker://REPO`` as on every command line."""
    src, tag = _source(without_transport(source), "SRC_REPO")
    dst = _repository(without_transport(target), "DST_REPO")
    return SyncEntry("command line", src, dst, tag, rules, skip_existing,
                     TagRules.compile_patterns(immutable, "--immutable-tags"))


# --- ours -------------------------------------------------------------------------------------


@cache
def _schema() -> dict[str, Any]:
    raw = resources.files("relocator.frontends").joinpath("sync.schema.json").read_text(encoding="utf-8")
    schema: dict[str, Any] = json.loads(raw)
    return schema


def _ours(name: str, doc: Mapping[str, Any]) -> SyncConfig:
    import jsonschema  # only sync needs it: keeps every other command's start-up lean

    validator = jsonschema.Draft202012Validator(_schema())
    error = jsonschema.exceptions.best_match(validator.iter_errors(_plain(doc)))
    if error is not None:
        path = list(error.absolute_path)
        key = ".".join(str(p) for p in path) or "top level"
        raise InputError(f"{name}:{_line(doc, path)}: {key}: {error.message}")
    defaults = doc.get("defaults") or {}
    entries = []
    for i, item in enumerate(doc["mirrors"]):
        where = f"{name}:{_line(doc, ['mirrors', i])}"
        merged = {**defaults, **item, "tags": {**defaults.get("tags", {}), **item.get("tags", {})}}
        rules = _rules(merged["tags"], where)
        skip = bool(merged.get("skipExisting", False))
        immutable = TagRules.compile_patterns(merged.get("immutableTags", []), f"{where}: immutableTags")
        referrers = _referrers(merged.get("referrers"), where)
        if _is_registry(item["source"]):
            entries.append(SyncEntry(where, Repository(item["source"], ""),
                                     _prefix(item["target"], f"{where}: target"), None, rules, skip,
                                     immutable, whole_registry=True, referrers=referrers))
            continue
        src, tag = _source(item["source"], f"{where}: source")
        entries.append(SyncEntry(where, src, _repository(item["target"], f"{where}: target"), tag,
                                 rules, skip, immutable, referrers=referrers))
    unused = any("platforms" in part for part in (defaults, *doc["mirrors"]))
    warnings = [f"{name}: platforms not applied yet: every platform is copied"] if unused else []
    return SyncConfig(name, "relocator", tuple(entries), defaults.get("concurrency"), (), tuple(warnings))


def _referrers(value: Any, where: str) -> ReferrerPolicy | None:
    """``referrers: all | none | [TYPE, ...]`` (the schema checked the shape), None when absent."""
    if value is None:
        return None
    text = value if isinstance(value, str) else ",".join(value)
    try:
        return ReferrerPolicy.parse(text)
    except InputError as exc:
        raise InputError(f"{where}: referrers: {str(exc).removeprefix('--referrers ')}") from None


def _rules(tags: Mapping[str, Any], where: str, *, search: bool = False) -> TagRules:
    semver = tags.get("semver")
    if semver is not None:
        try:
            parse_range(semver)
        except InputError as exc:
            raise InputError(f"{where}: {exc}") from None
    return TagRules(TagRules.compile_patterns(tags.get("allow", []), f"{where}: tags.allow"),
                    TagRules.compile_patterns(tags.get("deny", []), f"{where}: tags.deny"),
                    semver, tags.get("latest"), search)


# --- regsync ----------------------------------------------------------------------------------

_REGSYNC_ENTRY = {"source", "target", "type", "tags"}
_REGSYNC_DEFAULTS = {"parallel"}


def _regsync(name: str, doc: Mapping[str, Any]) -> SyncConfig:
    unused: set[str] = {k for k in doc if k not in ("version", "defaults", "sync")}
    defaults = doc.get("defaults") or {}
    if not isinstance(defaults, Mapping):
        raise InputError(f"{name}:{_line(doc, ['defaults'])}: defaults: expected a mapping")
    unused |= {f"defaults.{k}" for k in defaults if k not in _REGSYNC_DEFAULTS}
    items = doc["sync"]
    if not isinstance(items, Sequence) or isinstance(items, str) or not items:
        raise InputError(f"{name}:{_line(doc, ['sync'])}: sync: expected a list of entries")
    entries = []
    for i, item in enumerate(items):
        where = f"{name}:{_line(doc, ['sync', i])}"
        if not isinstance(item, Mapping) or not isinstance(item.get("source"), str) \
                or not isinstance(item.get("target"), str):
            raise InputError(f"{where}: sync.{i}: needs source and target")
        unused |= {f"sync.{k}" for k in item if k not in _REGSYNC_ENTRY}
        kind = item.get("type", "repository")
        tags = item.get("tags") or {}
        if kind == "image":
            src, tag = _source(item["source"], f"{where}: source")
            if tag is None:
                raise InputError(f"{where}: type image needs a tag in source ({item['source']!r})")
            target, target_tag = _source(item["target"], f"{where}: target")
            if target_tag not in (None, tag):
                raise InputError(f"{where}: a target tag other than the source's is not supported")
            entries.append(SyncEntry(where, src, target, tag))
        elif kind == "repository":
            ranges = tags.get("semverRange") or []
            semver = " || ".join(str(r) for r in ranges) or None  # regsync: any range may match
            rules = _rules({"allow": tags.get("allow", []), "deny": tags.get("deny", []), "semver": semver},
                           where)
            entries.append(SyncEntry(where, _repository(item["source"], f"{where}: source"),
                                     _repository(item["target"], f"{where}: target"), None, rules))
        else:
            raise InputError(f"{where}: type {kind!r}: relocator syncs type repository and image")
    parallel = defaults.get("parallel")
    warnings = [f"{name}: not done by relocator sync, ignored: {', '.join(sorted(unused))}"] if unused else []
    return SyncConfig(name, "regsync", tuple(entries), parallel if isinstance(parallel, int) else None,
                      (), tuple(warnings))


# --- skopeo sync ------------------------------------------------------------------------------

_SKOPEO_KEYS = {"images", "images-by-tag-regex", "images-by-semver", "tls-verify"}


def _skopeo(name: str, doc: Mapping[str, Any], dest: str | None, scoped: bool) -> SyncConfig:
    if dest is None:
        raise InputError(f"{name}: a skopeo sync file names no destination: give --dest HOST[/PATH]")
    dest = dest.strip("/")
    unused: set[str] = set()
    insecure: list[str] = []
    entries = []
    for registry, section in doc.items():
        where = f"{name}:{_line(doc, [registry])}"
        if not isinstance(section, Mapping):
            raise InputError(f"{where}: {registry}: expected a mapping with images")
        unused |= {f"{registry}.{k}" for k in section if k not in _SKOPEO_KEYS}
        if section.get("tls-verify") is False:
            insecure.append(str(registry))
        for repo, tags in (section.get("images") or {}).items():
            at = f"{name}:{_line(doc, [registry, 'images', repo])}"
            src = _repository(f"{registry}/{repo}", at)
            if tags is None or tags == []:
                entries.append(SyncEntry(at, src, _skopeo_target(dest, src, scoped, at)))
                continue
            if not isinstance(tags, Sequence) or isinstance(tags, str):
                raise InputError(f"{at}: {registry}.images.{repo}: expected a list of tags")
            for tag in tags:
                ref = _reference(f"{src}:{tag}" if not str(tag).startswith("sha256:") else f"{src}@{tag}", at)
                if ref.tag is None:
                    raise InputError(f"{at}: {repo}@{tag}: digests are not synced; name tags")
                entries.append(SyncEntry(at, src, _skopeo_target(dest, src, scoped, at), ref.tag))
        for key in ("images-by-tag-regex", "images-by-semver"):
            for repo, value in (section.get(key) or {}).items():
                at = f"{name}:{_line(doc, [registry, key, repo])}"
                if not isinstance(value, str):
                    raise InputError(f"{at}: {registry}.{key}.{repo}: expected a string")
                src = _repository(f"{registry}/{repo}", at)
                rules = (_rules({"allow": [value]}, at, search=True) if key == "images-by-tag-regex"
                         else _rules({"semver": value}, at))
                entries.append(SyncEntry(at, src, _skopeo_target(dest, src, scoped, at), None, rules))
    if not entries:
        raise InputError(f"{name}: no images: not a relocator, regsync or skopeo sync config")
    warnings = [f"{name}: not done by relocator sync, ignored: {', '.join(sorted(unused))} "
                "(credentials come from the Docker config)"] if unused else []
    return SyncConfig(name, "skopeo", tuple(entries), None, tuple(insecure), tuple(warnings))


def _skopeo_target(dest: str, src: Repository, scoped: bool, where: str) -> Repository:
    if scoped and ":" in src.registry:
        raise InputError(f"{where}: --scoped: the registry {src.registry} has a port, and HOST:PORT "
                         "cannot be a repository path component")
    tail = f"{src.registry}/{src.path}" if scoped else src.path.rsplit("/", 1)[-1]
    return _repository(f"{dest}/{tail}", f"{where}: --dest")


# --- shared -----------------------------------------------------------------------------------


def _is_registry(text: str) -> bool:
    """``HOST[:PORT]`` alone (distribution's rule for a first component that is a host)."""
    return "/" not in text and ("." in text or ":" in text or text == "localhost")


def _prefix(text: str, what: str) -> Repository:
    """``HOST[/PATH]``, where a whole registry's repositories go, as a Repository (path may be "")."""
    host, _, path = text.strip("/").partition("/")
    probe = f"{host}/{path}/x" if path else f"{host}/x"
    ref = _reference(probe, what)
    if ref.repository.registry != host or ref.tag is not None:
        raise InputError(f"{what}: {text!r}: not HOST[/PATH]")
    return Repository(host, path)


def _source(text: str, what: str) -> tuple[Repository, str | None]:
    ref = _reference(text, what)
    if ref.digest is not None:
        raise InputError(f"{what}: {text!r}: a sync copies tags; name the repository or a tag")
    return ref.repository, ref.tag


def _reference(text: str, what: str) -> Reference:
    try:
        return Reference.parse(text)
    except BadReference as exc:
        raise InputError(f"{what}: {text!r}: {exc.reason}") from None


def _repository(text: str, what: str) -> Repository:
    ref = _reference(text, what)
    if ref.tag is not None or ref.digest is not None:
        raise InputError(f"{what}: {text!r}: a repository takes no tag or digest here")
    return ref.repository


def _plain(node: Any) -> Any:
    """ruamel's round-trip nodes as plain JSON values, for the schema check."""
    if isinstance(node, Mapping):
        return {str(k): _plain(v) for k, v in node.items()}
    if isinstance(node, list):
        return [_plain(v) for v in node]
    return node


def _line(doc: Any, path: Sequence[Any]) -> int:
    """The 1-based line of the key or item at ``path`` (its parent's line when ruamel has none)."""
    node, line = doc, 1
    for part in path:
        if not isinstance(node, CommentedBase):
            break
        try:
            position = node.lc.key(part) if isinstance(node, Mapping) else node.lc.item(part)
            line = position[0] + 1
            node = node[part]  # type: ignore[index]  # a CommentedMap or CommentedSeq
        except (KeyError, IndexError, TypeError):
            break
    return line
