"""Collection speed against the lab with realistic delays, compared with the naive pattern.

Run: .venv/bin/python benchmarks/collect.py           (--short: a quick run for CI, same figures)

The lab adds 25 ms to every HTTP exchange and 300 ms to every PowerShell start-up. Printed:
- a two-host `check` collection: wall time, HTTP exchanges and PowerShell processes per host;
- the same facts fetched the naive way (one `run_ps` per fact query, as testinfra-style code
  does), over the same lab;
- the floor: the slowest host's single PowerShell start-up plus its exchanges at 25 ms each;
- 50 lab hosts collected with bounded concurrency: wall time and peak memory.
Targets: at least 10x faster than the naive baseline, within 1.3x of the floor.
"""

from __future__ import annotations

import copy
import dataclasses
import resource
import time
from concurrent.futures import ThreadPoolExecutor

import winrm
from _options import short_mode

from lmpreflight.collect.parallel import collect_hosts
from lmpreflight.facts.model import HOST_SECTIONS
from lmpreflight.lab.environment import Lab, LabTuning
from lmpreflight.lab.scenario import Scenario, load_scenario

LATENCY = 0.025
STARTUP = 0.300
TUNING = LabTuning(http_latency=LATENCY, powershell_startup=STARTUP)

# What a naive tool sends: one remote PowerShell per fact the checks read (the lab answers
# each by the section named in its marker line).
NAIVE_QUERIES = [
    ("identity", "(Get-CimInstance Win32_ComputerSystem).Name"),
    ("identity", "(Get-CimInstance Win32_ComputerSystem).DNSHostName"),
    ("identity", "Get-NetIPAddress | Select-Object -ExpandProperty IPAddress"),
    ("os", "(Get-CimInstance Win32_OperatingSystem).Caption"),
    ("os", "(Get-CimInstance Win32_OperatingSystem).BuildNumber"),
    ("domain", "(Get-CimInstance Win32_ComputerSystem).PartOfDomain"),
    ("domain", "(Get-CimInstance Win32_ComputerSystem).Domain"),
    ("domain", "Test-ComputerSecureChannel"),
    ("hyperv", "(Get-WindowsFeature Hyper-V).Installed"),
    ("hyperv", "[bool](Get-Module -ListAvailable Hyper-V)"),
    ("hyperv", "(Get-Service vmms).Status"),
    ("migration", "(Get-VMHost).VirtualMachineMigrationEnabled"),
    ("migration", "[string](Get-VMHost).VirtualMachineMigrationAuthenticationType"),
    ("migration", "[string](Get-VMHost).VirtualMachineMigrationPerformanceOption"),
    ("migration", "(Get-VMHost).MaximumVirtualMachineMigrations"),
    ("migration", "(Get-VMHost).UseAnyNetworkForMigration"),
    ("migration", "Get-VMMigrationNetwork | ConvertTo-Json"),
    ("migration", "Get-VMHostSupportedVersion | ConvertTo-Json"),
    ("network", "Get-NetIPAddress | ConvertTo-Json"),
    ("network", "(Get-NetFirewallRule -Name VIRT-MIGL-In-TCP-NoScope).Enabled"),
    ("switches", "Get-VMSwitch | ConvertTo-Json"),
    ("vms", "Get-VM | ConvertTo-Json"),
    ("vms", "Get-VM | Get-VMNetworkAdapter | ConvertTo-Json"),
    ("vms", "Get-VM | Get-VMProcessor | ConvertTo-Json"),
    ("memory", "(Get-CimInstance Win32_OperatingSystem).FreePhysicalMemory"),
    ("processor", "(Get-CimInstance Win32_Processor).Manufacturer"),
    ("session", "whoami /groups /fo csv"),
    (
        "security",
        "(Get-CimInstance -Namespace root/Microsoft/Windows/DeviceGuard Win32_DeviceGuard).SecurityServicesRunning",
    ),
    ("clock", "[DateTime]::UtcNow.ToString('o')"),
    ("storage", "(Get-VMHost).VirtualMachinePath"),
    ("storage", "(Get-VMHost).VirtualHardDiskPath"),
    ("storage", "Get-Volume | ConvertTo-Json"),
    ("storage", "Get-VMSan | ConvertTo-Json"),
    ("resolver", "Resolve-DnsName -Name hv02.corp.example -Type A_AAAA | ConvertTo-Json"),
    ("resolver", "nltest /dsgetdc:corp.example"),
]


def check_naive_queries() -> None:
    """The naive baseline must ask for every section the collector gathers, or it flatters us."""
    missing = set(HOST_SECTIONS) - {section for section, _ in NAIVE_QUERIES}
    if missing:
        raise SystemExit(f"benchmarks/collect.py: NAIVE_QUERIES has no query for: {', '.join(sorted(missing))}")


