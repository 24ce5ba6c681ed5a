"""Pass and fail cases of the identity checks (kept apart from the other families' cases)."""

from __future__ import annotations

from tests.checks.cases import Case, Doc, _set


def _claims_dc(source: Doc, destination: Doc) -> None:
    destination["identity"]["computer_name"] = "DC01"
    destination["identity"]["fqdn"] = "dc01.corp.example"


def _reached_by_address(source: Doc, destination: Doc) -> None:
    destination["target"] = "10.0.10.12"


IDENTITY_CASES = [
    Case("identity.host-is-who-it-says", "pass", None, "pass", "hv02.corp.example is HV02"),
    Case("identity.host-is-who-it-says", "answers as a DC", _claims_dc, "fail", "reports the computer name DC01"),
    Case(
        "identity.host-is-who-it-says",
        "AD account elsewhere",
        _set("directory.computer.dns_host_name", "other.corp.example"),
        "fail",
        "dNSHostName is other.corp.example",
    ),
    Case("identity.host-is-who-it-says", "typed as an address", _reached_by_address, "warn", "typed as an address"),
    Case("identity.domain-as-chosen", "pass", None, "pass", "HV02 is in corp.example"),
    Case(
        "identity.domain-as-chosen",
        "claims another domain",
        _set("domain.domain", "evil.example"),
        "fail",
        "reports the domain evil.example",
    ),
    Case("identity.domain-as-chosen", "workgroup", _set("domain.part_of_domain", False), "info", "not domain-joined"),
]
