"""Which tags of a repository a sync keeps: allow, deny, semver range, newest N, in that order.

Pure functions over tag strings; no I/O. The rules, in the order they apply:

1. ``allow``: regular expressions; with any given, a tag must match one. Our config and regsync
   match the whole tag (regsync anchors its expressions with ``^…$``); skopeo sync's
   ``images-by-tag-regex`` searches (Go's ``regexp.MatchString``), so its patterns are compiled
   with ``search=True``.
2. ``deny``: a tag matching any is dropped, whatever allowed it.
3. ``semver``: a range in npm syntax (``>=1.20 <2``, ``^1.2``, ``1.x``, ``||``); a comma also
   means "and", as in the Masterminds ranges regsync and skopeo read. Only version tags can match.
4. ``latest: N``: the tags of the N newest distinct release versions (their variants
   included); pre-release tags are dropped, since "the newest N" means releases to a mirror's
   users and an rc would otherwise push out a release. Tags that are not versions (``latest``,
   ``main``) are not counted and are kept when earlier rules kept them.

A **version tag** is ``[v]MAJOR[.MINOR[.PATCH]]`` followed by an optional suffix. The suffix
decides what it is:

- ``-rc.1``, ``-beta2``, ``-alpha``, ``-pre``, ``-dev`` and any suffix starting with a digit
  (``-0.3``) make a **pre-release** (semver.org item 9): ordered before its release, and matched
  by a range only when the range names a pre-release of the same ``MAJOR.MINOR.PATCH`` (npm's
  rule).
- Any other suffix (``-alpine``, ``-slim-bookworm``, ``-windowsservercore``) is a **variant**: it is
  the same version built another way, so ``1.25.3-alpine`` satisfies ``>=1.20 <2`` exactly as
  ``1.25.3`` does, and counts as version 1.25.3 for ``latest``. To keep one variant, add it to
  ``allow`` (``allow: ['.*-alpine']``).
- ``+build`` metadata is ignored for ordering (semver.org item 10).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from functools import cache

import semantic_version

from relocator.errors import InputError

__all__ = ["TagRules", "Version", "keep_tags", "parse_range", "parse_version"]

_VERSION = re.compile(r"v?(\d+)(?:\.(\d+))?(?:\.(\d+))?(?:-([0-9A-Za-z.-]+))?(?:\+[0-9A-Za-z.-]+)?")
_PRERELEASE = re.compile(r"(?:alpha|beta|rc|pre|preview|dev|snapshot)[0-9.]*|[0-9][0-9A-Za-z.-]*", re.I)


@dataclass(frozen=True, slots=True)
class Version:
    """A version tag read by the rules above: ``release`` (major, minor, patch), the
    ``prerelease`` identifiers (empty for a release) and the ``variant`` suffix (or "")."""

    release: tuple[int, int, int]
    prerelease: tuple[str, ...]
    variant: str

    def semantic(self) -> semantic_version.Version:
        """As semantic_version sees it: the variant left out, the pre-release kept."""
        major, minor, patch = self.release
        return semantic_version.Version(major=major, minor=minor, patch=patch,
                                        prerelease=self.prerelease or None)


def parse_version(tag: str) -> Version | None:
    """The tag's version, or None when it is not a version tag."""
    m = _VERSION.fullmatch(tag)
    if m is None:
        return None
    release = (int(m[1]), int(m[2] or 0), int(m[3] or 0))
    suffix = m[4] or ""
    if suffix and _PRERELEASE.fullmatch(suffix):
        identifiers = tuple(part for part in re.split(r"[.]", suffix) if part)
        if all(_valid_identifier(i) for i in identifiers):
            return Version(release, identifiers, "")
    return Version(release, (), suffix)


def _valid_identifier(part: str) -> bool:
    # semver.org item 9: alphanumerics and hyphens; numeric ones without leading zeros.
    return bool(re.fullmatch(r"[0-9A-Za-z-]+", part)) and not (part.isdigit() and part != "0"
                                                              and part.startswith("0"))


@cache
def parse_range(text: str) -> semantic_version.NpmSpec:
    """An npm-style range; a comma means "and" (Masterminds). Raises InputError naming it."""
    # Masterminds (and so skopeo) also allows a space after the operator: ">= 3.12".
    spec = " ".join(re.sub(r"([<>=~^]+)\s+", r"\1", text.replace(",", " ")).split())
    try:
        return semantic_version.NpmSpec(spec)
    except ValueError as exc:
        raise InputError(f"semver range {text!r}: {exc}") from None


@dataclass(frozen=True, slots=True)
class TagRules:
    """One repository's tag filters. ``allow``/``deny`` are compiled expressions (see
    ``compile_patterns``); ``semver`` an npm-style range; ``latest`` a count of versions."""

    allow: tuple[re.Pattern[str], ...] = ()
    deny: tuple[re.Pattern[str], ...] = ()
    semver: str | None = None
    latest: int | None = None
    search: bool = False  # match anywhere in the tag (skopeo's images-by-tag-regex), not all of it

    @staticmethod
    def compile_patterns(patterns: Sequence[str], where: str) -> tuple[re.Pattern[str], ...]:
        """Compile each expression. Raises InputError naming ``where`` and the bad pattern."""
        compiled = []
        for pattern in patterns:
            try:
                compiled.append(re.compile(pattern))
            except re.error as exc:
                raise InputError(f"{where}: bad regular expression {pattern!r}: {exc}") from None
        return tuple(compiled)

    def _matches(self, pattern: re.Pattern[str], tag: str) -> bool:
        return bool(pattern.search(tag) if self.search else pattern.fullmatch(tag))


def keep_tags(tags: Iterable[str], rules: TagRules) -> list[str]:
    """The tags ``rules`` keep, sorted by name (the order of a registry's tag list). Raises
    InputError for a bad semver range."""
    kept = sorted(set(tags))
    if rules.allow:
        kept = [t for t in kept if any(rules._matches(p, t) for p in rules.allow)]
    kept = [t for t in kept if not any(rules._matches(p, t) for p in rules.deny)]
    if rules.semver is not None:
        spec = parse_range(rules.semver)
        kept = [t for t in kept if (v := parse_version(t)) is not None and v.semantic() in spec]
    if rules.latest is not None:
        versions = {t: v for t in kept if (v := parse_version(t)) is not None}
        releases = {v.semantic() for v in versions.values() if not v.prerelease}
        wanted = set(sorted(releases, reverse=True)[: rules.latest])
        kept = [t for t in kept if t not in versions
                or (not versions[t].prerelease and versions[t].semantic() in wanted)]
    return kept
