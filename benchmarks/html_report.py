"""How a fleet-sized HTML report behaves in a real browser.

Run: .venv/bin/python benchmarks/html_report.py       (--short: 200 results, for CI)

Builds a report for 2 hosts with 60 VMs (the checks' real results, repeated to about 2,000
results as a large drain produces), opens it in Debian's Chromium through Playwright and prints:
render time, file size, time to load, and the time each filter, the search and expanding every
result take. Target: each interaction well under 100 ms (no noticeable delay).
"""

from __future__ import annotations

import copy
import json
import shutil
import tempfile
import time
from pathlib import Path

from _options import short_mode
from playwright.sync_api import sync_playwright

from lmpreflight.facts.model import HostFacts
from lmpreflight.registry import load_checks
from lmpreflight.report.build import RunInfo, build_report
from lmpreflight.report.html import render_html
from lmpreflight.runner import Selection, evaluate

EXAMPLES = Path(__file__).resolve().parent.parent / "examples" / "facts" / "broken"
TARGET_RESULTS = 2000
VMS = 60


def fleet_report(target: int = TARGET_RESULTS) -> tuple[str, int]:
    source_doc = json.loads((EXAMPLES / "source.json").read_text())
    template = source_doc["vms"][1]
    source_doc["vms"] = []
    for index in range(VMS):
        vm = copy.deepcopy(template)
        vm["name"] = f"APP{index:02d}"
        source_doc["vms"].append(vm)
    source = HostFacts.model_validate(source_doc)
    destination = HostFacts.model_validate(json.loads((EXAMPLES / "destination.json").read_text()))
    selection = Selection(vms=tuple(vm["name"] for vm in source_doc["vms"]))
    results = evaluate(load_checks(), source, destination, selection)
    results = (results * (target // len(results) + 1))[:target]
    report = build_report(results, source, destination, selection, RunInfo("analyze", "bench"))
    return render_html(report), len(report.results)


def timed(page, script: str) -> float:  # type: ignore[no-untyped-def]
    return float(
        page.evaluate(
            f"() => {{ const t = performance.now(); {script}; document.body.offsetHeight; "
            "return performance.now() - t; }"
        )
    )


def main(short: bool = False) -> None:
    started = time.perf_counter()
    html, count = fleet_report(200 if short else TARGET_RESULTS)
    render_seconds = time.perf_counter() - started
    folder = Path(tempfile.mkdtemp())
    path = folder / "fleet.html"
    path.write_text(html)
    chromium = shutil.which("chromium")
    assert chromium, "install Chromium (./scripts/bootstrap)"
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=chromium, args=["--no-sandbox", "--disable-gpu"])
        page = browser.new_page()
        started = time.perf_counter()
        page.goto(path.as_uri(), wait_until="load")
        load_seconds = time.perf_counter() - started
        fire = "f.dispatchEvent(new Event('change', {bubbles: true}))"
        first_layout = timed(page, "document.body.getBoundingClientRect()")
        uncheck = timed(page, f"const f = document.querySelector('input[value=pass]'); f.checked = false; {fire}")
        category = timed(page, f"const f = document.querySelector('select[name=category]'); f.value = 'vm'; {fire}")
        search = timed(
            page,
            "const f = document.querySelector('input[name=q]'); f.value = 'app42'; "
            "f.dispatchEvent(new Event('input', {bubbles: true}))",
        )
        expand = timed(
            page, "document.querySelectorAll('#results > li:not(.hidden) details').forEach(d => d.open = true)"
        )
        show_all = timed(page, "document.getElementById('more').click()")
        browser.close()
    shutil.rmtree(folder)
    print(f"fleet report: 2 hosts, {VMS} VMs, {count} results, {len(html) / 1_048_576:.1f} MiB of HTML")
    print(
        f"render (Python): {render_seconds * 1000:.0f} ms; load in Chromium: {load_seconds * 1000:.0f} ms "
        f"(+{first_layout:.0f} ms first layout)"
    )
    worst = max(uncheck, category, search, expand)
    print(
        f"hide passes: {uncheck:.0f} ms; filter by category: {category:.0f} ms; search: {search:.0f} ms; "
        f"expand all: {expand:.0f} ms"
    )
    print(f"'show all' on the filtered list: {show_all:.0f} ms")
    print(f"slowest interaction {worst:.0f} ms (target < 100 ms) {'OK' if worst < 100 else 'MISSED'}")


if __name__ == "__main__":
    main(short=short_mode(__doc__))
