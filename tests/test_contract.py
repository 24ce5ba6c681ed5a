"""Every Windows call in every script we generate has a cited row in contract/windows.yaml.

No Windows host runs in this suite, so what the collector and the fix script may ask of
Windows is decided by documentation, recorded once in the contract table: for each cmdlet,
parameter, CIM class and method, .NET type and member, event channel and registry path, the
Windows Server versions it exists on and the document that says so. This test parses every
generated script (collectors live, with events and offline; the stdin bootstrap; a fix script
for every failing or warning check case; every check's suggested PowerShell) and fails when
a script uses something without a row, or something a supported version lacks.
"""

from __future__ import annotations

from collections.abc import Iterator
from functools import cache
from pathlib import Path
from typing import Any

import pytest
import yaml

from lmpreflight.collect.script import BOOTSTRAP, render_collector
from lmpreflight.facts.model import HostFacts
from lmpreflight.registry import load_checks
from lmpreflight.report.build import build_report
from lmpreflight.report.fixscript import render_fix_script
from lmpreflight.runner import Selection, evaluate
from tests.checks.cases import CASES
from tests.helpers import FIXED, healthy_pair
from tests.powershell_usage import Usage, usages

REPO = Path(__file__).resolve().parent.parent
CONTRACT = REPO / "contract" / "windows.yaml"
SNIPPET = "the suggested PowerShell"
SECTION = {
    "command": "commands",
    "parameter": "commands",
    "type": "types",
    "member": "types",
    "cim-class": "cim_classes",
    "cim-method": "cim_classes",
    "event-channel": "event_channels",
    "registry": "registry",
}


class _UniqueKeys(yaml.SafeLoader):
    """A row written twice would silently replace the first one (YAML keeps the last): refuse it."""

    def construct_mapping(self, node: yaml.MappingNode, deep: bool = False) -> dict[Any, Any]:
        keys = [self.construct_object(key, deep=deep) for key, _ in node.value]
        duplicates = sorted({str(k) for k in keys if keys.count(k) > 1})
        if duplicates:
            raise yaml.constructor.ConstructorError(
                None, None, f"{CONTRACT.name}: rows written twice: {duplicates}; merge them", node.start_mark
            )
        return super().construct_mapping(node, deep=deep)


@cache
def contract() -> dict[str, Any]:
    loaded = yaml.load(CONTRACT.read_text(encoding="utf-8"), Loader=_UniqueKeys)
    assert isinstance(loaded, dict)
    return loaded


def _reports_of_every_case() -> Iterator[tuple[str, Any, HostFacts, HostFacts]]:
    for case in CASES:
        if case.expect not in ("fail", "warn"):
            continue
        source, destination = healthy_pair(case.mutate)
        selection = Selection(
            vms=case.vms, include_storage=case.include_storage, move_from=case.move_from, storage_path=case.storage_path
        )
        results = evaluate(load_checks(include_plugins=False), source, destination, selection)
        yield (
            f"{case.check_id}[{case.name}]",
            build_report(results, source, destination, selection, FIXED),
            source,
            destination,
        )


@cache
def generated_scripts() -> dict[str, str]:
    """Name -> text of every PowerShell script or snippet the tool can hand to Windows or a user."""
    scripts = {
        "the stdin bootstrap (collect/script.py BOOTSTRAP)": BOOTSTRAP,
        "collector.ps1.j2, live": render_collector(["SQL01", "WEB02"], peer_names=["HV02", "hv02.corp.example"]),
        "collector.ps1.j2, live with events (diagnose)": render_collector(["SQL01"], events_hours=24),
        "collector.ps1.j2, offline": render_collector(["SQL01"], "offline", peer_names=["hv02.corp.example"]),
    }
    seen = set(scripts.values())
    for name, report, _, _ in _reports_of_every_case():
        fix = render_fix_script(report)
        if fix not in seen:
            seen.add(fix)
            scripts[f"fix.ps1.j2 for case {name}"] = fix
        for result in report.results:
            snippet = result.remediation.powershell if result.remediation else None
            if snippet and snippet not in seen:
                seen.add(snippet)
                scripts[f"{SNIPPET} of {result.check_id} (case {name})"] = snippet
    return scripts


