"""Progress of a fleet run on the terminal: hosts collected, sources judged; silent when
piped or quiet (a log gets the result, not a progress bar)."""

from __future__ import annotations

import threading
from types import TracebackType

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TaskID, TextColumn, TimeElapsedColumn

from lmpreflight.facts.model import HostFacts
from lmpreflight.fleet.inventory import InventoryHost


class FleetProgress:
    def __init__(
        self, total: int, quiet: bool, label: str = "Collecting hosts", console: Console | None = None
    ) -> None:
        self.console = console or Console(stderr=True)
        self.enabled = not quiet and self.console.is_terminal
        self.total = total
        self.label = label
        self.failed = 0
        self.lock = threading.Lock()
        self.progress: Progress | None = None
        self.task: TaskID | None = None

    def __enter__(self) -> FleetProgress:
        if self.enabled:
            self.progress = Progress(
                TextColumn("{task.description}"),
                BarColumn(),
                MofNCompleteColumn(),
                TimeElapsedColumn(),
                TextColumn("{task.fields[note]}"),
                console=self.console,
                transient=True,
            )
            self.progress.start()
            self.task = self.progress.add_task(self.label, total=self.total, note="")
        return self

    def __exit__(self, kind: type[BaseException] | None, value: BaseException | None, tb: TracebackType | None) -> None:
        if self.progress is not None:
            self.progress.stop()

    def collected(self, host: InventoryHost, facts: HostFacts) -> None:
        """One host done (from a collection thread)."""
        with self.lock:
            if facts.whole_host_error is not None:
                self.failed += 1
            if self.progress is not None and self.task is not None:
                note = f"{self.failed} unreachable" if self.failed else ""
                self.progress.update(self.task, advance=1, note=note)

    def judged(self, source: str) -> None:
        """Every pair of one source judged."""
        if self.progress is not None and self.task is not None:
            self.progress.update(self.task, advance=1, note=source)
