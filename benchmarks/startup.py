"""Start-up time of the relocator process, measured from outside (issue 14).

    python -m benchmarks.startup [--runs 15]

Each row runs the console script ``--runs`` times and reports the median and the fastest wall
time of the whole process (interpreter start included): ``--version``, and a malformed reference
that is refused before any network use. Prints; never asserts.
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import time
from pathlib import Path

RELOCATOR = str(Path(__file__).resolve().parents[1] / ".venv" / "bin" / "relocator")
ROWS = {
    "relocator --version": [RELOCATOR, "--version"],
    "relocator relocate -i 'bad::ref' --prefix x.example": [
        RELOCATOR, "relocate", "-i", "bad::ref", "--prefix", "x.example"],
    "relocator relocate -i 'bad::ref' --repository 127.0.0.1:5000/x": [
        RELOCATOR, "relocate", "-i", "bad::ref", "--repository", "127.0.0.1:5000/x"],
    "relocator --help": [RELOCATOR, "--help"],
}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--runs", type=int, default=15)
    runs = parser.parse_args().runs
    print("| command | median ms | fastest ms |")
    print("|---|---|---|")
    for name, cmd in ROWS.items():
        times = []
        for _ in range(runs):
            started = time.perf_counter()
            subprocess.run(cmd, capture_output=True, check=False)
            times.append((time.perf_counter() - started) * 1000)
        print(f"| {name} | {statistics.median(times):.0f} | {min(times):.0f} |")


if __name__ == "__main__":
    main()
