"""parse_location: skopeo's transport spellings, as a table."""

from __future__ import annotations

from pathlib import Path

import pytest

from relocator.errors import InputError
from relocator.stores.locate import parse_location


@pytest.mark.parametrize(("text", "scheme", "ref", "path", "name"), [
    ("docker://127.0.0.1:5000/app:v1", "docker", "127.0.0.1:5000/app:v1", None, None),
    ("nginx", "docker", "docker.io/library/nginx", None, None),
    ("nginx:1", "docker", "docker.io/library/nginx:1", None, None),  # a tag of digits is no port
    ("docker://localhost:5000/app", "docker", "localhost:5000/app", None, None),
    ("oci:/tmp/dir", "oci", None, "/tmp/dir", None),
    ("oci:/tmp/dir:v1", "oci", None, "/tmp/dir", "v1"),
    ("oci-archive:out.tar:docker.io/library/nginx:1.25", "oci-archive", None, "out.tar",
     "docker.io/library/nginx:1.25"),
    ("docker-archive:save.tar", "docker-archive", None, "save.tar", None),
    ("./images.tar", "path", None, "images.tar", None),
    ("/nonexistent/dir", "path", None, "/nonexistent/dir", None),
])
def test_spellings(text: str, scheme: str, ref: str | None, path: str | None, name: str | None) -> None:
    loc = parse_location(text, role="source")
    assert loc.scheme == scheme
    assert (str(loc.reference) if loc.reference else None) == ref
    assert loc.path == (Path(path) if path else None)
    assert loc.name == name


def test_an_existing_file_is_a_path_not_a_reference(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    (tmp_path / "backup.tar").write_bytes(b"")
    assert parse_location("backup.tar", role="source").scheme == "path"
    # A missing one is not Docker Hub's library/backup2.tar (a "cannot connect" far from the typo);
    # docker:// says that when it is meant.
    with pytest.raises(InputError, match=r"^source 'backup2.tar': no such file \(write docker://backup2"):
        parse_location("backup2.tar", role="source")
    assert parse_location("docker://backup2.tar", role="source").scheme == "docker"


@pytest.mark.parametrize(("text", "message"), [
    ("docker:/x", "source 'docker:/x': docker: takes docker://HOST/REPO[:TAG]"),
    ("oci:", "source 'oci:': no path after oci:"),
    ("Upper/Case", "source 'Upper/Case': repository name must be lowercase"),
    # Every other containers-transports(5) name is refused by name, never sent to Docker Hub.
    *[(f"{t}:x:1", f"source '{t}:x:1': relocator does not do the {t}: transport; it takes docker://REF")
      for t in ("dir", "docker-daemon", "containers-storage", "ostree", "sif", "tarball")],
    ("oci-layout:foo", "source 'oci-layout:foo': oci-layout: is no transport; an OCI layout directory is"),
    ("127.0.0.1:5000", "source '127.0.0.1:5000': a registry host and port, not an image: write"),
    ("docker://localhost:5000", "source 'docker://localhost:5000': a registry host and port, not an image"),
    ("registry.example.com:443", "source 'registry.example.com:443': a registry host and port, not an image"),
])
def test_bad_spellings_name_the_location(text: str, message: str) -> None:
    with pytest.raises(InputError) as exc:
        parse_location(text, role="source")
    assert str(exc.value).startswith(message)
