"""The runner turns every way a check can go wrong into a visible result."""

from __future__ import annotations

from lmpreflight.facts.model import CollectionError
from lmpreflight.registry import Registry, check
from lmpreflight.runner import Selection, evaluate, run_check
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
