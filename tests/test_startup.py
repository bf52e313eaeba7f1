"""Start-up stays light (issue 14): building the parser, ``--help`` and a refused input load neither
aiohttp nor rich. A structural assertion on ``sys.modules`` in a fresh interpreter, never a time;
benchmarks/startup.py measures the milliseconds."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

HEAVY = ("aiohttp", "relocator.registry", "rich")

_PROBE = """
import json, sys
from relocator.cli import build_parser, main
parser = build_parser()
args = json.loads(sys.argv[1])
code = None
if args:
    try:
        main(args)
    except SystemExit as exc:
        code = exc.code
print(json.dumps({"code": code, "loaded": [m for m in HEAVY if m in sys.modules]}))
""".replace("HEAVY", repr(HEAVY))


def _probe(*args: str, cwd: Path | None = None) -> dict[str, object]:
    """Build the parser (and run ``main(args)`` when given) in a fresh interpreter; its exit code
    and which heavy modules it loaded."""
    out = subprocess.run([sys.executable, "-c", _PROBE, json.dumps(list(args))], capture_output=True,
                         text=True, timeout=60, check=True, cwd=cwd)
    result: dict[str, object] = json.loads(out.stdout.splitlines()[-1])
    return result


def test_building_the_parser_loads_neither_aiohttp_nor_rich() -> None:
    assert _probe() == {"code": None, "loaded": []}


@pytest.mark.parametrize("argv", [
    ["relocate", "-i", "bad::ref", "--repository", "127.0.0.1:5000/x"],
    ["relocate", "-i", "bad::ref", "--prefix", "x.example"],
    ["pkg", "-i", "bad::ref", "-o", "out.tar"],
    ["copy", "docker://bad::ref", "oci:out"],
    ["inspect", "bad::ref"],
    ["bench", "bad::ref"],
], ids=lambda a: a[0])
def test_a_refused_reference_exits_2_before_loading_the_registry_client(argv: list[str],
                                                                       tmp_path: Path) -> None:
    assert _probe(*argv, cwd=tmp_path) == {"code": 2, "loaded": []}
    assert list(tmp_path.iterdir()) == []


def test_help_loads_neither() -> None:
    assert _probe("relocate", "--help") == {"code": 0, "loaded": []}
