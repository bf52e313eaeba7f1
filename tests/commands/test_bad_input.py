"""Bad input, named: every command fed inputs it must refuse. For each, the run exits 2 with
exactly one ``relocator: error:`` line that names the input, never an internal error, writes
nothing into the work directory and sends no request to the registry it was pointed at."""

from __future__ import annotations

import io
import json
import os
import random
import re
import subprocess
import sys
import tarfile
from collections.abc import Callable
from pathlib import Path

import pytest

from tests.commands.test_pkg import ENV, cli
from tests.images import OCI_INDEX, OCI_MANIFEST, Image, valid_image
from tests.registries import Registry
from tests.stores.archives import tar_dir, write_docker25, write_layout

Build = Callable[[Path], None]
IMAGE = valid_image(random.Random(80), (600,))
NAME = "example.com/app:v1"
BAD_HEX = "e" * 64
_REQUEST = re.compile(r'"(GET|HEAD|POST|PUT|PATCH|DELETE) /v2/')


def _write(name: str, data: bytes | str) -> Build:
    def build(work: Path) -> None:
        (work / name).write_bytes(data.encode() if isinstance(data, str) else data)
    return build


def _layout(image: Image = IMAGE, *, edit: Callable[[Path], None] | None = None, tar: bool = False) -> Build:
    """An OCI layout ``in`` (or its tar ``in.tar``) holding ``image``, changed by ``edit``."""
    def build(work: Path) -> None:
        layout = write_layout(work / "in", {NAME: image})
        if edit is not None:
            edit(layout)
        if tar:
            tar_dir(layout, work / "in.tar")
            for path in sorted(layout.rglob("*"), reverse=True):
                path.rmdir() if path.is_dir() else path.unlink()
            layout.rmdir()
    return build


def _index(**changes: object) -> Callable[[Path], None]:
    def edit(layout: Path) -> None:
        doc = json.loads((layout / "index.json").read_text())
        doc["manifests"][0].update(changes)
        (layout / "index.json").write_text(json.dumps(doc))
    return edit


def _drop_layer(layout: Path) -> None:
    layer = json.loads(IMAGE.raw)["layers"][0]["digest"]
    (layout / "blobs/sha256" / layer.split(":")[1]).unlink()


def _manifest(doc: dict[str, object], media_type: str = OCI_MANIFEST) -> Image:
    return Image(json.dumps(doc).encode(), media_type, dict(IMAGE.blobs))


def _longer_layer() -> Image:
    """A manifest whose layer descriptor says one byte more than the layer has."""
    doc = json.loads(IMAGE.raw)
    doc["layers"][0]["size"] += 1
    return _manifest(doc)


def _self_index() -> Callable[[Path], None]:
    """index.json names an index whose only child is that index's own digest (content that
    claims to contain itself cannot hash to the name it is stored under)."""
    def edit(layout: Path) -> None:
        own = f"sha256:{BAD_HEX}"
        raw = json.dumps({"schemaVersion": 2, "mediaType": OCI_INDEX, "manifests": [
            {"mediaType": OCI_INDEX, "digest": own, "size": 200}]}).encode()
        (layout / "blobs/sha256" / BAD_HEX).write_bytes(raw)
        _index(mediaType=OCI_INDEX, digest=own, size=len(raw))(layout)
    return edit


def _tar(*members: tuple[str, str, bytes]) -> Build:
    """``in.tar``: an OCI layout's oci-layout and index.json plus ``(name, kind, data or link)``."""
    def build(work: Path) -> None:
        with tarfile.open(work / "in.tar", "w") as tar:
            items = [("oci-layout", "file", b'{"imageLayoutVersion":"1.0.0"}'),
                     ("index.json", "file", b'{"schemaVersion":2,"manifests":[]}'), *members]
            for name, kind, data in items:
                info = tarfile.TarInfo(name)
                if kind == "file":
                    info.size = len(data)
                    tar.addfile(info, io.BytesIO(data))
                else:
                    info.type, info.linkname = tarfile.SYMTYPE, data.decode()
                    tar.addfile(info)
    return build


def _truncated(work: Path) -> None:
    """A tar whose last member's data is cut short by the end of the file."""
    _tar((f"blobs/sha256/{BAD_HEX}", "file", b"y" * 5000))(work)
    with tarfile.open(work / "in.tar") as tar:
        end = tar.getmember(f"blobs/sha256/{BAD_HEX}").offset_data + 100
    (work / "in.tar").write_bytes((work / "in.tar").read_bytes()[:end])


def _docker25(work: Path) -> None:
    write_docker25(work / "in.tar", {"busybox:latest": IMAGE})


