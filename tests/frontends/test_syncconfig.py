"""Sync configs in our format, skopeo sync's and regsync's: what each entry becomes, and one-line
errors naming the file, line and key."""

from __future__ import annotations

from pathlib import Path

import pytest

from relocator.errors import InputError
from relocator.frontends.syncconfig import load_sync_config, single_entry
from relocator.frontends.tagfilter import TagRules, keep_tags

OURS = """\
defaults:
  concurrency: 8
  tags:
    deny: ['.*-rc.*']
  immutableTags: ['v?[0-9]+\\.[0-9]+\\.[0-9]+']
mirrors:
  - source: src.example:5000/library/nginx
    target: dst.example/mirror/nginx
    tags: {semver: '>=1.20 <2', latest: 2}
  - source: src.example:5000/tools/app:v1
    target: dst.example/tools/app
    skipExisting: true
"""

REGSYNC = """\
version: 1
creds:
  - registry: src.example:5000
    user: someone
defaults:
  parallel: 3
  interval: 60m
  ratelimit: {min: 100}
sync:
  - source: src.example:5000/library/alpine
    target: dst.example/hub/alpine
    type: repository
    tags:
      allow: ['3\\..*']
      deny: ['.*-rc']
      semverRange: ['>=3.18 <3.19', '>=3.20']
  - source: src.example:5000/library/busybox:1.36
    target: dst.example/hub/busybox:1.36
    type: image
    schedule: "15 3 * * *"
"""

SKOPEO = """\
src.example:5000:
  images:
    busybox: []
    team/redis: ["1.0", "2.0"]
  images-by-tag-regex:
    nginx: ^1\\.2[0-9]\\.
  images-by-semver:
    alpine: ">= 3.12.0"
  credentials: {username: john, password: secret}
  tls-verify: false
"""

TAGS = ["1.19.0", "1.20.0", "1.21.0", "1.22.0", "1.22.0-rc1", "2.0.0", "3.17", "3.18.1", "3.20.0",
        "3.20.1-rc"]


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "sync.yaml"
    path.write_text(text)
    return path


def test_ours(tmp_path: Path) -> None:
    config = load_sync_config(write(tmp_path, OURS))
    assert (config.format, config.concurrency, config.warnings) == ("relocator", 8, ())
    nginx, app = config.entries
    assert (str(nginx.source), str(nginx.target), nginx.tag) == (
        "src.example:5000/library/nginx", "dst.example/mirror/nginx", None)
    assert keep_tags(TAGS, nginx.rules) == ["1.21.0", "1.22.0"]  # defaults' deny merged in
    assert nginx.where == f"{tmp_path / 'sync.yaml'}:7"
    assert nginx.is_immutable("1.21.0") and not nginx.is_immutable("latest")
    assert (str(app.source), app.tag) == ("src.example:5000/tools/app", "v1")
    assert app.is_immutable("latest")


def test_regsync(tmp_path: Path) -> None:
    config = load_sync_config(write(tmp_path, REGSYNC))
    assert (config.format, config.concurrency) == ("regsync", 3)
    assert config.warnings == (f"{tmp_path / 'sync.yaml'}: not done by relocator sync, ignored: creds, "
                               "defaults.interval, defaults.ratelimit, sync.schedule",)
    alpine, busybox = config.entries
    assert keep_tags(TAGS, alpine.rules) == ["3.18.1", "3.20.0"]
    assert (str(busybox.source), str(busybox.target), busybox.tag) == (
        "src.example:5000/library/busybox", "dst.example/hub/busybox", "1.36")


@pytest.mark.parametrize(("scoped", "targets"), [
    (False, ["mirror.example/pre/busybox", "mirror.example/pre/redis", "mirror.example/pre/redis",
             "mirror.example/pre/nginx", "mirror.example/pre/alpine"]),
    (True, ["mirror.example/pre/src.example/busybox", "mirror.example/pre/src.example/team/redis",
            "mirror.example/pre/src.example/team/redis", "mirror.example/pre/src.example/nginx",
            "mirror.example/pre/src.example/alpine"]),
])
def test_skopeo(tmp_path: Path, scoped: bool, targets: list[str]) -> None:
    text = SKOPEO.replace("src.example:5000", "src.example")  # a port cannot be a path component
    config = load_sync_config(write(tmp_path, text), dest="mirror.example/pre", scoped=scoped)
    assert config.format == "skopeo" and config.insecure_hosts == ("src.example",)
    assert [str(e.target) for e in config.entries] == targets
    assert [e.tag for e in config.entries] == [None, "1.0", "2.0", None, None]
    nginx, alpine = config.entries[3:]
    assert keep_tags(["1.20.0", "v1.21.0", "1.3"], nginx.rules) == ["1.20.0"]  # searched, anchored by ^
    assert keep_tags(TAGS, alpine.rules) == ["3.17", "3.18.1", "3.20.0"]
    assert "credentials" in config.warnings[0] and "secret" not in config.warnings[0]


