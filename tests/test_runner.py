"""The runner turns every way a check can go wrong into a visible result."""

from __future__ import annotations

import copy
import dataclasses
from typing import Any

import pytest

from lmpreflight import runner
from lmpreflight.facts.model import CollectionError, HostFacts, Identity
from lmpreflight.recorded import (
    MARKERS,
    DestinationReads,
    Name,
    NameInspected,
    can_render,
    frozen,
    rendered,
)
from lmpreflight.registry import Registry, load_checks
from lmpreflight.runner import OPTIONS, NotedContext, Selection, SourcePairs, evaluate, run_check, vm_readiness
from lmpreflight.vocabulary import (
    Category,
    Context,
    MissingFact,
    NotApplicable,
    Status,
    failed,
    info,
    passed,
    warned,
)
from tests.helpers import example_docs, healthy_pair, probe_check


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
    assert can_render(finding) and rendered(finding, {marker: "HV02"}) is not finding  # it holds the marker
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
    assert len(runs) == 16 < 3 * 8  # shared from the sources' side (the first records against 5 of them)
    assert reads.source_hits["test.probe"] == 8


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
    for number in range(4):
        pairs = SourcePairs(registry, source.model_copy(update={"target": f"source{number}"}), Selection(), reads)
        messages = [pairs.evaluate(host)[0].finding.message for host in destinations]
        assert messages[:-1] == [f"source{number} to hv{n:02d}" for n in range(2, 41)]
        assert messages[-1] == "destination.clock is absent from the facts of HV41 (the collection did not record it)"
    assert "test.probe" in reads.per_source and "test.probe" in pairs._real
    # the fourth source's runs: recorded from the destinations' side twice (as every source's), and
    # its first miss from the sources' side gives the check up: for real, none recorded, from then on
    assert len(traced) == 156 and sum(traced[117:]) == 3 and not any(traced[123:])


def _judged_from_three_sources(compares, destinations: list[HostFacts]) -> DestinationReads:
    """Three sources, named source0-2, each judged against ``destinations`` by the check ``compares``
    alone as a fleet judges them (one ``DestinationReads``), each finding checked against plain evaluate's."""
    registry = Registry()
    registry.checks["test.probe"] = _declare(compares)
    source, _ = healthy_pair()
    reads = DestinationReads()
    for number in range(3):
        named = source.model_copy(update={"target": f"source{number}"})
        pairs = SourcePairs(registry, named, Selection(), reads)
        for host in destinations:
            expected = [r.finding for r in evaluate(registry, named, host, Selection())]
            assert [r.finding for r in pairs.evaluate(host)] == expected
    return reads


def _each_source_apart(traced: list[bool]):
    def compares(context: Context):
        """Compares both hosts' own names: no two sources answer alike."""
        traced.append(type(context.source) is not HostFacts)
        yield warned(f"{context.source.target.casefold()} to {context.destination.name.casefold()}")

    return compares


