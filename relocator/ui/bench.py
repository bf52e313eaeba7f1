"""bench output: a table, a text chart of MB/s against concurrency, CSV, and an optional PNG.

The table names each row by its scenario (zb's name where it has one: commands.scenarios) and
gives requests/s and latency percentiles in ms for every row; MB/s only for rows that move bytes
(``-`` for HEAD, mount and manifest rows, whose work is requests)."""

from __future__ import annotations

import csv
import io
import math
import sys
from collections.abc import Sequence
from pathlib import Path

from relocator.errors import InputError
from relocator.stats import PhaseResult

__all__ = ["check_plot", "render_chart", "render_csv", "render_table", "save_plot"]

_COLUMNS = ("scenario", "conc", "ops", "err", "MB/s", "req/s", "p50 ms", "p90 ms", "p99 ms",
            "max ms", "pool wait p99 ms")


def _size(n: int) -> str:
    if n == 0:
        return "mixed"  # zb's mixed batches: blobs of 1, 10 and 100 MiB
    for unit, div in (("GiB", 1 << 30), ("MiB", 1 << 20), ("KiB", 1 << 10)):
        if n >= div and n % div == 0:
            return f"{n // div}{unit}"
    return f"{n}B"


def _cells(r: PhaseResult) -> list[str]:
    j = r.to_json()

    def ms(key: str) -> str:
        return "-" if j[key] is None else f"{j[key]:.1f}"

    return [j["scenario"], str(r.concurrency), str(r.samples), str(r.errors),
            f"{r.mb_per_s:.1f}" if r.counts_bytes else "-", f"{r.requests_per_s:.1f}",
            ms("p50_ms"), ms("p90_ms"), ms("p99_ms"), ms("max_ms"), ms("pool_wait_p99_ms")]


def render_table(results: Sequence[PhaseResult]) -> None:
    """A rich table on a terminal; aligned plain text otherwise."""
    rows = [_cells(r) for r in results]
    if sys.stdout.isatty():
        from rich.console import Console
        from rich.table import Table

        table = Table(title="relocator bench")
        for col in _COLUMNS:
            table.add_column(col, justify="left" if col == "scenario" else "right")
        for row in rows:
            table.add_row(*row)
        Console().print(table)
        return
    widths = [max(len(c), *(len(row[i]) for row in rows)) for i, c in enumerate(_COLUMNS)]
    for row in [list(_COLUMNS), *rows]:
        sys.stdout.write("  ".join(c.ljust(w) if i == 0 else c.rjust(w)
                                   for i, (c, w) in enumerate(zip(row, widths, strict=True))) + "\n")


def render_chart(results: Sequence[PhaseResult], phases: tuple[str, ...] = ("push", "pull")) -> str:
    """MB/s against concurrency as text bars, one block per phase and blob size."""
    lines: list[str] = []
    peak = max((r.mb_per_s for r in results if r.phase in phases), default=0.0) or 1.0
    for phase in phases:
        for size in dict.fromkeys(r.blob_size for r in results):
            rows = [r for r in results if r.phase == phase and r.blob_size == size]
            if len(rows) < 2:
                continue
            lines.append(f"{phase} {_size(size)}: MB/s by concurrency")
            for r in rows:
                bar = "#" * max(1, math.floor(40 * r.mb_per_s / peak))
                lines.append(f"  {r.concurrency:>5} | {bar} {r.mb_per_s:.1f}")
    return "\n".join(lines)


def render_csv(results: Sequence[PhaseResult]) -> bytes:
    """Every row as CSV, with a header."""
    out = io.StringIO()
    rows = [r.to_json() for r in results]
    if rows:
        writer = csv.DictWriter(out, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    return out.getvalue().encode()


def check_plot() -> None:
    """Fail early, before any traffic, when --plot cannot work."""
    try:
        import matplotlib  # noqa: F401
    except ImportError:
        raise InputError("--plot needs matplotlib: pip install 'relocator[plot]'") from None


def save_plot(results: Sequence[PhaseResult], path: Path) -> None:
    """MB/s against concurrency as a PNG (needs the optional matplotlib extra)."""
    check_plot()
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(7, 4))
    for phase in ("push", "pull"):
        for size in dict.fromkeys(r.blob_size for r in results):
            rows = [r for r in results if r.phase == phase and r.blob_size == size]
            ax.plot([r.concurrency for r in rows], [r.mb_per_s for r in rows], marker="o",
                    label=f"{phase} {_size(size)}")
    ax.set_xscale("log", base=2)
    ax.set_xlabel("concurrency")
    ax.set_ylabel("MB/s")
    ax.legend()
    fig.tight_layout()
    tmp = path.with_name(f".{path.name}.partial.png")
    fig.savefig(tmp)
    tmp.replace(path)
