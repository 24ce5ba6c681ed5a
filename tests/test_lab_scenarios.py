"""Every built-in scenario over the real transport: pywinrm (NTLM with message encryption),
ldap3 (StartTLS) and dnspython against the lab, with exactly the expected outcome."""

from __future__ import annotations

import pytest

from lmpreflight.lab.scenario import builtin_names, load_scenario
from lmpreflight.report.build import verdict_for
from tests.lab_helpers import check_scenario, non_passing

REQUIRED = {
    "healthy",
    "credssp-remote-start",
    "delegation-missing",
    "delegation-kerberos-only",
    "delegation-one-way",
    "vm-version-too-new",
    "vm-version-2012r2-to-2022",
    "untrusted-domains",
    "hyperv-role-missing",
    "migration-disabled",
    "network-not-isolated",
    "no-shared-migration-subnet",
    "port-6600-blocked",
    "clock-skew",
    "switch-missing-on-destination",
    "processor-vendor-mismatch",
    "host-unreachable",
    "bad-password",
}


def test_required_scenarios_are_built_in() -> None:
    assert set(builtin_names()) >= REQUIRED


@pytest.mark.parametrize("name", builtin_names())
def test_scenario_yields_exactly_its_expected_results(name: str) -> None:
    scenario = load_scenario(name)
    assert scenario.expect is not None, f"{name} declares no expectation"
    results, lab = check_scenario(scenario)
    assert non_passing(results) == set(scenario.expect.non_passing)
    assert verdict_for([r.status for r in results], strict=False).value == scenario.expect.verdict
    for server in lab.wsman.values():
        assert server.shells == {}, "every remote shell is closed"
        assert server.stats.processes <= 1, "one PowerShell process per host"
        assert server.stats.shells_created <= 1, "one WinRM shell per host"


def test_healthy_hosts_report_their_migration_adapters_mtu() -> None:
    results, _ = check_scenario(load_scenario("healthy"))
    messages = sorted(r.finding.message for r in results if r.check.id == "network.migration-mtu")
    assert messages == ["HV01: adapter 'LiveMigration' MTU 9000", "HV02: adapter 'LiveMigration' MTU 9000"]
