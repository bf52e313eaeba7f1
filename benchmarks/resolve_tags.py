"""Resolve 200 distinct tags: concurrently (default) against one at a time (--concurrency 1).

    python -m benchmarks.resolve_tags [--tags 200] [--registry HOST:PORT]

Starts a local registry (or uses --registry, an empty plain-HTTP one), pushes one image under N
tags, writes a YAML list of the N references, and times `relocator resolve` both ways (best of 3).
Behind ../shared/wan: ``bash ../shared/wan/registry.sh cli .venv/bin/python -m
benchmarks.resolve_tags --registry 198.18.0.2:5001``.
"""

from __future__ import annotations

import argparse
import random
import subprocess
import tempfile
import time
from pathlib import Path
from types import SimpleNamespace
from typing import Any

from tests.images import random_image, seed
from tests.registries import start_registry

ROOT = Path(__file__).resolve().parents[1]


def best_of(cmd: list[str], n: int = 3) -> float:
    times = []
    for _ in range(n):
        started = time.perf_counter()
        subprocess.run(cmd, check=True, capture_output=True, cwd=ROOT)
        times.append(time.perf_counter() - started)
    return min(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--tags", type=int, default=200)
    parser.add_argument("--registry", help="an empty plain-HTTP registry to use instead of a local one")
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="relocator-resolve-"))
    reg: Any = SimpleNamespace(host=args.registry, url=f"http://{args.registry}", stop=lambda: None) \
        if args.registry else start_registry(work / "reg")
    try:
        image = random_image(random.Random(1))
        lines = []
        for i in range(args.tags):
            seed(reg, "bench/app", f"t{i:03d}", image)
            lines.append(f"- image: {reg.host}/bench/app:t{i:03d}")
        yaml = work / "images.yaml"
        yaml.write_text("\n".join(lines) + "\n")
        base = [str(ROOT / ".venv/bin/relocator"), "resolve", "-f", str(yaml),
                "--registry-insecure", reg.host]
        concurrent = best_of(base)
        sequential = best_of([*base, "--concurrency", "1"])
        print(f"{args.tags} tags: concurrent {concurrent:.2f} s, one at a time {sequential:.2f} s "
              f"({sequential / concurrent:.1f}x)")
    finally:
        reg.stop()


if __name__ == "__main__":
    main()
