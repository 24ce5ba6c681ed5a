"""Fleet scale: an estate collected in parallel, every pair judged, the HTML matrix in Chromium.

Run: .venv/bin/python benchmarks/fleet.py [--short]

The lab is a generated fleet (200 hosts with 20 VMs each; 25 ms per HTTP exchange and 300 ms
per PowerShell start-up, as in collect.py). It runs in a child process: real hosts do not
share the tool's interpreter, and an in-process lab would time the lab as much as the tool.
Printed, each against its goal:

- one host's collection, then every host at concurrency 32 (goal: under 10x one host);
- the evaluation of every (source, destination) pair from those facts, timed on its own
  (goal: under 10 s for 200 hosts x 20 VMs);
- the tool's peak RSS (goal: under 500 MiB);
- the HTML placement matrix in Chromium, the median and range of 5 loads: until the page has
  loaded and the matrix is painted, and the slowest interaction after it (goal: under 1 s).

``--short``: 12 hosts with 3 VMs at concurrency 4, the same figures (the test suite runs it).
``--collection-only``: only the collection figures (a minute, not a quarter of an hour, when
working on the collection); with ``--hosts N``, from a lab of N hosts (20 VMs each,
concurrency 32) instead of 200: the CPU a host costs the tool and the lab, measured in seconds
on a shared machine (the goal's ratio is for 200 hosts).
``--save-facts DIR``: also save every host's facts there; ``--facts-dir DIR``: no lab and no
collection, the evaluation and the HTML figures from fact files saved so (minutes, not a
quarter of an hour, when working on the evaluation).
"""

from __future__ import annotations

import argparse
import dataclasses
import multiprocessing
import os
import resource
import shutil
import socket
import statistics
import tempfile
import time
from datetime import UTC, datetime
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any

from _options import existing_folder, parser
from playwright.sync_api import Page, sync_playwright

from lmpreflight.collect.parallel import CollectOptions, collect_hosts
from lmpreflight.facts.load import load_host_facts, save_host_facts
from lmpreflight.facts.model import HostFacts
from lmpreflight.fileio import write_atomic
from lmpreflight.fleet.collect import collect_inventory
from lmpreflight.fleet.document import PlanInfo, plan_json_chunks
from lmpreflight.fleet.html import render_plan_html
from lmpreflight.fleet.inventory import InventoryHost
from lmpreflight.fleet.junit import plan_junit_chunks
from lmpreflight.fleet.placement import Placement, build_matrix, workers_for
from lmpreflight.lab.environment import Lab, LabTuning
from lmpreflight.lab.scenario import load_scenario
from lmpreflight.registry import load_checks
from lmpreflight.runner import Selection

TUNING = LabTuning(http_latency=0.025, powershell_startup=0.300)
GOAL_COLLECT_RATIO = 10.0
GOAL_EVALUATION_SECONDS = 10.0
GOAL_RSS_MIB = 500
GOAL_HTML_SECONDS = 1.0


def cpu_seconds() -> float:
    """CPU time of this process so far, every thread (user and system), and of the children
    it has waited for: the collection's forked workers (the lab, still running, is not one)."""
    times = os.times()
    return times.user + times.system + times.children_user + times.children_system


def serve_lab(scenario_file: str, connection: Connection) -> None:
    """The child process: the lab, until the parent says stop; it tells its CPU time when asked."""
    scenario = load_scenario(scenario_file)
    with Lab(scenario, TUNING) as lab:
        names = {name: lab.fqdn(name) for name in scenario.hosts}
        connection.send((lab.collect_options(False, ()), names))
        while connection.recv() == "cpu":
            connection.send(cpu_seconds())


@dataclasses.dataclass
class Collection:
    one: float
    many: float
    facts: dict[str, Any]
    tool_cpu: float
    lab_cpu: float
    load: tuple[float, float]
    """The machine's one-minute load average before and after the fleet collection."""