def _row(section: str, name: str) -> tuple[str, dict[str, Any]] | None:
    for key, row in (contract().get(section) or {}).items():
        if key.casefold() == name.casefold():
            return key, row or {}
    return None


def _versions_missing(versions: Any, row: dict[str, Any]) -> list[int]:
    if row.get("when_missing"):
        return []
    supported = contract()["supported_windows"]
    return [v for v in supported if v not in (versions or [])]


def _example(usage: Usage) -> str:
    """The row to add, as YAML, for the failure message."""
    if usage.kind == "command":
        return (
            f"commands:\n  {usage.name}:\n    module: <module>\n    windows: [2016, 2019, 2022, 2025]\n"
            "    parameters: {}\n    source: <Microsoft Learn page of the cmdlet for each version>"
        )
    if usage.kind == "parameter":
        command, _, parameter = usage.name.partition(" -")
        return f"commands:\n  {command}:\n    parameters:\n      {parameter}: [2016, 2019, 2022, 2025]"
    if usage.kind in ("type", "member"):
        type_name, _, member = usage.name.partition("::")
        lines = f"types:\n  {type_name}:\n    windows: [2016, 2019, 2022, 2025]\n    source: <learn.microsoft.com/dotnet/api page>"
        return lines + (f"\n    members: [{member}]" if member else "")
    if usage.kind in ("cim-class", "cim-method"):
        cls, _, method = usage.name.partition(".")
        text = f"cim_classes:\n  {cls}:\n    namespace: <namespace>\n    windows: [2016, 2019, 2022, 2025]\n    source: <page>"
        return text + (f"\n    methods: [{method}]" if method else "")
    section = SECTION[usage.kind]
    return f"{section}:\n  {usage.name}:\n    windows: [2016, 2019, 2022, 2025]\n    source: <page>"


def _parameter_problem(usage: Usage) -> str | None:
    """Why the table does not allow a named parameter, or None."""
    command, _, parameter = usage.name.partition(" -")
    if parameter.casefold() in {p.casefold() for p in contract()["common_parameters"]}:
        return None
    found = _row("commands", command)
    if found is None:
        return None  # reported for the command itself
    key, row = found
    parameters = {p.casefold(): (p, v) for p, v in (row.get("parameters") or {}).items()}
    for alias, target in (row.get("aliases") or {}).items():
        if target.casefold() in parameters:
            parameters[alias.casefold()] = parameters[target.casefold()]
    if parameter.casefold() not in parameters:
        return f"parameter -{parameter} of {key} has no row"
    spelled, versions = parameters[parameter.casefold()]
    missing = _versions_missing(versions, row)
    return f"{key} -{spelled} does not exist on Windows Server {missing}" if missing else None


def problem(usage: Usage) -> str | None:
    """Why the table does not allow ``usage``, or None."""
    section = SECTION[usage.kind]
    if usage.kind == "parameter":
        return _parameter_problem(usage)
    if usage.kind == "member":
        type_name, _, member = usage.name.partition("::")
        found = _row("types", type_name)
        if found is None:
            return None
        if member.casefold() not in {m.casefold() for m in found[1].get("members") or []}:
            return f"member {member} of {found[0]} has no row"
        return None
    if usage.kind == "cim-method":
        cls, _, method = usage.name.partition(".")
        if cls == "?":
            return f"cannot tell which CIM class {method} is called on: pass -ClassName, or -InputObject $v with $v from Get-CimInstance -ClassName"
        found = _row("cim_classes", cls)
        if found is None:
            return f"CIM class {cls} has no row"
        if method.casefold() not in {m.casefold() for m in found[1].get("methods") or []}:
            return f"{found[0]} has no method {method} in the table"
        return None
    found = _row(section, usage.name)
    if found is None:
        return f"{usage.kind} {usage.name} has no row"
    missing = _versions_missing(found[1].get("windows"), found[1])
    if missing:
        return f"{found[0]} does not exist on Windows Server {missing}"
    return None


def test_the_table_is_well_formed_and_cited() -> None:
    table = contract()
    assert table["supported_windows"] == sorted(table["supported_windows"])
    for section in sorted(set(SECTION.values())):
        for name, row in (table.get(section) or {}).items():
            assert isinstance(row, dict), f"{section}.{name}: a mapping"
            assert str(row.get("source", "")).startswith(("https://", "windows-powershell-docs", "win32")), (
                f"{section}.{name}: cite the documentation in `source`"
            )
            assert row.get("windows"), f"{section}.{name}: list the Windows Server versions it exists on"
            for parameter, versions in (row.get("parameters") or {}).items():
                assert isinstance(versions, list) and versions, f"{section}.{name} -{parameter}: list versions"