def test_a_check_no_source_shares_is_recorded_against_a_few_destinations_until_one_does(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Its own cap, apart from the misses': with room for many misses, a check no source answers
    alike is recorded from the sources' side against SOURCE_TREES_BEFORE_A_HIT + 1 destinations
    (then run for real there), and kept shared across sources."""
    monkeypatch.setattr(runner, "SOURCE_TREES_BEFORE_A_HIT", 2)
    monkeypatch.setattr(runner, "SOURCE_MISSES_BEYOND_HITS", 32)
    traced: list[bool] = []
    reads = _judged_from_three_sources(_each_source_apart(traced), _fleet(healthy_pair()[1], 40))
    assert reads.source_trees["test.probe"] == 3 and reads.source_misses["test.probe"] == 6
    assert "test.probe" not in reads.per_source and not reads.source_hits
    assert sum(traced) == 3 + 6  # the first source's trees, then each later source's misses there


def test_a_check_no_source_shares_is_given_up_after_its_misses(monkeypatch: pytest.MonkeyPatch) -> None:
    """Its own cap, apart from the trees': the first source records the check against
    SOURCE_TREES_BEFORE_A_HIT + 1 destinations; the second, unlike it, misses there
    SOURCE_MISSES_BEYOND_HITS + 1 times and the check is run for real from then on."""
    monkeypatch.setattr(runner, "SOURCE_MISSES_BEYOND_HITS", 3)
    traced: list[bool] = []
    reads = _judged_from_three_sources(_each_source_apart(traced), _fleet(healthy_pair()[1], 40))
    assert reads.source_trees["test.probe"] == runner.SOURCE_TREES_BEFORE_A_HIT + 1
    assert reads.source_misses["test.probe"] == 4 and "test.probe" in reads.per_source
    assert sum(traced) == runner.SOURCE_TREES_BEFORE_A_HIT + 1 + 4


def test_a_check_no_source_shares_costs_a_fleet_a_few_recordings() -> None:
    """With the runner's own caps: a recording costs several real runs, so a check no two sources
    answer alike is recorded against 5 destinations by the first source and missed at those 5 by
    each of the next two (three kinds of source may alternate before it is given up), not
    recorded against 33 destinations and missed at 33."""
    traced: list[bool] = []
    reads = _judged_from_three_sources(_each_source_apart(traced), _fleet(healthy_pair()[1], 40))
    assert reads.source_trees["test.probe"] == 5 and reads.source_misses["test.probe"] == 10
    assert "test.probe" not in reads.per_source and not reads.source_hits
    assert sum(traced) == 15


def test_a_noted_context_notes_each_option_as_it_is_read() -> None:
    """Options only, each time it is read, by the context's own methods too; the hosts are not
    options (the source may be a stand-in)."""
    source, destination = healthy_pair()
    context = Selection(vms=("SQL01",), storage_path="D:\\VMs").context(source, destination)
    noted: list[tuple[str, object]] = []
    seen = NotedContext(context, lambda name, value: noted.append((name, value)))
    assert seen.source is source and seen.destination is destination and seen.host("source") is source
    assert noted == []
    assert seen.vms == ("SQL01",) and seen.vms == ("SQL01",)
    assert seen.starts_on_source() is False  # reads move_from, then the source's protocol (Kerberos)
    assert noted == [("vms", ("SQL01",)), ("vms", ("SQL01",)), ("move_from", None)]
    noted.clear()
    assert [getattr(seen, name) for name in sorted(OPTIONS)] == [getattr(context, name) for name in sorted(OPTIONS)]
    assert noted == [(name, getattr(context, name)) for name in sorted(OPTIONS)]
    assert set(OPTIONS) == {"vms", "include_storage", "move_from", "storage_path"}
    assert NotedContext(context, noted.append, destination).source is destination


def _plain_readiness(registry: Registry, source: HostFacts, destination: HostFacts) -> list[tuple[Any, ...]]:
    """Each VM judged the plain way: every VM check run in full, needs and all, for that VM alone."""
    judged = []
    for vm in source.vms or []:
        context = Selection().context(source, destination, (vm.name,))
        found: dict[Status, set[str]] = {}
        for check in registry.sorted():
            if check.category == Category.VM:
                for finding in run_check(check, context):
                    found.setdefault(finding.status, set()).add(check.id)
        worst = max((s for s in found if s != Status.SKIP), key=lambda s: s.rank, default=Status.PASS)
        blocking = found.get(Status.FAIL, set()) | found.get(Status.ERROR, set())
        judged.append((vm.name, worst, tuple(sorted(blocking)), tuple(sorted(found.get(Status.WARN, ())))))
    return judged


def _mixed_vms(source: dict, _destination: dict) -> None:
    """VMs in different states, one missing a section, one not read at all."""
    first = source["vms"][0]
    states = ["Running", "Off", "Saved", "Paused", "Running"]
    source["vms"] += [
        {**copy.deepcopy(first), "name": f"MIX{i}", "id": f"a1b2c3d4-0000-4000-8000-{i:012d}", "state": state}
        for i, state in enumerate(states)
    ]
    clustered, too_old, _, _, half_read = source["vms"][-len(states) :]
    clustered["is_clustered"] = True
    too_old["version"] = "5.0"
    half_read["fibre_channel_sans"] = None
    half_read["shielded"] = None
    source["errors"].append({"section": "vms.MIX4.shielded", "message": "Get-VMSecurity timed out"})
    source["errors"].append({"section": "vms.GONE01", "message": "Get-VM: the configuration is offline"})


def _destination_without_memory(source: dict, destination: dict) -> None:
    """A fact every VM check of memory needs missing on the host, for every VM at once."""
    _mixed_vms(source, destination)
    destination["memory"] = None


@pytest.mark.parametrize("example", ["healthy", "broken", "mixed", "host gap"])
def test_the_readiness_is_each_vm_judged_in_full_by_the_vm_checks(example: str) -> None:
    if example == "mixed":
        source, destination = healthy_pair(_mixed_vms)
    elif example == "host gap":
        source, destination = healthy_pair(_destination_without_memory)
    else:
        source, destination = (HostFacts.model_validate(doc) for doc in example_docs(example))
    registry = load_checks(include_plugins=False)
    readiness = vm_readiness(registry, source, destination, Selection())
    vms = len(source.vms or [])
    assert [(r.vm, r.status, r.blocking, r.warnings) for r in readiness[:vms]] == _plain_readiness(
        registry, source, destination
    )
    if example == "mixed":
        assert {r.status for r in readiness} == {Status.PASS, Status.FAIL, Status.ERROR}


def test_the_readiness_counts_a_check_that_raised_said_nothing_or_said_much_as_its_results_do() -> None:
    def many(context: Context):
        """Says something of every kind, about one VM only."""
        if context.vms != ("SQL01",):
            yield passed("fine")
            return
        yield passed("fine")
        yield info("noted")
        yield warned("careful")
        yield failed("broken")
        yield failed("broken again")

    def half(context: Context):
        """Fails, then breaks: its failure must not count, only the break."""
        yield failed("counted only if the check finishes")
        raise RuntimeError("broke halfway")

    def not_here(context: Context):
        """Does not apply: a skip, which judges nothing."""
        raise NotApplicable("not for this VM")

    def lacks(context: Context):
        """Finds a fact missing only once it looks."""
        raise MissingFact("destination.clock")

    def silent(context: Context):
        """Says nothing, which is an error."""
        return []

    def only_info(context: Context):
        """Notes something for the second VM only."""
        if context.vms == ("WEB02",):
            yield info("web")
        else:
            yield passed("fine")

    registry = Registry()
    for name, function, needs in [
        ("many", many, ()),
        ("half", half, ()),
        ("not-here", not_here, ()),
        ("lacks", lacks, ()),
        ("silent", silent, ()),
        ("only-info", only_info, ()),
        ("needs-clock", only_info, ("destination.clock",)),
    ]:
        probe = probe_check(id=f"vm.{name}", needs=needs)(function)
        registry.checks[probe.id] = dataclasses.replace(probe, category=Category.VM)
    source, with_clock = healthy_pair()
    for destination in (with_clock, with_clock.model_copy(update={"clock": None})):
        readiness = vm_readiness(registry, source, destination, Selection())
        assert [(r.vm, r.status, r.blocking, r.warnings) for r in readiness] == _plain_readiness(
            registry, source, destination
        )
    assert readiness[0].blocking == ("vm.half", "vm.lacks", "vm.many", "vm.needs-clock", "vm.silent")
    assert readiness[0].warnings == ("vm.many",)
    assert readiness[0].status is Status.FAIL
    assert readiness[1].status is Status.ERROR and not readiness[1].warnings
