"""`relocator completion`: the generated scripts complete what the parser accepts."""

from __future__ import annotations

import subprocess

import pytest

from tests.commands.test_pkg import cli


def complete_in_bash(script: str, words: list[str]) -> list[str]:
    """Run bash's completion function for ``relocator WORDS`` (the last word being typed)."""
    program = (f"{script}\nCOMP_WORDS=(relocator {' '.join(words)}); COMP_CWORD={len(words)}; "
               f"COMP_LINE='relocator {' '.join(words)}'; COMP_POINT=${{#COMP_LINE}}; "
               "_shtab_relocator relocator; printf '%s\\n' \"${COMPREPLY[@]}\"")
    out = subprocess.run(["bash", "-c", program], capture_output=True, text=True, timeout=60, check=True)
    return out.stdout.split()


def test_bash_completes_commands_and_each_commands_flags() -> None:
    script = cli("completion", "bash").stdout
    assert "sync" in complete_in_bash(script, ["sy"])
    assert set(complete_in_bash(script, ["sync", "--res"])) == {"--results"}
    assert "--lock-output" in complete_in_bash(script, ["relocate", "--lock"])
    assert complete_in_bash(script, ["completion", "f"]) == ["fish"]


def test_bash_offers_the_platform_modes() -> None:
    script = cli("completion", "bash").stdout
    words = ["relocate", "--platform", "linux/amd64", "--platform-mode", ""]
    assert set(complete_in_bash(script, words)) == {"filter", "sparse", "single"}
    assert set(complete_in_bash(script, ["sync", "--platform-mode", "s"])) == {"sparse", "single"}


@pytest.mark.parametrize("shell", ["zsh", "fish"])
def test_other_shells_get_a_script_naming_every_command(shell: str) -> None:
    out = cli("completion", shell)
    assert out.returncode == 0, out.stderr
    for command in ("copy", "relocate", "sync", "pkg", "unpkg", "verify", "resolve", "inspect"):
        assert command in out.stdout


def test_an_unknown_shell_is_refused() -> None:
    out = cli("completion", "csh")
    assert out.returncode == 2 and "invalid choice: 'csh'" in out.stderr


def test_version_names_python_aiohttp_and_the_loop() -> None:
    from importlib.metadata import version

    out = cli("--version")
    assert out.returncode == 0, out.stderr
    lines = out.stdout.splitlines()
    assert lines[0] == f"relocator {version('relocator')}"
    assert lines[1].startswith("Python 3.")
    assert lines[2] == f"aiohttp {version('aiohttp')}"
    assert lines[3] == f"event loop: uvloop {version('uvloop')}"