@pytest.mark.parametrize("name", list(generated_scripts()))
def test_every_windows_call_has_a_row_in_the_contract(name: str) -> None:
    script = generated_scripts()[name]
    lines = script.splitlines()
    failures = []
    for usage in usages(script, strict=not name.startswith(SNIPPET)):
        reason = problem(usage)
        if reason:
            where = lines[usage.line - 1].strip()[:100] if usage.line <= len(lines) else ""
            failures.append(
                f"{name}, line {usage.line} ({where}): {reason}.\n"
                f"Verify it in Microsoft's documentation and add to {CONTRACT.relative_to(REPO)}:\n{_example(usage)}"
            )
    assert not failures, "\n\n".join(dict.fromkeys(failures))


def test_the_checker_catches_what_the_review_found() -> None:
    """GetSystemCompatibilityInfo lives on the migration service (HyperV_v2), not on the
    management service; a version-limited parameter fails for the versions it lacks."""
    wrong = (
        "$service = Get-CimInstance -Namespace 'root\\virtualization\\v2' -ClassName Msvm_VirtualSystemManagementService\n"
        "Invoke-CimMethod -InputObject $service -MethodName GetSystemCompatibilityInfo\n"
    )
    reasons = [problem(u) for u in usages(wrong)]
    assert "Msvm_VirtualSystemManagementService has no method GetSystemCompatibilityInfo in the table" in reasons
    assert problem(Usage("command", "Get-NoSuchThing", 1)) == "command Get-NoSuchThing has no row"
    assert problem(Usage("parameter", "Get-VMHost -NoSuchParameter", 1)) == (
        "parameter -NoSuchParameter of Get-VMHost has no row"
    )


def test_a_row_missing_a_supported_version_fails(monkeypatch: pytest.MonkeyPatch) -> None:
    table = contract()
    row = dict(table["commands"]["Get-VMHost"], windows=[2019, 2022, 2025])
    changed = dict(table, commands=dict(table["commands"], **{"Get-VMHost": row}))
    monkeypatch.setattr("tests.test_contract.contract", lambda: changed)
    assert problem(Usage("command", "Get-VMHost", 1)) == "Get-VMHost does not exist on Windows Server [2016]"


def test_every_row_is_used() -> None:
    """Rows nothing uses any more are removed, so the table stays the truth about the scripts."""
    used: dict[str, set[str]] = {section: set() for section in SECTION.values()}
    for name, script in generated_scripts().items():
        for usage in usages(script, strict=not name.startswith(SNIPPET)):
            head = usage.name.partition(" -")[0].partition("::")[0]
            if usage.kind == "cim-method":
                head = usage.name.partition(".")[0]
            used[SECTION[usage.kind]].add(head.casefold())
    unused = [
        f"{section}.{name}"
        for section in used
        for name in contract().get(section) or {}
        if name.casefold() not in used[section]
    ]
    assert not unused, f"rows no generated script uses: {unused}"


def test_a_row_written_twice_is_refused() -> None:
    with pytest.raises(yaml.constructor.ConstructorError, match=r"rows written twice: \['Compare-VM'\]"):
        yaml.load("commands:\n  Compare-VM: {}\n  Compare-VM: {}\n", Loader=_UniqueKeys)


def test_the_group_membership_precondition_survives_orphaned_sids() -> None:
    """Get-LocalGroupMember throws when the group holds an orphaned SID (PowerShell/PowerShell#2996);
    the fix step then reads the members through ADSI, finding the group by its SID."""
    steps = [s for s in generated_scripts().values() if "Invoke-LmpStep 'hyperv.user-rights'" in s]
    assert steps
    for script in steps:
        assert "Get-LocalGroupMember -SID 'S-1-5-32-578' -ErrorAction Stop" in script
        assert "catch { $group = (New-Object System.Security.Principal.SecurityIdentifier" in script
        assert '[ADSI]"WinNT://./$group,group"' in script