def _fifo(work: Path) -> None:
    os.mkfifo(work / "in.fifo")


BLOB = f"blobs/sha256/{BAD_HEX}"
TO = ("--prefix", "{reg}/x")  # where a copying verb would send the images: the test's registry
UNPKG = ("unpkg", "-i", "in", "--repository", "{reg}/x")
UNPKG_TAR = ("unpkg", "-i", "in.tar", "--repository", "{reg}/x")
SCHEMA1 = "application/vnd.docker.distribution.manifest.v1+prettyjws"
KBLD = "apiVersion: kbld.k14s.io/v1alpha1\nkind: Config\n"

# (id, what to put in the work directory, argv with {reg} for the registry, what the line names)
CASES: list[tuple[str, Build | None, tuple[str, ...], str]] = [
    # references
    ("bad-reference", None, ("relocate", "-i", "Not/Valid:v1", *TO), "'Not/Valid:v1'"),
    ("unknown-digest-algorithm", None, ("relocate", "-i", f"{{reg}}/a@md5:{'a' * 32}", *TO), "md5"),
    ("port-out-of-range", None, ("relocate", "-i", "127.0.0.1:99999/a:b", *TO), "99999"),
    ("port-out-of-range-copy", None, ("copy", "127.0.0.1:99999/a:b", "oci:out"), "99999"),
    ("inspect-bad-reference", None, ("inspect", "docker://Bad/App"), "'docker://Bad/App'"),
    ("inspect-port", None, ("inspect", "localhost:0/a"), "localhost:0"),
    ("pkg-bad-reference", None, ("pkg", "-i", "a//b", "-o", "out.tar"), "'a//b'"),
    ("bench-port", None, ("bench", "127.0.0.1:70000/bench", "--count", "1"), "70000"),
    ("bad-repository-flag", None, ("relocate", "-i", "{reg}/a:v1", "--repository", "Bad/Repo"),
     "--repository"),
    ("bad-prefix-flag", None, ("relocate", "-i", "{reg}/a:v1", "--prefix", "127.0.0.1:99999"), "--prefix"),
    ("copy-to-bare-file-name", None, ("copy", "{reg}/a:v1", "out.tar"), "'out.tar'"),
    ("copy-docker-single-slash", None, ("copy", "docker:/x", "oci:out"), "'docker:/x'"),
    ("copy-to-docker-archive", None, ("copy", "{reg}/a:v1", "docker-archive:x.tar"), "docker-archive:x.tar"),
    ("copy-oci-on-a-file", _write("afile", "x"), ("copy", "{reg}/a:v1", "oci:afile:v1"),
     "write oci-archive:afile:v1"),
    ("docker-archive-name", _docker25, ("copy", "docker-archive:in.tar:Bad", "oci:out"),
     "'docker-archive:in.tar:Bad'"),
    # -f files
    ("binary-file", _write("in.bin", b"\x89PNG\r\n\x1a\n\xff"), ("relocate", "-f", "in.bin", *TO),
     "in.bin: not UTF-8 text"),
    ("yaml-syntax-pkg", _write("in.yaml", "spec:\n  image: [a\n  b: c\n"),
     ("pkg", "-f", "in.yaml", "-o", "o.tar"), "in.yaml: invalid YAML at line 3"),
    ("yaml-syntax-resolve", _write("in.yaml", "image: [a\n  b: c\n"), ("resolve", "-f", "in.yaml"),
     "in.yaml: invalid YAML at line 2"),
    ("binary-resolve", _write("in.bin", b"\xff\xfe"), ("resolve", "-f", "in.bin"), "in.bin: not UTF-8 text"),
    ("yaml-without-images", _write("in.yaml", "kind: ConfigMap\ndata: {a: b}\n"),
     ("relocate", "-f", "in.yaml", *TO), "in.yaml: no image references"),
    ("empty-file", _write("in.yaml", ""), ("pkg", "-f", "in.yaml", "-o", "o.tar"),
     "in.yaml: no image references"),
    ("directory-without-yaml", lambda w: (w / "in").mkdir(), ("relocate", "-f", "in", *TO),
     "in: no image references"),
    ("missing-file", None, ("relocate", "-f", "missing.yaml", *TO), "missing.yaml: cannot read"),
    ("bad-line-in-list", _write("in.txt", "{reg}/a:v1\nNot Valid\n"), ("relocate", "-f", "in.txt", *TO),
     "in.txt: invalid image reference 'Not Valid'"),
    ("sync-config-yaml", _write("in.yaml", "sync: [\n"), ("sync", "-f", "in.yaml"), "in.yaml: invalid YAML"),
    ("kbld-overrides-not-a-list", _write("in.yaml", f"{KBLD}overrides: 5\n"), ("resolve", "-f", "in.yaml"),
     "in.yaml: kbld Config overrides is not a list"),
    # usage
    ("unknown-flag", None, ("copy", "--bogus", "a", "b"), "copy: unrecognized arguments: --bogus"),
    ("pkg-output-is-a-directory", lambda w: (w / "out").mkdir(), ("pkg", "-i", "{reg}/a:v1", "-o", "out"),
     "out: is a directory"),
    ("pkg-output-exists", _write("out.tar", "backup\n"), ("pkg", "-i", "{reg}/a:v1", "-o", "out.tar"),
     "out.tar: exists; --force replaces it"),
    ("shard-out-of-range", None, ("relocate", "-i", "{reg}/a:v1", *TO, "--shard", "4/4"), "4/4"),
    ("concurrency-zero", None, ("relocate", "-i", "{reg}/a:v1", *TO, "--concurrency", "0"), "--concurrency"),
    # archives that cannot be read
    ("verify-missing", None, ("verify", "missing.tar"), "missing.tar: cannot read"),
    ("verify-not-a-tar", _write("in.tar", "hello\n"), ("verify", "in.tar"), "in.tar: not a tar file"),
    ("verify-fifo", _fifo, ("verify", "in.fifo"), "in.fifo: not a regular file"),
    ("ls-bad-gzip", _write("in.tar", b"\x1f\x8b\x08\x00junk"), ("ls", "in.tar"),
     "in.tar: not a valid gzip file"),
    ("tar-dotdot", _tar(("blobs/sha256/../../../evil", "file", b"x")), UNPKG_TAR,
     "points outside the layout"),
    ("tar-absolute", _tar(("/etc/evil", "file", b"x")), ("verify", "in.tar"), "'/etc/evil' points outside"),
    ("tar-symlink", _tar((BLOB, "link", b"/etc/passwd")), UNPKG_TAR, "is a symbolic link"),
    ("tar-duplicate", _tar((BLOB, "file", b"one"), (BLOB, "file", b"two")), ("copy", "in.tar", "oci:out"),
     "appears twice with different content"),
    ("tar-truncated", _truncated, UNPKG_TAR, "cut short"),
    ("layout-version", _layout(edit=_write("oci-layout", '{"imageLayoutVersion":"2.0.0"}')), UNPKG,
     "imageLayoutVersion '2.0.0'"),
    ("index-json-not-json", _layout(edit=_write("index.json", "{")), ("ls", "in"), "in: index.json is not"),
    ("descriptor-digest-not-a-string", _layout(edit=_index(digest=5)), UNPKG,
     "in: index.json manifests[0]: descriptor digest is not a string"),
    ("descriptor-annotations-not-a-map", _layout(edit=_index(annotations="x"), tar=True),
     ("verify", "in.tar"), "has annotations that are not strings"),
    # index.json entries that do not match their manifests: refused alike by every reader
    *[(f"descriptor-size-{args[0]}", _layout(edit=_index(size=17), tar=True), args,
       "in.tar: index.json manifests[0] says 17 bytes")
      for args in (UNPKG_TAR, ("copy", "in.tar", "{reg}/x:v1"), ("verify", "in.tar"), ("ls", "in.tar"))],
    ("index-names-missing-blob", _layout(edit=_index(digest=f"sha256:{BAD_HEX}")),
     ("unpkg", "-i", "in", *TO), f"names sha256:{BAD_HEX}, which the archive does not hold"),
    ("index-contains-itself", _layout(edit=_self_index()), UNPKG,
     f"does not match its digest sha256:{BAD_HEX}"),
    # manifests the archive holds that cannot be copied: refused before any transfer
    ("missing-layer", _layout(edit=_drop_layer), UNPKG, "which the archive does not hold"),
    ("layer-size-mismatch", _layout(_longer_layer()), ("copy", "oci:in", "{reg}/x:v1"), "bytes for sha256:"),
    ("manifest-missing-fields", _layout(_manifest({"schemaVersion": 2, "mediaType": OCI_MANIFEST})), UNPKG,
     "needs 'config' and 'layers'"),
    ("docker-schema-1", _layout(_manifest({"schemaVersion": 1, "name": "app", "fsLayers": []}, SCHEMA1)),
     UNPKG, "schema 1"),
    ("unpkg-bad-repository", _layout(), ("unpkg", "-i", "in", "--repository", "Bad/Repo"), "--repository"),
    # issue 10: a bad digest in index.json names the file, missing inputs are named once, stdin
    # is said to be unsupported, and pkg -o refuses a NAME in skopeo's oci-archive: spelling
    *[(f"index-digest-{bad}", _layout(edit=_index(digest=bad), tar=True), ("ls", "in.tar"),
       f"in.tar: index.json manifests[0]: invalid digest {bad}") for bad in ("sha256:zz", "md5:")],
    ("unpkg-missing", None, ("unpkg", "-i", "e-missing.tar", "--repository", "{reg}/x"),
     "error: e-missing.tar: cannot read (No such file or directory)"),
    *[(f"{args[0]}-stdin", None, args, "-: reading an archive from stdin is not supported")
      for args in (("ls", "-"), ("verify", "-"), ("unpkg", "-i", "-", "--repository", "{reg}/x"))],
    ("pkg-oci-archive-name", None, ("pkg", "-i", "{reg}/a:v1", "-o", "oci-archive:o.tar:v1"),
     "oci-archive:o.tar:v1: pkg -o takes oci-archive:FILE, no NAME"),
]


