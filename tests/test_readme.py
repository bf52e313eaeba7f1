"""The README's table of skopeo, crane, kbld and imgpkg spellings lists only relocator forms the
parser takes (each was also run against real registries when the table was written)."""

from __future__ import annotations

import re
import shlex
from pathlib import Path

import pytest

from relocator.cli import build_parser

README = Path(__file__).resolve().parents[1] / "README.md"
# Placeholders in the table, made concrete: references, a repository, a host and a directory.
_CONCRETE = {"A": "127.0.0.1:5000/team/app:v1", "B": "127.0.0.1:5001/copy/app:v1",
             "IMG": "127.0.0.1:5000/team/app:v1", "R": "127.0.0.1:5001/bundle",
             "HOST/PATH": "127.0.0.1:5001/m", "DIR": "layout"}


def _forms() -> list[str]:
    rows = [line for line in README.read_text().splitlines() if line.startswith("| `")]
    forms = [m.group(1) for row in rows if (m := re.search(r"\| `relocator ([^`]+)`", row))]
    assert len(forms) >= 10, forms  # the table is there
    return forms


@pytest.mark.parametrize("form", _forms())
def test_each_relocator_spelling_parses(form: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)  # --lock-output and -o must be writable here
    words = [_CONCRETE.get(w, w) for w in shlex.split(form)]
    words = [re.sub(r"^(docker://|oci:)(A|B|DIR)\b", lambda m: m.group(1) + _CONCRETE[m.group(2)], w)
             for w in words]
    args = build_parser().parse_args(words)
    assert callable(args.run)