def collect(options: CollectOptions, names: dict[str, str], concurrency: int, lab: Connection) -> Collection:
    hosts = [InventoryHost(name, fqdn) for name, fqdn in names.items()]
    singles = []
    for host in hosts[1:4]:
        started = time.perf_counter()
        collect_hosts([host.target], options)
        singles.append(time.perf_counter() - started)
    one = sorted(singles)[len(singles) // 2]
    load_before = os.getloadavg()[0]
    lab.send("cpu")
    lab_before, tool_before = lab.recv(), cpu_seconds()
    started = time.perf_counter()
    facts = collect_inventory(hosts, dataclasses.replace(options, concurrency=concurrency))
    many = time.perf_counter() - started
    lab.send("cpu")
    lab_cpu, tool_cpu = lab.recv() - lab_before, cpu_seconds() - tool_before
    return Collection(one, many, facts, tool_cpu, lab_cpu, (load_before, os.getloadavg()[0]))


PAINTED = """
window.__matrixPainted = 0;
new MutationObserver(function (changes, observer) {
  if (!document.querySelector('#matrix tbody tr')) return;
  observer.disconnect();
  requestAnimationFrame(function () { setTimeout(function () { window.__matrixPainted = performance.now(); }); });
}).observe(document, { childList: true, subtree: true });
"""
"""Notes when the first rows of the matrix have been painted: the frame after they are drawn."""
NEXT_FRAME = "new Promise(done => requestAnimationFrame(() => setTimeout(done)))"
SHOWN = (
    "new Promise(done => {{ const box = document.querySelector('{0}'); const seen = () => box.querySelector('.problem');"
    " if (seen()) return done(); new MutationObserver((c, o) => {{ if (seen()) {{ o.disconnect(); done(); }} }})"
    ".observe(box, {{ childList: true, subtree: true }}); }}).then(() => " + NEXT_FRAME + ")"
)
"""Until the problems of what was opened are on the page, and painted."""
LOADS = 5
"""Page loads per measurement: the figures are the median and the spread (the machine is shared)."""


def timed(page: Page, script: str, until: str = NEXT_FRAME) -> float:
    """Milliseconds from a change until the frame that shows it has been painted (or, for a
    cell or a host opened, until its problems are on the page)."""
    return float(
        page.evaluate(
            f"async () => {{ const t = performance.now(); {script}; await {until}; return performance.now() - t; }}"
        )
    )


def interactions(page: Page) -> float:
    """The slowest of: opening a cell and a host, searching, paging, filtering rows and
    destinations, and scrolling to the last destinations, in seconds."""
    fire = "f.dispatchEvent(new Event('input', {bubbles: true}))"
    change = "f.dispatchEvent(new Event('change', {bubbles: true}))"
    times = [
        timed(page, "document.querySelector('td.c:not(.same)').click()", SHOWN.format("#detail")),
        timed(page, "document.querySelector('details.hostp').open = true", SHOWN.format("details.hostp")),
        timed(page, f"const f = document.querySelector('input[name=q]'); f.value = 'VM02'; {fire}"),
        timed(page, "document.getElementById('next').click()"),
        timed(page, f"const f = document.querySelector('input[name=q]'); f.value = ''; {fire}"),
        timed(page, f"const f = document.querySelector('select[name=rows]'); f.value = 'noready'; {change}"),
        timed(page, "const s = document.getElementById('scroll'); s.scrollLeft = s.scrollWidth"),
        timed(page, f"const f = document.querySelector('input[name=dest]'); f.value = 'HV0'; {fire}"),
    ]
    return max(times) / 1000


def browse(path: Path) -> tuple[list[float], list[float]]:
    """Each of :data:`LOADS` loads in a fresh tab: seconds from navigating to the page until it
    has loaded and its matrix has been painted, and the slowest interaction after it."""
    chromium = shutil.which("chromium")
    assert chromium, "install Chromium (./scripts/bootstrap)"
    loads, slowest = [], []
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=chromium, args=["--no-sandbox", "--disable-gpu"])
        blank = path.parent / "blank.html"
        blank.write_text("<!DOCTYPE html><title>blank</title>")
        for _ in range(LOADS):
            page = browser.new_page()
            page.add_init_script(PAINTED)
            page.goto(blank.as_uri())  # a renderer for file:// pages starts here, not in the timed load
            started = time.perf_counter()
            page.goto(path.as_uri(), wait_until="load")
            page.wait_for_function("window.__matrixPainted > 0", polling="raf")
            loads.append(time.perf_counter() - started)
            slowest.append(interactions(page))
            page.close()
        browser.close()
    return loads, slowest


