"""The runner turns every way a check can go wrong into a visible result."""

from __future__ import annotations

from lmpreflight.facts.model import CollectionError
from lmpreflight.registry import Registry, check, load_checks
from lmpreflight.runner import Selection, evaluate, run_check, vm_readiness
from lmpreflight.vocabulary import Category, Context, Remediation, Severity, Status, passed
from tests.helpers import healthy_pair


def _declare(function, needs=()):
    return check(
        id="test.probe",
        title="Probe",
        category=Category.PLUGIN,
        severity=Severity.LOW,
        remediation=Remediation("fix"),
        references=("https://example.invalid",),
        needs=needs,
    )(function)


def test_a_raising_check_is_an_error_with_the_exception() -> None:
    def boom(context: Context):
        """Raises to prove the runner survives it and says so."""
        raise KeyError("vms")

    source, destination = healthy_pair()
    findings = run_check(_declare(boom), Context(source, destination))
    assert [f.status for f in findings] == [Status.ERROR]
    assert "KeyError" in findings[0].message and "vms" in findings[0].message


def test_a_silent_check_is_an_error_not_a_pass() -> None:
    def silent(context: Context):
        """Yields nothing, which must never read as a pass."""
        return []

    source, destination = healthy_pair()
    findings = run_check(_declare(silent), Context(source, destination))
    assert [f.status for f in findings] == [Status.ERROR]
    assert "no result" in findings[0].message


def test_missing_section_without_recorded_error_is_still_an_error() -> None:
    def uses_clock(context: Context):
        """Needs the destination's clock."""
        yield passed("fine")

    source, destination = healthy_pair()
    destination = destination.model_copy(update={"clock": None})
    findings = run_check(_declare(uses_clock, needs=("destination.clock",)), Context(source, destination))
    assert findings[0].status is Status.ERROR
    assert "absent from the facts of HV02" in findings[0].message


def test_nested_section_error_is_found_by_prefix() -> None:
    source, _ = healthy_pair()
    source = source.model_copy(update={"errors": [CollectionError(section="directory", message="LDAP bind failed")]})
    assert source.error_for("directory.computer").message == "LDAP bind failed"
    assert source.error_for("network") is None


def test_skip_by_user_and_sorting() -> None:
    def fails(context: Context):
        """Always fails."""
        from lmpreflight.vocabulary import failed

        yield failed("bad")

    registry = Registry()
    registry.checks["test.probe"] = _declare(fails)
    source, destination = healthy_pair()
    assert evaluate(registry, source, destination, Selection(skip=frozenset({"test.probe"})))[0].status is Status.SKIP
    assert evaluate(registry, source, destination, Selection())[0].status is Status.FAIL


def test_a_selected_vm_the_source_could_not_read_is_an_error_never_a_verdict() -> None:
    def drop_web02(source: dict, _destination: dict) -> None:
        source["vms"] = [vm for vm in source["vms"] if vm["name"] != "WEB02"]
        source["errors"].append({"section": "vms.WEB02", "message": "Get-VMProcessor: the configuration is offline"})

    source, destination = healthy_pair(drop_web02)
    results = evaluate(load_checks(include_plugins=False), source, destination, Selection(vms=("web02",)))
    about_web02 = [r for r in results if r.finding.subject == "vm:web02"]
    assert [r.finding.status for r in about_web02] == [Status.ERROR]
    assert "configuration is offline" in about_web02[0].finding.message
    vm_checks = [r for r in results if r.check.category == Category.VM]
    assert Status.FAIL not in {r.finding.status for r in vm_checks}
    assert Status.PASS not in {r.finding.status for r in vm_checks}
    assert {r.finding.status for r in vm_checks if r.check.id != "vm.exists-on-source"} <= {Status.ERROR, Status.SKIP}
    others = [r for r in vm_checks if r.finding.status == Status.ERROR and r.check.id != "vm.exists-on-source"]
    assert others and all("configuration is offline" in r.finding.message for r in others)


def test_with_no_vm_named_a_vm_the_source_could_not_read_is_listed_as_incomplete() -> None:
    def drop_web02(source: dict, _destination: dict) -> None:
        source["vms"] = [vm for vm in source["vms"] if vm["name"] != "WEB02"]
        source["errors"].append({"section": "vms.WEB02", "message": "Get-VMProcessor: the configuration is offline"})
        source["errors"].append({"section": "vms.SQL01.hard_drives", "message": "size unknown"})

    source, destination = healthy_pair(drop_web02)
    summary = {
        r.vm: r.status for r in vm_readiness(load_checks(include_plugins=False), source, destination, Selection())
    }
    assert summary["WEB02"] == Status.ERROR
    assert set(summary) == {"SQL01", "WEB02"}
