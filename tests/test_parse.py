"""Windows PowerShell 5.1 serialisation quirks are undone in one place, and one bad section
does not cost the others."""

from __future__ import annotations

import copy
import json
import types
import typing
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from pydantic import BaseModel

from lmpreflight.facts import load_host_facts
from lmpreflight.facts import model as fact_model
from lmpreflight.facts.from_collector import facts_from_collector, normalise, with_stage_two
from lmpreflight.facts.model import CollectorInfo, MigrationSettings, NetworkFacts
from lmpreflight.lab.hosts import LabHost, LabWorld
from lmpreflight.lab.scenario import load_scenario

INFO = CollectorInfo(method="lab", tool_version="test", run_from="test")
NOW = datetime(2026, 11, 20, 9, 0, tzinfo=UTC)


def _document(name: str = "healthy", host: str = "HV01") -> dict[str, Any]:
    scenario = load_scenario(name)
    return LabHost(LabWorld(scenario, "CORP\\hvadmin"), host).collector_document()


def _migration(**fields: Any) -> dict[str, Any]:
    """A migration section as the collector prints it, with ``fields`` added or changed."""
    return {
        "enabled": True,
        "authentication_type": "Kerberos",
        "performance_option": "SMB",
        "maximum_migrations": 2,
        "use_any_network": False,
        **fields,
    }


def test_single_item_arrays_and_wrapped_arrays_become_lists() -> None:
    raw = _migration(
        networks={"subnet": "10.0.50.0/24", "priority": None},
        supported_vm_versions={"value": ["9.0", "10.0"], "Count": 2},
    )
    value = MigrationSettings.model_validate(normalise(raw, MigrationSettings))
    assert [n.subnet for n in value.networks] == ["10.0.50.0/24"]
    assert value.supported_vm_versions == ["9.0", "10.0"]


def _list_fields() -> list[tuple[str, Any, Any]]:
    """Every list field of every fact model (bare, ``| None``, ``Annotated`` or both), with its
    annotation and its items' type."""

    def item_type(annotation: Any) -> Any | None:
        origin = typing.get_origin(annotation)
        if origin is list:
            return typing.get_args(annotation)[0]
        if origin in (typing.Union, types.UnionType, typing.Annotated):
            return next((t for t in map(item_type, typing.get_args(annotation)) if t is not None), None)
        return None

    models = [m for m in vars(fact_model).values() if isinstance(m, type) and issubclass(m, BaseModel)]
    return [
        (f"{m.__name__}.{name}", field.annotation, item)
        for m in models
        if m.__module__ == fact_model.__name__
        for name, field in m.model_fields.items()
        if (item := item_type(field.annotation)) is not None
    ]


@pytest.mark.parametrize(("annotation", "item"), [pytest.param(a, t, id=n) for n, a, t in _list_fields()])
def test_every_list_field_takes_a_one_item_array_as_powershell_51_sends_it(annotation: Any, item: Any) -> None:
    """Unrolled into the bare item, or wrapped as value and Count: whatever the field's
    annotation looks like (``Texts | None`` keeps its ``Annotated`` inside the union)."""
    one = {} if isinstance(item, type) and issubclass(item, BaseModel) else "x"
    assert normalise(one, annotation) == [one]
    assert normalise({"value": [one], "Count": 1}, annotation) == [one]


def test_null_lists_and_ms_dates() -> None:
    raw = {"adapters": None, "migration_firewall_rule": None, "port_tests": None}
    assert NetworkFacts.model_validate(normalise(raw, NetworkFacts)).adapters == []
    assert normalise("/Date(1763629200000)/", str) == "2025-11-20T09:00:00+00:00"


def test_ms_dates_are_undone_in_fields_and_in_lists_of_plain_values_and_nothing_else_is_touched() -> None:
    raw = {
        "authentication_type": "/Date(1763629200000)/",
        "performance_option": "/Date(soon)/",
        "maximum_migrations": 2,
        "supported_vm_versions": ["/Date(1763629200000)/", "10.0", "9.0 /Date(1763629200000)/"],
        "networks": [{"subnet": "/Date(1763629200000)/", "priority": 0}, {"subnet": " /Date(0)/", "priority": 1}],
        "not_a_field": "/Date(1763629200000)/",
    }
    assert normalise(raw, MigrationSettings) == {
        "authentication_type": "2025-11-20T09:00:00+00:00",
        "performance_option": "/Date(soon)/",
        "maximum_migrations": 2,
        "supported_vm_versions": ["2025-11-20T09:00:00+00:00", "10.0", "9.0 /Date(1763629200000)/"],
        "networks": [{"subnet": "2025-11-20T09:00:00+00:00", "priority": 0}, {"subnet": " /Date(0)/", "priority": 1}],
        "not_a_field": "/Date(1763629200000)/",
    }
    assert normalise("9.0", list[str]) == ["9.0"], "a one-item array unrolled by PowerShell"


def test_what_needs_nothing_undone_is_the_document_itself_and_the_document_is_never_changed() -> None:
    as_meant = _migration(
        networks=[{"subnet": "10.0.50.0/24", "priority": 0}, {"subnet": "10.0.60.0/24", "priority": 1}],
        supported_vm_versions=["9.0", "10.0"],
        not_a_field=None,
    )
    assert normalise(as_meant, MigrationSettings) is as_meant
    assert normalise(as_meant["networks"], list[Any]) is as_meant["networks"]

    quirky = {
        **as_meant,
        "networks": [{"subnet": "10.0.50.0/24", "priority": 0}, {"subnet": "/Date(1763629200000)/", "priority": 1}],
        "supported_vm_versions": "10.0",
    }
    sent = copy.deepcopy(quirky)
    undone = normalise(quirky, MigrationSettings)
    assert undone == {
        **as_meant,
        "networks": [{"subnet": "10.0.50.0/24", "priority": 0}, {"subnet": "2025-11-20T09:00:00+00:00", "priority": 1}],
        "supported_vm_versions": ["10.0"],
    }
    assert quirky == sent, "undone in a copy: the document as the host sent it is left alone"
    assert undone["networks"][0] is quirky["networks"][0], "an item with nothing undone is kept, not copied"


