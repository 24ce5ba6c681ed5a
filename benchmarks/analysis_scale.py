"""How analysis grows with the number of VMs a host reports (a hostile or huge host must not stall it).

Run: .venv/bin/python benchmarks/analysis_scale.py     (--short: 500 and 2,000 VMs, for CI)

Copies the broken example source's first VM N times (VM000000, VM000001, …), then times what
'analyze' does without --vm: evaluating every check and the per-VM readiness, building the
report and rendering it as JSON. Prints seconds per size, wall and CPU (the growth and the goal
use CPU time, which other work on a shared machine inflates far less), the CPU a VM with the
load average it was measured at (the figure to compare between runs), and the growth for 4× the
VMs; near 4 means linear, 16 would be quadratic. The full run goes up to 48,000 VMs (a 30 MB fact file,
under the 32 MB limit).

The goal: 48,000 VMs analysed in under 10 s on a 2-core CI machine, so a hostile or huge host
never stalls a run that no --timeout covers. The short run projects its largest size linearly
to 48,000 VMs and prints that against the goal; the full run measures it.
"""

from __future__ import annotations

import copy
import json
import os
import time
from pathlib import Path

from _options import short_mode

from lmpreflight.facts.model import HostFacts
from lmpreflight.registry import load_checks
from lmpreflight.report.build import RunInfo, build_report
from lmpreflight.report.json_report import render_json
from lmpreflight.runner import Selection, evaluate, vm_readiness

GOAL_VMS = 48_000
GOAL_SECONDS = 10.0
EXAMPLES = Path(__file__).resolve().parent.parent / "examples" / "facts" / "broken"


def facts_with(vms: int) -> tuple[HostFacts, HostFacts]:
    source = json.loads((EXAMPLES / "source.json").read_text())
    first = source["vms"][0]
    source["vms"] = [
        {**copy.deepcopy(first), "name": f"VM{i:06d}", "id": f"a1b2c3d4-0000-4000-8000-{i:012d}"} for i in range(vms)
    ]
    destination = json.loads((EXAMPLES / "destination.json").read_text())
    return HostFacts.model_validate(source), HostFacts.model_validate(destination)


def analyse(vms: int) -> float:
    source, destination = facts_with(vms)
    registry = load_checks(include_plugins=False)
    selection = Selection()
    started, cpu_started = time.perf_counter(), time.process_time()
    results = evaluate(registry, source, destination, selection)
    readiness = vm_readiness(registry, source, destination, selection)
    run = RunInfo(command="analyze", run_from="bench")
    report = build_report(results, source, destination, selection, run, readiness=readiness)
    render_json(report)
    elapsed, cpu = time.perf_counter() - started, time.process_time() - cpu_started
    print(
        f"{vms:>6} VMs: {elapsed:6.2f} s wall, {cpu:6.2f} s CPU, {cpu / vms * 1e6:.0f} µs of CPU a VM "
        f"({len(readiness)} VMs judged; load average {os.getloadavg()[0]:.1f})"
    )
    return cpu


def main(short: bool) -> None:
    sizes = [500, 2000] if short else [1000, 4000, 12000, 48000]
    times = [analyse(n) for n in sizes]
    for index in range(1, len(sizes)):
        small, large = sizes[index - 1], sizes[index]
        t_small, t_large = times[index - 1], times[index]
        factor = (t_large / t_small) / (large / small) * 4
        print(f"growth per 4x VMs: {factor:.1f} ({small} -> {large}; 4 is linear, 16 quadratic)")
    largest, seconds = sizes[-1], times[-1]
    figure = "measured" if largest == GOAL_VMS else f"projected linearly from {largest:,}"
    at_goal = seconds * GOAL_VMS / largest
    verdict = "met" if at_goal < GOAL_SECONDS else "NOT met"
    print(f"{GOAL_VMS:,} VMs ({figure}): {at_goal:.1f} s CPU; goal < {GOAL_SECONDS:.0f} s on 2 cores: {verdict}")


if __name__ == "__main__":
    main(short=short_mode(__doc__))