def exchanges(lab: Lab) -> dict[str, int]:
    return {name: server.stats.http_requests for name, server in lab.wsman.items()}


def processes(lab: Lab) -> dict[str, int]:
    return {name: server.stats.processes for name, server in lab.wsman.items()}


def ours(scenario: Scenario) -> tuple[float, dict[str, int], dict[str, int]]:
    with Lab(scenario, TUNING) as lab:
        options = lab.collect_options(False, tuple(scenario.vms))
        started = time.perf_counter()
        facts = collect_hosts([lab.fqdn("HV01"), lab.fqdn("HV02")], options, pair=True)
        elapsed = time.perf_counter() - started
        assert all(not f.errors for f in facts), [f.errors for f in facts]
        return elapsed, exchanges(lab), processes(lab)


def naive(scenario: Scenario, queries: list[tuple[str, str]]) -> tuple[float, dict[str, int], dict[str, int]]:
    with Lab(scenario, TUNING) as lab:

        def host(url: str) -> None:
            session = winrm.Session(
                url,
                auth=(scenario.client.user, scenario.client.password),
                transport="ntlm",
                proxy=None,
                ca_trust_path=None,
            )
            for section, query in queries:
                result = session.run_ps(f"# lmpreflight-fact: {section}\n{query}")
                assert result.status_code == 0, result.std_err

        started = time.perf_counter()
        with ThreadPoolExecutor(2) as pool:
            list(pool.map(host, lab.endpoints.winrm.values()))
        return time.perf_counter() - started, exchanges(lab), processes(lab)


def fleet(size: int, concurrency: int) -> tuple[float, int, int]:
    base = load_scenario("healthy")
    hosts = dict(base.hosts)
    template = base.hosts["HV02"]
    for index in range(size - 2):
        name = f"HVX{index:02d}"
        facts = copy.deepcopy(template.facts)
        facts["identity"] = {**facts["identity"], "computer_name": name, "fqdn": f"{name.lower()}.corp.example"}
        hosts[name] = template.model_copy(update={"role": "other", "facts": facts, "account": None})
    scenario = base.model_copy(update={"hosts": hosts})
    with Lab(scenario, TUNING) as lab:
        options = dataclasses.replace(lab.collect_options(False, ()), concurrency=concurrency)
        started = time.perf_counter()
        facts = collect_hosts([lab.fqdn(name) for name in hosts], options)
        elapsed = time.perf_counter() - started
        failed = sum(1 for f in facts if f.whole_host_error)
    peak_mib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss // 1024
    return elapsed, failed, peak_mib


def main(short: bool = False) -> None:
    """``short``: the same measurements on a small scale (a sample of the naive queries, scaled
    up; a fleet of 6), so CI proves the benchmark still runs and prints its figures."""
    check_naive_queries()
    scenario = load_scenario("healthy")
    ours_time, ours_exchanges, ours_processes = ours(scenario)
    queries = NAIVE_QUERIES[::11] if short else NAIVE_QUERIES
    naive_time, naive_exchanges, naive_processes = naive(scenario, queries)
    if short:
        print(f"short mode: {len(queries)} of {len(NAIVE_QUERIES)} naive queries timed, scaled to all of them")
        naive_time *= len(NAIVE_QUERIES) / len(queries)
    floor = STARTUP + max(ours_exchanges.values()) * LATENCY
    print(f"lab: {LATENCY * 1000:.0f} ms per HTTP exchange, {STARTUP * 1000:.0f} ms per PowerShell start-up")
    print(
        f"lmpreflight check (2 hosts): {ours_time:.2f} s; HTTP exchanges per host {ours_exchanges}; "
        f"PowerShell processes per host {ours_processes}"
    )
    print(
        f"naive run_ps per fact   : {naive_time:.2f} s; HTTP exchanges per host {naive_exchanges}; "
        f"PowerShell processes per host {naive_processes}"
    )
    print(f"floor (1 start-up + {max(ours_exchanges.values())} exchanges): {floor:.2f} s")
    speedup, over_floor = naive_time / ours_time, ours_time / floor
    print(f"speed-up over naive: {speedup:.1f}x (target >= 10x) {'OK' if speedup >= 10 else 'MISSED'}")
    print(f"ratio to floor: {over_floor:.2f}x (target <= 1.3x) {'OK' if over_floor <= 1.3 else 'MISSED'}")
    size = 6 if short else 50
    for concurrency in (4,) if short else (8, 16):
        elapsed, failed, peak = fleet(size, concurrency)
        print(
            f"{size} hosts, concurrency {concurrency}: {elapsed:.2f} s, {failed} failed, peak RSS {peak} MiB "
            "(whole process, lab included)"
        )


if __name__ == "__main__":
    main(short=short_mode(__doc__))
