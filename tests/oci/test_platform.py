"""Platforms: crane's text form, image-spec's JSON fields round-tripping, and matching."""

from __future__ import annotations

import json

import pytest

from relocator.errors import InputError
from relocator.oci import Descriptor, Manifest
from relocator.oci.platform import Platform, attested_digest


@pytest.mark.parametrize(("text", "platform"), [
    ("linux/amd64", Platform("linux", "amd64")),
    ("linux/arm/v7", Platform("linux", "arm", "v7")),
    ("windows/amd64:10.0.17763", Platform("windows", "amd64", os_version="10.0.17763")),
    ("windows/arm64/v8:10.0.20348.1", Platform("windows", "arm64", "v8", "10.0.20348.1")),
])
def test_parse_and_str_are_inverse(text: str, platform: Platform) -> None:
    assert Platform.parse(text) == platform
    assert str(platform) == text


@pytest.mark.parametrize("text", ["linux", "linux/", "/amd64", "linux/amd64/v7/x",
                                  "linux/amd64:", "linux/amd 64", "all"])
def test_bad_text_is_one_input_error(text: str) -> None:
    with pytest.raises(InputError, match=r"^--platform .*: want os/arch\[/variant\]\[:osversion\]"):
        Platform.parse(text)


def test_case_is_ignored_as_containerd_parses_it() -> None:
    assert Platform.parse("Linux/AMD64") == Platform("linux", "amd64")
    assert Platform.parse("Windows/AMD64:10.0.17763") == Platform("windows", "amd64", os_version="10.0.17763")


def test_every_field_round_trips_through_an_index_entry() -> None:
    entry = {"mediaType": "application/vnd.oci.image.manifest.v1+json", "digest": "sha256:" + "a" * 64,
             "size": 7, "platform": {"architecture": "amd64", "os": "windows",
                                     "os.version": "10.0.17763.5576", "os.features": ["win32k"],
                                     "variant": "v3"}}
    desc = Descriptor.from_json(entry, "test")
    assert desc.platform == Platform("windows", "amd64", "v3", "10.0.17763.5576", ("win32k",))
    assert desc.to_json() == entry


@pytest.mark.parametrize(("listed", "wanted", "matches"), [
    (Platform("linux", "amd64"), Platform("linux", "amd64"), True),
    (Platform("linux", "arm64", "v8"), Platform("linux", "arm64"), True),  # no variant asked: any
    (Platform("linux", "arm", "v6"), Platform("linux", "arm", "v7"), False),
    (Platform("linux", "amd64"), Platform("windows", "amd64"), False),
    (Platform("windows", "amd64", os_version="10.0.17763.5576"),
     Platform("windows", "amd64", os_version="10.0.17763"), True),  # a release names its builds
    (Platform("windows", "amd64", os_version="10.0.177630"),
     Platform("windows", "amd64", os_version="10.0.17763"), False),  # prefixes end at a dot
    (Platform("windows", "amd64", os_version="10.0.20348.1"),
     Platform("windows", "amd64", os_version="10.0.17763"), False),
    (Platform("windows", "amd64", os_features=("win32k",)),
     Platform("windows", "amd64", os_features=("win32k",)), True),
    (Platform("windows", "amd64"), Platform("windows", "amd64", os_features=("win32k",)), False),
])
def test_satisfies_follows_the_spec_fields(listed: Platform, wanted: Platform, matches: bool) -> None:
    assert listed.satisfies(wanted) is matches


@pytest.mark.parametrize(("listed", "wanted", "matches"), [
    # containerd's normalizeArch: arm64 without a variant is v8, amd64 is v1, arm is v7
    ("linux/arm64", "linux/arm64/v8", True),
    ("linux/arm64/v8", "linux/arm64/v8", True),
    ("linux/arm64/8", "linux/arm64/v8", True),
    ("linux/arm64/v9", "linux/arm64/v8", False),
    ("linux/arm64", "linux/arm64/v9", False),
    ("linux/amd64", "linux/amd64/v1", True),
    ("linux/amd64/v3", "linux/amd64/v2", False),  # a v2 machine cannot run v3 code
    ("linux/amd64", "linux/amd64/v3", False),
    ("linux/amd64/v2", "linux/amd64", True),  # no variant asked: any
    ("linux/arm", "linux/arm/v7", True),
    ("linux/arm", "linux/arm/v6", False),
    ("linux/arm/v6", "linux/arm", True),
    # other names of the same architectures, on either side
    ("linux/x86_64", "linux/amd64", True),
    ("linux/amd64", "linux/x86_64", True),
    ("linux/aarch64", "linux/arm64/v8", True),
    ("linux/armhf", "linux/arm/v7", True),
    ("linux/i386", "linux/386", True),
    ("windows/arm64", "windows/arm64/v8:10.0.20348", False),  # os.version still asked for
])
def test_satisfies_normalises_architectures_as_containerd_does(listed: str, wanted: str,
                                                               matches: bool) -> None:
    assert Platform.parse(listed).satisfies(Platform.parse(wanted)) is matches


def test_attested_digest_reads_buildx_annotations_only() -> None:
    digest = "sha256:" + "b" * 64
    assert str(attested_digest({"vnd.docker.reference.type": "attestation-manifest",
                                "vnd.docker.reference.digest": digest})) == digest
    assert attested_digest({"vnd.docker.reference.digest": digest}) is None
    assert attested_digest({"vnd.docker.reference.type": "attestation-manifest",
                            "vnd.docker.reference.digest": "nope"}) is None


def test_a_parsed_index_keeps_windows_platforms() -> None:
    raw = json.dumps({"schemaVersion": 2, "mediaType": "application/vnd.oci.image.index.v1+json",
                      "manifests": [{"mediaType": "application/vnd.oci.image.manifest.v1+json",
                                     "digest": "sha256:" + "c" * 64, "size": 1,
                                     "platform": {"os": "windows", "architecture": "amd64",
                                                  "os.version": "10.0.17763.1"}}]}).encode()
    [child] = Manifest.parse(raw, None).children
    assert str(child.platform) == "windows/amd64:10.0.17763.1"
