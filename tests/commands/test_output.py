"""What a person at a terminal and a program reading the output get: -q, -v, -vv, global flags
after the subcommand, and finished-image lines above the progress bars on a terminal."""

from __future__ import annotations

import os
import pty
import random
import re
import subprocess
import sys
from pathlib import Path

from tests.commands.test_pkg import ENV, cli
from tests.images import random_index, seed, valid_image
from tests.registries import Registry
from tests.stores.archives import write_layout


def test_quiet_verbose_and_very_verbose(registry: Registry, fresh_registry: Registry) -> None:
    rng = random.Random(140)
    seed(registry, "out/app", "v1", random_index([valid_image(rng, (800,)), valid_image(rng, (900,))]))
    ref = f"{registry.host}/out/app:v1"
    quiet = cli("relocate", "-i", ref, "--prefix", f"{fresh_registry.host}/q", "-q")
    assert quiet.returncode == 0, quiet.stderr
    assert quiet.stderr == "" and len(quiet.stdout.splitlines()) == 1
    assert quiet.stdout.startswith("images: 1 done, 0 failed")
    verbose = cli("-v", "relocate", "-i", ref, "--prefix", f"{fresh_registry.host}/v")
    blob_lines = [line for line in verbose.stderr.splitlines() if line.startswith("blob sha256:")]
    assert len(blob_lines) == 4  # each image's config and layer, one line per placement
    very = cli("relocate", "-vv", "-i", ref, "--prefix", f"{fresh_registry.host}/vv")
    assert f"GET http://{registry.host}/v2/out/app/manifests/v1 -> 200" in very.stderr
    both = cli("relocate", "-q", "-v", "-i", ref, "--prefix", f"{fresh_registry.host}/x")
    assert both.returncode == 2 and "-q and -v contradict each other" in both.stderr
    after = cli("inspect", ref, "--debug")  # a global flag after the subcommand
    assert after.returncode == 0 and "-> 200" in after.stderr


def test_a_terminal_keeps_a_line_per_image_above_the_bars(registry: Registry,
                                                         fresh_registry: Registry) -> None:
    rng = random.Random(141)
    refs = []
    for i in range(3):
        seed(registry, f"out/tty{i}", "v1", valid_image(rng, (700 + i,)))
        refs += ["-i", f"{registry.host}/out/tty{i}:v1"]
    primary, secondary = pty.openpty()
    proc = subprocess.Popen([sys.executable, "-m", "relocator", "relocate", *refs, "--prefix",
                             f"{fresh_registry.host}/tty"], stdin=secondary, stdout=secondary,
                            stderr=secondary, env={**ENV, "COLUMNS": "160", "TERM": "xterm"})
    os.close(secondary)
    out = b""
    while True:
        try:
            chunk = os.read(primary, 65536)
        except OSError:  # the child closed the terminal
            break
        if not chunk:
            break
        out += chunk
    assert proc.wait(timeout=120) == 0
    os.close(primary)
    text = out.decode(errors="replace")
    for i in range(3):
        assert f"done {registry.host}/out/tty{i}:v1 -> {fresh_registry.host}/tty/out/tty{i}:v1" in text
    assert "images" in text and "eta" in text  # the bars were drawn
    # Under the bars, the images under way, by their last path component.
    assert re.search(r"in flight: tty\d:v1", text), text


def test_a_reader_that_goes_away_ends_the_run_quietly(tmp_path: Path) -> None:
    # `relocator ls X | head -1`: head exits, the next write gets EPIPE. That was "internal error:
    # BrokenPipeError" (exit 1) or, for --version, a traceback; a shell reports 141 (SIGPIPE).
    image = valid_image(random.Random(77), (500,))
    write_layout(tmp_path / "layout", {"v1": image})
    for args in (["--version"], ["ls", str(tmp_path / "layout"), "--json"], ["completion", "bash"]):
        read, write = os.pipe()
        os.close(read)  # the reader is gone before relocator writes a byte
        try:
            done = subprocess.run([sys.executable, "-m", "relocator", *args], stdout=write,
                                  stderr=subprocess.PIPE, text=True, timeout=120, env=ENV)
        finally:
            os.close(write)
        assert (done.returncode, done.stderr) == (141, ""), args
