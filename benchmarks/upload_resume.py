"""What a killed relocate sends again when it is run a second time: the upload of a large layer
resumed from the offset the registry reports, against starting it over.

    python -m benchmarks.upload_resume [--layer-mb 200] [--kills 0.1 0.4 0.7]

One image with one ``--layer-mb`` layer is relocated into a fresh distribution 2.8.2, through
either of two fronts that count the upload bytes reaching them: ``kept`` is the tests' KeepingFront
(forwards each body upstream in 1 MiB pieces as it arrives, so the session keeps what a cut
request delivered, as registries on resumable storage do); ``dropped`` is the plain proxy
(distribution drops a session cut mid-body, so the re-run starts over). Each run is killed
(SIGKILL) once the given share of the layer has reached the front, then run again to the end.
Prints the bytes the re-run sent and the wall time of both runs; never asserts.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import random
import sys
import tempfile
import time
from pathlib import Path

from tests.images import random_image, seed
from tests.proxy import FaultProxy
from tests.registries import start_registry
from tests.sessions import KeepingFront

MiB = 1024 * 1024


async def _run(front: FaultProxy, source: str, prefix: str, kill_at: int | None, env: dict[str, str]) -> int:
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "relocator", "relocate", "-i", source, "--prefix", f"{front.host}/{prefix}",
        env=env, stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.DEVNULL)
    start = front.moved

    def watch(moved: int) -> None:
        if kill_at is not None and moved - start >= kill_at and proc.returncode is None:
            proc.kill()

    front.on_moved = watch
    await proc.wait()
    front.on_moved = None
    await asyncio.sleep(0.3)  # the front finishes forwarding what the killed run sent
    return front.moved - start


async def main(layer_mb: int, kills: list[float]) -> None:
    work = Path(tempfile.mkdtemp(prefix="relocator-bench-"))
    source = start_registry(work / "src")
    image = random_image(random.Random(1), (layer_mb * MiB, 2000))
    seed(source, "big/app", "v1", image)
    ref = f"{source.host}/big/app:v1"
    print("| front | killed at | sent before the kill (MB) | re-run sent (MB) | of a whole run | wall (s) |")
    print("|---|---|---|---|---|---|")
    try:
        for kind in ("kept", "dropped"):
            for share in kills:
                dest = start_registry(work / f"{kind}-{share}")
                env = {**os.environ, "DOCKER_CONFIG": "/nonexistent",
                       "RELOCATOR_STATE_DIR": str(work / f"state-{kind}-{share}")}
                front = await (KeepingFront(dest) if kind == "kept" else FaultProxy(dest)).start()
                try:
                    began = time.monotonic()
                    before = await _run(front, ref, "m", int(share * layer_mb * MiB), env)
                    again = await _run(front, ref, "m", None, env)
                    wall = time.monotonic() - began
                finally:
                    await front.stop()
                    dest.stop()
                print(f"| {kind} | {share:.0%} | {before / 1e6:.1f} | {again / 1e6:.1f} | "
                      f"{again / (layer_mb * MiB):.0%} | {wall:.1f} |")
    finally:
        source.stop()


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--layer-mb", type=int, default=200)
    parser.add_argument("--kills", type=float, nargs="+", default=[0.1, 0.4, 0.7])
    args = parser.parse_args()
    asyncio.run(main(args.layer_mb, args.kills))
