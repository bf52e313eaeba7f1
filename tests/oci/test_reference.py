"""Reference parsing: the Docker grammar, Docker Hub normalization, round trips."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from relocator.errors import BadReference
from relocator.oci import Digest, Reference, Repository

D = "sha256:" + "a" * 64
D512 = "sha512:" + "b" * 128

VALID = [
    # text, registry, path, tag, digest, canonical
    ("nginx", "docker.io", "library/nginx", None, None, "docker.io/library/nginx"),
    ("nginx:1.25", "docker.io", "library/nginx", "1.25", None, "docker.io/library/nginx:1.25"),
    ("library/nginx", "docker.io", "library/nginx", None, None, "docker.io/library/nginx"),
    ("docker.io/nginx", "docker.io", "library/nginx", None, None, "docker.io/library/nginx"),
    ("docker.io/library/nginx:latest", "docker.io", "library/nginx", "latest", None,
     "docker.io/library/nginx:latest"),
    ("index.docker.io/nginx", "docker.io", "library/nginx", None, None, "docker.io/library/nginx"),
    ("index.docker.io/bitnami/redis:7", "docker.io", "bitnami/redis", "7", None,
     "docker.io/bitnami/redis:7"),
    ("registry-1.docker.io/library/busybox", "docker.io", "library/busybox", None, None,
     "docker.io/library/busybox"),
    ("bitnami/redis", "docker.io", "bitnami/redis", None, None, "docker.io/bitnami/redis"),
    ("a/b/c/d", "docker.io", "a/b/c/d", None, None, "docker.io/a/b/c/d"),
    (f"nginx@{D}", "docker.io", "library/nginx", None, D, f"docker.io/library/nginx@{D}"),
    (f"nginx:1.25@{D}", "docker.io", "library/nginx", "1.25", D, f"docker.io/library/nginx:1.25@{D}"),
    (f"ghcr.io/org/app@{D512}", "ghcr.io", "org/app", None, D512, f"ghcr.io/org/app@{D512}"),
    ("localhost/app", "localhost", "app", None, None, "localhost/app"),
    ("localhost:5000/app:v1", "localhost:5000", "app", "v1", None, "localhost:5000/app:v1"),
    ("127.0.0.1:5000/a/b:t", "127.0.0.1:5000", "a/b", "t", None, "127.0.0.1:5000/a/b:t"),
    ("[::1]:5000/app", "[::1]:5000", "app", None, None, "[::1]:5000/app"),
    ("[2001:db8::1]/app:v2", "[2001:db8::1]", "app", "v2", None, "[2001:db8::1]/app:v2"),
    ("quay.io/coreos/etcd:v3.5.0", "quay.io", "coreos/etcd", "v3.5.0", None, "quay.io/coreos/etcd:v3.5.0"),
    ("gcr.io/google-containers/pause:3.9", "gcr.io", "google-containers/pause", "3.9", None,
     "gcr.io/google-containers/pause:3.9"),
    ("registry.example.com:8443/team/svc:2024.01", "registry.example.com:8443", "team/svc", "2024.01",
     None, "registry.example.com:8443/team/svc:2024.01"),
    ("Example.com/app", "Example.com", "app", None, None, "Example.com/app"),
    ("MyRegistry/app", "MyRegistry", "app", None, None, "MyRegistry/app"),
    ("a.b/c_d/e__f/g-h/i.j", "a.b", "c_d/e__f/g-h/i.j", None, None, "a.b/c_d/e__f/g-h/i.j"),
    ("foo/a--b", "docker.io", "foo/a--b", None, None, "docker.io/foo/a--b"),
    ("app:_tag", "docker.io", "library/app", "_tag", None, "docker.io/library/app:_tag"),
    ("app:TAG-1.x_y", "docker.io", "library/app", "TAG-1.x_y", None, "docker.io/library/app:TAG-1.x_y"),
    ("app:" + "t" * 128, "docker.io", "library/app", "t" * 128, None, "docker.io/library/app:" + "t" * 128),
    ("host:5000/app", "host:5000", "app", None, None, "host:5000/app"),
    ("a-b.c-d.e:1/x", "a-b.c-d.e:1", "x", None, None, "a-b.c-d.e:1/x"),
    ("xn--bcher-kva.example/app", "xn--bcher-kva.example", "app", None, None, "xn--bcher-kva.example/app"),
]

INVALID = [
    ("", "empty"),
    (" nginx", "whitespace"),
    ("nginx ", "whitespace"),
    ("Nginx", "lowercase"),
    ("docker.io/Library/nginx", "lowercase"),
    ("nginx:", "invalid tag"),
    ("nginx:-bad", "invalid tag"),
    ("nginx:" + "t" * 129, "invalid tag"),
    ("nginx@sha256:abc", "invalid digest"),
    ("nginx@md5:" + "a" * 32, "invalid digest"),
    ("nginx@sha256:" + "A" * 64, "invalid digest"),
    ("nginx@", "invalid digest"),
    ("a//b", "invalid path component"),
    ("a/b/", "invalid path component"),
    ("-app", "invalid path component"),
    ("app-", "invalid path component"),
    ("a/.b", "invalid path component"),
    ("a/b___c", "invalid path component"),
    ("host:port/app", "invalid registry host"),
    ("-host.com/app", "invalid registry host"),
    ("host.com/", "missing repository path"),
    ("127.0.0.1:99999/a:b", "port 99999 is out of range 1-65535"),
    ("host:0/app", "port 0 is out of range 1-65535"),
    ("[::1]:65536/app", "port 65536 is out of range 1-65535"),
    ("a/" + "b" * 260, "longer than 255"),
]


@pytest.mark.parametrize(("text", "registry", "path", "tag", "digest", "canonical"), VALID)
def test_valid(text: str, registry: str, path: str, tag: str | None, digest: str | None,
               canonical: str) -> None:
    ref = Reference.parse(text)
    assert ref.repository == Repository(registry, path)
    assert ref.tag == tag
    assert (str(ref.digest) if ref.digest else None) == digest
    assert str(ref) == canonical
    assert Reference.parse(str(ref)) == ref


@pytest.mark.parametrize(("text", "reason"), INVALID)
def test_invalid_names_input_and_reason(text: str, reason: str) -> None:
    with pytest.raises(BadReference) as info:
        Reference.parse(text)
    assert repr(text) in str(info.value)
    assert reason in str(info.value)


def test_table_is_large_enough() -> None:
    assert len(VALID) + len(INVALID) >= 40


def test_identifier_and_copies() -> None:
    ref = Reference.parse("example.com/app:v1")
    assert ref.identifier == "v1"
    assert Reference.parse("example.com/app").identifier == "latest"
    pinned = ref.with_digest(Digest.parse(D))
    assert pinned.identifier == D and pinned.tag == "v1" and ref.digest is None
    assert str(pinned.with_tag(None)) == f"example.com/app@{D}"
    moved = pinned.in_repository(Repository.parse("other.io/x/y"))
    assert str(moved) == f"other.io/x/y:v1@{D}"
    with pytest.raises(BadReference):
        ref.with_tag("bad tag")
    with pytest.raises(BadReference, match="no tag or digest"):
        Repository.parse("example.com/app:v1")


def test_command_line_spelling_takes_docker_transport() -> None:
    """``docker://REF`` (skopeo's spelling) is the reference; an error names the text as given."""
    assert Reference.parse_arg("docker://127.0.0.1:5000/app:v1") == Reference.parse("127.0.0.1:5000/app:v1")
    assert Reference.parse_arg("nginx") == Reference.parse("docker.io/library/nginx")
    assert Repository.parse_arg("docker://ghcr.io/org/app") == Repository("ghcr.io", "org/app")
    with pytest.raises(BadReference) as info:
        Reference.parse_arg("docker://Bad/App")
    assert str(info.value) == "invalid image reference 'docker://Bad/App': repository name must be lowercase"
    with pytest.raises(BadReference):
        Reference.parse("docker://127.0.0.1:5000/app:v1")  # YAML and lock files never carry it


