"""The runner turns every way a check can go wrong into a visible result."""

from __future__ import annotations

from typing import Any

import pytest

from lmpreflight.facts.model import CollectionError, HostFacts, Identity
from lmpreflight.recorded import (
    MARKERS,
    DestinationReads,
    Name,
    NameInspected,
    can_render,
    frozen,
    has_marker,
    rendered,
)
from lmpreflight.registry import Registry, load_checks
from lmpreflight.runner import Selection, SourcePairs, evaluate, run_check, vm_readiness
from lmpreflight.vocabulary import Category, Context, Status, passed, warned
from tests.helpers import healthy_pair, probe_check


def _declare(function, needs=()):
    return probe_check(needs=needs)(function)


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


def _renamed(destination: HostFacts, number: int) -> HostFacts:
    identity = Identity(computer_name=f"HV{number:02d}", fqdn=f"hv{number:02d}.corp.example", addresses=[])
    return destination.model_copy(update={"identity": identity, "target": identity.fqdn})


def test_a_check_runs_once_for_destinations_that_answer_alike_and_quotes_each_name() -> None:
    runs = []

    def quotes(context: Context):
        """Reads the destination's processor and quotes its name."""
        runs.append(context.destination)
        yield warned(f"{context.destination.processor.manufacturer} on {context.destination.name}", "destination")

    registry = Registry()
    registry.checks["test.probe"] = probe_check(quotes_destination=True)(quotes)
    source, destination = healthy_pair()
    pairs = SourcePairs(registry, source, Selection())
    messages = [pairs.evaluate(_renamed(destination, number))[0].finding.message for number in range(2, 7)]
    amd = destination.processor.model_copy(update={"manufacturer": "AuthenticAMD"})  # type: ignore[union-attr]
    other = pairs.evaluate(_renamed(destination, 7).model_copy(update={"processor": amd}))[0].finding.message
    assert messages == [f"GenuineIntel on HV{number:02d}" for number in range(2, 7)]
    assert other == "AuthenticAMD on HV07"
    assert len(runs) == 4  # per processor: the run that recorded, and one for real to confirm the names put in


def test_a_check_that_does_more_than_quote_a_name_runs_for_every_destination() -> None:
    def compares(context: Context):
        """Says it only quotes the name, but slices it."""
        yield warned(f"{context.destination.name[:3]}")

    registry = Registry()
    registry.checks["test.probe"] = probe_check(quotes_destination=True)(compares)
    source, destination = healthy_pair()
    pairs = SourcePairs(registry, source, Selection())
    assert [pairs.evaluate(_renamed(destination, n))[0].finding.message for n in (2, 13)] == ["HV0", "HV1"]
    assert "test.probe" in pairs._real


@pytest.mark.parametrize(
    "use",
    [
        lambda name: name == "HV02",
        lambda name: name in {"HV02"},
        lambda name: "HV" in name,
        lambda name: len(name),
        lambda name: name[0],
        lambda name: name.casefold(),
        lambda name: name.split("."),
        lambda name: name.startswith("HV"),
        lambda name: f"{name:>10}",
        lambda name: "%-10s" % name,  # noqa: UP031
        lambda name: name * 2,
        lambda name: name + 1,
        lambda name: list(name),
        lambda name: repr(name),
    ],
)
def test_a_quoted_name_may_only_be_formatted(use: Any) -> None:
    with pytest.raises(NameInspected):
        use(Name(("name",)))


def test_a_quoted_name_formats_as_its_marker_and_findings_are_rendered_with_the_real_one() -> None:
    name = Name(("name",))
    marker = MARKERS[("name",)]
    assert [f"{name}", "%s!" % name, "on " + name + ".", str(name), "{}".format(name)] == [  # noqa: UP031, UP032
        marker,
        f"{marker}!",
        f"on {marker}.",
        marker,
        marker,
    ]
    finding = warned(f"on {name}", "destination", evidence={"hosts": [name, (f"{name}s",)]})
    assert has_marker(finding) and can_render(finding)
    assert rendered(finding, {marker: "HV02"}) == warned(
        "on HV02", "destination", evidence={"hosts": ["HV02", ("HV02s",)]}
    )


