"""What every command refuses when it opens a layout (``open_layout``): an ``oci-layout`` of
another major version, and an index.json entry that does not match its manifest; and what a
source refuses before anything moves (``LayoutSource.preflight``): a blob it lacks or holds at
another size."""

from __future__ import annotations

import json
import random
from pathlib import Path

import pytest

from relocator.errors import BadArchive, InputError
from relocator.oci import Descriptor, Digest
from relocator.stores.layout_source import open_layout
from tests.images import Image, valid_image
from tests.stores.archives import tar_dir, write_layout


def _layout(root: Path) -> tuple[Path, Image]:
    image = valid_image(random.Random(60), (800,))
    return write_layout(root, {"example.com/app:v1": image}), image


def _edit_index(layout: Path, **changes: object) -> None:
    doc = json.loads((layout / "index.json").read_text())
    doc["manifests"][0].update(changes)
    (layout / "index.json").write_text(json.dumps(doc))


@pytest.mark.parametrize("as_tar", [False, True], ids=["directory", "tar"])
@pytest.mark.parametrize(("text", "message"), [
    ('{"imageLayoutVersion":"2.0.0"}',
     "oci-layout says imageLayoutVersion '2.0.0'; relocator reads 1.x layouts"),
    ('{"imageLayoutVersion":1}', "oci-layout has no imageLayoutVersion"),
    ("[]", "oci-layout has no imageLayoutVersion"),
    ("not json", "oci-layout is not JSON"),
])
def test_layout_version_other_than_1x_is_refused(tmp_path: Path, as_tar: bool, text: str,
                                                 message: str) -> None:
    layout, _ = _layout(tmp_path / "layout")
    (layout / "oci-layout").write_text(text)
    path = tar_dir(layout, tmp_path / "layout.tar") if as_tar else layout
    with pytest.raises(InputError) as caught:
        open_layout(path)
    assert str(caught.value) == f"{path}: {message}"


def test_layout_versions_1x_are_read(tmp_path: Path) -> None:
    layout, image = _layout(tmp_path / "layout")
    (layout / "oci-layout").write_text('{"imageLayoutVersion": "1.1.0", "extra": true}')
    with open_layout(layout) as source:
        assert [str(e.descriptor.digest) for e in source.entries] == [image.digest]


@pytest.mark.parametrize("as_tar", [False, True], ids=["directory", "tar"])
def test_index_entries_must_match_their_manifests(tmp_path: Path, as_tar: bool) -> None:
    layout, image = _layout(tmp_path / "layout")
    hex_ = image.digest.split(":")[1]
    entry = "index.json manifests[0]"
    cases = [
        ({"size": 17},
         f"{entry} says 17 bytes for {image.digest}; member blobs/sha256/{hex_} has {len(image.raw)}"),
        ({"digest": "sha256:" + "e" * 64},
         f"{entry} names sha256:{'e' * 64}, which the archive does not hold"),
    ]
    for i, (change, message) in enumerate(cases):
        copy = tmp_path / f"case{i}"
        write_layout(copy, {"example.com/app:v1": image})
        _edit_index(copy, **change)
        path = tar_dir(copy, tmp_path / f"case{i}.tar") if as_tar else copy
        with pytest.raises(BadArchive) as caught:
            open_layout(path)
        assert str(caught.value) == f"{path}: {message}"
    # The member has the right size but other bytes: its digest is checked too.
    (layout / "blobs/sha256" / hex_).write_bytes(image.raw.replace(b"schemaVersion", b"schemaVersioN"))
    path = tar_dir(layout, tmp_path / "layout.tar") if as_tar else layout
    with pytest.raises(BadArchive) as caught:
        open_layout(path)
    assert str(caught.value).startswith(f"{path}: {entry}: member blobs/sha256/{hex_} does not match its "
                                        f"digest {image.digest} (its content hashes to sha256:")


def test_preflight_names_the_manifest_and_the_blob(tmp_path: Path) -> None:
    layout, image = _layout(tmp_path / "layout")
    manifest = Digest.parse(image.digest)
    [config, layer] = [Descriptor("", Digest.parse(d), len(b)) for d, b in image.blobs.items()]
    with open_layout(layout) as source:
        source.preflight({}, {manifest: [config, layer]})  # all there: no error
        gone = Descriptor("", Digest.parse("sha256:" + "f" * 64), 5)
        with pytest.raises(BadArchive) as caught:
            source.preflight({}, {manifest: [config, gone]})
        assert str(caught.value) == (f"{layout}: manifest {manifest} names {gone.digest}, which the archive "
                                     "does not hold")
        longer = Descriptor("", layer.digest, layer.size + 1)
        with pytest.raises(BadArchive) as caught:
            source.preflight({}, {manifest: [longer]})
        assert str(caught.value) == (f"{layout}: manifest {manifest} says {layer.size + 1} bytes for "
                                     f"{layer.digest}; member {layer.digest.blob_path} has {layer.size}")
        with pytest.raises(InputError) as caught:
            source.preflight({"b": f"{layout}: b broke", "a": "a broke"}, {})
        assert str(caught.value) == f"{layout}: a: a broke (and 1 more images)"