_alnum = st.text(alphabet="abcdefghijklmnopqrstuvwxyz0123456789", min_size=1, max_size=6)
_sep = st.sampled_from([".", "_", "__", "-", "--"])
_component = st.builds(lambda a, s, b: a + s + b if s is not None else a, _alnum,
                       st.none() | _sep, _alnum)
_domain = st.sampled_from(["", "example.com/", "localhost:5000/", "127.0.0.1:1234/", "[::1]:5000/",
                           "docker.io/", "index.docker.io/", "Reg.Example:443/"])
_tag = st.none() | st.from_regex(r"\A[A-Za-z0-9_][A-Za-z0-9_.-]{0,20}\Z")
_digest = st.none() | st.builds(lambda h: f"sha256:{h}", st.from_regex(r"\A[0-9a-f]{64}\Z"))


@given(_domain, st.lists(_component, min_size=1, max_size=4), _tag, _digest)
def test_parse_str_round_trip(domain: str, parts: list[str], tag: str | None, digest: str | None) -> None:
    text = domain + "/".join(parts)
    if tag is not None:
        text += f":{tag}"
    if digest is not None:
        text += f"@{digest}"
    ref = Reference.parse(text)
    assert Reference.parse(str(ref)) == ref
    assert ref.tag == tag
    assert (str(ref.digest) if ref.digest else None) == digest