@pytest.mark.parametrize(("text", "dest", "message"), [
    (OURS.replace("latest: 2", "latest: two"), None,
     ":9: mirrors.0.tags.latest: expected a whole number, got two"),
    (OURS.replace("skipExisting", "skipExistin"), None, ":12: mirrors.1.skipExistin: unknown key here"),
    (OURS.replace("    target: dst.example/tools/app\n", ""), None, ":10: mirrors.1: 'target' is a required"),
    (OURS.replace("'.*-rc.*'", "'('"), None, ":4: tags.deny: bad regular expression '('"),
    (OURS.replace(">=1.20 <2", ">>1"), None, ":9: tags.semver: semver range '>>1'"),
    (OURS.replace("library/nginx", "library/NGINX"), None, ":7: source: 'src.example:5000/library/NGINX'"),
    (OURS.replace("dst.example/tools/app", "dst.example/tools/app:v2"), None,
     ":10: target: 'dst.example/tools/app:v2': a repository takes no tag"),
    ("mirrors:\n  - source: a/b\n    target: [", None, "invalid YAML at line"),
    ("- just a list\n", None, "not a sync config"),
    (REGSYNC.replace("type: repository", "type: registry"), None,
     ":12: sync.0.type: registry: want one of repository, image"),
    (OURS, "mirror.example", "--dest is for skopeo sync files"),
    (SKOPEO, None, "a skopeo sync file names no destination: give --dest HOST[/PATH]"),
    (SKOPEO, "mirror.example", ":3: --scoped: the registry src.example:5000 has a port"),
])
def test_errors_name_file_line_and_key(tmp_path: Path, text: str, dest: str | None, message: str) -> None:
    path = write(tmp_path, text)
    with pytest.raises(InputError) as caught:
        load_sync_config(path, dest=dest, scoped="--scoped" in message)
    assert str(caught.value).startswith(str(path)) and message in str(caught.value), str(caught.value)
    assert "\n" not in str(caught.value)


def test_referrers_and_platforms_are_read_per_entry(tmp_path: Path) -> None:
    path = tmp_path / "sync.yaml"
    path.write_text("defaults:\n  referrers: [application/spdx+json]\n  platforms: [linux/amd64]\n"
                    "mirrors:\n  - source: src.example/a\n    target: dst.example/a\n"
                    "  - source: src.example/b\n    target: dst.example/b\n    referrers: none\n"
                    "    platforms: [linux/arm/v7]\n    platformMode: single\n"
                    "  - source: src.example/c\n    target: dst.example/c\n    referrers: all\n"
                    "    platforms: [all]\n")
    config = load_sync_config(path)
    assert [str(e.referrers) for e in config.entries] == ["application/spdx+json", "none", "all"]
    assert [str(e.platforms) for e in config.entries] == [
        "linux/amd64 (filter)", "linux/arm/v7 (single)", "all"]
    assert config.warnings == ()
    path.write_text("mirrors:\n  - source: src.example/a\n    target: dst.example/a\n"
                    "    platforms: [linux/amd64, linux/arm64]\n    platformMode: single\n")
    with pytest.raises(InputError, match=rf"^{path}:4: platformMode single copies one platform.s image; "
                                         "platforms names 2"):
        load_sync_config(path)
    path.write_text("mirrors:\n  - source: src.example/a\n    target: dst.example/a\n    referrers: [sbom]\n")
    with pytest.raises(InputError, match=rf"^{path}:4: referrers: 'sbom': want all, none, or artifact types"):
        load_sync_config(path)


TAG_TEXTS = ["1.10", "010", "0x1F", "08", "1e3", "1_000", "true", "null", "1.0"]


def test_tags_and_patterns_are_read_as_written_in_every_format(tmp_path: Path) -> None:
    # skopeo and regsync decode these into Go strings: the tag 1.10 is "1.10", never 1.1.
    flow = ", ".join(TAG_TEXTS)
    config = load_sync_config(write(tmp_path, f"src.example:\n  images:\n    lib/nginx: [{flow}]\n"
                                              "  images-by-semver: {1.10: 1.10}\n"),
                              dest="dst.example")
    assert [e.tag for e in config.entries[:-1]] == TAG_TEXTS
    assert (str(config.entries[-1].source), config.entries[-1].rules.semver) == ("src.example/1.10", "1.10")
    config = load_sync_config(write(tmp_path, "sync:\n  - source: src.example/a\n    target: dst.example/a\n"
                                              f"    tags: {{allow: [{flow}], semverRange: [1.10]}}\n"))
    rules = config.entries[0].rules
    assert ([p.pattern for p in rules.allow], rules.semver) == (TAG_TEXTS, "1.10")
    assert keep_tags(["1.1", "1.10", "10", "010", "True", "true", "null"], rules) == ["1.10"]
    config = load_sync_config(write(tmp_path, "mirrors:\n  - source: src.example/a\n"
                                              "    target: dst.example/a\n"
                                              f"    tags: {{allow: [{flow}], deny: [1.0]}}\n"))
    assert [p.pattern for p in config.entries[0].rules.allow] == TAG_TEXTS


