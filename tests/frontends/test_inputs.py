"""Where references come from: YAML image: keys, kbld lock files, text lists, -i."""

from __future__ import annotations

import io
from pathlib import Path

import pytest

from relocator.commands.resolve import read_yaml_inputs
from relocator.errors import InputError
from relocator.frontends.inputs import collect_inputs, read_inputs, references_in_text, shard
from relocator.frontends.yamldocs import SearchRules

K8S = """\
apiVersion: apps/v1
kind: Deployment
spec:
  template:
    spec:
      initContainers:
      - name: init
        image: busybox:1.36
      containers:
      - name: app
        image: ghcr.io/org/app:v1   # a comment
        env:
        - name: NOT_AN_IMAGE
          value: "image: nginx"
---
apiVersion: v1
kind: List
items:
- kind: Pod
  spec:
    containers:
    - image: quay.io/x/y@sha256:%s
- kind: CronJob
  spec: {jobTemplate: {spec: {template: {spec: {containers: [{image: "busybox:1.36"}]}}}}}
""" % ("a" * 64)

LOCK = """\
apiVersion: kbld.k14s.io/v1alpha1
kind: Config
overrides:
- image: nginx:1.25
  newImage: registry.example/app@sha256:%s
  preresolved: true
- image: redis:7
  newImage: redis:7.2
""" % ("b" * 64)


def test_yaml_image_keys_at_any_depth() -> None:
    assert references_in_text(K8S, "k8s.yaml") == [
        "busybox:1.36", "ghcr.io/org/app:v1", f"quay.io/x/y@sha256:{'a' * 64}", "busybox:1.36"]


def test_lock_file_uses_resolved_entries() -> None:
    assert references_in_text(LOCK, "images.lock") == [f"registry.example/app@sha256:{'b' * 64}", "redis:7"]


def test_a_locks_origins_are_kept_by_label_as_plain_data(tmp_path: Path) -> None:
    chosen = {"platformSelected": {"index": f"src.example/app@sha256:{'d' * 64}", "os": "linux",
                                   "architecture": "arm64", "variant": "v8"}}
    lock = tmp_path / "app.lock"
    lock.write_text(LOCK.replace("  preresolved: true\n", "  preresolved: true\n  origins:\n"
                                 "  - platformSelected: {index: 'src.example/app@sha256:%s', os: linux,\n"
                                 "      architecture: arm64, variant: \"v8\"}  # chosen\n"
                                 "  - not an origin\n" % ("d" * 64)))
    found = read_inputs([str(lock)], ["nginx:1.25"])
    assert [i.text for i in found.images] == ["nginx:1.25", "redis:7"]  # -i nginx:1.25: the lock's kept
    assert found.origins == {"nginx:1.25": (chosen,)}  # redis:7 is no preresolved override
    [origin] = found.origins["nginx:1.25"]
    assert type(origin) is dict and type(origin["platformSelected"]["variant"]) is str


def test_imgpkg_images_lock_and_text_list() -> None:
    imgpkg = "apiVersion: imgpkg.carvel.dev/v1alpha1\nkind: ImagesLock\nimages:\n- image: a.io/x@sha256:%s\n"
    assert references_in_text(imgpkg % ("c" * 64), "x") == [f"a.io/x@sha256:{'c' * 64}"]
    text = "# mirror list\nnginx:1.25\n\n  ghcr.io/a/b:c  # trailing\n"
    assert references_in_text(text, "list.txt") == ["nginx:1.25", "ghcr.io/a/b:c"]


