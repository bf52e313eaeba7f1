"""skopeo sync's YAML (``skopeo sync --src yaml``, skopeo-sync(1)) as a SyncConfig.

Top-level keys are registries, each with ``images`` (repository: list of tags, empty for all),
``images-by-tag-regex`` (repository: expression, searched as Go's ``MatchString`` does),
``images-by-semver`` (repository: range) and ``tls-verify``; checked against
``skopeo-sync.schema.json``. Tags are read as written (``1.10`` stays "1.10", as skopeo's
``map[string][]string`` keeps it). The destination comes from the command line: an image lands at
``DEST/<last path component>:TAG``, or ``DEST/<registry>/<path>:TAG`` with ``scoped``, where
``skopeo sync --scoped`` puts it.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from relocator.errors import InputError
from relocator.frontends.syncmodel import SyncConfig, SyncEntry, reference, repository, tag_rules
from relocator.frontends.syncyaml import check, core, is_null, line
from relocator.oci import Repository

__all__ = ["skopeo_config"]

_UNUSED = ("credentials", "cert-dir")  # skopeo's, known, not applied: credentials come from Docker's config


def skopeo_config(name: str, doc: Mapping[str, Any], dest: str | None, scoped: bool) -> SyncConfig:
    """The entries of a skopeo sync file ``doc`` (syncyaml.load_text) read from ``name``, landing
    under ``dest`` (``HOST[/PATH]``). Raises InputError naming the file, line and key."""
    if dest is None:
        raise InputError(f"{name}: a skopeo sync file names no destination: give --dest HOST[/PATH]")
    check(name, doc, "skopeo-sync.schema.json")
    dest = dest.strip("/")
    unused: set[str] = set()
    insecure: list[str] = []
    entries = []
    for registry, section in doc.items():
        unused |= {f"{registry}.{k}" for k in section if k in _UNUSED}
        if core(section.get("tls-verify")) is False:
            insecure.append(str(registry))
        for repo, tags in (section.get("images") or {}).items():
            at = f"{name}:{line(doc, [registry, 'images', repo])}"
            src = repository(f"{registry}/{repo}", at)
            target = _target(dest, src, scoped, at)
            if is_null(tags) or tags == []:
                entries.append(SyncEntry(at, src, target))
                continue
            for j, tag in enumerate(tags):
                where = f"{name}:{line(doc, [registry, 'images', repo, j])}"
                ref = reference(f"{src}@{tag}" if tag.startswith("sha256:") else f"{src}:{tag}", where)
                if ref.tag is None:
                    raise InputError(f"{where}: {repo}@{tag}: digests are not synced; name tags")
                entries.append(SyncEntry(where, src, target, ref.tag))
        for key in ("images-by-tag-regex", "images-by-semver"):
            for repo, value in (section.get(key) or {}).items():
                at = f"{name}:{line(doc, [registry, key, repo])}"
                src = repository(f"{registry}/{repo}", at)
                named = _always(f"{at}: {key}")  # one value per key: it names itself, whichever rule
                by_regex = key == "images-by-tag-regex"
                rules = (tag_rules([value], [], None, None, named, search=True) if by_regex
                         else tag_rules([], [], value, None, named))
                entries.append(SyncEntry(at, src, _target(dest, src, scoped, at), None, rules))
    if not entries:
        raise InputError(f"{name}: no images: not a relocator, regsync or skopeo sync config")
    warnings = [f"{name}: not done by relocator sync, ignored: {', '.join(sorted(unused))} "
                "(credentials come from the Docker config)"] if unused else []
    return SyncConfig(name, "skopeo", tuple(entries), None, tuple(insecure), tuple(warnings))


def _always(text: str) -> Callable[[str], str]:
    return lambda _: text


def _target(dest: str, src: Repository, scoped: bool, where: str) -> Repository:
    if scoped and ":" in src.registry:
        raise InputError(f"{where}: --scoped: the registry {src.registry} has a port, and HOST:PORT "
                         "cannot be a repository path component")
    tail = f"{src.registry}/{src.path}" if scoped else src.path.rsplit("/", 1)[-1]
    return repository(f"{dest}/{tail}", f"{where}: --dest")
