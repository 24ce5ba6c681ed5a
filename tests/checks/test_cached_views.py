"""The views checks read instead of working facts out again (casefolded SPNs, a host's addresses
and port tests, errors by section, verdicts by VM): each says what the facts say, is never
written into a fact file, and never outlives a change made to a copy of the facts."""

from __future__ import annotations

import gc
import weakref
from datetime import timedelta

from lmpreflight.facts.load import dump_host_facts
from lmpreflight.facts.model import CollectionError, HostFacts, IpAddress, NetAdapter
from lmpreflight.registry import load_checks
from lmpreflight.runner import Selection, evaluate, run_check, vm_readiness
from lmpreflight.vocabulary import Status
from tests.helpers import healthy_pair

CHECKS = load_checks(include_plugins=False)


def _every_view(host: HostFacts) -> None:
    """Work out every cached view of ``host``, as a run of the checks does."""
    assert host.directory is not None and host.directory.computer is not None
    assert host.network is not None and host.clock is not None
    _ = host.directory.computer.folded_delegation_targets, host.directory.computer.folded_spns
    _ = host.network.interfaces, host.network.port_tests_by_port, host.clock.offset_seconds
    _ = host.compatibility_by_vm, host.rehearsal_by_vm, host.errors_by_section, host.vms_by_name


def test_fact_files_do_not_change_once_views_are_worked_out() -> None:
    source, destination = healthy_pair()
    before = dump_host_facts(source), dump_host_facts(destination)
    evaluate(CHECKS, source, destination, Selection())
    vm_readiness(CHECKS, source, destination, Selection())
    _every_view(source)
    assert (dump_host_facts(source), dump_host_facts(destination)) == before


def test_a_copy_with_other_facts_does_not_keep_the_old_views() -> None:
    source, _ = healthy_pair()
    _every_view(source)
    assert source.network is not None and source.clock is not None
    adapter = NetAdapter(name="Migration2", addresses=[IpAddress(address="10.9.9.9", prefix_length=24)])
    network = source.network.model_copy(update={"adapters": [adapter]})
    assert network.interfaces == (("10.9.9.9", 24),)
    clock = source.clock.model_copy(update={"host_utc": source.clock.host_utc + timedelta(seconds=400)})
    assert clock.offset_seconds == source.clock.offset_seconds + 400
    lost = CollectionError(section="winrm", message="the host stopped answering")
    copied = source.model_copy(update={"errors": [lost]})
    assert copied.whole_host_error == lost and source.whole_host_error is None
    assert copied == source.model_copy(update={"errors": [lost]}), "views take no part in equality"


def test_views_say_what_the_facts_say() -> None:
    source, _ = healthy_pair()
    computer = source.directory.computer if source.directory else None
    assert computer is not None
    assert "cifs/hv02" in computer.folded_delegation_targets
    assert computer.folded_spns == {spn.casefold() for spn in computer.service_principal_names}
    assert source.network is not None
    assert source.network.port_tests_by_port[6600]["10.0.50.12"].succeeded
    first = CollectionError(section="vms.SQL01", message="first")
    second = CollectionError(section="vms.SQL01", message="second")
    erring = source.model_copy(update={"errors": [first, second]})
    assert erring.error_for("vms.SQL01.hard_drives") == first, "the first error of a section counts"
    assert erring.error_for("vms.WEB02") is None and erring.error_for("network") is None


def test_vm_checks_answer_for_each_context_when_contexts_alternate() -> None:
    """The VM checks remember the last context's VMs: alternating between two must never
    answer one with the other's."""
    source, destination = healthy_pair()
    check = CHECKS.checks["vm.migratable-state"]
    selection = Selection()
    first, second = (
        selection.context(source, destination, ("SQL01",)),
        selection.context(source, destination, ("WEB02",)),
    )
    for _ in range(2):
        assert [f.subject for f in run_check(check, first)] == ["vm:SQL01"]
        assert [f.subject for f in run_check(check, second)] == ["vm:WEB02"]
    missing = selection.context(source, destination, ("NOPE",))
    assert [f.status for f in run_check(check, missing)] == [Status.SKIP]
    assert [f.subject for f in run_check(check, first)] == ["vm:SQL01"]


def test_no_view_keeps_a_run_s_facts_alive_after_it() -> None:
    """A memo of the last context held strongly kept its host's facts, every VM of it, in
    memory after the run (and slowed the next run's garbage collection)."""
    source, destination = healthy_pair()
    evaluate(CHECKS, source, destination, Selection())
    vm_readiness(CHECKS, source, destination, Selection())
    gone = weakref.ref(source), weakref.ref(destination)
    del source, destination
    gc.collect()
    assert gone[0]() is None and gone[1]() is None