def test_answers_tell_apart_what_a_check_could_tell_apart() -> None:
    assert frozen(1) != frozen(True) and frozen([1]) != frozen((1,))
    source, destination = healthy_pair()
    assert frozen(destination) == frozen(destination.model_copy())
    assert frozen(destination) != frozen(source)


def test_a_method_call_is_shared_by_what_it_returns() -> None:
    runs = []

    def asks(context: Context):
        """Asks the destination's facts for an error and a VM by name."""
        runs.append(context.destination)
        error = context.destination.error_for("resolver")
        yield warned(f"{error.message if error else 'no error'}; FILE03 {bool(context.destination.vm('FILE03'))}")

    registry = Registry()
    registry.checks["test.probe"] = _declare(asks)
    source, destination = healthy_pair()
    pairs = SourcePairs(registry, source, Selection())
    broken = destination.model_copy(update={"errors": [CollectionError(section="resolver", message="no peer")]})
    hosts = [destination, destination.model_copy(), broken, broken.model_copy(), destination.model_copy()]
    assert [pairs.evaluate(host)[0].finding.message for host in hosts] == [
        "no error; FILE03 True",
        "no error; FILE03 True",
        "no peer; FILE03 True",
        "no peer; FILE03 True",
        "no error; FILE03 True",
    ]
    assert len(runs) == 2


def _fleet(destination: HostFacts, hosts: int) -> list[HostFacts]:
    """Hosts alike but for their names (and so their accounts' names)."""
    return [_renamed(destination, number) for number in range(2, 2 + hosts)]


def test_a_check_that_reads_each_destination_runs_once_a_destination_for_sources_that_answer_alike() -> None:
    runs = []

    def compares(context: Context):
        """Compares the destination's own name, and reads only the source's migration protocol."""
        runs.append(context.destination)
        migration = context.source.migration
        yield warned(f"{context.destination.name.casefold()} over {migration.authentication_type if migration else ''}")

    registry = Registry()
    registry.checks["test.probe"] = _declare(compares)
    source, destination = healthy_pair()
    destinations = _fleet(destination, 8)
    reads = DestinationReads()
    messages = []
    for number in range(3):
        pairs = SourcePairs(registry, source.model_copy(update={"target": f"source{number}"}), Selection(), reads)
        messages += [[result.finding.message for result in pairs.evaluate(host)] for host in destinations]
    assert messages == [[f"hv{number:02d} over Kerberos"] for number in range(2, 10)] * 3
    assert "test.probe" in pairs._real  # from the destinations' side, nothing is shared
    assert len(runs) == 15 < 3 * 8  # shared from the sources' side
    assert reads.source_hits["test.probe"] == 9


def test_a_check_that_reads_each_source_and_each_destination_is_no_longer_recorded_once_known() -> None:
    traced = []

    def compares(context: Context):
        """Compares both hosts' own names."""
        traced.append(type(context.source) is not HostFacts or type(context.destination) is not HostFacts)
        yield warned(f"{context.source.target.casefold()} to {context.destination.name.casefold()}")

    registry = Registry()
    registry.checks["test.probe"] = _declare(compares, needs=("hosts.clock",))
    source, destination = healthy_pair()
    destinations = _fleet(destination, 40)
    destinations[-1] = destinations[-1].model_copy(update={"clock": None})  # its needs unmet: an error, not a run
    reads = DestinationReads()
    for number in range(3):
        pairs = SourcePairs(registry, source.model_copy(update={"target": f"source{number}"}), Selection(), reads)
        messages = [pairs.evaluate(host)[0].finding.message for host in destinations]
        assert messages[:-1] == [f"source{number} to hv{n:02d}" for n in range(2, 41)]
        assert messages[-1] == "destination.clock is absent from the facts of HV41 (the collection did not record it)"
    assert "test.probe" in reads.per_source and "test.probe" in pairs._real
    assert len(traced) == 117 and not any(traced[78:])  # the third source's runs: for real, none recorded
