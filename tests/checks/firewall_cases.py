"""Cases of network.firewall-rule and network.port-6600 that read the firewall profiles: which
profile applies to the destination's migration adapter, and whether the rule covers it."""

from __future__ import annotations

from collections.abc import Callable

from tests.checks.cases import Case, Doc


def _profiles(
    rule_profiles: str = "Any",
    *,
    enabled: bool = True,
    public_on: bool = True,
    port_ok: bool | None = None,
) -> Callable[[Doc, Doc], None]:
    """The destination's migration adapter in the Public profile (an unidentified, isolated
    network), its management adapter in the domain's; the rule assigned to ``rule_profiles``."""

    def mutate(source: Doc, destination: Doc) -> None:
        for adapter in destination["network"]["adapters"]:
            adapter["network_category"] = "DomainAuthenticated" if adapter.get("default_gateway") else "Public"
        destination["network"]["migration_firewall_rule"] = {
            "present": True,
            "enabled": enabled,
            "store": "ActiveStore",
            "profiles": [
                {"name": "Domain", "enabled": True},
                {"name": "Private", "enabled": True},
                {"name": "Public", "enabled": public_on},
            ],
            "rule_profiles": rule_profiles,
        }
        if port_ok is not None:
            source["network"]["port_tests"] = [
                {
                    "address": "10.0.50.12",
                    "port": 6600,
                    "succeeded": port_ok,
                    "outcome": "connected" if port_ok else "timed-out",
                    "detail": None if port_ok else "no answer from 10.0.50.12:6600 within 3000 ms",
                }
            ]

    return mutate


FIREWALL_CASES = [
    Case(
        "network.firewall-rule",
        "assigned to every profile",
        _profiles(),
        "pass",
        "enabled on HV02 for Any: 'LiveMigration' (Public profile)",
    ),
    Case(
        "network.firewall-rule",
        "assigned to Domain only, migration adapter in Public",
        _profiles("Domain", port_ok=False),
        "fail",
        "enabled only for Domain; migration adapter 'LiveMigration' (Public profile) is not",
    ),
    Case(
        "network.firewall-rule",
        "profile not covered but the port test got through",
        _profiles("Domain, Private", port_ok=True),
        "warn",
        "HV01 reached TCP 6600 on 10.0.50.12: another rule, a GPO or another firewall allows it",
    ),
    Case(
        "network.firewall-rule",
        "rule disabled, firewall off for the profile",
        _profiles(enabled=False, public_on=False, port_ok=True),
        "pass",
        "Windows Firewall is off for 'LiveMigration' (Public profile): nothing filters TCP 6600 there",
    ),
    Case(
        "network.firewall-rule",
        "rule disabled, firewall on for the profile",
        _profiles(enabled=False, port_ok=False),
        "fail",
        "is disabled on HV02, and Windows Firewall is on for 'LiveMigration' (Public profile)",
    ),
    Case(
        "network.port-6600",
        "blocked because the rule misses the adapter's profile",
        _profiles("Domain", port_ok=False),
        "fail",
        "is not assigned to 'LiveMigration' (Public profile)",
    ),
]
