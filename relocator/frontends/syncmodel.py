"""What every sync config format becomes: ``SyncEntry`` and ``SyncConfig``, and the helpers the
readers share to turn text into repositories and tag rules (one InputError line on bad input)."""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from typing import Literal

from relocator.engine.platforms import PlatformSelection
from relocator.engine.referrers import ReferrerPolicy
from relocator.errors import BadReference, InputError
from relocator.frontends.tagfilter import TagRules, parse_range
from relocator.oci import Reference, Repository

__all__ = ["Format", "SyncConfig", "SyncEntry", "endpoints", "is_registry", "lock_key", "prefix", "reference",
           "repository", "source", "tag_rules"]

Format = Literal["relocator", "skopeo", "regsync"]


@dataclass(frozen=True, slots=True)
class SyncEntry:
    """One source repository (every tag ``rules`` keep) or one image (``tag`` set), and where it
    goes: ``target`` is the destination repository; the tag keeps its name there.

    ``where`` is ``FILE:LINE`` for messages; ``immutable`` tags (and every tag when
    ``skip_existing``) are never overwritten once present at the target; ``referrers`` is the
    entry's ``referrers:`` (engine.referrers), None for the run's ``--referrers``; ``platforms``
    its ``platforms:`` and ``platformMode:`` (engine.platforms), None for the run's ``--platform``.
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
    platforms: PlatformSelection | None = None

    def for_repository(self, path: str) -> SyncEntry:
        """A whole-registry entry narrowed to one repository of its source's catalog."""
        target = f"{self.target.path}/{path}" if self.target.path else path
        return replace(self, source=Repository(self.source.registry, path),
                       target=Repository(self.target.registry, target), whole_registry=False)

    def is_immutable(self, tag: str) -> bool:
        """True when an existing ``tag`` at the target must be left as it is."""
        return self.skip_existing or any(p.fullmatch(tag) for p in self.immutable)

    def keeping_rule(self, tag: str) -> str:
        """Which rule keeps an existing ``tag`` at the target: ``skipExisting`` or the
        ``immutableTags`` expression it matches ("" when none does)."""
        if self.skip_existing:
            return "skipExisting"
        matched = [p.pattern for p in self.immutable if p.fullmatch(tag)]
        return f"immutableTags {matched[0]!r}" if matched else ""


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


def endpoints(src: str, dst: str, where: str, *, src_key: str = "source",
              dst_key: str = "target") -> tuple[Repository, Repository, str | None, bool]:
    """``(source, target, tag, whole_registry)`` for one source and target as written, in a config
    or on the command line alike: a source that is a registry alone (``HOST[:PORT]``) mirrors its
    whole catalog under ``target`` (``HOST[/PATH]``); else ``source`` is ``REPO[:TAG]`` and
    ``target`` a repository. Raises InputError naming ``where`` and the key."""
    if is_registry(src):
        # The host is checked as any reference's is (a port is a number in range): it goes into URLs.
        try:
            Reference.parse(f"{src}/x")
        except BadReference as exc:
            raise InputError(f"{where}: {src_key}: {src!r}: {exc.reason}") from None
        return Repository(src, ""), prefix(dst, f"{where}: {dst_key}"), None, True
    repo, tag = source(src, f"{where}: {src_key}")
    return repo, repository(dst, f"{where}: {dst_key}"), tag, False


def tag_rules(allow: Sequence[str], deny: Sequence[str], semver: str | None, latest: int | None,
              where: Callable[[str], str], *, search: bool = False) -> TagRules:
    """TagRules from their parts; ``where(key)`` names the key (``FILE:LINE: tags.allow``) in the
    InputError raised for a bad expression or range."""
    if semver is not None:
        try:
            parse_range(semver)
        except InputError as exc:
            raise InputError(f"{where('semver')}: {exc}") from None
    return TagRules(TagRules.compile_patterns(allow, where("allow")),
                    TagRules.compile_patterns(deny, where("deny")), semver, latest, search)


def is_registry(text: str) -> bool:
    """``HOST[:PORT]`` alone (distribution's rule for a first component that is a host)."""
    return "/" not in text and ("." in text or ":" in text or text == "localhost")


def prefix(text: str, what: str) -> Repository:
    """``HOST[/PATH]``, where a whole registry's repositories go, as a Repository (path may be "")."""
    host, _, path = text.strip("/").partition("/")
    probe = f"{host}/{path}/x" if path else f"{host}/x"
    ref = reference(probe, what)
    if ref.repository.registry != host or ref.tag is not None:
        raise InputError(f"{what}: {text!r}: not HOST[/PATH]")
    return Repository(host, path)


def source(text: str, what: str) -> tuple[Repository, str | None]:
    """``REPO[:TAG]``: the repository and the tag. Raises InputError for a digest."""
    ref = reference(text, what)
    if ref.digest is not None:
        raise InputError(f"{what}: {text!r}: a sync copies tags; name the repository or a tag")
    return ref.repository, ref.tag


def reference(text: str, what: str) -> Reference:
    """``text`` parsed; InputError naming ``what`` when it is not a reference."""
    try:
        return Reference.parse(text)
    except BadReference as exc:
        raise InputError(f"{what}: {text!r}: {exc.reason}") from None


def repository(text: str, what: str) -> Repository:
    """A repository without tag or digest; InputError naming ``what`` otherwise."""
    ref = reference(text, what)
    if ref.tag is not None or ref.digest is not None:
        raise InputError(f"{what}: {text!r}: a repository takes no tag or digest here")
    return ref.repository


def lock_key(config: SyncConfig) -> str:
    """The run lock's job (stores.runlock): the sorted set of ``SOURCE -> TARGET`` pairs the
    entries write, so two runs writing the same targets exclude each other however they were
    started (a copy of the config under another name, the ``SRC DST`` form)."""
    pairs = sorted({f"{e.source}{':' + e.tag if e.tag else ''} -> {e.target}" for e in config.entries})
    return "\n".join(pairs)
