"""engine.platforms without a network: which entries each mode keeps, the filtered index's bytes,
and the --platform/--platform-mode rules."""

from __future__ import annotations

import json

import pytest

from relocator.engine.platforms import Mode, PlatformSelection, choose, filtered_index
from relocator.errors import InputError
from relocator.oci import Digest, Manifest

OCI_INDEX = "application/vnd.oci.image.index.v1+json"
OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"


def _d(n: int) -> str:
    return "sha256:" + f"{n:x}" * 64


def _index(**extra: object) -> Manifest:
    def entry(n: int, platform: dict[str, str] | None, **annotations: str) -> dict[str, object]:
        out: dict[str, object] = {"mediaType": OCI_MANIFEST, "digest": _d(n), "size": n}
        if platform is not None:
            out["platform"] = platform
        if annotations:
            out["annotations"] = annotations
        return out

    att = {"vnd.docker.reference.type": "attestation-manifest"}
    unknown = {"os": "unknown", "architecture": "unknown"}
    doc = {"schemaVersion": 2, "mediaType": OCI_INDEX, "manifests": [
        entry(1, {"os": "linux", "architecture": "amd64"}),
        entry(2, {"os": "linux", "architecture": "arm", "variant": "v6"}),
        entry(3, {"os": "linux", "architecture": "arm", "variant": "v7"}),
        entry(4, None),
        entry(5, unknown, **att, **{"vnd.docker.reference.digest": _d(1)}),
        entry(6, unknown, **att, **{"vnd.docker.reference.digest": _d(3)}),
    ], **extra}
    return Manifest.parse(json.dumps(doc, indent=2).encode(), OCI_INDEX)


def _kept(selection: PlatformSelection) -> list[int]:
    return [int(str(d.digest)[-1], 16) for d in choose(_index(), selection).kept]


def test_filter_keeps_matches_and_their_attestations_in_index_order() -> None:
    assert _kept(PlatformSelection.parse(["linux/arm"])) == [2, 3, 6]
    assert _kept(PlatformSelection.parse(["linux/arm/v7,linux/amd64"])) == [1, 3, 5, 6]
    assert _kept(PlatformSelection.parse(["linux/arm/v6"], "sparse")) == [2]


def test_single_keeps_the_first_match_alone() -> None:
    assert _kept(PlatformSelection.parse(["linux/arm"], "single")) == [2]
    choice = choose(_index(), PlatformSelection.parse(["linux/amd64"], "single"))
    assert choice.omitted == {Digest.parse(_d(n)) for n in (2, 3, 4, 5, 6)}


def test_an_entry_without_platform_is_kept_in_all_only() -> None:
    assert _kept(PlatformSelection()) == [1, 2, 3, 4, 5, 6]
    assert 4 not in _kept(PlatformSelection.parse(["linux/amd64", "linux/arm"]))


def test_a_platform_the_index_lacks_names_what_it_has() -> None:
    with pytest.raises(InputError, match=r"^no linux/s390x in the index; it has linux/amd64, linux/arm/v6, "
                                         r"linux/arm/v7$"):
        choose(_index(), PlatformSelection.parse(["linux/amd64", "linux/s390x"]))


def test_absent_entries_are_never_chosen() -> None:
    absent = frozenset({Digest.parse(_d(3))})
    with pytest.raises(InputError, match="no linux/arm/v7 in the index"):
        choose(_index(), PlatformSelection.parse(["linux/arm/v7"]), absent)


def test_filtered_index_is_compact_keeps_fields_and_drops_subject() -> None:
    subject = {"mediaType": OCI_MANIFEST, "digest": _d(9), "size": 9}
    index = _index(artifactType="application/x.test", subject=subject, annotations={"a": "b"})
    kept = choose(index, PlatformSelection.parse(["linux/amd64"])).kept
    new = filtered_index(index, kept)
    doc = json.loads(index.raw)
    want = {k: v for k, v in doc.items() if k != "subject"} | {
        "manifests": [doc["manifests"][0], doc["manifests"][4]]}
    assert new.raw == json.dumps(want, separators=(",", ":")).encode()
    assert list(json.loads(new.raw)) == ["schemaVersion", "mediaType", "manifests", "artifactType",
                                         "annotations"]
    assert new.subject is None and new.media_type == OCI_INDEX and new.digest != index.digest


@pytest.mark.parametrize(("texts", "mode", "message"), [
    (["all", "linux/amd64"], None,
     "--platform all copies every platform: it cannot be given with 'linux/amd64'"),
    (["linux/amd64"], "both", "--platform-mode 'both': want filter, sparse or single"),
    ([], "sparse", "--platform-mode sparse: name the platforms to copy with --platform os/arch"),
    (["all"], "filter", "--platform-mode filter: name the platforms to copy"),
    (["linux/amd64", "linux/arm64"], "single", "--platform-mode single copies one platform's image; "
                                               "--platform names 2: linux/amd64, linux/arm64"),
    # the text as written, not the empty piece between its commas
    (["linux/amd64,"], None, "--platform 'linux/amd64,': an empty item in the comma-separated list"),
    (["linux/amd64,,linux/arm64"], None, "--platform 'linux/amd64,,linux/arm64': an empty item"),
])
def test_selection_rules(texts: list[str], mode: str | None, message: str) -> None:
    with pytest.raises(InputError) as caught:
        PlatformSelection.parse(texts, mode)
    assert str(caught.value).startswith(message)


def test_selection_defaults() -> None:
    assert PlatformSelection.parse([]).all and PlatformSelection.parse(["all"]).all
    assert PlatformSelection.parse(["linux/amd64", "linux/amd64"]).platforms == PlatformSelection.parse(
        ["linux/amd64"]).platforms
    assert PlatformSelection.parse(["linux/amd64"]).mode is Mode.FILTER