def _files(work: Path) -> dict[str, int]:
    return {str(p.relative_to(work)): p.lstat().st_size for p in work.rglob("*")}


@pytest.mark.parametrize(("build", "args", "names"), [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_bad_input_is_named_in_one_line_and_nothing_happens(registry: Registry, tmp_path: Path,
                                                            build: Build | None, args: tuple[str, ...],
                                                            names: str) -> None:
    work = tmp_path / "work"
    work.mkdir()
    if build is not None:
        build(work)
    for path in work.rglob("*"):  # inputs may name the registry, as args do
        if path.is_file() and path.suffix in (".yaml", ".txt"):
            path.write_text(path.read_text().replace("{reg}", registry.host))
    before, seen = _files(work), len(registry.log())
    argv = [a.replace("{reg}", registry.host) for a in args]
    proc = cli(*argv, cwd=work)
    assert proc.returncode == 2, (argv, proc.stdout, proc.stderr)
    errors = [line for line in proc.stderr.splitlines() if line.startswith("relocator: error:")]
    assert len(errors) == 1, (argv, proc.stderr)
    assert names.replace("{reg}", registry.host) in errors[0], (argv, errors[0])
    assert "internal error" not in proc.stderr + proc.stdout
    assert _files(work) == before, argv  # nothing new, nothing partial, nothing changed in size
    assert not _REQUEST.search(registry.log()[seen:]), argv


def test_the_table_covers_every_command() -> None:
    assert len(CASES) >= 30
    verbs = {args[0] for _, _, args, _ in CASES}
    assert verbs == {"relocate", "copy", "pkg", "unpkg", "verify", "resolve", "inspect", "ls", "bench",
                     "sync"}


def test_a_corrupt_blob_found_while_streaming_is_bad_input(registry: Registry, tmp_path: Path) -> None:
    """Bytes that do not match their digest show only as they stream: the image fails, the run
    exits 2 naming the tarball and the member, and the destination gets no manifest."""
    image = valid_image(random.Random(82), (4000,))
    build = _layout(image, tar=True)
    build(tmp_path)
    layer = json.loads(image.raw)["layers"][0]["digest"]
    member = f"./blobs/sha256/{layer.split(':')[1]}"
    with tarfile.open(tmp_path / "in.tar") as tar:
        offset = tar.getmember(member).offset_data
    data = bytearray((tmp_path / "in.tar").read_bytes())
    data[offset + 10] ^= 0xFF
    (tmp_path / "in.tar").write_bytes(bytes(data))
    proc = cli("unpkg", "-i", str(tmp_path / "in.tar"), "--repository", f"{registry.host}/corrupt/app")
    assert proc.returncode == 2, proc.stderr
    [line] = [x for x in proc.stderr.splitlines() if x.startswith("relocator: error:")]
    assert line.startswith(f"relocator: error: source {tmp_path / 'in.tar'}: member {member[2:]}: "
                           f"content does not match its digest (blob {layer}: content hashes to sha256:")
    assert registry.requests("PUT", "corrupt/app/manifests/.*") == 0


def test_a_directory_that_cannot_be_read(tmp_path: Path) -> None:
    """EACCES is named like any unreadable input. root reads everything, so as root the command
    runs without the capabilities that let it (setpriv drops them from its bounding set)."""
    locked = tmp_path / "locked"
    locked.mkdir(mode=0)
    drop = ["setpriv", "--bounding-set=-dac_override,-dac_read_search"] if os.geteuid() == 0 else []
    proc = subprocess.run([*drop, sys.executable, "-m", "relocator", "verify", "locked"], capture_output=True,
                          text=True, timeout=120, cwd=tmp_path, env=ENV)
    locked.chmod(0o755)
    want = "relocator: error: locked: cannot read (Permission denied)\n"
    assert (proc.returncode, proc.stderr) == (2, want)