def spread(seconds: list[float], unit: float = 1.0, digits: int = 2) -> str:
    """The median and the range of a few measurements."""
    low, middle, high = (round(x / unit, digits) for x in (min(seconds), statistics.median(seconds), max(seconds)))
    return (
        f"{middle:.{digits}f} ({low:.{digits}f}-{high:.{digits}f})"
        if digits
        else f"{middle:.0f} ({low:.0f}-{high:.0f})"
    )


def rss_mib() -> int:
    """Peak resident memory of this process so far (the lab runs in its own)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss // 1024


def verdict(ok: bool) -> str:
    return "OK" if ok else "MISSED"


def main(
    short: bool = False,
    facts_dir: Path | None = None,
    save_facts: Path | None = None,
    collection_only: bool = False,
    hosts: int = 200,
) -> None:
    folder = Path(tempfile.mkdtemp(prefix="lmpreflight-fleet-bench-"))
    if facts_dir is not None:
        facts = {path.stem: load_host_facts(path) for path in sorted(facts_dir.glob("*.json"))}
        print(f"{len(facts)} hosts' facts from {facts_dir} (no lab, no collection)")
    else:
        facts = collected(short, folder, hosts)
    if save_facts is not None:
        for name, host in facts.items():
            save_host_facts(host, save_facts / f"{name}.json")
    if not collection_only:
        judge_and_render(facts, folder)
    shutil.rmtree(folder, ignore_errors=True)


def collected(short: bool, folder: Path, size: int = 200) -> dict[str, HostFacts]:
    """The generated estate collected from the lab, with the collection figures printed."""
    hosts, vms, concurrency = (12, 3, 4) if short else (size, 20, 32)
    scenario_file = folder / "estate.yaml"
    scenario_file.write_text(
        f"extends: fleet\nname: estate\ngenerate: {{hosts: {hosts}, vms_per_host: {vms}, problems: true}}\n"
    )
    context = multiprocessing.get_context("fork")
    parent, child = context.Pipe()
    lab = context.Process(target=serve_lab, args=(str(scenario_file), child), daemon=True)
    lab.start()
    try:
        options, names = parent.recv()
        print(
            f"lab: {hosts} hosts x {vms} VMs in a child process, 25 ms per HTTP exchange, 300 ms per PowerShell start-up"
        )
        collection = collect(options, names, concurrency, parent)
    finally:
        parent.send("stop")
        lab.join(30)
    facts = collection.facts
    ratio = collection.many / collection.one
    after_collection = rss_mib()
    print(f"one host collected: {collection.one:.2f} s")
    goal = (
        f"(goal < {GOAL_COLLECT_RATIO:.0f}x) {verdict(ratio < GOAL_COLLECT_RATIO)}"
        if short or size == 200
        else f"(the goal, < {GOAL_COLLECT_RATIO:.0f}x, is for 200 hosts)"
    )
    print(f"{hosts} hosts, concurrency {concurrency}: {collection.many:.2f} s = {ratio:.1f}x one host {goal}")
    cpu = collection.tool_cpu + collection.lab_cpu
    print(
        f"  CPU meanwhile: tool {collection.tool_cpu:.1f} s ({collection.tool_cpu / hosts * 1000:.0f} ms per host), "
        f"lab {collection.lab_cpu:.1f} s ({collection.lab_cpu / hosts * 1000:.0f} ms per host); "
        f"on {os.cpu_count()} cores that alone takes {cpu / (os.cpu_count() or 1):.1f} s; "
        f"load average {collection.load[0]:.1f} before, {collection.load[1]:.1f} after"
    )
    print(f"RSS after collection: {after_collection} MiB")
    return facts


def judge_and_render(facts: dict[str, HostFacts], folder: Path) -> None:
    """The all-pairs evaluation, the reports and the HTML matrix in Chromium, each timed."""
    after_collection = rss_mib()
    load_before = os.getloadavg()[0]
    started, cpu_started = time.perf_counter(), cpu_with_workers()
    workers = workers_for(len(facts) ** 2)
    matrix = build_matrix(
        load_checks(include_plugins=False), facts, list(facts), list(facts), Selection(), workers=workers
    )
    evaluation, cpu = time.perf_counter() - started, cpu_with_workers() - cpu_started
    cells = sum(matrix.count(p) for p in Placement)
    print(
        f"all-pairs evaluation: {matrix.pairs} pairs, {len(matrix.rows)} VMs, {cells} VM x destination cells, "
        f"{len(matrix.problems)} distinct problems, {workers} processes: {evaluation:.2f} s "
        f"({cpu:.1f} s of CPU, {cpu / max(matrix.pairs, 1) * 1000:.2f} ms a pair; "
        f"load average {load_before:.1f} before, {os.getloadavg()[0]:.1f} after) "
        f"(goal < {GOAL_EVALUATION_SECONDS:.0f} s for 200 hosts x 20 VMs) {verdict(evaluation < GOAL_EVALUATION_SECONDS)}"
    )

    after_evaluation = rss_mib()
    info = PlanInfo(command="benchmark", run_from=socket.gethostname(), generated_at=datetime.now(UTC))
    path = folder / "plan.html"
    renders = {"plan.html": render_plan_html, "plan.json": plan_json_chunks, "plan.xml": plan_junit_chunks}
    written = []
    for name, render in renders.items():
        started, cpu_started = time.perf_counter(), cpu_seconds()
        write_atomic(folder / name, render(matrix, info))
        wall, cpu = time.perf_counter() - started, cpu_seconds() - cpu_started
        written.append(f"{name} {(folder / name).stat().st_size / 1e6:.1f} MB in {wall:.1f} s ({cpu:.1f} s of CPU)")
    peak = rss_mib()
    print(
        f"peak RSS of the tool: {peak} MiB (after collection {after_collection}, after evaluation "
        f"{after_evaluation}, after the reports {peak}) (goal < {GOAL_RSS_MIB} MiB) {verdict(peak < GOAL_RSS_MIB)}"
    )
    print(f"reports written: {', '.join(written)}; load average {os.getloadavg()[0]:.1f}")
    load_before = os.getloadavg()[0]
    loads, slowest = browse(path)
    print(
        f"HTML matrix: in Chromium, median (range) of {LOADS} loads: "
        f"load until the matrix is painted {spread(loads)} s, slowest interaction {spread(slowest, 0.001, 0)} ms; "
        f"load average {load_before:.1f} before, {os.getloadavg()[0]:.1f} after "
        f"(goal < {GOAL_HTML_SECONDS:.0f} s) {verdict(max(statistics.median(loads), statistics.median(slowest)) < GOAL_HTML_SECONDS)}"
    )


def host_count(text: str) -> int:
    """At least five hosts: the first three are each collected alone for the one-host time,
    and a fleet of fewer is not worth measuring."""
    try:
        count = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text}: a number of hosts") from None
    if not 5 <= count <= 5000:
        raise argparse.ArgumentTypeError(f"{text}: between 5 and 5000 hosts")
    return count


def cpu_with_workers() -> float:
    """CPU time of this process and of its finished children (the evaluation's workers):
    on a shared machine, wall time also counts other people's work."""
    own, children = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + children.ru_utime + children.ru_stime


if __name__ == "__main__":
    command_line = parser(__doc__)
    command_line.add_argument(
        "--save-facts", type=existing_folder, metavar="DIR", help="also save every host's facts there"
    )
    command_line.add_argument(
        "--facts-dir", type=existing_folder, metavar="DIR", help="no lab: evaluation and HTML from facts saved so"
    )
    command_line.add_argument(
        "--collection-only", action="store_true", help="only the collection figures: no evaluation, reports or HTML"
    )
    command_line.add_argument(
        "--hosts", type=host_count, default=200, metavar="N", help="with --collection-only: a lab of N hosts, not 200"
    )
    given = command_line.parse_args()
    if given.collection_only and given.facts_dir is not None:
        command_line.error("--collection-only measures a collection; --facts-dir skips it")
    if given.hosts != 200 and (given.short or not given.collection_only):
        command_line.error("--hosts sizes the lab of --collection-only (the other goals are for 200 hosts)")
    main(
        short=given.short,
        facts_dir=given.facts_dir,
        save_facts=given.save_facts,
        collection_only=given.collection_only,
        hosts=given.hosts,
    )
