"""Fact files from a lab scenario, the same bytes every time the same scenario is collected.

The example fact files in ``examples/facts/`` are written this way (``lmpreflight lab facts``),
so a host fact is defined once, in the lab's scenarios, and the examples follow. The facts
are collected by the real pipeline over WinRM, LDAP and DNS from a running lab; only what
differs from one run to the next is then pinned:

- the moments (collection, the host's and the DC's clocks, the observer's) are set to
  ``PINNED_AT``, each clock keeping the offset the scenario gives it;
- the machine the tool ran on is ``PINNED_RUN_FROM``;
- the lab's loopback ports are what a Windows domain publishes: the DNS server without the
  lab's port, the DC's SRV record on LDAP's port 389;
- values of multi-valued directory attributes come in no defined order from Active Directory
  (nor from the lab's LDAP server); they are sorted.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from lmpreflight.facts.model import ClockFacts, ComputerAccount, DirectoryFacts, DnsFacts, HostFacts
from lmpreflight.lab.scenario import Scenario

PINNED_AT = datetime(2026, 11, 20, 9, 15, 1, tzinfo=UTC)
PINNED_RUN_FROM = "ADMIN-WS01.corp.example"
LDAP_PORT = 389
"""The port a domain controller's ``_ldap._tcp.dc._msdcs`` SRV record names."""


def pinned(facts: HostFacts, scenario: Scenario, host: str) -> HostFacts:
    """``facts`` collected from the lab's ``host``, with every run-dependent value pinned."""
    return facts.model_copy(
        update={
            "collected_at": PINNED_AT,
            "collector": facts.collector.model_copy(update={"run_from": PINNED_RUN_FROM}),
            "clock": _clock(facts.clock, scenario.hosts[host].clock_offset),
            "directory": _directory(facts.directory, scenario),
            "dns": _dns(facts.dns),
        }
    )


def _clock(clock: ClockFacts | None, offset: float) -> ClockFacts | None:
    if clock is None:
        return None
    return clock.model_copy(update={"host_utc": PINNED_AT + timedelta(seconds=offset), "observer_utc": PINNED_AT})


def _directory(directory: DirectoryFacts | None, scenario: Scenario) -> DirectoryFacts | None:
    if directory is None:
        return None
    update: dict[str, object] = {
        "computer": _account(directory.computer),
        "migration_spn_holders": [
            holder.model_copy(update={"holders": sorted(holder.holders)}) for holder in directory.migration_spn_holders
        ],
    }
    if directory.observer_utc is not None:
        domain = scenario.domains.get(directory.domain_dns_name)
        offset = domain.dc_clock_offset if domain is not None else 0.0
        update |= {"observer_utc": PINNED_AT, "dc_utc": PINNED_AT + timedelta(seconds=offset)}
    return directory.model_copy(update=update)


def _account(account: ComputerAccount | None) -> ComputerAccount | None:
    if account is None:
        return None
    return account.model_copy(
        update={
            "service_principal_names": sorted(account.service_principal_names),
            "allowed_to_delegate_to": sorted(account.allowed_to_delegate_to),
            "allowed_to_act": None if account.allowed_to_act is None else sorted(account.allowed_to_act),
        }
    )


def _dns(dns: DnsFacts | None) -> DnsFacts | None:
    if dns is None:
        return None
    server = dns.server.rsplit(":", 1)[0] if dns.server.count(":") == 1 else dns.server
    srv = [target.model_copy(update={"port": LDAP_PORT}) for target in dns.dc_srv]
    return dns.model_copy(update={"server": server, "dc_srv": srv})
