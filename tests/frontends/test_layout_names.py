"""Names in other tools' layouts, and where --repository and --prefix put each entry."""

from __future__ import annotations

from types import MappingProxyType

import pytest

from relocator.errors import InputError
from relocator.frontends.layout_names import entry_name, layout_images, layout_mapper
from relocator.oci import Descriptor, Digest, Reference
from relocator.oci.layout import REF_NAME, UNNAMED, IndexEntry

WHERE = "/tmp/saved.tar"
A, B = Digest("sha256", "a" * 64), Digest("sha256", "b" * 64)


def entry(digest: Digest, ref_name: str | None = None, containerd: str | None = None) -> IndexEntry:
    notes = {REF_NAME: ref_name} if ref_name is not None else {}
    if containerd is not None:
        notes["io.containerd.image.name"] = containerd
    desc = Descriptor("application/vnd.oci.image.index.v1+json", digest, 100,
                      annotations=MappingProxyType(notes))
    return IndexEntry(desc, ref_name)


# (what wrote it, the entry, --repository destination, --prefix destination or the refusal's words)
CASES = [
    ("relocator pkg", entry(A, "docker.io/library/nginx:1.25"),
     f"r.example/all@{A}", f"m.example/pre/library/nginx:1.25@{A}"),
    ("relocator pkg, by digest", entry(A, f"docker.io/library/nginx@{A}"),
     f"r.example/all@{A}", f"m.example/pre/library/nginx@{A}"),
    ("no tag means latest", entry(A, "ghcr.io/org/app"),
     f"r.example/all@{A}", f"m.example/pre/org/app:latest@{A}"),
    ("skopeo oci:DIR:v1", entry(A, "v1"),
     f"r.example/all:v1@{A}", "names a tag only, not a repository"),
    ("a tag that looks like a name", entry(A, "nginx"),
     f"r.example/all:nginx@{A}", "names a tag only, not a repository"),
    ("Docker 25 docker save", entry(A, "v2", "docker.io/library/app:v2"),
     f"r.example/all:v2@{A}", f"m.example/pre/library/app:v2@{A}"),
    ("ctr export, name only", entry(A, None, "registry.example/team/app:3"),
     f"r.example/all@{A}", f"m.example/pre/team/app:3@{A}"),
    ("no name at all", entry(A),
     f"r.example/all@{A}", "has no name"),
]


@pytest.mark.parametrize(("writer", "item", "by_repository", "by_prefix"), CASES, ids=[c[0] for c in CASES])
def test_where_each_entry_goes(writer: str, item: IndexEntry, by_repository: str, by_prefix: str) -> None:
    [image] = layout_images(WHERE, [item], repository="r.example/all")
    assert str(image.destination) == by_repository
    assert image.input.origin == WHERE and image.input.ref.digest == A
    assert layout_mapper([image])(image.input.ref) == image.destination
    if "@" in by_prefix:
        [image] = layout_images(WHERE, [item], prefix="m.example/pre")
        assert str(image.destination) == by_prefix
        return
    with pytest.raises(InputError) as refused:
        layout_images(WHERE, [item], prefix="m.example/pre")
    message = str(refused.value)
    assert message.startswith(f"{WHERE}: index.json entry ") and by_prefix in message
    assert str(A) in message and "use --repository HOST/REPO" in message and "\n" not in message
    if item.ref_name is not None:
        assert repr(item.ref_name) in message


def test_labels_are_the_fullest_name_written() -> None:
    labels = [entry_name(WHERE, e).label for e in (
        entry(A, "docker.io/library/nginx:1.25"), entry(A, "v1"), entry(A, "v2", "docker.io/library/app:v2"),
        entry(A))]
    assert labels == ["docker.io/library/nginx:1.25", "v1", "docker.io/library/app:v2", str(A)]
    assert entry_name(WHERE, entry(A, "v1")).ref == Reference(UNNAMED, "v1", A)


@pytest.mark.parametrize(("entries", "flag"), [
    ([entry(A, "v1"), entry(B, "v1")], {"repository": "r.example/all"}),
    ([entry(A, "docker.io/x/app:1"), entry(B, "docker.io/x/app:1")], {"prefix": "m.example"}),
    ([entry(A, "v1", "docker.io/x/app:v1"), entry(B, "docker.io/x/app:v1")], {"prefix": "m.example"}),
    ([entry(A, "docker.io/x/app"), entry(B, "docker.io/x/app:latest")], {"prefix": "m.example"}),
], ids=["two skopeo tags", "two full names", "docker save and pkg", "latest spelled two ways"])
def test_two_digests_for_one_name_are_refused(entries: list[IndexEntry], flag: dict[str, str]) -> None:
    with pytest.raises(InputError) as refused:
        layout_images(WHERE, entries, **flag)
    message = str(refused.value)
    assert message.startswith(f"{WHERE}: index.json entries ") and "\n" not in message
    assert str(A) in message and str(B) in message and "refusing to let one replace the other" in message


def test_the_same_image_twice_is_copied_once_and_keeps_its_tag() -> None:
    twice = [entry(A, "v1"), entry(A, "v1")]
    assert [str(i.destination) for i in layout_images(WHERE, twice, repository="r.example/all")] == [
        f"r.example/all:v1@{A}"]
    both = [entry(A, "docker.io/x/app:v1"), entry(A, "v1", "docker.io/x/app:v1")]
    [image] = layout_images(WHERE, both, repository="r.example/all")
    assert str(image.destination) == f"r.example/all:v1@{A}"
    # Two images with one label (one name, no tag, by digest) keep apart in reports and locks.
    labels = [i.input.text for i in layout_images(WHERE, [entry(A, None, "docker.io/x/app"),
                                                          entry(B, None, "docker.io/x/app")],
                                                  repository="r.example/all")]
    assert labels == ["docker.io/x/app", f"docker.io/x/app@{B}"]


@pytest.mark.parametrize(("item", "words"), [
    (entry(A, "Not/Valid"), "repository name must be lowercase"),
    (entry(A, "v1!"), "neither a tag"),
    (entry(A, f"docker.io/x/app@{B}"), f"the name says {B}, the entry is {A}"),
])
def test_bad_names_are_refused_naming_the_entry(item: IndexEntry, words: str) -> None:
    with pytest.raises(InputError) as refused:
        layout_images(WHERE, [item], repository="r.example/all")
    assert str(refused.value).startswith(f"{WHERE}: index.json entry {item.ref_name}: ")
    assert words in str(refused.value)


def test_flags_are_checked_first() -> None:
    with pytest.raises(InputError, match="exactly one of --repository"):
        layout_images(WHERE, [entry(A, "v1")])
    with pytest.raises(InputError, match="--repository"):
        layout_images(WHERE, [entry(A, "v1")], repository="Bad/Repo")