def test_collect_dedupes_and_names_file_on_error(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    f = tmp_path / "k8s.yaml"
    f.write_text(K8S)
    monkeypatch.setattr("sys.stdin", io.StringIO("nginx:1.25\nbusybox:1.36\n"))
    got = collect_inputs([str(f), "-"], ["nginx:1.25", "alpine"])
    assert [i.text for i in got] == ["busybox:1.36", "ghcr.io/org/app:v1", f"quay.io/x/y@sha256:{'a' * 64}",
                                     "nginx:1.25", "alpine"]
    assert got[0].origin == str(f) and got[-1].origin == "-i"
    bad = tmp_path / "bad.yaml"
    bad.write_text("spec:\n  image: Not/Valid:tag\n")
    with pytest.raises(InputError, match=r"bad\.yaml: invalid image reference 'Not/Valid:tag'"):
        collect_inputs([str(bad)], [])
    with pytest.raises(InputError, match=r"missing\.yaml: cannot read"):
        collect_inputs([str(tmp_path / "missing.yaml")], [])


def test_shards_partition_the_inputs_stably() -> None:
    refs = [f"registry.example/team/app{i}:v{i}" for i in range(60)]
    inputs = collect_inputs([], refs)
    shards = [shard(inputs, i, 4) for i in range(4)]
    texts = [sorted(i.text for i in s) for s in shards]
    assert sorted(t for s in texts for t in s) == sorted(refs)  # every input in exactly one shard
    assert all(len(s) >= 5 for s in shards)  # and spread out
    # A reference stays in its shard when other inputs come and go.
    fewer = collect_inputs([], refs[::2])
    assert {i.text for i in shard(fewer, 1, 4)} == {t for t in texts[1] if t in refs[::2]}
    with pytest.raises(InputError, match="--shard 4/4"):
        shard(inputs, 4, 4)


def test_no_tag_means_latest_and_the_label_stays_as_written() -> None:
    digest = f"sha256:{'d' * 64}"
    texts = ["alpine", "127.0.0.1:5000/ref/app", f"quay.io/x/y@{digest}", "nginx:1.25"]
    got = collect_inputs([], texts)
    assert [i.text for i in got] == texts
    assert [str(i.ref) for i in got] == ["docker.io/library/alpine:latest", "127.0.0.1:5000/ref/app:latest",
                                         f"quay.io/x/y@{digest}", "docker.io/library/nginx:1.25"]


def test_files_that_are_not_reference_lists_are_named(tmp_path: Path) -> None:
    """Binary files, YAML syntax errors and files without references: InputError naming the file
    (and for YAML the line), never a decode error; a directory reads as resolve reads one."""
    binary = tmp_path / "image.png"
    binary.write_bytes(b"\x89PNG\r\n\x1a\n\xff\xfe")
    with pytest.raises(InputError) as caught:
        collect_inputs([str(binary)], [])
    assert str(caught.value) == (f"{binary}: not UTF-8 text (an undecodable byte at offset 0): YAML, a lock "
                                 "file or a list of references was expected")
    broken = tmp_path / "broken.yaml"
    broken.write_text("spec:\n  containers:\n  - image: [nginx\n    name: x\n")
    with pytest.raises(InputError) as caught:
        collect_inputs([str(broken)], [])
    assert str(caught.value).startswith(f"{broken}: invalid YAML at line 4: ")
    # A plain list is not YAML-checked: each line only has to be a reference.
    listed = tmp_path / "list.txt"
    listed.write_text("nginx:1.25\nghcr.io/a/b:c # note: a colon and space\n")
    assert [i.text for i in collect_inputs([str(listed)], [])] == ["nginx:1.25", "ghcr.io/a/b:c"]
    empty = tmp_path / "config.yaml"
    empty.write_text("apiVersion: v1\nkind: ConfigMap\ndata: {a: b}\n")
    with pytest.raises(InputError) as caught:
        collect_inputs([str(empty)], ["nginx"])
    assert str(caught.value) == (f"{empty}: no image references (no image: keys, kbld lock overrides or "
                                 "lines with one reference each)")

    tree = tmp_path / "tree"
    (tree / "sub").mkdir(parents=True)
    (tree / "b.yaml").write_text("image: redis:7\n")
    (tree / "sub/a.yml").write_text(K8S)
    (tree / "notes.txt").write_text("not: [yaml\n")  # only .yml and .yaml files, as resolve reads
    got = collect_inputs([str(tree)], [])
    assert [(i.text, i.origin) for i in got] == [
        ("redis:7", str(tree / "b.yaml")), ("busybox:1.36", str(tree / "sub/a.yml")),
        ("ghcr.io/org/app:v1", str(tree / "sub/a.yml")),
        (f"quay.io/x/y@sha256:{'a' * 64}", str(tree / "sub/a.yml"))]


def test_dash_i_takes_the_docker_transport_spelling() -> None:
    [got] = collect_inputs([], ["docker://127.0.0.1:5000/app:v1"])
    assert (got.text, str(got.ref), got.origin) == ("127.0.0.1:5000/app:v1", "127.0.0.1:5000/app:v1", "-i")
    with pytest.raises(InputError, match=r"-i: invalid image reference '127\.0\.0\.1:99999/a:b': .*range"):
        collect_inputs([], ["127.0.0.1:99999/a:b"])


@pytest.mark.parametrize(("config", "message"), [
    ("overrides: 5", "kbld Config overrides is not a list"),
    ("searchRules: {a: b}", "kbld Config searchRules is not a list"),
    ("searchRules: [5]", "kbld Config searchRules[0] is not a mapping"),
    ("searchRules: [{keyMatcher: [image]}]", "kbld Config searchRules[0].keyMatcher is not a mapping"),
    ("searchRules: [{keyMatcher: {path: spec}}]", "kbld Config searchRules[0].keyMatcher.path is not a list"),
])
def test_kbld_configs_kbld_could_not_read_are_named(tmp_path: Path, config: str, message: str) -> None:
    """A kbld Config (or lock file) whose overrides or searchRules have the wrong shape is an
    InputError naming the file, for relocate's -f and for resolve alike (it was a TypeError)."""
    path = tmp_path / "kbld.yaml"
    path.write_text(f"apiVersion: kbld.k14s.io/v1alpha1\nkind: Config\n{config}\n---\nimage: nginx:1.25\n")
    if config.startswith("overrides"):
        with pytest.raises(InputError) as caught:
            collect_inputs([str(path)], [])
        assert str(caught.value) == f"{path}: document 0: {message}"
    [yaml_file] = read_yaml_inputs([str(path)])
    with pytest.raises(InputError) as caught:
        for doc in yaml_file.configs():
            SearchRules().add_config(doc, yaml_file.name)
    assert str(caught.value) == f"{path}: {message}"
