"""How explain and diagnose scale with hostile and large input.

Run: .venv/bin/python benchmarks/explain.py           (--short: a quick run for CI, same figures)

Prints the time explain takes on 'error' + N whitespace + 'x' for growing N (it must grow
linearly: a regex with nested whitespace repetition grows cubically), on a 5 MB paste of
distinct error lines, and the time diagnose's reading and grouping take for a Get-WinEvent JSON
export of 100,000 failure events (10,000 with --short). Targets: linear growth; 100,000 events in
seconds.
"""

from __future__ import annotations

import json
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

from _options import short_mode

from lmpreflight.explain.engine import explain_text
from lmpreflight.explain.events import read_event_export
from lmpreflight.explain.incidents import find_incidents


def timed(action: object) -> float:
    started = time.perf_counter()
    action()  # type: ignore[operator]
    return time.perf_counter() - started


def whitespace_runs(short: bool) -> None:
    sizes = (1_000, 10_000, 100_000) if short else (1_000, 10_000, 100_000, 1_000_000, 5_000_000)
    figures = []
    for size in sizes:
        text = "error" + " \t" * (size // 2) + "x"
        figures.append((size, timed(lambda text=text: explain_text(text))))
    print("whitespace run: " + ", ".join(f"{size:,} chars {seconds:.3f} s" for size, seconds in figures))
    (small, first), (large, last) = figures[0], figures[-1]
    print(f"growth: {large / small:,.0f}x the input took {last / max(first, 1e-6):,.0f}x the time")


def large_paste(short: bool) -> None:
    lines = 20_000 if short else 70_000
    text = "\n".join(
        f"Event ID 21502: Live migration of 'Virtual Machine VM{n:05d}' failed at migration source 'HV{n % 40:02d}'. "
        f"Failed to establish a connection with host 'HV{(n + 1) % 40:02d}': (0x8007274C)"
        for n in range(lines)
    )
    seconds = timed(lambda: explain_text(text))
    print(f"explain paste: {len(text) / 1_048_576:.1f} MB of distinct lines in {seconds:.2f} s")


def event_export(count: int, folder: Path) -> Path:
    start = datetime(2026, 11, 20, tzinfo=UTC)
    events = [
        {
            "TimeCreated": (start + timedelta(seconds=n)).isoformat(),
            "Id": 21502,
            "ProviderName": "Microsoft-Windows-Hyper-V-VMMS",
            "LogName": "Microsoft-Windows-Hyper-V-VMMS-Admin",
            "Level": 2,
            "MachineName": "HV01.corp.example",
            "Message": f"Live migration of 'Virtual Machine VM{n}' failed (0x8009030E)",
        }
        for n in range(count)
    ]
    path = folder / "events.json"
    path.write_text(json.dumps(events))
    return path


def many_events(short: bool) -> None:
    count = 10_000 if short else 100_000
    with tempfile.TemporaryDirectory() as folder:
        path = event_export(count, Path(folder))
        size = path.stat().st_size
        started = time.perf_counter()
        export = read_event_export(path)
        read = time.perf_counter() - started
        incidents = find_incidents({"HV01": export.events}).incidents
        total = time.perf_counter() - started
    print(
        f"diagnose events: {count:,} events ({size / 1_048_576:.0f} MB) read in {read:.2f} s, "
        f"grouped and explained in {total - read:.2f} s ({len(incidents)} incidents kept), total {total:.2f} s"
    )


def main(short: bool = False) -> None:
    explain_text("warm-up: load the knowledge base")
    whitespace_runs(short)
    large_paste(short)
    many_events(short)


if __name__ == "__main__":
    main(short=short_mode(__doc__))
