"""What a terminal shows: rich progress bars while a run goes, and the closing summary table.

Imported only when stderr (the bars) or the summary's stream is a terminal (ui.render,
ui.print_report): rich costs about 25 ms of start-up that a cron run or a refused input never pays.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from rich.console import Console, RenderableType
from rich.progress import (
    BarColumn,
    DownloadColumn,
    MofNCompleteColumn,
    Progress,
    ProgressColumn,
    Task,
    TaskID,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
    TransferSpeedColumn,
)
from rich.table import Table
from rich.text import Text

from relocator.engine.events import Outcome, Report
from relocator.engine.target import Target
from relocator.oci import Descriptor
from relocator.ui.render import QuietReporter, blob_line, held_line, image_line, in_flight_line

__all__ = ["RichReporter", "summary_table"]


class _Amount(ProgressColumn):
    """Bytes and speed for the byte bar, a plain count for the others."""

    def __init__(self) -> None:
        super().__init__()
        self._download, self._speed, self._count = DownloadColumn(), TransferSpeedColumn(), (
            MofNCompleteColumn())

    def render(self, task: Task) -> Text:
        if task.fields.get("bytes"):
            return Text.assemble(self._download.render(task), " ", self._speed.render(task))
        return self._count.render(task)


class _Bars(Progress):
    """rich's bars, and under them the line naming the images in flight (ui.render.in_flight_line)."""

    def __init__(self, *columns: ProgressColumn, console: Console) -> None:
        # Labels, in the order they started: a tuple replaced whole, never changed in place, as
        # rich's refresh thread reads it while the event loop's thread moves on. Set first:
        # rich renders already while it is set up.
        self.in_flight: tuple[str, ...] = ()
        self._terminal = console  # rich sets self.console up only after a first render
        super().__init__(*columns, console=console, refresh_per_second=8, transient=False)

    def start_image(self, label: str) -> None:
        """Add ``label`` to the in-flight line."""
        if label not in self.in_flight:
            self.in_flight = (*self.in_flight, label)

    def end_image(self, label: str) -> None:
        """Take ``label`` off the in-flight line."""
        self.in_flight = tuple(x for x in self.in_flight if x != label)

    def get_renderables(self) -> Iterable[RenderableType]:
        yield from super().get_renderables()
        line = in_flight_line(self.in_flight, self._terminal.width)
        if line is not None:
            yield Text(line, overflow="ellipsis", no_wrap=True)


class RichReporter(QuietReporter):
    """Progress bars for bytes, blobs and images, redrawn at a fixed rate on stderr, with the
    time left and the images in flight; each finished or failed image prints its line above the
    bars (the line a non-terminal run logs), so the terminal keeps a record."""

    def __init__(self, into: str | None = None, *, verbose: int = 0) -> None:
        self.into = into
        self.verbose = verbose
        self.console = Console(stderr=True)
        self.progress = _Bars(
            TextColumn("{task.description:>7}"), BarColumn(), _Amount(), TimeElapsedColumn(),
            TextColumn("eta"), TimeRemainingColumn(), console=self.console,
        )
        self._bytes: TaskID | None = None
        self._blobs: TaskID | None = None
        self._images: TaskID | None = None
        self._counted: set[object] = set()

    def plan_ready(self, targets: Sequence[Target], blob_bytes: int, blobs: int) -> None:
        """Start the bars."""
        self.progress.start()
        self._bytes = self.progress.add_task("bytes", total=blob_bytes, bytes=True)
        self._blobs = self.progress.add_task("blobs", total=blobs)
        self._images = self.progress.add_task("images", total=len(targets))

    def bytes_moved(self, n: int) -> None:
        """Advance the byte bar."""
        if self._bytes is not None:
            self.progress.advance(self._bytes, n)

    def blob_done(self, desc: Descriptor, outcome: Outcome) -> None:
        """Advance the blob bar; a digest's bytes count once, streamed or already there."""
        if self._blobs is not None and self._bytes is not None:
            self.progress.advance(self._blobs)
            if desc.digest not in self._counted and outcome is not Outcome.TRANSFERRED:
                self.progress.advance(self._bytes, desc.size)
            self._counted.add(desc.digest)
        if self.verbose:
            self.console.print(blob_line(desc, outcome), markup=False, highlight=False)

    def image_started(self, target: Target) -> None:
        """Name it in the in-flight line, at once (an image is a rare event next to bytes)."""
        self.progress.start_image(target.label)
        self.progress.refresh()

    def image_held(self, target: Target) -> None:
        """No longer in flight (its bytes are in); with ``-v``, a line saying so."""
        self.progress.end_image(target.label)
        if self.verbose:
            self.console.print(held_line(target, self.into), markup=False, highlight=False)

    def image_done(self, target: Target, error: str | None) -> None:
        """Advance the image bar; print the image's line above the bars."""
        self.progress.end_image(target.label)
        if self._images is not None:
            self.progress.advance(self._images)
        line = image_line(target, error, self.into)
        self.console.print(Text(line, style="red" if error is not None else ""), highlight=False)

    def close(self) -> None:
        """Stop redrawing."""
        self.progress.stop()


def summary_table(report: Report) -> Table:
    """The closing summary as a rich table, for terminals."""
    title = "relocator summary (interrupted)" if report.interrupted else "relocator summary"
    table = Table(title=title, show_header=True)
    for col in ("images ok", "failed", "referrers", "transferred", "mounted", "skipped", "MB", "seconds",
                "MB/s"):
        table.add_column(col, justify="right")
    b = report.blobs
    table.add_row(str(len(report.done)), str(len(report.failed)), str(report.referrers),
                  str(b[Outcome.TRANSFERRED]), str(b[Outcome.MOUNTED]), str(b[Outcome.SKIPPED]),
                  f"{report.bytes_moved / 1e6:.1f}", f"{report.seconds:.2f}", f"{report.mb_per_s:.1f}")
    return table