def test_a_lab_document_parses_to_the_same_facts_as_validating_it_whole() -> None:
    document = _document()
    facts = facts_from_collector(document, target="hv01.corp.example", collector=INFO, observer_utc=NOW)
    sections = {name: value for name, value in document["sections"].items() if value is not None}
    sections["clock"] = {**sections["clock"], "observer_utc": NOW.isoformat()}
    sections["resolver"] = facts.resolver.model_dump() if facts.resolver is not None else None
    whole = {"collected_at": facts.collected_at, "collector": INFO, "target": "hv01.corp.example", **sections}
    assert facts == type(facts).model_validate(whole)
    assert facts.errors == []


def test_lab_quirks_are_parsed() -> None:
    scenario = load_scenario("healthy")
    hosts = dict(scenario.hosts)
    hosts["HV01"] = hosts["HV01"].model_copy(update={"collapse_single_arrays": True})
    scenario = scenario.model_copy(update={"hosts": hosts})
    document = LabHost(LabWorld(scenario, "CORP\\hvadmin"), "HV01").collector_document()
    assert isinstance(document["sections"]["migration"]["networks"], dict), "asked to, the lab collapses arrays"
    assert isinstance(_document()["sections"]["migration"]["networks"], list), "by default it does not"
    whole = facts_from_collector(_document(), target="hv01.corp.example", collector=INFO, observer_utc=NOW)
    unrolled = facts_from_collector(document, target="hv01.corp.example", collector=INFO, observer_utc=NOW)
    moments = {"collected_at", "clock"}  # when each document was made
    assert unrolled.model_dump(exclude=moments) == whole.model_dump(exclude=moments), (
        "every one-item array unrolled, the same facts"
    )
    facts = with_stage_two(
        facts_from_collector(document, target="hv01.corp.example", collector=INFO, observer_utc=NOW),
        {"lmpreflight_port_tests": {"address": "10.0.50.12", "port": 6600, "succeeded": True, "detail": None}},
    )
    assert facts.errors == []
    assert facts.migration is not None and facts.migration.networks[0].subnet == "10.0.50.0/24"
    assert facts.network is not None and facts.network.port_tests[0].address == "10.0.50.12"


def test_a_malformed_section_is_that_sections_error_only() -> None:
    document = _document()
    document["sections"]["migration"]["authentication_type"] = 1
    facts = facts_from_collector(document, target="hv01", collector=INFO, observer_utc=NOW)
    assert facts.migration is None
    assert [e.section for e in facts.errors] == ["migration"]
    assert "authentication_type" in facts.errors[0].message
    assert facts.vms is not None and facts.os is not None


def test_reported_section_errors_get_hints() -> None:
    document = _document("hyperv-role-missing", "HV02")
    facts = facts_from_collector(document, target="hv02", collector=INFO, observer_utc=NOW)
    errors = {e.section: e for e in facts.errors}
    assert set(errors) == {"migration", "switches", "vms"}
    assert errors["migration"].hint is not None and "Install-WindowsFeature" in errors["migration"].hint


def test_offline_script_file_is_analysable(tmp_path: Path) -> None:
    document = _document()
    document["mode"] = "offline"
    document["sections"]["directory"] = {
        "domain_dns_name": "corp.example",
        "domain_controller": "dc01.corp.example",
        "computer": {
            "distinguished_name": "CN=HV01,OU=Hyper-V,DC=corp,DC=example",
            "sam_account_name": "HV01$",
            "dns_host_name": "hv01.corp.example",
            "service_principal_names": [],
            "allowed_to_delegate_to": "cifs/HV02",
            "user_account_control": 16781312,
        },
        "migration_spn_holders": [],
        "trusts": [],
        "dc_utc": document["sections"]["clock"]["host_utc"],
        "observer_utc": document["sections"]["clock"]["host_utc"],
    }
    path = tmp_path / "HV01.json"
    path.write_text(json.dumps(document, indent=2), encoding="utf-16")
    facts = load_host_facts(path)
    assert facts.collector.method == "offline-script"
    assert facts.directory is not None and facts.directory.computer is not None
    assert facts.directory.computer.allowed_to_delegate_to == ["cifs/HV02"]
    assert facts.clock is not None and abs(facts.clock.offset_seconds) < 1


def test_one_malformed_vm_costs_that_vm_only() -> None:
    document = _document()
    vms = document["sections"]["vms"]
    vms.append({**copy.deepcopy(vms[0]), "name": "APP03", "id": "3f0c2a52-0000-4000-8000-000000000003"})
    vms[2]["generation"] = "second"
    facts = facts_from_collector(document, target="hv01", collector=INFO, observer_utc=NOW)
    assert [vm.name for vm in facts.vms or []] == ["SQL01", "WEB02"]
    assert [e.section for e in facts.errors] == ["vms.APP03"]
    assert "\n" not in facts.errors[0].message and "generation" in facts.errors[0].message


def test_a_vm_without_a_usable_name_is_named_by_its_place() -> None:
    document = _document()
    document["sections"]["vms"][1]["name"] = None
    facts = facts_from_collector(document, target="hv01", collector=INFO, observer_utc=NOW)
    assert [vm.name for vm in facts.vms or []] == ["SQL01"]
    assert [e.section for e in facts.errors] == ["vms[1]"]