REG = "sync:\n  - source: src.example/a\n    target: dst.example/a\n"
SKO = "src.example:\n  images:\n    lib/nginx: []\n"


@pytest.mark.parametrize(("text", "message"), [
    (REG + "    tags: {allow: [[1.0]]}\n", ":4: sync.0.tags.allow.0: expected text, got [1.0]"),
    (REG + "    tags:\n      deny: latest\n", ":5: sync.0.tags.deny: expected a list, got latest"),
    (REG + "    tags:\n      deny: {a: b}\n", ":5: sync.0.tags.deny: expected a list, got {a: b}"),
    (REG + "    tags:\n      semverRange: '>=1.25'\n",
     ":5: sync.0.tags.semverRange: expected a list, got >=1.25"),
    (REG + "    tagz: {allow: [v1]}\n", ":4: sync.0.tagz: unknown key here"),
    ("defaults:\n  parallel: lots\n" + REG, ":2: defaults.parallel: expected a whole number, got lots"),
    ("defaults:\n  parallel: 0\n" + REG, ":2: defaults.parallel: 0 is less than the minimum of 1"),
    ("defaults:\n  parallel: -3\n" + REG, ":2: defaults.parallel: -3 is less than the minimum of 1"),
    ("version: 2\n" + REG, ":1: version: 2: want 1"),
    ("sync: []\n", ":1: sync: [] should be non-empty"),
    (REG.replace("    target: dst.example/a\n", ""), ":2: sync.0: 'target' is a required property"),
    (REG + "    tags:\n      allow: ['(']\n", ":5: tags.allow: bad regular expression '('"),
    ("src.example:\n  images: [lib/nginx]\n", ":2: src.example.images: expected a mapping, got [lib/nginx]"),
    ("src.example:\n  imagez:\n    lib/nginx: []\n", ":2: src.example.imagez: unknown key here"),
    (SKO + "  tls-verify: maybe\n", ":4: src.example.tls-verify: expected true or false, got maybe"),
    ("src.example:\n  images:\n    lib/nginx: v1\n",
     ":3: src.example.images.lib/nginx: expected a list or nothing"),
    (SKO + "  images-by-tag-regex:\n    a: ['x']\n", ":5: src.example.images-by-tag-regex.a: expected text"),
    (SKO + "  images-by-semver:\n    a: '>>1'\n", ":5: images-by-semver: semver range '>>1'"),
    ("mirrors:\n  - {source: a/b, target: null}\n", ":2: mirrors.0.target: expected text, got null"),
])
def test_foreign_formats_are_checked_by_schema(tmp_path: Path, text: str, message: str) -> None:
    path = write(tmp_path, text)
    with pytest.raises(InputError) as caught:
        load_sync_config(path, dest=None if "sync:" in text or "mirrors:" in text else "dst.example")
    assert str(caught.value).startswith(f"{path}{message}"), str(caught.value)
    assert "\n" not in str(caught.value)


def test_known_fields_of_the_other_tools_are_one_warning(tmp_path: Path) -> None:
    config = load_sync_config(write(tmp_path, "version: 1\ncreds: []\ndefaults: {interval: 1h, hooks: {}}\n"
                                              + REG + "    schedule: '* * * * *'\n    ratelimit: {min: 1}\n"))
    assert config.warnings == (f"{tmp_path / 'sync.yaml'}: not done by relocator sync, ignored: creds, "
                               "defaults.hooks, defaults.interval, sync.ratelimit, sync.schedule",)
    config = load_sync_config(write(tmp_path, SKO + "  cert-dir: /x\n"), dest="dst.example")
    assert "src.example.cert-dir" in config.warnings[0]


def test_a_registry_alone_on_the_command_line_means_what_it_means_in_a_config() -> None:
    entry = single_entry("127.0.0.1:5101", "docker://dst.example/backup", TagRules())
    assert (entry.whole_registry, str(entry.source.registry), str(entry.target)) == (
        True, "127.0.0.1:5101", "dst.example/backup")
    entry = single_entry("src.example/lib/app:v1", "dst.example/app", TagRules())
    assert (entry.whole_registry, entry.tag) == (False, "v1")


@pytest.mark.parametrize(("source", "reason"), [
    ("myhost:abc", "invalid registry host 'myhost:abc'"),
    ("127.0.0.1:99999", "registry host '127.0.0.1:99999': port 99999 is out of range 1-65535"),
])
def test_a_registry_alone_is_checked_as_a_host(tmp_path: Path, source: str, reason: str) -> None:
    # It goes straight into URLs: unchecked, a port that is no number was an internal error.
    path = write(tmp_path, f"mirrors:\n  - source: '{source}'\n    target: dst.example/all\n")
    with pytest.raises(InputError) as caught:
        load_sync_config(path)
    assert str(caught.value) == f"{path}:2: source: {source!r}: {reason}"
    with pytest.raises(InputError) as caught:
        single_entry(source, "dst.example/all", TagRules())
    assert str(caught.value) == f"command line: SRC_REPO: {source!r}: {reason}"
