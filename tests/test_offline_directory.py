"""The offline collector searches the migration SPNs forest-wide, in a Global Catalog, as a live
run does, and says when it could only search the host's own domain."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from lmpreflight.collect.script import render_collector
from lmpreflight.facts import load_host_facts
from lmpreflight.lab.hosts import LabHost, LabWorld
from lmpreflight.lab.scenario import load_scenario
from lmpreflight.vocabulary import Status
from tests.helpers import healthy_pair, run_one
from tests.powershell_usage import usages

SPN = "Microsoft Virtual System Migration Service/hv02.corp.example"
OWN = "CN=HV02,OU=Hyper-V,DC=corp,DC=example"
ELSEWHERE = "CN=OLD-HV02,OU=Servers,DC=lab,DC=corp,DC=example"


def test_the_offline_script_asks_a_global_catalog_first() -> None:
    script = render_collector(["SQL01"], "offline")
    directory = script[script.index("Invoke-LmpSection 'directory'") :]
    gc = directory.index("$catalog = $forestObject.FindGlobalCatalog().GetDirectorySearcher()")
    fallback = directory.index("$scope = 'domain'; $holders = @(Find-LmpSpnHolders $searcher)")
    assert gc < fallback
    assert "spn_search_scope = $scope" in directory and "forest = $forest" in directory
    calls = {u.name for u in usages(script) if u.kind in ("type", "member")}
    assert "System.DirectoryServices.ActiveDirectory.Forest::GetCurrentForest" in calls


def _offline_destination(tmp_path: Path, scope: str, holders: list[str]) -> Any:
    document = LabHost(LabWorld(load_scenario("healthy"), "CORP\\hvadmin"), "HV02").collector_document()
    document["mode"] = "offline"
    document["sections"]["directory"] = {
        "domain_dns_name": "corp.example",
        "domain_controller": "dc01.corp.example",
        "forest": "corp.example",
        "computer": {
            "distinguished_name": OWN,
            "sam_account_name": "HV02$",
            "dns_host_name": "hv02.corp.example",
            "service_principal_names": [
                "Microsoft Virtual System Migration Service/HV02",
                SPN,
            ],
            "allowed_to_delegate_to": [],
            "user_account_control": 16781312,
        },
        "migration_spn_holders": [
            {"spn": "Microsoft Virtual System Migration Service/HV02", "holders": [OWN]},
            {"spn": SPN, "holders": holders},
        ],
        "spn_search_scope": scope,
        "trusts": [],
        "dc_utc": document["sections"]["clock"]["host_utc"],
        "observer_utc": document["sections"]["clock"]["host_utc"],
    }
    path = tmp_path / "HV02.json"
    path.write_text(json.dumps(document), encoding="utf-8")
    return load_host_facts(path)


def test_a_duplicate_in_another_domain_of_the_forest_fails(tmp_path: Path) -> None:
    destination = _offline_destination(tmp_path, "forest", [OWN, ELSEWHERE])
    assert destination.directory.spn_search_scope == "forest"
    source, _ = healthy_pair()
    findings = run_one("delegation.destination-spns-registered", source, destination)
    assert [f.status for f in findings] == [Status.FAIL]
    assert ELSEWHERE in findings[0].message


def test_a_search_limited_to_the_domain_says_so(tmp_path: Path) -> None:
    destination = _offline_destination(tmp_path, "domain", [OWN])
    source, _ = healthy_pair()
    findings = run_one("delegation.destination-spns-registered", source, destination)
    assert [f.status for f in findings] == [Status.PASS]
    assert "no Global Catalog of the forest answered" in findings[0].message
