"""Pass, fail and missing-fact cases of the checks that read the hosts' own resolver and DC locator."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from tests.checks.cases import Case, Doc

DC_FOUND = {
    "domain": "corp.example",
    "exit_code": 0,
    "domain_controller": "dc01.corp.example",
    "address": "10.0.10.5",
    "domain_name": "corp.example",
    "forest": "corp.example",
    "dc_site": "Default-First-Site-Name",
    "client_site": "Default-First-Site-Name",
    "flags": ["PDC", "GC", "DS", "LDAP", "KDC", "WRITABLE", "DNS_DC", "CLOSE_SITE"],
}


def _lookup(name: str, *addresses: str, error: str | None = None) -> dict[str, Any]:
    return {"name": name, "addresses": list(addresses), "error": error}


def _views(
    source_names: list[dict[str, Any]] | None = None,
    destination_names: list[dict[str, Any]] | None = None,
    source_dc: dict[str, Any] | None = None,
    destination_dc: dict[str, Any] | None = None,
) -> Callable[[Doc, Doc], None]:
    """Both hosts' resolver sections: by default each finds the other at its management address
    and finds dc01 in its own site."""

    def mutate(source: Doc, destination: Doc) -> None:
        source["resolver"] = {
            "peer_names": source_names if source_names is not None else [_lookup("hv02.corp.example", "10.0.10.12")],
            "dc_locator": source_dc or DC_FOUND,
        }
        destination["resolver"] = {
            "peer_names": destination_names
            if destination_names is not None
            else [_lookup("hv01.corp.example", "10.0.10.11")],
            "dc_locator": destination_dc or DC_FOUND,
        }

    return mutate


def _section_lost(role: str) -> Callable[[Doc, Doc], None]:
    """The collector tried the section and lost it: an error names it."""

    def mutate(source: Doc, destination: Doc) -> None:
        _views()(source, destination)
        doc = source if role == "source" else destination
        doc["resolver"] = None
        doc["errors"] = [*doc.get("errors", []), {"section": "resolver", "message": "Access is denied", "hint": None}]

    return mutate


def _older_facts(source: Doc, destination: Doc) -> None:
    """Facts written before the hosts' own resolver was read: no section, no error."""
    source.pop("resolver", None)
    destination.pop("resolver", None)


def _only_source_told(source: Doc, destination: Doc) -> None:
    _views()(source, destination)
    destination["resolver"]["peer_names"] = []


NO_DOMAIN = {
    "domain": "corp.example",
    "exit_code": 1,
    "status": 1355,
    "error": "Getting DC name failed: Status = 1355 0x54b ERROR_NO_SUCH_DOMAIN",
    "output": ["Getting DC name failed: Status = 1355 0x54b ERROR_NO_SUCH_DOMAIN"],
}
OTHER_SITE = {**DC_FOUND, "dc_site": "Branch", "flags": ["DS", "LDAP", "KDC"]}
RETIRED_DC = {**DC_FOUND, "domain_controller": "dc09.corp.example"}
UNREAD = {"domain": "corp.example", "exit_code": 0, "error": "nltest printed no DC: line", "output": ["Fehler"]}

RESOLVER_CASES = [
    Case("resolver.peer-names", "pass", _views(), "pass", "HV01 finds HV02: hv02.corp.example → 10.0.10.12"),
    Case(
        "resolver.peer-names",
        "another of the peer's own addresses",
        _views(source_names=[_lookup("hv02.corp.example", "10.0.50.12")]),
        "pass",
        "the tool resolved 10.0.10.12; both are HV02's",
    ),
    Case(
        "resolver.peer-names",
        "stale hosts-file entry on the source",
        _views(source_names=[_lookup("hv02.corp.example", "10.0.10.99")]),
        "fail",
        "hv02.corp.example → 10.0.10.99, not an address of HV02 (the tool: 10.0.10.12)",
        subjects=frozenset({"source"}),
    ),
    Case(
        "resolver.peer-names",
        "source cannot resolve the destination",
        _views(source_names=[_lookup("hv02.corp.example", error="hv02.corp.example : DNS name does not exist")]),
        "fail",
        "hv02.corp.example does not resolve (hv02.corp.example : DNS name does not exist)",
    ),
    Case(
        "resolver.peer-names",
        "destination cannot resolve the source",
        _views(destination_names=[_lookup("hv01.corp.example", error="hv01.corp.example : DNS name does not exist")]),
        "warn",
        "moving the VM back would fail",
    ),
    Case(
        "resolver.peer-names",
        "short name unresolved, FQDN fine",
        _views(
            source_names=[
                _lookup("HV02", error="HV02 : DNS name does not exist"),
                _lookup("hv02.corp.example", "10.0.10.12"),
            ]
        ),
        "warn",
        "hv02.corp.example → 10.0.10.12 works",
    ),
    Case(
        "resolver.peer-names",
        "round robin with a foreign address",
        _views(source_names=[_lookup("hv02.corp.example", "10.0.10.12", "10.0.10.99")]),
        "warn",
        "10.0.10.99 is not HV02's",
    ),
    Case(
        "resolver.peer-names",
        "one host collected alone",
        _only_source_told,
        "info",
        "HV02 was not told its peer's names",
    ),
    Case("resolver.peer-names", "older facts", _older_facts, "skip", "HV01's own resolver was not read"),
    Case(
        "resolver.peer-names",
        "missing facts",
        _section_lost("source"),
        "error",
        "source.resolver could not be collected from HV01: Access is denied",
    ),
    Case("resolver.domain-controller", "pass", _views(), "pass", "HV01 finds DC dc01.corp.example of corp.example"),
    Case(
        "resolver.domain-controller",
        "no DC for the source",
        _views(source_dc=NO_DOMAIN),
        "fail",
        "HV01 finds no DC for corp.example: Getting DC name failed: Status = 1355",
    ),
    Case(
        "resolver.domain-controller",
        "no DC for the destination",
        _views(destination_dc=NO_DOMAIN),
        "fail",
        "HV02 finds no DC for corp.example",
    ),
    Case(
        "resolver.domain-controller",
        "DC of another site",
        _views(destination_dc=OTHER_SITE),
        "warn",
        "dc01.corp.example is in site Branch, HV02 in Default-First-Site-Name",
    ),
    Case(
        "resolver.domain-controller",
        "DC that DNS no longer lists",
        _views(source_dc=RETIRED_DC),
        "warn",
        "dc09.corp.example is not among the DCs DNS lists for corp.example (dc01.corp.example)",
    ),
    Case(
        "resolver.domain-controller",
        "output that cannot be read",
        _views(source_dc=UNREAD),
        "warn",
        "could not be read (nltest printed no DC: line): Fehler",
    ),
    Case(
        "resolver.domain-controller",
        "older facts",
        _older_facts,
        "skip",
        "HV02's own resolver was not read (facts from a collector before lmpreflight read it)",
    ),
    Case(
        "resolver.domain-controller",
        "missing facts",
        _section_lost("destination"),
        "error",
        "destination.resolver could not be collected from HV02: Access is denied",
    ),
]


def _asked_about_another_host(source: Doc, destination: Doc) -> None:
    """Facts saved in another pair (plan): the source resolved HV09, not this destination."""
    _views(source_names=[_lookup("hv09.corp.example", "10.0.10.19")])(source, destination)


RESOLVER_CASES.append(
    Case(
        "resolver.peer-names",
        "lookups of another pair's host",
        _asked_about_another_host,
        "info",
        "HV01 resolved hv09.corp.example, not a name of HV02",
    )
)
