"""The sync tag filters as a pure function: a table of tags, rules and what a correct tool keeps."""

from __future__ import annotations

import pytest

from relocator.errors import InputError
from relocator.frontends.tagfilter import TagRules, keep_tags, parse_version

TAGS = ["latest", "main", "1.19.9", "1.20", "1.20.1", "1.20.1-alpine", "1.21.0-rc.1", "1.21.0",
        "1.21.0-alpine", "1.21.0-slim-bookworm", "v1.22.0", "1.22.1-beta2", "2.0.0", "2.0.0-alpine",
        "2.1.0-rc.1", "sha256-" + "a" * 64 + ".sig"]


def rules(allow: list[str] | None = None, deny: list[str] | None = None, semver: str | None = None,
          latest: int | None = None, search: bool = False) -> TagRules:
    return TagRules(TagRules.compile_patterns(allow or [], "t"), TagRules.compile_patterns(deny or [], "t"),
                    semver, latest, search)


@pytest.mark.parametrize(("name", "given", "kept"), [
    ("no rules keep everything, sorted", rules(), sorted(TAGS)),
    ("allow matches the whole tag", rules(allow=[r"1\.21.*"]),
     ["1.21.0", "1.21.0-alpine", "1.21.0-rc.1", "1.21.0-slim-bookworm"]),
    ("an unanchored allow (skopeo) searches", rules(allow=[r"alpine"], search=True),
     ["1.20.1-alpine", "1.21.0-alpine", "2.0.0-alpine"]),
    ("anchored allow does not search", rules(allow=[r"alpine"]), []),
    ("deny wins over allow", rules(allow=[r"1\.21.*"], deny=[r".*-rc.*", r".*bookworm"]),
     ["1.21.0", "1.21.0-alpine"]),
    ("semver keeps releases and variants in range", rules(semver=">=1.20 <2"),
     ["1.20", "1.20.1", "1.20.1-alpine", "1.21.0", "1.21.0-alpine", "1.21.0-slim-bookworm", "v1.22.0"]),
    ("a comma means and (Masterminds)", rules(semver=">=1.21, <2"),
     ["1.21.0", "1.21.0-alpine", "1.21.0-slim-bookworm", "v1.22.0"]),
    ("a range naming a pre-release admits that release's pre-releases",
     rules(semver=">=1.21.0-rc.0 <1.22"),
     ["1.21.0", "1.21.0-alpine", "1.21.0-rc.1", "1.21.0-slim-bookworm"]),
    ("or", rules(semver="<1.20 || >=2"), ["1.19.9", "2.0.0", "2.0.0-alpine"]),
    ("latest N counts releases, keeps their variants and non-version tags, drops pre-releases",
     rules(latest=2), ["2.0.0", "2.0.0-alpine", "latest", "main", "sha256-" + "a" * 64 + ".sig", "v1.22.0"]),
    ("latest drops pre-releases a range admitted", rules(semver=">=1.21.0-rc.0 <1.22", latest=1),
     ["1.21.0", "1.21.0-alpine", "1.21.0-slim-bookworm"]),
    ("latest after semver: non-versions are gone already", rules(semver="^1", latest=2),
     ["1.21.0", "1.21.0-alpine", "1.21.0-slim-bookworm", "v1.22.0"]),
    ("one variant, newest 2", rules(allow=[r".*-alpine"], latest=2), ["1.21.0-alpine", "2.0.0-alpine"]),
    ("all four in order", rules(allow=[r"v?[0-9].*"], deny=[r".*-slim.*"], semver=">=1.20", latest=3),
     ["1.21.0", "1.21.0-alpine", "2.0.0", "2.0.0-alpine", "v1.22.0"]),
])
def test_keep_tags(name: str, given: TagRules, kept: list[str]) -> None:
    assert keep_tags(TAGS, given) == kept, name


@pytest.mark.parametrize(("tag", "release", "prerelease", "variant"), [
    ("1", (1, 0, 0), (), ""),
    ("v2.3", (2, 3, 0), (), ""),
    ("1.2.3-rc.1", (1, 2, 3), ("rc", "1"), ""),
    ("1.2.3-beta2", (1, 2, 3), ("beta2",), ""),
    ("1.2.3-20240101", (1, 2, 3), ("20240101",), ""),
    ("1.2.3-alpine3.19", (1, 2, 3), (), "alpine3.19"),
    ("1.2.3+build.5", (1, 2, 3), (), ""),
])
def test_parse_version(tag: str, release: tuple[int, int, int], prerelease: tuple[str, ...],
                       variant: str) -> None:
    version = parse_version(tag)
    assert version is not None
    assert (version.release, version.prerelease, version.variant) == (release, prerelease, variant)


@pytest.mark.parametrize("tag", ["latest", "main", "1.2.3.4", "sha256-abc.sig", "v", "1.2.x"])
def test_not_versions(tag: str) -> None:
    assert parse_version(tag) is None


def test_bad_rules_are_named() -> None:
    with pytest.raises(InputError, match=r"sync.yaml:3: bad regular expression '\('"):
        TagRules.compile_patterns(["("], "sync.yaml:3")
    with pytest.raises(InputError, match="semver range '>>1'"):
        keep_tags(["1.0.0"], rules(semver=">>1"))
